"""`check_cost`: a hand-written `compute_cost` against the reference cost, on drawn cases.

`cost_fn(AL, Y)` (or `cost_fn(AL, Y, parameters, lambd)` when `lambd > 0`, the course's
`compute_cost_with_regularization`) is compared with `nn.reference` on outputs drawn
away from 0 and 1. Wrong costs are matched against classic slips recomputed here: the
1/m missing, the sign, a log of the wrong argument, a term missing, an L2 term without
its 1/m or 1/2 or with the biases.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from nn import reference
from nn.verify import diagnose
from nn.verify.cases import LOSSES, check_options, flip
from nn.verify.check import seeded
from nn.verify.layer import LayerCase
from nn.verify.report import Mismatch, Report, first_call_error
from nn.verify.search import Search

_RTOL = {np.float64: 1e-9, np.float32: 1e-5}


@dataclass
class _Outcome:
    case: LayerCase
    true: float
    columns: dict[str, Any]
    tol: float
    received: Any = None
    value: float | None = None
    error: tuple[str, BaseException, str] | None = None

    @property
    def wrong(self) -> list[str]:
        if self.error:
            return []
        ok = self.value is not None and abs(self.value - self.true) <= self.tol
        return [] if ok else ["cost"]

    @property
    def failed(self) -> bool:
        return bool(self.wrong or self.error)


def _draw(loss: str, lambd: float, m: int, seed: int, dtype: type) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n_out = int(rng.integers(2, 5)) if loss == "cross_entropy" else 1
    Z = 2.0 * rng.standard_normal((n_out, m))
    if loss == "bce":
        AL, Y = 1 / (1 + np.exp(-Z)), rng.integers(0, 2, size=(1, m)).astype(np.float64)
    elif loss == "cross_entropy":
        AL = np.exp(Z) / np.exp(Z).sum(axis=0, keepdims=True)
        Y = np.eye(n_out)[:, rng.integers(0, n_out, size=m)]
    else:
        AL, Y = Z, rng.standard_normal((n_out, m))
    AL = AL.astype(dtype).astype(np.float64)
    params = {}
    if lambd:
        dims = [int(n) for n in rng.integers(1, 5, size=int(rng.integers(2, 4)))]
        for i in range(1, len(dims)):
            params[f"W{i}"] = rng.standard_normal((dims[i], dims[i - 1])).astype(dtype)
            params[f"b{i}"] = rng.standard_normal((dims[i], 1)).astype(dtype)
    return {"AL": AL, "Y": Y, "parameters": {k: v.astype(np.float64) for k, v in params.items()}}


def _slips(loss: str, lambd: float) -> Iterator[tuple[str, str, Callable[..., float]]]:
    """(cause, explanation, cost(AL, Y, parameters)) of classic mistakes, course layout."""

    def l2(params, m, scale=1.0, biases=False, square=True):
        keys = [k for k in params if k[0] == "W" or biases]
        total = sum(float(np.sum(params[k] ** 2 if square else np.abs(params[k]))) for k in keys)
        return scale * lambd / (2 * m) * total

    def base(AL, Y, params):
        return reference.compute_cost(AL, Y, loss)

    if loss == "bce":
        logs = {
            "log(AL) in both terms": lambda AL, Y: Y * np.log(AL) + (1 - Y) * np.log(AL),
            "log(1 - AL) in both terms": lambda AL, Y: (
                Y * np.log(1 - AL) + (1 - Y) * np.log(1 - AL)
            ),
            "logs swapped": lambda AL, Y: Y * np.log(1 - AL) + (1 - Y) * np.log(AL),
            "(1 - Y) term missing": lambda AL, Y: Y * np.log(AL),
            "log10 instead of log": lambda AL, Y: Y * np.log10(AL) + (1 - Y) * np.log10(1 - AL),
        }
        texts = {
            "log(AL) in both terms": "the second term takes log(AL) where log(1 - AL) belongs: "
            "-(Y * log(AL) + (1 - Y) * log(1 - AL)) / m",
            "log(1 - AL) in both terms": "the first term takes log(1 - AL) where log(AL) belongs",
            "logs swapped": "log(AL) and log(1 - AL) are swapped: Y goes with log(AL)",
            "(1 - Y) term missing": "the (1 - Y) * log(1 - AL) term is missing",
            "log10 instead of log": "np.log10 where the natural log np.log belongs",
        }
        wrong_argument = ("log(AL) in both terms", "log(1 - AL) in both terms", "logs swapped")
        for label, fn in logs.items():
            yield (
                f"log of the wrong argument: {label}" if label in wrong_argument else label,
                texts[label],
                lambda AL, Y, p, fn=fn: (
                    float(-np.sum(fn(AL, Y)) / AL.shape[1]) + l2(p, AL.shape[1])
                ),
            )
    if loss == "mse":
        yield (
            "factor 1/2",
            "half the mean squared error: the mse of the check has no 1/2 (pass cost_fn to "
            "check_backprop for a 1/2 convention)",
            lambda AL, Y, p: 0.5 * base(AL, Y, p) + l2(p, AL.shape[1]),
        )
    yield (
        "missing 1/m",
        "the sum over the samples is not divided by m",
        lambda AL, Y, p: base(AL, Y, p) * AL.shape[1] + l2(p, AL.shape[1]),
    )
    yield ("sign flipped", "the minus sign in front is missing",
           lambda AL, Y, p: -base(AL, Y, p) + l2(p, AL.shape[1]))  # fmt: skip
    if lambd:
        m_of = lambda AL: AL.shape[1]  # noqa: E731
        for label, text, kwargs in (
            ("L2 term missing", "the L2 term lambd/(2m) * sum(W**2) is missing", {"scale": 0}),
            ("L2 term without 1/m", "the L2 term lacks its 1/m: lambd/(2m) * sum(W**2)", None),
            ("L2 term without 1/2", "the L2 term is lambd/m * sum(W**2): the 1/2 is missing",
             {"scale": 2.0}),
            ("L2 on biases", "the L2 term penalises the biases too: only the W are summed",
             {"biases": True}),
            ("L2 of |W|", "the L2 term sums |W| where the squares W**2 belong",
             {"square": False}),
        ):  # fmt: skip
            if kwargs is None:
                fn = lambda AL, Y, p: base(AL, Y, p) + l2(p, 1)  # noqa: E731
            else:
                fn = lambda AL, Y, p, kw=kwargs: base(AL, Y, p) + l2(p, m_of(AL), **kw)  # noqa: E731
            yield label, text, fn


def _number(value: Any) -> float | None:
    array = diagnose.as_array(value)
    if array is None or array.size != 1:
        return None
    return float(array.reshape(()))


def check_cost(
    cost_fn: Callable[..., Any],
    *,
    loss: str = "bce",
    layout: str = "columns",
    lambd: float = 0.0,
    dtype: type = np.float64,
    max_examples: int = 100,
    seed: int | None = None,
) -> Report:
    """Check a hand-written cost against the course's cost on drawn cases.

    `cost_fn(AL, Y) -> cost`, or `cost_fn(AL, Y, parameters, lambd)` when `lambd > 0`
    (L2: `lambd / (2m) * sum ||W||^2`, biases excluded). `loss` is "bce", "cross_entropy"
    (softmax outputs, one-hot Y) or "mse" (mean over all entries, no 1/2). The cost may
    be a float, a 0-d array or a (1, 1) array. With `layout="rows"` AL and Y are (m, n).

    >>> import numpy as np
    >>> def compute_cost(AL, Y):
    ...     return -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    >>> report = check_cost(compute_cost, max_examples=10)
    >>> report.ok, report.mismatches["cost"].cause
    (False, 'missing 1/m')
    """
    if not callable(cost_fn):
        raise TypeError(f"cost_fn must be callable, got {type(cost_fn).__name__}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    kind = check_options(layout, dtype, lambd, 0.01)

    def user(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=kind)
        return flip(a) if layout == "rows" else a

    def evaluate(m: int, case_seed: int) -> _Outcome:
        c = _draw(loss, lambd, m, case_seed, kind)
        AL, Y, params = c["AL"], c["Y"], c["parameters"]
        if lambd:
            true = reference.compute_cost_with_regularization(AL, Y, params, lambd, loss)
        else:
            true = reference.compute_cost(AL, Y, loss)
        shown = {"AL": user(AL), "Y": user(Y), **{k: user(v) for k, v in params.items()}}
        tol = _RTOL[kind] * max(abs(true), 1.0) + 100 * float(np.finfo(kind).eps)
        out = _Outcome(LayerCase(m, case_seed, shown), true, c, tol)
        args = [user(AL), user(Y)] + (
            [{k: user(v) for k, v in params.items()}, lambd] if lambd else []
        )
        try:
            with seeded(case_seed):
                out.received = cost_fn(*args)
        except Exception as exc:
            frames = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)
            out.error = ("cost_fn", exc, "".join(frames))
            return out
        out.value = _number(out.received)
        return out

    state = np.random.get_state()
    try:
        search = Search(evaluate, 64, max_examples, seed)
        explored = search.explore()
        return _report(search, explored, loss, lambd, layout, kind)
    finally:
        np.random.set_state(state)


def _report(search: Search, explored, loss, lambd, layout, kind) -> Report:
    title = f"Cost check: {loss}" + (f", lambd {lambd:g}" if lambd else "")
    title += ", rows layout" if layout == "rows" else ""
    title += ", float32" if kind == np.float32 else ""
    report = Report(
        [], [], loss, len(explored), title=title, what="costs", against="the reference cost"
    )
    failing = [o for o in explored if o.failed]
    if not failing:
        report.matched = ["cost"]
        return report
    minimal = search.smallest(lambda o: o.failed, explored)
    report.error = first_call_error(explored, minimal, search.smallest)
    fails = [o for o in explored if o.wrong]
    if not fails:
        return report
    example = minimal if minimal.wrong else search.smallest(lambda o: bool(o.wrong), explored)
    looked = [example] + sorted((o for o in fails if o is not example), key=lambda o: -o.case.m)[:4]
    cause = None
    if any(o.value is None for o in looked):
        shape = np.shape(getattr(example.received, "data", example.received))
        cause = f"not a single number (got {type(example.received).__name__} of shape {shape})"
    else:
        for label, explain, fn in _slips(loss, lambd):
            values = [fn(o.columns["AL"], o.columns["Y"], o.columns["parameters"]) for o in looked]
            if all(abs(v - o.value) <= o.tol for v, o in zip(values, looked, strict=True)):
                cause, report.explanation = label, explain
                break
    errors = [abs(o.value - o.true) if o.value is not None else float("inf") for o in fails]
    report.mismatches["cost"] = Mismatch.over(
        "cost",
        [(e, e / max(abs(o.true), 1e-300)) for e, o in zip(errors, fails, strict=True)],
        cause=cause,
        example=example.case,
        cases=len(explored),
        expected=np.asarray(example.true),
        received=example.received,
    )
    return report
