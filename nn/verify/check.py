"""`check_backprop`: run a hand-written backward pass against autodiff on hypothesis cases.

The truth is either the built-in network (`layer_dims`, `activations`, `loss`, `lambd`,
`slope`) or the user's own cost (`cost_fn`, differentiated by autodiff). Cases are drawn
and shrunk by `search`; `diagnose` and `variants` name the likely cause from the numbers
of a few failing cases. Every user function sees the same numpy global random state on
a case (seeded from the case), so dropout masks drawn with `np.random` agree; the
caller's random state is restored afterwards.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nn.verify import diagnose, truth, variants
from nn.verify.cases import (
    ACTIVATIONS,
    Case,
    Network,
    activate,
    check_options,
    data_columns,
    dims_from_parameters,
    draw_case,
    draw_free_case,
    flip,
    is_layer_name,
    max_batch,
    validate,
)
from nn.verify.diagnose import MASK_LABEL
from nn.verify.report import Mismatch, Report, first_call_error, returned_cause
from nn.verify.search import Search

GradsFn = Callable[[np.ndarray, np.ndarray, dict[str, np.ndarray]], Mapping[str, Any]]
ForwardFn = Callable[[np.ndarray, dict[str, np.ndarray]], Any]
CostFn = Callable[[Any, Any, dict[str, Any]], Any]
_ANALYSED = 5  # failing cases examined to name a cause


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """numpy's global random state seeded from a case, whatever the user's code did."""
    np.random.seed(seed % 2**32)
    yield


@dataclass
class Outcome:
    """One case: the truth, what the user's functions returned, and what went wrong."""

    case: Case
    AL: np.ndarray | None
    true: dict[str, np.ndarray]
    atol: float
    dtype: type = np.float64
    received: dict[str, Any] | None = None
    returned: str | None = None  # "None", "list", "tuple", ... when not a dict
    keys: list[str] = field(default_factory=list)
    forward: Any = None
    wrong: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    after: dict[str, np.ndarray] = field(default_factory=dict)
    error: tuple[str, BaseException, str] | None = None

    @property
    def failed(self) -> bool:
        return bool(self.wrong or self.error)

    def tol(self, name: str) -> float:
        true = self.true[name] if name != "AL" else self.AL
        return diagnose.tolerance(true, self.atol, self.dtype)


def _modified(case: Case, X, Y, params: dict[str, Any]) -> list[str]:
    def same(before: np.ndarray, after: Any) -> bool:
        return isinstance(after, np.ndarray) and np.array_equal(before, after, equal_nan=True)

    names = [k for k, v in (("X", X), ("Y", Y)) if not same(getattr(case, k), v)]
    names += [k for k, v in case.parameters.items() if not same(v, params.get(k))]
    return names + [f"parameters[{k!r}] (added)" for k in params if k not in case.parameters]


def _snapshot(value: Any) -> Any:
    array = diagnose.as_array(value) if value is not None else None
    if array is None:
        return value
    raw = np.asarray(getattr(value, "data", value))
    return raw.copy() if raw.dtype == np.float16 else array.copy()


def _call(outcome: Outcome, which: str, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        with seeded(outcome.case.seed):
            return fn(*args)
    except Exception as exc:  # the user's code: report it, with its traceback
        if outcome.error is None:
            frames = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)
            outcome.error = (which, exc, "".join(frames))
        return None


class _Problem:
    """What is checked: names, cases and the truth, built-in or from the user's cost."""

    def __init__(self, net: Network | None, cost_fn, examples, shapes, loss, layout, dtype, data):
        self.net, self.cost_fn, self.examples = net, cost_fn, examples
        self.n_x, self.n_out = shapes
        self.loss, self.layout, self.dtype, self.data = loss, layout, dtype, data
        self.random = False  # did cost_fn draw from numpy's global random state?
        if net is not None:
            self.names = net.names()
        else:
            order = sorted(examples, key=_name_order) if all(map(is_layer_name, examples)) else []
            self.names = [f"d{k}" for k in (order or examples)]

    def draw(self, m: int, seed: int) -> Case:
        if self.net is not None:
            return draw_case(self.net, m, seed)
        return draw_free_case(
            self.examples, self.n_x, self.n_out, self.loss, self.layout, self.dtype,
            self.data, m, seed,
        )  # fmt: skip

    def truth(self, outcome_case: Case) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        if self.net is None:
            X, Y, params = outcome_case.copies()
            with seeded(outcome_case.seed):
                before = np.random.get_state()[2]
                _, grads = truth.cost_gradients(self.cost_fn, X, Y, params)
                self.random = self.random or np.random.get_state()[2] != before
            return None, grads
        X, Y, params = outcome_case.columns()
        net = self.net
        AL, grads = truth.gradients(X, Y, params, net.activations, net.loss, net.lambd, net.slope)
        return self.user(AL), {k: self.user(v) for k, v in grads.items()}

    def user(self, array: np.ndarray) -> np.ndarray:
        return flip(array) if self.layout == "rows" else array

    def shape_info(self, name: str, m: int) -> tuple[int, int]:
        """(n_in, n_out) for the factor labels of one gradient."""
        if self.net is not None and name != "AL":
            return self.net.dims[int(name[2:]) - 1], self.net.dims[-1]
        return m, self.n_out


