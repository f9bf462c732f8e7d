"""numpy functions on Tensors: numpy's dispatch protocols mapped to autodiff ops.

`Tensor.__array_ufunc__` (numpy's NEP 13) and `Tensor.__array_function__` (NEP 18) hand
every numpy call that has a Tensor among its arguments to `ufunc` and `function` below.
So a learner's unchanged numpy forward pass records a graph:

>>> import numpy as np
>>> from autodiff import Tensor
>>> W = Tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
>>> X = np.array([[1.0], [2.0]])
>>> A = 1 / (1 + np.exp(-np.dot(W, X)))     # a Tensor: np.dot and np.exp are recorded
>>> cost = np.sum(np.maximum(0, A), axis=1, keepdims=True).sum()
>>> cost.backward()
>>> W.grad.shape
(2, 2)

Three kinds of numpy call, each in a table of this module:

- differentiable: `UFUNCS` and `FUNCTIONS` map the numpy function to the autodiff op (an
  adapter takes numpy's signature: `np.sum(x, axis=1, keepdims=True)`, `np.maximum(0, Z)`,
  `np.where(cond, a, b)`, `np.concatenate([array, tensor])`);
- not differentiable by nature (comparisons, `sign`, `isfinite`, `argmax`, `shape`,
  `allclose`...: booleans, integers, shapes): `READ_ONLY_UFUNCS` and `READ_ONLY_FUNCTIONS`
  run numpy on the tensors' data and return plain numpy results, as the comparison
  operators do;
- everything else raises `TypeError` naming the function and the nearest autodiff op,
  never a silent detach. So do ufunc methods (`np.add.reduce`), `out=` arguments and
  keywords that have no meaning for a recorded op (`dtype=`, `where=`).

To support another numpy function, add a row to `FUNCTIONS` (or `UFUNCS`) whose adapter
takes numpy's parameters and calls public autodiff ops only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autodiff import ops
from autodiff.tensor import Tensor

_UNSET: Any = object()  # "argument not given": numpy passes only the arguments a user wrote


# ---- helpers ----


def _data(x: Any) -> Any:
    """`x` with every Tensor (also inside lists and tuples) replaced by its values.

    A read-only plain ndarray view (`np.asarray`), so numpy's results are plain arrays.
    """
    if isinstance(x, Tensor):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_data(item) for item in x)
    if isinstance(x, dict):
        return {key: _data(value) for key, value in x.items()}
    return x


def _name(func: Any) -> str:
    """How a user writes `func`: np.sum, np.linalg.norm."""
    module = getattr(func, "__module__", None) or "numpy"
    if module == "numpy" or module.startswith("numpy._"):
        return f"np.{func.__name__}"
    return f"{module.replace('numpy', 'np', 1)}.{func.__name__}"


def _refuse_extras(name: str, **given: Any) -> None:
    """TypeError for a numpy keyword that a recorded op cannot honour."""
    for key, value in given.items():
        if value is _UNSET or value is None:
            continue
        if key == "out":
            raise TypeError(
                f"{name}(..., out=...) would write a Tensor result into an array outside the "
                "graph (an in-place `array += tensor` does that too); assign the result "
                "instead (z = np.f(x), a = a + t), or pass `t.data` to compute without "
                "gradients"
            )
        instead = "convert with t.astype(dtype)" if key == "dtype" else f"leave {key} out"
        raise TypeError(
            f"{name}(..., {key}=...) is not supported on Tensors; {instead}, or pass `t.data` "
            "to compute without gradients"
        )


def _shape_probe(x: Any) -> np.ndarray:
    """An array of `x`'s shape that takes no memory: numpy computes new shapes on it."""
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    return np.broadcast_to(np.empty((), dtype=np.float64), shape)


def _ndim(x: Any) -> int:
    return x.ndim if isinstance(x, Tensor) else np.ndim(x)


# ---- ufuncs ----


def _square(x: Tensor) -> Tensor:
    return ops.pow(x, 2)


