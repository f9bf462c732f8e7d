"""`check_backprop`: run a hand-written backward pass against autodiff on hypothesis cases.

Two hypothesis runs. The first explores `max_examples` cases without stopping, so the
report can say whether a gradient is wrong in every case or only in some. If anything
failed, the second run raises on the first failure and lets hypothesis shrink it to the
smallest failing case (smallest batch first). Then `diagnose` and `variants` name the
likely cause from the numbers of a few failing cases.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from nn.verify import diagnose, truth, variants
from nn.verify.cases import ACTIVATIONS, MAX_BATCH, Case, activate, draw_case, validate
from nn.verify.report import CallError, Mismatch, Report

GradsFn = Callable[[np.ndarray, np.ndarray, dict[str, np.ndarray]], Mapping[str, Any]]
ForwardFn = Callable[[np.ndarray, dict[str, np.ndarray]], Any]
_ANALYSED = 5  # failing cases examined to name a cause


class _CaseFailedError(Exception):
    """Raised inside the shrinking run to tell hypothesis that a case failed."""


@dataclass
class Outcome:
    """One case: the truth, what the user's functions returned, and what went wrong."""

    case: Case
    AL: np.ndarray
    true: dict[str, np.ndarray]
    atol: float
    received: dict[str, Any] | None = None
    forward: Any = None
    wrong: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    error: tuple[str, BaseException, str] | None = None

    @property
    def failed(self) -> bool:
        return bool(self.wrong or self.modified or self.error)

    def tol(self, name: str) -> float:
        return diagnose.tolerance(self.true[name] if name != "AL" else self.AL, self.atol)


def _modified(case: Case, X: np.ndarray, Y: np.ndarray, params: dict[str, Any]) -> list[str]:
    def same(before: np.ndarray, after: Any) -> bool:
        return isinstance(after, np.ndarray) and np.array_equal(before, after, equal_nan=True)

    names = [k for k, v in (("X", X), ("Y", Y)) if not same(getattr(case, k), v)]
    names += [k for k, v in case.parameters.items() if not same(v, params.get(k))]
    return names + [f"parameters[{k!r}] (added)" for k in params if k not in case.parameters]


def _snapshot(value: Any) -> Any:
    array = diagnose.as_array(value) if value is not None else None
    return value if array is None else array.copy()


class _Runner:
    """Evaluates cases (cached by (m, seed)) and remembers every outcome."""

    def __init__(self, grads_fn, forward_fn, layer_dims, activations, loss) -> None:
        self.grads_fn, self.forward_fn = grads_fn, forward_fn
        self.layer_dims, self.activations, self.loss = layer_dims, activations, loss
        self.cache: dict[tuple[int, int], Outcome] = {}

    def evaluate(self, m: int, seed: int) -> Outcome:
        key = (m, seed)
        if key not in self.cache:
            self.cache[key] = self._evaluate(
                draw_case(self.layer_dims, self.activations, self.loss, m, seed)
            )
        return self.cache[key]

    def _call(self, outcome: Outcome, which: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # the user's code: report it, with its traceback
            if outcome.error is None:
                frames = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)
                outcome.error = (which, exc, "".join(frames))
            return None

    def _evaluate(self, case: Case) -> Outcome:
        AL, true = truth.gradients(case.X, case.Y, case.parameters, self.activations, self.loss)
        out = Outcome(case, AL, true, diagnose.floor(true.values()))
        X, Y, params = case.copies()
        grads = self._call(out, "grads_fn", self.grads_fn, X, Y, params)
        out.modified = _modified(case, X, Y, params)
        if grads is not None and not isinstance(grads, Mapping):
            exc = TypeError(
                "grads_fn must return a dict such as {'dW1': ..., 'db1': ...}, "
                f"got {type(grads).__name__}"
            )
            out.error = ("grads_fn", exc, f"TypeError: {exc}\n")
        elif grads is not None:
            out.received = {k: _snapshot(grads.get(k)) for k in true}
            out.wrong = [
                k
                for k in true
                if not diagnose.close(diagnose.as_array(out.received[k]), true[k], out.tol(k))
            ]
        if self.forward_fn is not None:
            X, Y, params = case.copies()
            out.forward = _snapshot(self._call(out, "forward_fn", self.forward_fn, X, params))
            out.modified += [n for n in _modified(case, X, Y, params) if n not in out.modified]
            if not diagnose.close(diagnose.as_array(out.forward), AL, out.tol("AL")):
                if out.forward is not None or out.error is None:
                    out.wrong.append("AL")
        return out


def _settings(max_examples: int, seed: int | None, shrink: bool) -> settings:
    return settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=seed is None,
        phases=(Phase.generate, Phase.shrink) if shrink else (Phase.generate,),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )


def _run(body: Callable[[int, int], None], max_examples: int, seed: int | None, shrink: bool):
    @_settings(max_examples, seed, shrink)
    @given(st.integers(1, MAX_BATCH), st.integers(0, 2**32 - 1))
    def probe(m: int, case_seed: int) -> None:
        body(m, case_seed)

    if seed is not None:
        probe = hypothesis_seed(seed)(probe)
    probe()


def _explore(runner: _Runner, max_examples: int, seed: int | None) -> list[Outcome]:
    seen: dict[tuple[int, int], Outcome] = {}

    def body(m: int, case_seed: int) -> None:
        seen[(m, case_seed)] = runner.evaluate(m, case_seed)

    _run(body, max_examples, seed, shrink=False)
    return list(seen.values())


def _shrink(runner: _Runner, failing: Callable[[Outcome], bool], max_examples: int, seed):
    """The smallest outcome for which `failing` holds, as hypothesis shrinks it."""
    last: list[Outcome] = []

    def body(m: int, case_seed: int) -> None:
        outcome = runner.evaluate(m, case_seed)
        if failing(outcome):
            last.append(outcome)
            raise _CaseFailedError

    try:
        _run(body, max_examples, seed, shrink=True)
    except _CaseFailedError:
        pass
    return min(last, key=lambda o: (o.case.m, o.case.seed)) if last else None


def _analysed(minimal: Outcome, failing: list[Outcome]) -> list[Outcome]:
    """The smallest case plus a few more, with batch sizes as varied as possible."""
    chosen, sizes = [minimal], {minimal.case.m}
    for o in sorted(failing, key=lambda o: o.case.m, reverse=True):
        if len(chosen) < _ANALYSED and o.case.m not in sizes and o.received is not None:
            chosen.append(o)
            sizes.add(o.case.m)
    return chosen


def _labels(o: Outcome, name: str, layer_dims: Sequence[int]) -> list[str]:
    if name == "AL":
        found = diagnose.labels(o.forward, o.AL, o.tol("AL"), o.case.m, 1, layer_dims[-1])
        return found
    layer = int(name[2:])
    return diagnose.labels(
        o.received[name], o.true[name], o.tol(name), o.case.m, layer_dims[layer - 1], layer_dims[-1]
    )


def _variant_grads(o: Outcome, activations, loss) -> list[tuple[variants.Variant, dict]]:
    c = o.case
    return [
        (v, variants.backward(c.X, c.Y, c.parameters, activations, loss, v))
        for v in variants.candidates(activations, loss)
    ]


def _comparable(o: Outcome, name: str) -> bool:
    received = diagnose.as_array(o.received.get(name))
    return received is not None and received.shape == o.true[name].shape


def _fits(o: Outcome, grads: dict[str, np.ndarray], names: Sequence[str]) -> bool:
    for k in names:
        received = diagnose.as_array(o.received.get(k))
        if received is None or received.shape != o.true[k].shape:
            continue
        if not diagnose.close(received, grads[k], o.tol(k)):
            return False
    return True


def _explain(analysed: list[Outcome], activations, loss):
    """(variant reproducing every returned gradient in every case, per-name fits)."""
    usable = [o for o in analysed if o.received is not None]
    if not usable:
        return None, {}
    per_case = [_variant_grads(o, activations, loss) for o in usable]
    names = list(usable[0].true)
    whole = None
    per_name: dict[str, variants.Variant] = {}
    for i, (variant, _) in enumerate(per_case[0]):
        # only gradients the user returned with the right shape can confirm a variant
        differs = {
            k
            for o, vg in zip(usable, per_case, strict=True)
            for k in names
            if _comparable(o, k) and not diagnose.close(vg[i][1][k], o.true[k], o.tol(k))
        }
        if not differs:
            continue
        fits = {
            k
            for k in names
            if all(_fits(o, vg[i][1], [k]) for o, vg in zip(usable, per_case, strict=True))
        }
        if whole is None and fits == set(names):
            whole = variant
        for k in differs & fits:
            per_name.setdefault(k, variant)
    if whole is None:
        whole = next(
            (
                v
                for v in variants.pairs(activations, loss)
                if _fits_all(usable, v, activations, loss)
            ),
            None,
        )
    return whole, per_name


def _fits_all(usable: list[Outcome], variant: variants.Variant, activations, loss) -> bool:
    """Does `variant` reproduce every gradient the user returned, in every case, while
    differing from the truth somewhere?"""
    differs = False
    for o in usable:
        c = o.case
        grads = variants.backward(c.X, c.Y, c.parameters, activations, loss, variant)
        if not _fits(o, grads, list(o.true)):
            return False
        differs = differs or any(
            _comparable(o, k) and not diagnose.close(grads[k], o.true[k], o.tol(k)) for k in o.true
        )
    return differs