def _name_order(name: str) -> tuple[int, int]:
    return (-int(name[1:]), 0 if name[0] == "W" else 1)


class _Runner:
    def __init__(self, problem: _Problem, grads_fn, forward_fn) -> None:
        self.problem, self.grads_fn, self.forward_fn = problem, grads_fn, forward_fn

    def evaluate(self, m: int, seed: int) -> Outcome:
        problem = self.problem
        case = problem.draw(m, seed)
        try:
            AL, true = problem.truth(case)
        except Exception as exc:
            frames = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)
            out = Outcome(case, None, {}, 0.0, problem.dtype)
            out.error = ("cost_fn", exc, "".join(frames))
            return out
        out = Outcome(case, AL, true, diagnose.floor(true.values(), problem.dtype), problem.dtype)
        X, Y, params = case.copies()
        grads = _call(out, "grads_fn", self.grads_fn, X, Y, params)
        out.modified = _modified(case, X, Y, params)
        out.after = {k: np.array(v, dtype=np.float64) for k, v in params.items()
                     if k in out.modified and isinstance(v, np.ndarray)}  # fmt: skip
        if grads is None and out.error is None:
            out.returned = "None"
        elif grads is not None and not isinstance(grads, Mapping):
            out.returned = type(grads).__name__
            if isinstance(grads, tuple) and any(isinstance(g, Mapping) for g in grads):
                out.returned = "tuple holding a dict"
        elif grads is not None:
            out.keys = [str(k) for k in grads]
            out.received = {k: _snapshot(grads.get(k)) for k in true}
        if out.error is None:
            out.wrong = [
                k
                for k in problem.names
                if out.received is None
                or not diagnose.close(diagnose.as_array(out.received[k]), true[k], out.tol(k))
            ]
        if self.forward_fn is not None:
            X, Y, params = case.copies()
            out.forward = _snapshot(_call(out, "forward_fn", self.forward_fn, X, params))
            out.modified += [n for n in _modified(case, X, Y, params) if n not in out.modified]
            if not diagnose.close(diagnose.as_array(out.forward), AL, out.tol("AL")):
                if out.forward is not None or out.error is None:
                    out.wrong.append("AL")
        return out


# ---- naming the cause ----


def _analysed(minimal: Outcome, failing: list[Outcome]) -> list[Outcome]:
    """The smallest case plus a few more, with batch sizes as varied as possible."""
    chosen, sizes = [minimal], {minimal.case.m}
    for o in sorted(failing, key=lambda o: o.case.m, reverse=True):
        if len(chosen) < _ANALYSED and o.case.m not in sizes and o.received is not None:
            chosen.append(o)
            sizes.add(o.case.m)
    return chosen


def _labels(o: Outcome, name: str, problem: _Problem) -> list[str]:
    n_in, n_out = problem.shape_info(name, o.case.m)
    received = o.forward if name == "AL" else o.received[name]
    expected = o.AL if name == "AL" else o.true[name]
    scale = max((float(np.max(np.abs(t))) for t in o.true.values() if t.size), default=0.0)
    return diagnose.labels(
        received, expected, o.tol(name), o.case.m, n_in, n_out, problem.layout, scale
    )


def _variant_grads(o: Outcome, problem: _Problem, variant: variants.Variant) -> dict:
    X, Y, params = o.case.columns()
    after = {k: (flip(v) if problem.layout == "rows" else v) for k, v in o.after.items()}
    grads = variants.backward(X, Y, params, problem.net, variant, after)
    return {k: problem.user(v) for k, v in grads.items()}


