"""Naming the likely cause of a wrong gradient, from the numbers alone.

Two kinds of evidence. `labels` looks at one received array against the true one:
missing, not an array, wrong shape, transposed, sign flipped, all zeros, or a constant
factor that it tries to name (m, 1/m, 2, ...). `explaining_variants` recomputes
well-known wrong backward passes (see `variants`) and keeps those that reproduce what
the user returned. A label only counts when it holds in every failing case examined,
which is how "factor m" is told apart from "factor 2" when the smallest case has m = 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

RTOL = 1e-5
_EPS_SLACK = 1000.0  # absolute floor, in float64 epsilons of the largest true gradient


def as_array(value: Any) -> np.ndarray | None:
    """`value` as a float64 array, or None when it is not numeric."""
    try:
        data = getattr(value, "data", value) if not isinstance(value, np.ndarray) else value
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def floor(true: Iterable[np.ndarray]) -> float:
    """The absolute tolerance floor for one case: round-off relative to its largest gradient."""
    scale = max((float(np.max(np.abs(t))) for t in true if t.size), default=0.0)
    return _EPS_SLACK * np.finfo(np.float64).eps * max(scale, 1e-300)


def tolerance(true: np.ndarray, atol: float, rtol: float = RTOL) -> float:
    """Largest error a correct implementation may show: rtol of the gradient's size."""
    return rtol * (float(np.max(np.abs(true))) if true.size else 0.0) + atol


def close(received: np.ndarray | None, true: np.ndarray, tol: float) -> bool:
    """Same shape, finite, and within `tol` everywhere."""
    if received is None or received.shape != true.shape or not np.all(np.isfinite(received)):
        return False
    return bool(received.size == 0 or np.max(np.abs(received - true)) <= tol)


def errors(received: np.ndarray | None, true: np.ndarray) -> tuple[float, float]:
    """(max abs error, max abs error / largest true entry); inf when not comparable."""
    if received is None or received.shape != true.shape:
        return float("inf"), float("inf")
    diff = float(np.max(np.abs(received - true))) if true.size else 0.0
    scale = float(np.max(np.abs(true))) if true.size else 0.0
    if not np.isfinite(diff):
        return float("inf"), float("inf")
    return diff, (diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf")))


def factors(m: int, n_in: int, n_out: int) -> list[tuple[str, float]]:
    """Constant factors worth naming: received = factor * true."""
    named = [
        ("m", m),
        ("1/m", 1 / m),
        ("2", 2.0),
        ("1/2", 0.5),
        ("m/n_in", m / n_in),
        ("n_out", n_out),
        ("1/n_out", 1 / n_out),
        ("2m", 2.0 * m),
        ("m/2", m / 2),
    ]
    return [(label, float(v)) for label, v in named if abs(v - 1.0) > 1e-12]


def labels(received: Any, true: np.ndarray, tol: float, m: int, n_in: int, n_out: int) -> list[str]:
    """Every simple cause consistent with one received gradient, most specific first."""
    if received is None:
        return ["missing"]
    array = as_array(received)
    if array is None:
        return ["not an array"]
    if array.shape != true.shape:
        found = []
        if array.shape == true.T.shape and close(array.T, true, tol):
            found.append("transposed")
        if array.ndim == 2 and true.shape[1] == 1 and array.shape == (true.shape[0], m):
            if close(array.sum(axis=1, keepdims=True), true, tol):
                found.append("not summed over the batch")
        return [*found, "wrong shape"]
    if not np.all(np.isfinite(array)):
        return ["not finite"]
    found = []
    if array.ndim == 2 and array.shape[0] == array.shape[1] and close(array.T, true, tol):
        found.append("transposed")
    if close(array, -true, tol):
        found.append("sign flipped")
    if not np.any(array) and np.any(true):
        found.append("all zeros")
    norm = float(np.sum(true * true))
    if norm > 0:
        c = float(np.sum(array * true)) / norm
        if c != 0 and abs(c - 1) > 1e-6 and close(array, c * true, tol * max(1.0, abs(c))):
            found += [f"factor {k}" for k, v in factors(m, n_in, n_out) if abs(c - v) <= 1e-6 * v]
            if np.count_nonzero(true) > 1:  # any two numbers are multiples of each other
                found.append("constant factor")
    return found


def common(per_case: Sequence[Sequence[str]]) -> list[str]:
    """Labels that hold in every case, in the order of the first case."""
    if not per_case:
        return []
    rest = [set(labels_) for labels_ in per_case[1:]]
    return [x for x in per_case[0] if all(x in s for s in rest)]


FACTOR_TEXT = {
    "m": "m times the true gradient: the 1/m of the mean is missing",
    "1/m": "1/m times the true gradient: divided by m twice",
    "2": "twice the true gradient",
    "1/2": "half the true gradient (for mse: the 2 from the derivative of the square is missing)",
    "m/n_in": "divided by the layer's input width n_in instead of by the batch size m",
    "n_out": "n_out times the true gradient: the mean over the outputs is missing",
    "1/n_out": "1/n_out times the true gradient: divided by the number of outputs twice",
    "2m": "2m times the true gradient",
    "m/2": "m/2 times the true gradient",
}


def describe(label: str) -> str:
    """A sentence for one label, for the report."""
    if label.startswith("factor "):
        return FACTOR_TEXT.get(label[7:], label)
    return {
        "missing": "not returned at all",
        "not an array": "not an array of numbers",
        "transposed": "the transpose of the true gradient",
        "wrong shape": "the wrong shape",
        "not summed over the batch": "not summed over the samples (axis=1)",
        "sign flipped": "the true gradient with its sign flipped",
        "all zeros": "all zeros",
        "constant factor": "a constant multiple of the true gradient",
        "not finite": "holding NaN or inf",
        "inputs modified in place": "computed from inputs the function had already changed "
        "in place",
    }.get(label, label)
