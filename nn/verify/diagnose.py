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

MASK_LABEL = "nonzero where the truth is 0"
BOTH_AXES = "not summed over the batch, or summed over the wrong axis"
RTOL = {np.float64: 1e-5, np.float32: 1e-4}
_EPS_SLACK = 1000.0  # absolute floor, in epsilons of the dtype, of the largest true gradient


def as_array(value: Any) -> np.ndarray | None:
    """`value` as a float64 array, or None when it is not numeric."""
    try:
        data = getattr(value, "data", value) if not isinstance(value, np.ndarray) else value
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def floor(true: Iterable[np.ndarray], dtype: type = np.float64) -> float:
    """The absolute tolerance floor for one case: round-off relative to its largest gradient."""
    scale = max((float(np.max(np.abs(t))) for t in true if t.size), default=0.0)
    return _EPS_SLACK * float(np.finfo(dtype).eps) * max(scale, 1e-300)


def tolerance(true: np.ndarray, atol: float, dtype: type = np.float64) -> float:
    """Largest error a correct implementation may show: rtol of the gradient's size."""
    return RTOL[dtype] * (float(np.max(np.abs(true))) if true.size else 0.0) + atol


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


def _shape_labels(array: np.ndarray, true: np.ndarray, tol: float, m: int, layout: str):
    """Labels for a received array whose shape differs from the true one."""
    found = []
    if array.shape == true.T.shape and close(array.T, true, tol):
        found.append("transposed")
    batch_axis, unit_axis = (1, 0) if layout == "columns" else (0, 1)
    if true.ndim == 2 and true.shape[batch_axis] == 1:  # a bias gradient
        n = true.shape[unit_axis]
        if array.shape == (n,) and close(array.reshape(true.shape), true, tol):
            found.append("summed without keepdims")
        per_sample = (n, m) if layout == "columns" else (m, n)
        if array.shape == per_sample and close(
            array.sum(axis=batch_axis, keepdims=True), true, tol
        ):
            found.append("not summed over the batch")
        across = (1, m) if layout == "columns" else (m, 1)
        if n == 1 and "not summed over the batch" in found:  # one unit: the two coincide
            found[found.index("not summed over the batch")] = BOTH_AXES
        elif n > 1 and array.shape in (across, (m,)):
            found.append("summed over the wrong axis")
    return [*found, "wrong shape"]


def _clipped(array: np.ndarray, true: np.ndarray, tol: float) -> str | None:
    """'clipped at +-c' when the array is the true one with its entries clipped to [-c, c]."""
    c = float(np.max(np.abs(array))) if array.size else 0.0
    inside, outside = np.abs(true) < c - tol, np.abs(true) > c + tol
    # entries on both sides of c: a single shrunken number says nothing about clipping
    if c > 0 and np.any(inside) and np.any(outside) and close(array, np.clip(true, -c, c), tol):
        return f"clipped at +-{c:.3g}"
    return None


def labels(
    received: Any,
    true: np.ndarray,
    tol: float,
    m: int,
    n_in: int,
    n_out: int,
    layout: str = "columns",
    scale: float = 0.0,
) -> list[str]:
    """Every simple cause consistent with one received gradient, most specific first.

    `scale` is the largest true gradient of the whole case: float16 round-off is judged
    against it, since a small gradient computed from float16 values keeps no digits."""
    if received is None:
        return ["missing"]
    array = as_array(received)
    if array is None:
        return ["not an array"]
    if array.shape != true.shape:
        return _shape_labels(array, true, tol, m, layout)
    if not np.all(np.isfinite(array)):
        return ["not finite"]
    found = []
    if array.ndim == 2 and array.shape[0] == array.shape[1] and close(array.T, true, tol):
        found.append("transposed")
    if close(array, -true, tol):
        found.append("sign flipped")
    if not np.any(array) and np.any(true):
        found.append("all zeros")
    zero = true == 0
    if np.any(zero) and np.any(np.abs(array[zero]) > tol) and close(array * ~zero, true, tol):
        found.append(MASK_LABEL)
    clipped = _clipped(array, true, tol)
    if clipped:
        found.append(clipped)
    norm = float(np.sum(true * true))
    if norm > 0:
        c = float(np.sum(array * true)) / norm
        if c != 0 and abs(c - 1) > 1e-6 and close(array, c * true, tol * max(1.0, abs(c))):
            named = [f"factor {k}" for k, v in factors(m, n_in, n_out) if abs(c - v) <= 1e-6 * v]
            found += named
            if np.count_nonzero(true) > 1:  # any two numbers are multiples of each other
                if not named and abs(c) > 1e-3:
                    found.append(f"factor {c:.4g}")
                found.append("constant factor")
    dtype = getattr(received, "dtype", None)
    size = float(np.max(np.abs(true))) if true.size else 0.0
    if not found and dtype == np.float16:
        found.append("float16")
    elif not found and np.array_equal(array.astype(np.float16).astype(np.float64), array):
        found.append("float16 round-off")
    elif not found and (
        np.array_equal(array.astype(np.float32).astype(np.float64), array)
        and close(array, true, 1e-3 * size + 1e-4 * scale + tol)
    ):
        found.append("float32 round-off")
    elif not found and close(array, true, 3e-2 * size + 3e-3 * scale + tol):
        found.append("float16 round-off")
    return found