def _fits(o: Outcome, grads: dict[str, np.ndarray], names: Iterable[str]) -> bool:
    """Does every gradient the user returned agree with `grads`? Names whose shape fits
    neither the truth nor the variant say nothing."""
    for k in names:
        received = diagnose.as_array(o.received.get(k))
        if received is None or received.shape not in (o.true[k].shape, grads[k].shape):
            continue
        if received.shape != grads[k].shape or not diagnose.close(received, grads[k], o.tol(k)):
            return False
    return True


def _differs(o: Outcome, grads: dict[str, np.ndarray], name: str) -> bool:
    received = diagnose.as_array(o.received.get(name))
    if received is None:
        return False
    if grads[name].shape != o.true[name].shape:
        return received.shape == grads[name].shape
    return received.shape == o.true[name].shape and not diagnose.close(
        grads[name], o.true[name], o.tol(name)
    )


def _candidates(problem: _Problem, usable: list[Outcome]) -> Iterator[variants.Variant]:
    moved = sorted({int(k[1:]) for o in usable for k in o.after if k[0] == "W" and k[1:].isdigit()})
    if moved:
        yield variants.updated_weights(moved)
    yield from variants.candidates(problem.net)


def _explain(analysed: list[Outcome], problem: _Problem):
    """(variants reproducing every returned gradient in every case, per-name fits)."""
    usable = [o for o in analysed if o.received is not None]
    if not usable or problem.net is None:
        return [], {}
    names = problem.names
    whole: list[variants.Variant] = []
    per_name: dict[str, variants.Variant] = {}
    for variant in _candidates(problem, usable):
        grads = [_variant_grads(o, problem, variant) for o in usable]
        differs = {k for o, g in zip(usable, grads) for k in names if _differs(o, g, k)}
        if not differs:
            continue
        fits = {k for k in names if all(_fits(o, g, [k]) for o, g in zip(usable, grads))}
        if fits == set(names):
            whole.append(variant)
        for k in differs & fits:
            per_name.setdefault(k, variant)
    if not whole:
        for variant in variants.pairs(problem.net):
            grads = [_variant_grads(o, problem, variant) for o in usable]
            if all(_fits(o, g, names) for o, g in zip(usable, grads)) and any(
                _differs(o, g, k) for o, g in zip(usable, grads) for k in names
            ):
                whole.append(variant)
                break
    return whole, per_name


def _forward_cause(analysed: list[Outcome], problem: _Problem) -> tuple[str, str] | None:
    """A forward output that matches the network with one activation swapped."""
    usable = [o for o in analysed if diagnose.as_array(o.forward) is not None]
    acts = problem.net.activations
    for layer in range(len(acts), 0, -1):
        for other in ACTIVATIONS:
            if other == acts[layer - 1] or other == "softmax":
                continue
            swapped = list(acts)
            swapped[layer - 1] = other
            if usable and all(
                diagnose.close(
                    diagnose.as_array(o.forward), _numpy_forward(o, swapped, problem), o.tol("AL")
                )
                for o in usable
            ):
                return (
                    f"{other} instead of {acts[layer - 1]}",
                    f"the forward pass applies {other} in layer {layer} instead of "
                    f"{acts[layer - 1]}",
                )
    return None


def _numpy_forward(o: Outcome, activations: Sequence[str], problem: _Problem) -> np.ndarray:
    X, _, params = o.case.columns()
    A = X
    for layer, name in enumerate(activations, start=1):
        A = activate(name, params[f"W{layer}"] @ A + params[f"b{layer}"], problem.net.slope)
    return problem.user(A)


_SHAPE_LABELS = (
    "missing",
    "not an array",
    "wrong shape",
    "transposed",
    "not summed over the batch",
    "summed without keepdims",
    "summed over the wrong axis",
    diagnose.BOTH_AXES,
    "float16",
)


def _cause(name, common, whole, per_name, forward_cause) -> str | None:
    for label in common:
        if label in _SHAPE_LABELS and label != "wrong shape" or label == "not finite":
            return label
    if whole and name != "AL":
        return whole[0].label
    if name in per_name:
        return per_name[name].label
    if common:
        return common[0]
    if name == "AL" and forward_cause:
        return forward_cause[0]
    return None


def _hint(name: str, explored: list[Outcome], example: Outcome) -> str | None:
    """Say so when a gradient is right only for single-sample batches."""
    if example.case.m == 1:
        return None
    passes = [o for o in explored if o.received is not None and name not in o.wrong]
    if passes and all(o.case.m == 1 for o in passes):
        return "matches only when m = 1: a single sample hides a wrong sum or mean over the batch"
    return None