def _forward_cause(analysed: list[Outcome], activations: Sequence[str]) -> tuple[str, str] | None:
    """A forward output that matches the network with one activation swapped."""
    usable = [o for o in analysed if diagnose.as_array(o.forward) is not None]
    for layer in range(len(activations), 0, -1):
        for other in ACTIVATIONS:
            if other == activations[layer - 1]:
                continue
            swapped = list(activations)
            swapped[layer - 1] = other
            if usable and all(
                diagnose.close(
                    diagnose.as_array(o.forward), _numpy_forward(o.case, swapped), o.tol("AL")
                )
                for o in usable
            ):
                return (
                    f"{other} instead of {activations[layer - 1]}",
                    f"the forward pass applies {other} in layer {layer} instead of "
                    f"{activations[layer - 1]}",
                )
    return None


def _numpy_forward(case: Case, activations: Sequence[str]) -> np.ndarray:
    A = case.X
    for layer, name in enumerate(activations, start=1):
        A = activate(name, case.parameters[f"W{layer}"] @ A + case.parameters[f"b{layer}"])
    return A


_SHAPE_LABELS = (
    "missing",
    "not an array",
    "wrong shape",
    "transposed",
    "not summed over the batch",
)


def _cause(name, common, whole, per_name, forward_cause, modified) -> str | None:
    for label in common:
        if label in _SHAPE_LABELS or label == "not finite":
            return label
    if whole is not None and name != "AL":
        return whole.label
    if common:
        return common[0]
    if name in per_name:
        return per_name[name].label
    if name == "AL" and forward_cause:
        return forward_cause[0]
    return "inputs modified in place" if modified else None


def _hint(name: str, explored: list[Outcome]) -> str | None:
    """Say so when a gradient is right only for single-sample batches."""
    passes = [o for o in explored if o.received is not None and name not in o.wrong]
    if passes and all(o.case.m == 1 for o in passes):
        return "matches only when m = 1: a single sample hides a wrong sum or mean over the batch"
    return None


def _activation_hint(report: Report, activations: Sequence[str]) -> None:
    """When nothing else names a cause, point at the activation where errors start."""
    grads = [k for k in report.mismatches if k != "AL"]
    if not grads or report.explanation:
        return
    top = max(int(k[2:]) for k in grads)
    above = set(activations[top:])
    name = activations[top - 1]
    key = f"dW{top}" if f"dW{top}" in report.mismatches else f"db{top}"
    mismatch = report.mismatches[key]
    if mismatch.cause is None and above and name not in above and mismatch.hint is None:
        report.mismatches[key] = replace(
            mismatch,
            hint=f"is the first wrong gradient from the output, and layer {top} is the first "
            f"{name} layer: the {', '.join(sorted(above))} layers above it match, so look at "
            f"the {name} derivative",
        )