def common(per_case: Sequence[Sequence[str]]) -> list[str]:
    """Labels that hold in every case, in the order of the first case."""
    if not per_case:
        return []
    rest = [set(labels_) for labels_ in per_case[1:]]
    return [x for x in per_case[0] if all(x in s for s in rest)]


FACTOR_TEXT = {
    "m": "m times the true gradient: the 1/m of the mean is missing",
    "1/m": "1/m times the true gradient: divided by m once too often (dW and db carry the "
    "1/m of the mean; dA and dZ do not)",
    "2": "twice the true gradient",
    "1/2": "half the true gradient (for mse: the 2 from the derivative of the square is missing)",
    "m/n_in": "divided by the layer's input width n_in instead of by the batch size m",
    "n_out": "n_out times the true gradient: the mean over the outputs is missing",
    "1/n_out": "1/n_out times the true gradient: divided by the number of outputs twice",
    "2m": "2m times the true gradient",
    "m/2": "m/2 times the true gradient",
}


def _factor_text(value: str) -> str:
    try:
        c = float(value)
    except ValueError:
        return f"{value} times the true gradient"
    text = f"{c:g} times the true gradient"
    if 0 < c < 1:
        return text + (
            f" (with dropout: the mask's division by keep_prob is missing, keep_prob = {c:g}; "
            "or a scale such as a learning rate applied to it)"
        )
    if c > 1:
        return text + f" (with dropout: divided by keep_prob twice, keep_prob = {1 / c:g}?)"
    return text


def describe(label: str) -> str:
    """A sentence for one label, for the report."""
    if label.startswith("factor "):
        return FACTOR_TEXT.get(label[7:]) or _factor_text(label[7:])
    if label.startswith("clipped at "):
        return (
            f"the true gradient with every entry {label}: gradient clipping hides the "
            "gradient from the check; check the gradients before clipping them"
        )
    return {
        "missing": "not returned at all",
        "not an array": "not an array of numbers",
        "transposed": "the transpose of the true gradient",
        "wrong shape": "the wrong shape",
        "not summed over the batch": "not summed over the samples",
        "summed without keepdims": "summed without keepdims=True, so it has lost its second "
        "axis: np.sum(dZ, axis=1, keepdims=True)",
        "summed over the wrong axis": "summed over the units instead of over the samples",
        BOTH_AXES: "not summed over the samples, or summed over the units instead of the "
        "samples: with one unit in the layer both give this array, so look at both",
        "float32 round-off": "right to float32 precision only: the function computes in "
        "float32, so check it with dtype=np.float32",
        MASK_LABEL: "nonzero exactly where the true gradient is 0 and right elsewhere: a mask "
        "is missing in the backward pass (dropout's dA * D, or relu's (Z > 0))",
        "float16": "a float16 array: float16 keeps about 3 digits, too few for gradients",
        "float16 round-off": "right to about 3 digits only, the precision of float16: is "
        "something cast to float16 (a cache, say)?",
        "sign flipped": "the true gradient with its sign flipped",
        "all zeros": "all zeros",
        "constant factor": "a multiple of the true gradient, by a factor that changes from "
        "case to case (clipped by its norm? scaled by something that depends on the data?)",
        "not finite": "holding NaN or inf",
        "inputs modified in place": "computed from inputs the function had already changed "
        "in place",
    }.get(label, label)