def _activation_hint(report: Report, activations: Sequence[str]) -> None:
    """When nothing else names a cause, point at the activation where errors start."""
    grads = [k for k in report.mismatches if k != "AL" and is_layer_name(k[1:])]
    if not grads or report.explanation or report.modified_inputs:
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


def _explanation(whole: list[variants.Variant]) -> str | None:
    if not whole:
        return None
    if len(whole) == 1:
        return whole[0].explain
    others = "; or ".join(v.explain for v in whole[1:3])
    return f"{whole[0].explain}; or {others} (the gradients cannot tell these apart: look at both)"


# ---- the public function ----


def _problem(
    layer_dims, activations, loss, cost_fn, parameters, data, lambd, slope, layout, dtype
) -> _Problem:
    kind = check_options(layout, dtype, lambd, slope)
    columns = data_columns(data, layout) if data is not None else None
    if cost_fn is not None:
        if not callable(cost_fn):
            raise TypeError(f"cost_fn must be callable, got {type(cost_fn).__name__}")
        if parameters is None:
            if layer_dims is None:
                raise ValueError("cost_fn needs the shapes: pass layer_dims= or parameters=")
            dims = [int(n) for n in layer_dims]
            examples = {
                f"{p}{i}": np.zeros(
                    (dims[i], dims[i - 1] if p == "W" else 1)
                    if layout == "columns"
                    else (dims[i - 1] if p == "W" else 1, dims[i])
                )
                for i in range(1, len(dims))
                for p in "Wb"
            }
        else:
            examples = _examples(parameters)
        if columns is not None:
            shapes = (columns[0].shape[0], columns[1].shape[0])
        elif layer_dims is not None:
            shapes = (int(layer_dims[0]), int(layer_dims[-1]))
        elif all(map(is_layer_name, examples)):
            dims = dims_from_parameters(examples, layout)
            shapes = (dims[0], dims[-1])
        else:
            raise ValueError("cost_fn with parameters of other names needs data=(X, Y)")
        return _Problem(None, cost_fn, examples, shapes, loss, layout, kind, columns)
    if parameters is not None:
        dims = dims_from_parameters(_examples(parameters), layout)
        if layer_dims is not None and [int(n) for n in layer_dims] != dims:
            raise ValueError(f"layer_dims {list(layer_dims)} disagree with parameters ({dims})")
        layer_dims = dims
    if layer_dims is None or activations is None:
        raise ValueError(
            "pass layer_dims= (or parameters=) and activations= for the built-in truth, "
            "or cost_fn= for your own cost"
        )
    validate(layer_dims, activations, loss)
    dims = tuple(int(n) for n in layer_dims)
    if columns is not None and (columns[0].shape[0], columns[1].shape[0]) != (dims[0], dims[-1]):
        raise ValueError(
            f"data: X has {columns[0].shape[0]} features and Y {columns[1].shape[0]} outputs; "
            f"layer_dims {list(dims)} need {dims[0]} and {dims[-1]}"
        )
    net = Network(dims, tuple(activations), loss, float(lambd), float(slope), layout, kind, columns)
    return _Problem(net, None, None, (dims[0], dims[-1]), loss, layout, kind, columns)