def _logaddexp(a: Any, b: Any) -> Tensor:
    # log(e**a + e**b) = max(a, b) + log1p(e**-|a - b|): no overflow. At a == b the tie
    # rules (maximum splits evenly, abs'(0) = 0) give d/da = 1/2, the exact derivative.
    return ops.add(ops.maximum(a, b), ops.log1p(ops.exp(ops.neg(ops.abs(ops.sub(a, b))))))


UFUNCS: dict[np.ufunc, Callable[..., Tensor]] = {
    np.add: ops.add,
    np.subtract: ops.sub,
    np.multiply: ops.mul,
    np.divide: ops.div,  # np.true_divide is the same ufunc
    np.power: ops.pow,
    np.matmul: ops.matmul,
    np.maximum: ops.maximum,
    np.minimum: ops.minimum,
    np.negative: ops.neg,
    np.positive: ops.copy,  # numpy's positive returns a new array, as copy does
    np.square: _square,
    np.sqrt: ops.sqrt,
    np.exp: ops.exp,
    np.expm1: ops.expm1,
    np.log: ops.log,
    np.log1p: ops.log1p,
    np.tanh: ops.tanh,
    np.absolute: ops.abs,  # also np.abs
    np.logaddexp: _logaddexp,  # the stable sigmoid of nn.reference: exp(-logaddexp(0, -z))
}

# Results that are booleans (or signs): their derivative is zero wherever it exists, so
# plain arrays lose nothing. Comparisons give the same arrays as the operators.
READ_ONLY_UFUNCS = frozenset(
    {
        np.less,
        np.less_equal,
        np.greater,
        np.greater_equal,
        np.equal,
        np.not_equal,
        np.sign,
        np.signbit,
        np.isfinite,
        np.isnan,
        np.isinf,
        np.logical_and,
        np.logical_or,
        np.logical_xor,
        np.logical_not,
    }
)