def check_backprop(
    grads_fn: GradsFn,
    *,
    layer_dims: Sequence[int],
    activations: Sequence[str],
    loss: str = "bce",
    forward_fn: ForwardFn | None = None,
    max_examples: int = 100,
    seed: int | None = None,
) -> Report:
    """Check a hand-written backward pass against autodiff on generated cases.

    `grads_fn(X, Y, parameters) -> grads` is your forward and backward pass in the
    course layout: `X` is (n_x, m), `Y` is (1, m) ((n_out, m) for mse), `parameters`
    holds `W1, b1, ...` with `b` of shape (n_l, 1), and it returns a dict with
    `dW1, db1, ...` of the cost averaged over the m samples (`dA*` entries are
    ignored). `forward_fn(X, parameters) -> AL`, when given, is checked too. `loss` is
    "bce" (sigmoid output, cross-entropy summed over outputs, mean over samples) or
    "mse" (mean of squared errors over all entries, no 1/2). Hypothesis draws
    `max_examples` well-conditioned cases (m from 1 to 8) and shrinks a failure to the
    smallest case; `seed` fixes the draws (without it they are derandomized, so a
    report is reproducible). Your functions get copies; changing them in place is
    reported. Tolerances: rtol 1e-5 of each gradient's largest entry, plus round-off.

    >>> import numpy as np
    >>> def grads(X, Y, p):
    ...     m = X.shape[1]
    ...     A1 = np.tanh(p["W1"] @ X + p["b1"])
    ...     A2 = 1 / (1 + np.exp(-(p["W2"] @ A1 + p["b2"])))
    ...     dZ2 = A2 - Y
    ...     dZ1 = p["W2"].T @ dZ2 * (1 - A1**2)
    ...     return {"dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(axis=1, keepdims=True),
    ...             "dW1": dZ1 @ X.T / m, "db1": dZ1.sum(axis=1, keepdims=True) / m}
    >>> report = check_backprop(grads, layer_dims=[2, 3, 1], activations=["tanh", "sigmoid"],
    ...                         max_examples=20)
    >>> report.ok, sorted(report.mismatches), report.mismatches["db2"].cause
    (False, ['db2'], 'factor m')
    """
    validate(layer_dims, activations, loss)
    if not callable(grads_fn):
        raise TypeError(f"grads_fn must be callable, got {type(grads_fn).__name__}")
    if forward_fn is not None and not callable(forward_fn):
        raise TypeError(f"forward_fn must be callable or None, got {type(forward_fn).__name__}")
    if int(max_examples) < 1:
        raise ValueError(f"max_examples must be at least 1, got {max_examples}")
    dims, acts = [int(n) for n in layer_dims], list(activations)
    runner = _Runner(grads_fn, forward_fn, dims, acts, loss)
    explored = _explore(runner, int(max_examples), seed)
    report = Report(dims, acts, loss, len(explored))
    L = len(acts)
    names = (["AL"] if forward_fn else []) + [
        f"{p}{i}" for i in range(L, 0, -1) for p in ("dW", "db")
    ]
    failing = [o for o in explored if o.failed]
    if not failing:
        report.matched = _in_order(names)
        return report

    def smallest(test: Callable[[Outcome], bool]) -> Outcome:
        found = _shrink(runner, test, int(max_examples), seed)
        return found or min((o for o in explored if test(o)), key=lambda o: o.case.m)

    minimal = smallest(lambda o: o.failed)
    raised = [o for o in explored if o.error]
    if raised:
        first = minimal if minimal.error else smallest(lambda o: o.error is not None)
        which, exc, tb = first.error
        report.error = CallError(which, exc, tb, first.case, len(raised), len(explored))
    modified = [o for o in explored if o.modified]
    if modified:
        changed = {n for o in modified for n in o.modified}
        order = ["X", "Y", *explored[0].case.parameters]
        report.modified_inputs = [n for n in order if n in changed] + sorted(changed - set(order))
        report.modified_example = (
            minimal if minimal.modified else smallest(lambda o: bool(o.modified))
        ).case
    wrong_names = [n for n in names if any(n in o.wrong for o in explored)]
    with_wrong = [o for o in explored if o.wrong]
    if with_wrong:
        base = minimal if minimal.wrong else smallest(lambda o: bool(o.wrong))
        analysed = _analysed(base, with_wrong)
        whole, per_name = _explain(analysed, acts, loss)
        forward_cause = _forward_cause(analysed, acts) if "AL" in wrong_names else None
        if whole is not None:
            report.explanation = whole.explain
        elif forward_cause is not None and wrong_names == ["AL"]:
            report.explanation = forward_cause[1]
    for name in wrong_names:
        fails = [o for o in explored if name in o.wrong]
        example = base if name in base.wrong else smallest(lambda o, n=name: n in o.wrong)
        looked_at = [example] + [o for o in analysed if name in o.wrong and o is not example]
        common = diagnose.common([_labels(o, name, dims) for o in looked_at])
        errors = [
            diagnose.errors(
                diagnose.as_array(o.forward if name == "AL" else o.received[name]),
                o.AL if name == "AL" else o.true[name],
            )
            for o in fails
        ]
        report.mismatches[name] = Mismatch(
            name=name,
            max_abs_error=max(e[0] for e in errors),
            max_rel_error=max(e[1] for e in errors),
            cause=_cause(name, common, whole, per_name, forward_cause, bool(modified)),
            example=example.case,
            failed=len(fails),
            cases=len(explored),
            expected=example.AL if name == "AL" else example.true[name],
            received=example.forward if name == "AL" else example.received[name],
            hint=_hint(name, explored),
        )
    report.matched = _in_order(n for n in names if n not in report.mismatches)
    if report.error is not None and not any(o.received is not None for o in explored):
        report.matched = []
    _activation_hint(report, acts)
    return report


def _in_order(names: Iterable[str]) -> list[str]:
    """dW1, db1, dW2, ... and AL last."""
    return sorted(names, key=lambda n: (n == "AL", int(n[2:]) if n != "AL" else 0, n[1]))


def assert_backprop(grads_fn: GradsFn, **options: Any) -> Report:
    """`check_backprop` for a pytest suite: raise AssertionError with the diagnosis.

    Takes the same keyword arguments; returns the report when everything matches. It
    runs hypothesis itself, so call it from a plain test; inside a `@given` test add
    `suppress_health_check=[HealthCheck.nested_given]` to that test's settings.
    """
    report = check_backprop(grads_fn, **options)
    if not report.ok:
        raise AssertionError(str(report))
    return report