def _examples(parameters: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(parameters, Mapping) or not parameters:
        raise TypeError("parameters must be a non-empty dict of example arrays")
    return {str(k): np.asarray(v, dtype=np.float64) for k, v in parameters.items()}


def check_backprop(
    grads_fn: GradsFn,
    *,
    layer_dims: Sequence[int] | None = None,
    activations: Sequence[str] | None = None,
    loss: str = "bce",
    cost_fn: CostFn | None = None,
    parameters: Mapping[str, Any] | None = None,
    data: tuple[Any, Any] | None = None,
    lambd: float = 0.0,
    slope: float = 0.01,
    layout: str = "columns",
    dtype: type = np.float64,
    forward_fn: ForwardFn | None = None,
    max_examples: int = 100,
    seed: int | None = None,
) -> Report:
    """Check a hand-written backward pass against autodiff on generated cases.

    `grads_fn(X, Y, parameters) -> grads` is your forward and backward pass. In the
    course layout (`layout="columns"`) `X` is (n_x, m), `Y` is (n_out, m), `W{l}` is
    (n_l, n_{l-1}) and `b{l}` is (n_l, 1); with `layout="rows"` every array is the
    transpose (`X @ W + b`). It returns a dict with `dW1, db1, ...` of the cost averaged
    over the m samples (`dA*` entries are ignored).

    The truth is autodiff's gradient of either the built-in network (`layer_dims`,
    `activations`, `loss` "bce" with a sigmoid output, "mse" (mean over all entries, no
    1/2) or "cross_entropy" with a softmax output and one-hot Y, plus
    `lambd / (2m) * sum ||W||^2`, leaky_relu's `slope`), or of your own
    `cost_fn(X, Y, parameters) -> cost`: your numpy forward pass and cost, run on Tensors.
    Shapes come from `layer_dims` or from an example `parameters` dict (any names: the
    gradient of "W1" is "dW1"); `data=(X, Y)` draws the batches from your data. Both
    functions see the same numpy random state on a case (dropout masks agree); yours is
    restored afterwards. `forward_fn(X, parameters) -> AL` is checked too, when given.

    Hypothesis draws `max_examples` well-conditioned cases (m from 1 to 64) and shrinks a
    failure to the smallest one; `seed` fixes the draws (without it they are
    derandomized, so a report is reproducible). Your functions get copies; changing them
    in place is reported as a warning (`Report.ok` judges the gradients only).
    Tolerances: rtol 1e-5 (float64) or 1e-4 (`dtype=np.float32`) of each gradient's
    largest entry, plus round-off.

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
    if not callable(grads_fn):
        raise TypeError(f"grads_fn must be callable, got {type(grads_fn).__name__}")
    if forward_fn is not None and not callable(forward_fn):
        raise TypeError(f"forward_fn must be callable or None, got {type(forward_fn).__name__}")
    problem = _problem(
        layer_dims, activations, loss, cost_fn, parameters, data, lambd, slope, layout, dtype
    )
    if forward_fn is not None and problem.net is None:
        raise ValueError("forward_fn is checked against the built-in network; drop cost_fn")
    state = np.random.get_state()
    try:
        return _check(problem, grads_fn, forward_fn, max_examples, seed)
    finally:
        np.random.set_state(state)


def _check(problem: _Problem, grads_fn, forward_fn, max_examples, seed) -> Report:
    runner = _Runner(problem, grads_fn, forward_fn)
    search = Search(runner.evaluate, max_batch(problem.data), max_examples, seed)
    explored = search.explore()
    net = problem.net
    report = Report(
        list(net.dims) if net else [],
        list(net.activations) if net else [],
        problem.loss,
        len(explored),
        title=f"Backprop check: {net.describe()}" if net else _free_title(problem),
        depth=_depth(problem.names),
    )
    names = (["AL"] if forward_fn else []) + problem.names
    modified = [o for o in explored if o.modified]
    if modified:
        changed = {n for o in modified for n in o.modified}
        order = ["X", "Y", *explored[0].case.parameters]
        report.modified_inputs = [n for n in order if n in changed] + sorted(changed - set(order))
        report.modified_example = min(modified, key=lambda o: o.case.m).case
    failing = [o for o in explored if o.failed]
    if not failing:
        report.matched = _in_order(names)
        return report
    minimal = search.smallest(lambda o: o.failed, explored)
    report.error = first_call_error(explored, minimal, search.smallest)
    returned = [o for o in explored if o.returned]
    if returned:
        report.returned = min(returned, key=lambda o: o.case.m).returned
    keys = next((o.keys for o in explored if o.received is not None), [])
    wrong_names = [n for n in names if any(n in o.wrong for o in explored)]
    if any(n not in keys for n in wrong_names if n != "AL") and keys:
        report.received_keys = keys
    with_wrong = [o for o in explored if o.wrong]
    whole, per_name, forward_cause = [], {}, None
    if with_wrong:
        base = minimal if minimal.wrong else search.smallest(lambda o: bool(o.wrong), explored)
        analysed = _analysed(base, with_wrong)
        whole, per_name = _explain(analysed, problem)
        if "AL" in wrong_names and net is not None:
            forward_cause = _forward_cause(analysed, problem)
        report.explanation = _explanation(whole)
        if report.explanation is None and forward_cause is not None and wrong_names == ["AL"]:
            report.explanation = forward_cause[1]
    for name in wrong_names:
        fails = [o for o in explored if name in o.wrong]
        example = (
            base if name in base.wrong else search.smallest(lambda o, n=name: n in o.wrong, fails)
        )
        looked_at = [example] + [o for o in analysed if name in o.wrong and o is not example]
        looked_at = [o for o in looked_at if o.received is not None or name == "AL"]
        per_case = [_labels(o, name, problem) for o in looked_at]
        common = diagnose.common(per_case)
        if example.returned:
            cause = returned_cause(example.returned)
        else:
            cause = _cause(name, common, whole, per_name, forward_cause)
            if cause is None and per_case and MASK_LABEL in per_case[0]:
                cause = MASK_LABEL  # seen whole only in the smallest case (one sample)
        report.mismatches[name] = Mismatch.over(
            name,
            [_errors(o, name) for o in fails],
            cause=cause,
            example=example.case,
            cases=len(explored),
            expected=example.AL if name == "AL" else example.true[name],
            received=example.forward if name == "AL" else (example.received or {}).get(name),
            hint=_hint(name, explored, example),
        )
    report.matched = _in_order(n for n in names if n not in report.mismatches)
    _clipped_too(report)
    _factor_too(report)
    if net is not None:
        _activation_hint(report, net.activations)
    elif problem.random:
        _random_hint(report)
    return report


def _clipped_too(report: Report) -> None:
    """A one-number gradient sitting at the clip value that clips the others is clipped
    too (one number alone cannot show it)."""
    clips = {m.cause for m in report.mismatches.values() if (m.cause or "").startswith("clipped")}
    if len(clips) != 1:
        return
    label = clips.pop()
    c = float(label.rsplit("+-", 1)[1])
    for name, m in report.mismatches.items():
        received = diagnose.as_array(m.received)
        if m.cause is None and received is not None and received.size:
            if np.allclose(np.abs(received), c, rtol=1e-2):
                report.mismatches[name] = replace(m, cause=label)


def _factor_too(report: Report) -> None:
    """A gradient whose cases had too few nonzero entries to show a factor gets the one
    numeric factor the other gradients share, when its smallest case agrees."""
    found = set()
    for m in report.mismatches.values():
        try:
            found.add((m.cause, float(m.cause.split(" ", 1)[1])))
        except (AttributeError, IndexError, ValueError):
            continue
    if len(found) != 1:
        return
    label, c = found.pop()
    for name, m in report.mismatches.items():
        received = diagnose.as_array(m.received)
        if m.cause is None and received is not None and m.expected is not None:
            tol = diagnose.tolerance(m.expected, 0.0) * max(1.0, abs(c))
            if diagnose.close(received, c * m.expected, tol) and np.any(m.expected):
                report.mismatches[name] = replace(m, cause=label)


def _random_hint(report: Report) -> None:
    """cost_fn draws random numbers (dropout): point at the masks of the first wrong layer."""
    grads = [k for k in report.mismatches if is_layer_name(k[1:])]
    if not grads or report.explanation:
        return
    top = max(int(k[2:]) for k in grads)
    key = f"dW{top}" if f"dW{top}" in report.mismatches else f"db{top}"
    mismatch = report.mismatches[key]
    if mismatch.hint is None and (mismatch.cause is None or mismatch.cause == MASK_LABEL):
        report.mismatches[key] = replace(
            mismatch,
            hint=f"is the first wrong gradient from the output, and your cost draws random "
            f"numbers (a dropout mask?): check that the backward pass masks dA{top} with the "
            f"same D{top} as the forward pass and divides by keep_prob, "
            f"dA{top} = dA{top} * D{top} / keep_prob",
        )


def _depth(names: list[str]) -> int:
    """L when the names are exactly dW1, db1, ..., dWL, dbL (a layer-by-layer summary
    then reads right), else 0."""
    L = len(names) // 2
    full = {f"{p}{i}" for i in range(1, L + 1) for p in ("dW", "db")}
    return L if set(names) == full and len(names) == 2 * L else 0


def _errors(o: Outcome, name: str) -> tuple[float, float]:
    if name == "AL":
        return diagnose.errors(diagnose.as_array(o.forward), o.AL)
    received = None if o.received is None else diagnose.as_array(o.received[name])
    return diagnose.errors(received, o.true[name])


def _free_title(problem: _Problem) -> str:
    layout = ", rows layout" if problem.layout == "rows" else ""
    dtype = ", float32" if problem.dtype == np.float32 else ""
    return f"Backprop check against your cost_fn: {len(problem.names)} gradients{layout}{dtype}"


def _in_order(names: Iterable[str]) -> list[str]:
    """dW1, db1, dW2, ... and AL last; other names in their own order."""
    names = list(names)

    def key(n: str):
        if n == "AL":
            return (2, 0, "")
        if is_layer_name(n[1:]):
            return (0, int(n[2:]), n[1])
        return (1, names.index(n), "")

    return sorted(names, key=key)


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