def ufunc(ufn: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What `Tensor.__array_ufunc__` returns for `ufn` called on `inputs` (NEP 13)."""
    for x in inputs:
        if not isinstance(x, (Tensor, np.ndarray)) and hasattr(type(x), "__array_ufunc__"):
            if type(x).__array_ufunc__ is not np.ndarray.__array_ufunc__:
                return NotImplemented  # another array library: let numpy ask it
    name = _name(ufn)
    if ufn in READ_ONLY_UFUNCS:
        if any(isinstance(o, Tensor) for o in kwargs.get("out", ())):
            raise TypeError(f"{name}(..., out=tensor): a Tensor cannot be written into")
        return getattr(ufn, method)(*_data(inputs), **kwargs)
    if method != "__call__":
        hint = _METHOD_HINTS.get((ufn.__name__, method), "")
        raise TypeError(
            f"{name}.{method} has no differentiable version in autodiff"
            + (f"; nearest: {hint}" if hint else "")
            + "; pass `t.data` to compute without gradients"
        )
    op = UFUNCS.get(ufn)
    if op is None:
        raise _unsupported(name, ufn.__name__)
    _refuse_extras(name, **kwargs)
    return op(*inputs)


_METHOD_HINTS = {
    ("add", "reduce"): "np.sum(x, axis=...)",
    ("add", "accumulate"): "no cumulative sum; sum slices with np.sum(x[:k])",
    ("maximum", "reduce"): "np.max(x, axis=...)",
    ("minimum", "reduce"): "np.min(x, axis=...)",
    ("multiply", "outer"): "x[:, None] * y[None, :]",
    ("add", "at"): "indexing (x[index]), whose gradient adds up at repeated indices",
}


# ---- functions ----


def _sum(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
    initial: Any = _UNSET, where: Any = _UNSET,
) -> Tensor:  # fmt: skip
    _refuse_extras("np.sum", dtype=dtype, out=out, initial=initial, where=where)
    return ops.sum(a, axis=axis, keepdims=keepdims)


def _nansum(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
    initial: Any = _UNSET, where: Any = _UNSET,
) -> Tensor:  # fmt: skip
    # the course's compute_cost uses np.nansum; a NaN entry counts as 0 and gets no gradient
    _refuse_extras("np.nansum", dtype=dtype, out=out, initial=initial, where=where)
    a = ops.where(np.isnan(_data(a)), 0.0, a)
    return ops.sum(a, axis=axis, keepdims=keepdims)


def _mean(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
    *, where: Any = _UNSET,
) -> Tensor:  # fmt: skip
    _refuse_extras("np.mean", dtype=dtype, out=out, where=where)
    return ops.mean(a, axis=axis, keepdims=keepdims)


def _extremum(name: str, op: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def reduce(
        a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
        initial: Any = _UNSET, where: Any = _UNSET,
    ) -> Tensor:  # fmt: skip
        _refuse_extras(name, out=out, initial=initial, where=where)
        return op(a, axis=axis, keepdims=keepdims)

    return reduce


def _dot(a: Any, b: Any, out: Any = None) -> Tensor:
    _refuse_extras("np.dot", out=out)
    if _ndim(a) == 0 or _ndim(b) == 0:
        return ops.mul(a, b)
    if _ndim(a) > 2 or _ndim(b) > 2:
        # np.dot of N-D arrays pairs axes differently from matmul's batches
        raise TypeError(
            f"np.dot of operands with shapes {_shape_probe(a).shape} and "
            f"{_shape_probe(b).shape} has no differentiable version in autodiff; nearest: "
            "np.matmul (or @), which treats leading axes as a batch"
        )
    return ops.matmul(a, b)


def _reshape(
    a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None, copy: Any = None
) -> Tensor:
    _refuse_extras("np.reshape", copy=copy)
    if order != "C":
        raise TypeError(f"np.reshape(..., order={order!r}): Tensors reshape in C order only")
    shape = newshape if shape is None else shape
    if shape is None:
        raise TypeError("np.reshape needs a shape")
    return ops.reshape(a, shape)


def _ravel(a: Any, order: str = "C") -> Tensor:
    return _reshape(a, -1, order)


def _transpose(a: Any, axes: Any = None) -> Tensor:
    return ops.transpose(a, axes)


def _squeeze(a: Any, axis: Any = None) -> Tensor:
    return ops.reshape(a, np.squeeze(_shape_probe(a), axis=axis).shape)


def _expand_dims(a: Any, axis: Any) -> Tensor:
    return ops.reshape(a, np.expand_dims(_shape_probe(a), axis).shape)


def _parts(arrays: Any) -> Sequence[Any]:
    if isinstance(arrays, Tensor):  # numpy reads a single array as the list of its rows
        return [arrays[i] for i in range(len(arrays))]
    return list(arrays)


def _concatenate(
    arrays: Any, axis: Any = 0, out: Any = None, *, dtype: Any = None, casting: Any = None
) -> Tensor:
    _refuse_extras("np.concatenate", out=out, dtype=dtype, casting=casting)
    parts = _parts(arrays)
    if axis is None:  # numpy flattens every part first
        parts, axis = [ops.reshape(p, -1) for p in parts], 0
    return ops.concatenate(parts, axis=axis)


def _stack(
    arrays: Any, axis: int = 0, out: Any = None, *, dtype: Any = None, casting: Any = None
) -> Tensor:
    _refuse_extras("np.stack", out=out, dtype=dtype, casting=casting)
    return ops.stack(_parts(arrays), axis=axis)


def _where(condition: Any, x: Any = _UNSET, y: Any = _UNSET) -> Any:
    if x is _UNSET and y is _UNSET:  # the indices of the true elements: integers
        return np.where(_data(condition))
    if x is _UNSET or y is _UNSET:
        raise ValueError("np.where takes either the condition alone or all of condition, x, y")
    return ops.where(condition, x, y)


def _clip(
    a: Any, a_min: Any = _UNSET, a_max: Any = _UNSET, out: Any = None, *,
    min: Any = _UNSET, max: Any = _UNSET, **kwargs: Any,  # noqa: A002
) -> Tensor:  # fmt: skip
    _refuse_extras("np.clip", out=out, **kwargs)
    lo = min if a_min is _UNSET else a_min
    hi = max if a_max is _UNSET else a_max
    bounds = [None if b is _UNSET else b for b in (lo, hi)]
    if any(isinstance(b, Tensor) and b.requires_grad for b in bounds):
        raise TypeError(
            "np.clip with bounds that require grad has no differentiable version in autodiff; "
            "nearest: np.minimum(np.maximum(a, lo), hi)"
        )
    lo, hi = (b.data if isinstance(b, Tensor) else b for b in bounds)
    a_shape = _shape_probe(a).shape
    shape = np.broadcast_shapes(a_shape, *(np.shape(b) for b in (lo, hi) if b is not None))
    if shape != a_shape:  # array bounds that stretch `a`
        a = ops.broadcast_to(a, shape)
    return ops.clip(a, lo, hi)


def _copy(a: Any, order: str = "K", subok: bool = False) -> Tensor:
    return ops.copy(a)


def _broadcast_to(array: Any, shape: Any, subok: bool = False) -> Tensor:
    return ops.broadcast_to(array, shape)


FUNCTIONS: dict[Callable[..., Any], Callable[..., Tensor]] = {
    np.dot: _dot,
    np.sum: _sum,
    np.nansum: _nansum,
    np.mean: _mean,
    np.max: _extremum("np.max", ops.max),
    np.amax: _extremum("np.amax", ops.max),
    np.min: _extremum("np.min", ops.min),
    np.amin: _extremum("np.amin", ops.min),
    np.reshape: _reshape,
    np.ravel: _ravel,
    np.transpose: _transpose,
    np.squeeze: _squeeze,
    np.expand_dims: _expand_dims,
    np.broadcast_to: _broadcast_to,
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.where: _where,
    np.clip: _clip,
    np.copy: _copy,
}

# Shapes, indices, booleans and fresh arrays that do not depend on the values: computed
# on the data, returned as numpy gives them (for printing, predictions, initialisation).
READ_ONLY_FUNCTIONS = frozenset(
    {
        np.shape,
        np.ndim,
        np.size,
        np.argmax,
        np.argmin,
        np.argsort,
        np.nonzero,
        np.flatnonzero,
        np.count_nonzero,
        np.any,
        np.all,
        np.allclose,
        np.isclose,
        np.array_equal,
        np.array_equiv,
        np.zeros_like,
        np.ones_like,
        np.empty_like,
        np.full_like,
        np.array2string,
        np.array_repr,
        np.array_str,
        np.result_type,
        np.may_share_memory,
        np.shares_memory,
    }
)


def function(
    func: Callable[..., Any], types: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """What `Tensor.__array_function__` returns for `func(*args, **kwargs)` (NEP 18)."""
    if not all(issubclass(t, (Tensor, np.ndarray)) for t in types):
        return NotImplemented  # another array library: let numpy ask it
    adapter = FUNCTIONS.get(func)
    if adapter is not None:
        return adapter(*args, **kwargs)
    if func in READ_ONLY_FUNCTIONS:
        return func(*_data(args), **_data(kwargs))
    raise _unsupported(_name(func), func.__name__)


# ---- the error for everything else ----

# numpy name -> the nearest autodiff op (or composition) to write instead
HINTS = {
    "cumsum": "no cumulative sum; sum slices with np.sum(x[:k]) or use np.concatenate",
    "cumprod": "no cumulative product; multiply slices",
    "prod": "np.exp(np.sum(np.log(x))) for positive x, or multiply slices",
    "var": "np.mean((x - np.mean(x, axis, keepdims=True)) ** 2, axis)",
    "std": "np.sqrt(np.mean((x - np.mean(x, axis, keepdims=True)) ** 2, axis))",
    "norm": "np.sqrt(np.sum(x ** 2))",
    "inner": "np.dot for 1-D operands, or np.matmul",
    "outer": "x[:, None] * y[None, :] (or np.matmul of a column and a row)",
    "tensordot": "np.matmul (or @), with np.reshape and np.transpose",
    "einsum": "np.matmul (or @), with np.reshape, np.transpose and np.sum",
    "vdot": "np.sum(x * y)",
    "trace": "np.sum(x * np.eye(n))",
    "diag": "x * np.eye(n), then np.sum(..., axis=1)",
    "sort": "autodiff.max / autodiff.min for the extremes",
    "median": "autodiff.mean",
    "average": "np.mean, or np.sum(w * x) / np.sum(w)",
    "logaddexp2": "autodiff.logsumexp over a stacked axis, divided by np.log(2)",
    "log2": "np.log(x) / np.log(2)",
    "log10": "np.log(x) / np.log(10)",
    "exp2": "np.power(2, x)",
    "reciprocal": "1 / x",
    "float_power": "np.power",
    "fmax": "np.maximum",
    "fmin": "np.minimum",
    "hypot": "np.sqrt(x ** 2 + y ** 2)",
    "sinh": "(np.exp(x) - np.exp(-x)) / 2",
    "cosh": "(np.exp(x) + np.exp(-x)) / 2",
    "sin": "none (autodiff has no trigonometric ops)",
    "cos": "none (autodiff has no trigonometric ops)",
    "tan": "np.tanh is the hyperbolic tangent; autodiff has no trigonometric ops",
    "arctanh": "np.log((1 + x) / (1 - x)) / 2",
    "cbrt": "np.sign(x) * np.power(np.abs(x), 1 / 3)",
    "floor": "piecewise constant: np.floor(t.data) (its gradient is zero)",
    "ceil": "piecewise constant: np.ceil(t.data) (its gradient is zero)",
    "round": "piecewise constant: np.round(t.data) (its gradient is zero)",
    "around": "piecewise constant: np.round(t.data) (its gradient is zero)",
    "rint": "piecewise constant: np.rint(t.data) (its gradient is zero)",
    "trunc": "piecewise constant: np.trunc(t.data) (its gradient is zero)",
    "mod": "piecewise: x - np.floor(x.data / y) * y",
    "remainder": "piecewise: x - np.floor(x.data / y) * y",
    "floor_divide": "piecewise constant: np.floor_divide(t.data, y) (its gradient is zero)",
    "atleast_2d": "np.reshape or np.expand_dims",
    "hstack": "np.concatenate(..., axis=1) (axis=0 for 1-D parts)",
    "vstack": "np.concatenate(..., axis=0) of 2-D parts",
    "column_stack": "np.stack(..., axis=1)",
    "split": "indexing: x[:, a:b]",
    "array_split": "indexing: x[:, a:b]",
    "tile": "np.broadcast_to, then np.reshape",
    "repeat": "np.broadcast_to, then np.reshape",
    "pad": "np.concatenate with zero arrays",
    "flip": "indexing: x[::-1]",
    "roll": "np.concatenate of two slices",
    "swapaxes": "np.transpose(x, axes)",
    "moveaxis": "np.transpose(x, axes)",
    "take": "indexing: x[index]",
    "take_along_axis": "indexing with integer arrays: x[rows, cols]",
    "nanmean": "np.mean (after np.where)",
    "ptp": "np.max(x) - np.min(x)",
    "heaviside": "piecewise constant: (t.data > 0) (its gradient is zero)",
    "fabs": "np.abs",
    "conjugate": "x itself (autodiff has real numbers only)",
    "real": "x itself (autodiff has real numbers only)",
    "asarray": "t.data (the values, outside the graph)",
}


def _supported_names() -> str:
    names = sorted({u.__name__ for u in UFUNCS} | {f.__name__ for f in FUNCTIONS})
    return ", ".join(names)


def _unsupported(name: str, short: str) -> TypeError:
    hint = HINTS.get(short)
    nearest = (
        f"nearest: {hint}"
        if hint
        else f"the numpy functions with one are {_supported_names()} and the comparisons"
    )
    return TypeError(
        f"{name} has no differentiable version in autodiff; {nearest}. "
        "To compute it without gradients, pass `t.data` (the values, outside the graph)"
    )
