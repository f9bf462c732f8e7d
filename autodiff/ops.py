"""Every differentiable op as a primitive: a name, a numpy forward and its vjp rules.

How to read (and extend) this file
----------------------------------
A `Primitive` holds an op's public name, its numpy `forward(*arrays, **attrs)` and one
vector-Jacobian rule per input, `rule(g, out, *inputs, **attrs)`: given `g`, the
gradient of the result `out`, it returns the gradient for its input, with that input's
shape (the engine checks, and names the op if a rule is wrong). The engine calls only
the rules of inputs that need a gradient. `attrs` are the per-call facts (axis,
keepdims, shape, slope, a Python-number operand, an index), given as a dict in the
order of the rules' parameters: the node stores their values (`_attrs` reads them by
name), so a recorded graph can be replayed and drawn; no rule captures state in a
closure. Ops taking any number of inputs (concatenate, stack) have one rule that also
receives the input's `index`.

`apply(prim, inputs, attrs)` is the one place where every primitive runs: it calls the
forward (numpy's warnings point at the user's line, see `_reissue_warnings`) and, in grad
mode with an input that requires grad, records the node. The public functions below
check their arguments and pick the primitive.

The rules are written once for every order of derivative. In a first-order backward
`g`, `out` and the inputs are numpy arrays; under `ad.grad(..., create_graph=True)` they
are Tensors and the very same expression records a differentiable graph. So a rule uses
operators (`+ - * / ** @`), methods arrays and Tensors share (`sum`, `reshape`,
`transpose`, `.T`, `astype`, indexing) and the helpers `_exp`, `_log`, `_select`,
`_broadcast`, `_scatter`, which dispatch on the type. Piecewise-constant factors
(masks, tie shares, signs) come from `_const(x)`, the raw values: their derivative is
zero. Anywhere else raw values would silently break second derivatives. A rule never
writes into its arguments: they are the forward's own arrays.

Broadcasting lives in one place: a binary op whose input requires grad and has another
shape than the result gets an explicit `broadcast_to` node in front, whose rule sums the
gradient back (`_sum_to`). That is why a drawing of `x @ W.T + b` shows
`b -> broadcast_to -> add`, and why db sums over the batch. `matmul` and `linear`
reduce their own batch axes.

Kinks follow PyTorch: relu'(0) = 0, abs'(0) = 0, leaky_relu'(0) = slope, clip passes the
gradient at its bounds, max/min/maximum/minimum split it evenly among ties,
d(x**0)/dx = 0 (also at x = 0), and d(a**b)/db = 0 where a = 0 and b >= 0.
"""

from __future__ import annotations

import builtins
import inspect
import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autodiff import anomaly, versions
from autodiff import trace as _trace
from autodiff.mode import GRAD_ENABLED
from autodiff.scope import CURRENT as SCOPE
from autodiff.tensor import NO_ATTRS, ArrayLike, Tensor, _init, as_tensor, leaf

Axis = int | Sequence[int] | None
Rule = Callable[..., Any]


class Primitive:
    """One op: its public `name`, numpy `forward` and `vjp` rules (one per input), and
    `attr_names`: the rules' parameters after `g`, `out` and the inputs, in order."""

    __slots__ = ("name", "forward", "vjp", "variadic", "attr_names", "__dict__")  # __doc__

    def __init__(
        self, name: str, doc: str, forward: Callable[..., Any], *vjp: Rule, variadic: bool = False
    ) -> None:
        self.name, self.__doc__, self.forward, self.vjp, self.variadic = (
            name, doc, forward, vjp, variadic)  # fmt: skip
        params = list(inspect.signature(vjp[0]).parameters.values())
        if variadic:  # rule(g, out, *inputs, index, **attrs): `index` is the engine's
            params = [p for p in params if p.kind is p.KEYWORD_ONLY and p.name != "index"]
        self.attr_names = tuple(p.name for p in params[0 if variadic else 2 + len(vjp) :])

    def __repr__(self) -> str:
        return f"<primitive {self.name}: {self.__doc__}>"


def apply(
    prim: Primitive, inputs: tuple[Tensor, ...], attrs: dict[str, Any] = NO_ATTRS, *,
    out: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """Run `prim` on `inputs`, recording the node when a gradient is wanted; with `out`,
    write the result into that tensor's data instead (`t += v`)."""
    if warnings.filters is not _watched[0]:
        _watch_warnings()
    try:
        data = prim.forward(*[t._data for t in inputs], **attrs)
    except RuntimeWarning:  # numpy warned inside this file: see _reissue_warnings
        data = _reissue_warnings(prim, inputs, attrs)
    if type(data) is not np.ndarray:
        data = np.asarray(data)  # numpy hands back 0-d results as scalars
    if out is not None:
        return _write(out, data, prim)
    result = object.__new__(Tensor)
    _init(result, data, False)  # a leaf's slots; a recorded node's are set below
    if GRAD_ENABLED.get():
        for t in inputs:
            if t.requires_grad:  # record the node
                result.requires_grad, result._prim, result._parents = True, prim, inputs
                result._attr_values = tuple(attrs.values())  # values: a dict costs ~190 bytes
                result._versions, result._scope = versions.saved_versions(inputs), SCOPE.get()
                break
    if anomaly.ENABLED.get():
        anomaly.on_result(result, inputs)
    if _trace.RECORDING[0]:  # ad.compile records, in this thread or another
        _trace.op(prim, inputs, attrs, result)
    return result


# numpy's RuntimeWarnings (divide by zero, overflow, invalid) name the Python line that
# called numpy: a line of this file. So warnings from here are errors (a filter that
# only matches this module), and the forward that raised one runs again recording its
# warnings, which are reissued at the user's line. Costless when nothing warns. The
# filter is put back in front whenever the list of filters was swapped (`catch_warnings`).
_watched: list[Any] = [None]


def _watch_warnings() -> None:
    filters = warnings.filters
    if not filters or filters[0][3] is None or filters[0][3].pattern != __name__:
        warnings.filterwarnings("error", category=RuntimeWarning, module=__name__)
    _watched[0] = warnings.filters


def _reissue_warnings(prim: Primitive, inputs: tuple[Tensor, ...], attrs: dict[str, Any]) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = prim.forward(*[t._data for t in inputs], **attrs)
    for w in caught:
        anomaly.warn(w.message)  # type: ignore[arg-type]
    return data


def _write(out: Tensor, data: np.ndarray, prim: Primitive) -> Tensor:
    if _trace.RECORDING[0]:  # ad.compile records, in this thread or another
        _trace.write(prim, out)
    if data.shape != out.shape:
        raise ValueError(f"in-place {prim.name}: the result has shape {data.shape}, "
                         f"the tensor {out.shape}")  # fmt: skip
    versions.bump(out)
    out._data[...] = data
    return out


# ---- helpers the rules share: plain numpy on arrays, differentiable ops on Tensors ----


def _const(x: Any) -> np.ndarray:
    """Raw values of an array or Tensor, for piecewise-constant factors only."""
    return x._data if isinstance(x, Tensor) else x


def _exp(x: Any) -> Any:
    return exp(x) if isinstance(x, Tensor) else np.exp(x)


def _log(x: Any) -> Any:
    return log(x) if isinstance(x, Tensor) else np.log(x)


def _select(condition: np.ndarray, a: Any, b: Any) -> Any:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return where(condition, a, b)
    return np.where(condition, a, b)


def _broadcast(x: Any, shape: tuple[int, ...]) -> Any:
    if isinstance(x, Tensor):
        return broadcast_to(x, shape)
    filled = np.empty(shape, dtype=x.dtype)  # cheaper than np.broadcast_to, and writable
    filled[...] = x
    return filled


def _sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum `g` over the axes that broadcasting added or stretched, down to `shape`."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    stretched = tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    axes = tuple(range(lead)) + stretched
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)


def _reshape(x: Any, shape: tuple[int, ...]) -> Any:
    return x if x.shape == shape else x.reshape(shape)


def _unreduce(g: Any, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Any:
    """A reduction's gradient `g` reshaped to broadcast against the input again."""
    return g if keepdims else _reshape(g, _kept_shape(shape, axis))


def _kept_shape(shape: tuple[int, ...], axis: Axis) -> tuple[int, ...]:
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    kept = list(shape)
    for a in axes:
        kept[a] = 1
    return tuple(kept)


def _readonly(view: np.ndarray) -> np.ndarray:
    """A result that shares its input's memory: read-only, so it cannot change the input."""
    if isinstance(view, np.ndarray) and view.base is not None:
        view.flags.writeable = False
    return view


def _scatter(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """Zeros of `shape` with `g` added at `index` (the adjoint of indexing)."""
    if isinstance(g, Tensor):
        return apply(SCATTER_ADD, (g,), {"index": index, "shape": shape})
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _ties(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 where a wins, 1/2 where a and b tie, 0 where b wins."""
    return ((a > b) + 0.5 * (a == b)).astype(a.dtype)


# ---- the primitives ----
# Arithmetic with a Python number records one input and the number as the attribute
# `scalar` ("left" when the number comes first): `x * 2.0` and `x * np.float64(2.0)`
# build the same graph.

ADD = Primitive("add", "a + b; d/da = 1, d/db = 1", np.add,
                lambda g, out, a, b: g, lambda g, out, a, b: g)  # fmt: skip
SUB = Primitive("sub", "a - b; d/da = 1, d/db = -1", np.subtract,
                lambda g, out, a, b: g, lambda g, out, a, b: -g)  # fmt: skip
MUL = Primitive("mul", "a * b; d/da = b, d/db = a", np.multiply,
                lambda g, out, a, b: g * b, lambda g, out, a, b: g * a)  # fmt: skip
DIV = Primitive("div", "a / b; d/da = 1 / b, d/db = -a / b**2", np.divide,
                lambda g, out, a, b: g / b, lambda g, out, a, b: -g * out / b)  # fmt: skip


def _pow_base_grad(g: Any, out: Any, a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):  # masked where it is 0 * inf
        return _select((_const(b) == 0) & (_const(a) == 0), 0.0, g * b * a ** (b - 1))


def _pow_exponent_grad(g: Any, out: Any, a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _select((_const(a) == 0) & (_const(b) >= 0), 0.0, g * out * _log(a))


POW = Primitive("pow", "a ** b; d/da = b a**(b-1) (0 at a = b = 0), d/db = a**b log a "
                "(0 where a = 0 and b >= 0)", np.power,
                _pow_base_grad, _pow_exponent_grad)  # fmt: skip
MAXIMUM = Primitive("maximum", "max(a, b); the gradient goes to the larger, split on ties",
                    np.maximum, lambda g, out, a, b: g * _ties(_const(a), _const(b)),
                    lambda g, out, a, b: g * _ties(_const(b), _const(a)))  # fmt: skip
MINIMUM = Primitive("minimum", "min(a, b); the gradient goes to the smaller, split on ties",
                    np.minimum, lambda g, out, a, b: g * _ties(_const(b), _const(a)),
                    lambda g, out, a, b: g * _ties(_const(a), _const(b)))  # fmt: skip
WHERE = Primitive("where", "a where condition else b; d/da = condition, d/db = not condition",
                  lambda a, b, condition: np.where(condition, a, b),
                  lambda g, out, a, b, condition: _select(condition, g, 0.0),
                  lambda g, out, a, b, condition: _select(condition, 0.0, g))  # fmt: skip

ADD_SCALAR = Primitive("add", "x + c; d/dx = 1", lambda x, scalar: x + scalar,
                       lambda g, out, x, scalar: g)  # fmt: skip
SUB_SCALAR = Primitive("sub", "x - c; d/dx = 1", lambda x, scalar: x - scalar,
                       lambda g, out, x, scalar: g)  # fmt: skip
RSUB_SCALAR = Primitive("sub", "c - x; d/dx = -1", lambda x, scalar, left: scalar - x,
                        lambda g, out, x, scalar, left: -g)  # fmt: skip
MUL_SCALAR = Primitive("mul", "x * c; d/dx = c", lambda x, scalar: x * scalar,
                       lambda g, out, x, scalar: g * scalar)  # fmt: skip
DIV_SCALAR = Primitive("div", "x / c; d/dx = 1 / c", lambda x, scalar: x / scalar,
                       lambda g, out, x, scalar: g / scalar)  # fmt: skip
RDIV_SCALAR = Primitive("div", "c / x; d/dx = -c / x**2", lambda x, scalar, left: scalar / x,
                        lambda g, out, x, scalar, left: -g * out / x)  # fmt: skip
POW_SCALAR = Primitive("pow", "x ** c; d/dx = c x**(c-1), 0 for c = 0",
                       lambda x, scalar: x**scalar,
                       lambda g, out, x, scalar: g * scalar * x ** (scalar - 1) if scalar
                       else g * 0.0)  # fmt: skip
RPOW_SCALAR = Primitive("pow", "c ** x; d/dx = c**x log c (0 for c = 0)",
                        lambda x, scalar, left: np.power(scalar, x, dtype=x.dtype),
                        lambda g, out, x, scalar, left: g * out
                        * (math.log(scalar) if scalar else 0.0))  # fmt: skip

NEG = Primitive("neg", "-x; d/dx = -1", np.negative, lambda g, out, x: -g)
EXP = Primitive("exp", "e**x; d/dx = e**x", np.exp, lambda g, out, x: g * out)
LOG = Primitive("log", "log x; d/dx = 1 / x", np.log, lambda g, out, x: g / x)
SQRT = Primitive("sqrt", "sqrt x; d/dx = 1 / (2 sqrt x)", np.sqrt, lambda g, out, x: g * 0.5 / out)
TANH = Primitive("tanh", "tanh x; d/dx = 1 - tanh(x)**2", np.tanh,
                 lambda g, out, x: g * (1 - out * out))  # fmt: skip
SIGMOID = Primitive("sigmoid", "1 / (1 + e**-x); d/dx = out (1 - out)",
                    lambda x: np.exp(-np.logaddexp(0, -x)),  # no overflow, tiny values kept
                    lambda g, out, x: g * (out * (1 - out)))  # fmt: skip
RELU = Primitive("relu", "max(x, 0); d/dx = 1 where x > 0, else 0", lambda x: np.maximum(x, 0),
                 lambda g, out, x: g * (_const(x) > 0))  # fmt: skip
LEAKY_RELU = Primitive("leaky_relu", "x where x > 0, else slope x; d/dx = 1 or slope",
                       lambda x, slope: np.where(x > 0, x, x * slope),
                       lambda g, out, x, slope: g
                       * np.where(_const(x) > 0, 1, slope).astype(x.dtype))  # fmt: skip
ABS = Primitive("abs", "|x|; d/dx = sign(x)", np.abs, lambda g, out, x: g * np.sign(_const(x)))
CLIP = Primitive("clip", "x limited to [lo, hi]; d/dx = 1 inside, bounds included, else 0",
                 lambda x, lo, hi: np.clip(x, lo, hi),
                 lambda g, out, x, lo, hi: g * _inside(_const(x), lo, hi))  # fmt: skip
ASTYPE = Primitive("astype", "x in another float dtype; the gradient is converted back",
                   lambda x, dtype: x.astype(dtype),
                   lambda g, out, x, dtype: g.astype(x.dtype))  # fmt: skip
COPY = Primitive("copy", "a copy of x; d/dx = 1", np.copy, lambda g, out, x: g)
LOG1P = Primitive("log1p", "log(1 + x), exact for tiny x; d/dx = 1 / (1 + x)", np.log1p,
                  lambda g, out, x: g / (x + 1))  # fmt: skip
EXPM1 = Primitive("expm1", "e**x - 1, exact for tiny x; d/dx = e**x", np.expm1,
                  lambda g, out, x: g * (out + 1))  # fmt: skip


def _inside(x: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    low = np.ones(x.shape, dtype=bool) if lo is None else x >= lo
    return low if hi is None else low & (x <= hi)


def _matmul_grad_a(g: Any, out: Any, a: Any, b: Any) -> Any:
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T
    a2, b2, g2 = _promote(g, a, b)
    return _sum_to(g2 @ _swap_last(b2), a2.shape).reshape(a.shape)


def _matmul_grad_b(g: Any, out: Any, a: Any, b: Any) -> Any:
    if a.ndim == 2 and b.ndim == 2:
        return a.T @ g
    a2, b2, g2 = _promote(g, a, b)
    return _sum_to(_swap_last(a2) @ g2, b2.shape).reshape(b.shape)


def _promote(g: Any, a: Any, b: Any) -> tuple[Any, Any, Any]:
    """A 1-D `a` as a row, a 1-D `b` as a column, and `g` with the matching shape."""
    a2 = a.reshape((1, a.shape[0])) if a.ndim == 1 else a
    b2 = b.reshape((b.shape[0], 1)) if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    return a2, b2, _reshape(g, batch + (a2.shape[-2], b2.shape[-1]))


def _swap_last(x: Any) -> Any:
    return x.transpose(tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def _rows(x: Any) -> Any:
    return x if x.ndim == 2 else x.reshape((-1, x.shape[-1]))


MATMUL = Primitive("matmul", "a @ b; d/da = g @ b^T, d/db = a^T @ g (batch axes summed)",
                   np.matmul, _matmul_grad_a, _matmul_grad_b)  # fmt: skip
LINEAR = Primitive("linear", "x @ W.T + b; d/dx = g @ W, d/dW = g^T @ x, d/db = g summed",
                   lambda x, W, b=None: x @ W.T if b is None else x @ W.T + b,
                   lambda g, out, x, W, b=None: g @ W,
                   lambda g, out, x, W, b=None: _rows(g).T @ _rows(x),
                   lambda g, out, x, W, b=None: _sum_to(g, b.shape))  # fmt: skip


def _max_grad(g: Any, out: Any, x: Any, axis: Axis, keepdims: bool) -> Any:
    hits = _const(x) == _unreduce(_const(out), x.shape, axis, keepdims)
    share = (hits / hits.sum(axis=axis, keepdims=True)).astype(x.dtype)
    return _unreduce(g, x.shape, axis, keepdims) * share


def _logsumexp(x: np.ndarray, axis: Axis, keepdims: bool) -> np.ndarray:
    shift = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: empty axes
    shift = np.where(np.isfinite(shift), shift, 0)
    with np.errstate(divide="ignore"):  # log(0) = -inf over an empty axis, as in PyTorch
        total = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    return total if keepdims else total.reshape(np.sum(x, axis=axis).shape)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shift = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    shifted = x - np.where(np.isfinite(shift), shift, 0)  # subtract first: exact at 1e17
    with np.errstate(divide="ignore"):  # an empty axis, as in logsumexp
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _sum_grad(g: Any, out: Any, x: Any, axis: Axis, keepdims: bool) -> Any:
    return _broadcast(_unreduce(g, x.shape, axis, keepdims), x.shape)


def _mean_grad(g: Any, out: Any, x: Any, axis: Axis, keepdims: bool) -> Any:
    n = builtins.max(x.size // builtins.max(out.size, 1), 1)  # the number averaged
    return _broadcast(_unreduce(g, x.shape, axis, keepdims) / n, x.shape)


def _logsumexp_grad(g: Any, out: Any, x: Any, axis: Axis, keepdims: bool) -> Any:
    return _unreduce(g, x.shape, axis, keepdims) * _exp(x - _unreduce(out, x.shape, axis, keepdims))


def _mean(x: np.ndarray, axis: int | tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    n = math.prod([x.shape[a] for a in axes])  # 0 over an empty axis: nan, as np.mean
    return np.add.reduce(x, axis=axis, keepdims=keepdims) / n  # np.sum without its layers


SUM = Primitive("sum", "sum of x over axis; d/dx = 1 (g broadcast back)",
                lambda x, axis, keepdims: np.add.reduce(x, axis=axis, keepdims=keepdims),
                _sum_grad)  # fmt: skip
MEAN = Primitive("mean", "mean of x over axis; d/dx = 1 / n for the n averaged", _mean,
                 _mean_grad)  # fmt: skip
MAX = Primitive("max", "largest x over axis; the gradient is split among tied maxima",
                lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
                _max_grad)  # fmt: skip
MIN = Primitive("min", "smallest x over axis; the gradient is split among tied minima",
                lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
                _max_grad)  # fmt: skip
LOGSUMEXP = Primitive("logsumexp", "log sum e**x over axis; d/dx = e**(x - out), the softmax",
                      _logsumexp, _logsumexp_grad)  # fmt: skip
SOFTMAX = Primitive("softmax", "e**x / sum e**x; d/dx = out (g - sum(g out))",
                    lambda x, axis: np.exp(_log_softmax(x, axis)),
                    lambda g, out, x, axis: out
                    * (g - (g * out).sum(axis=axis, keepdims=True)))  # fmt: skip
LOG_SOFTMAX = Primitive("log_softmax", "x - logsumexp(x); d/dx = g - softmax(x) sum(g)",
                        _log_softmax,
                        lambda g, out, x, axis: g
                        - _exp(out) * g.sum(axis=axis, keepdims=True))  # fmt: skip

RESHAPE = Primitive("reshape", "x in another shape; the gradient is reshaped back",
                    lambda x, shape: _readonly(x.reshape(shape)),
                    lambda g, out, x, shape: g.reshape(x.shape))  # fmt: skip
TRANSPOSE = Primitive("transpose", "x with its axes permuted; the gradient is permuted back",
                      lambda x, axes: _readonly(x.transpose(axes)),
                      lambda g, out, x, axes: g.transpose(
                          tuple(np.argsort(axes).tolist())))  # fmt: skip
BROADCAST_TO = Primitive("broadcast_to", "x stretched to shape; the gradient is summed back",
                         lambda x, shape: np.broadcast_to(x, shape),
                         lambda g, out, x, shape: _sum_to(g, x.shape))  # fmt: skip
GETITEM = Primitive("getitem", "x[index]; the gradient is scattered back, summed where "
                    "an index repeats", lambda x, index: _readonly(x[index]),
                    lambda g, out, x, index: _scatter(g, index, x.shape))  # fmt: skip
SCATTER_ADD = Primitive("scatter_add", "zeros of shape with g added at index; its adjoint "
                        "is indexing", lambda g, index, shape: _scatter(g, index, shape),
                        lambda gg, out, g, index, shape: gg[index])  # fmt: skip


def _concatenate_grad(g: Any, out: Any, *xs: Any, index: int, axis: int) -> Any:
    start = builtins.sum(x.shape[axis] for x in xs[:index])
    return g[(slice(None),) * axis + (slice(start, start + xs[index].shape[axis]),)]


CONCATENATE = Primitive("concatenate", "tensors joined along an axis; each gets its slice back",
                        lambda *xs, axis: np.concatenate(xs, axis=axis), _concatenate_grad,
                        variadic=True)  # fmt: skip
STACK = Primitive("stack", "tensors joined along a new axis; each gets its slice back",
                  lambda *xs, axis: np.stack(xs, axis=axis),
                  lambda g, out, *xs, index, axis: g[(slice(None),) * axis + (index,)],
                  variadic=True)  # fmt: skip


# ---- the public functions: check the arguments, pick the primitive ----


def _number(x: Any, what: str) -> Any:
    """`x` as a Python number when it is a real number (numpy's included), else None."""
    if type(x) is float or type(x) is int:
        return x
    return _real(x, what) if isinstance(x, (int, float, np.integer, np.floating)) else None


def _real(value: Any, what: str) -> Any:
    """A real Python number (or None) for an op's parameter; TypeError otherwise."""
    if type(value) is float or type(value) is int:
        return value
    if value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool)):
        return value.item() if isinstance(value, np.generic) else value
    raise TypeError(f"{what} must be a real number, got {value!r} ({type(value).__name__})")


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a non-Tensor takes the dtype of the other one."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = as_tensor(a)
    like = a if isinstance(a, Tensor) else b
    return as_tensor(a, like), as_tensor(b, like)


def _expand(name: str, *operands: Tensor, extra: tuple[int, ...] = ()) -> list[Tensor]:
    """Operands that require grad and would be stretched get a broadcast_to node."""
    shapes = [t.shape for t in operands]
    if all(s == shapes[0] for s in shapes) and not extra:
        return list(operands)
    try:
        shape = np.broadcast_shapes(*shapes, extra)
    except ValueError:
        listed = " and ".join(str(s) for s in (*shapes, *([extra] if extra else [])))
        raise ValueError(f"{name}: shapes {listed} do not broadcast together") from None
    if not GRAD_ENABLED.get():
        return list(operands)
    return [broadcast_to(t, shape) if t.requires_grad and t.shape != shape else t
            for t in operands]  # fmt: skip


def _binary(
    prims: tuple[Primitive, ...], a: ArrayLike, b: ArrayLike, out: Tensor | None = None
) -> Tensor:
    prim, with_number, number_first = prims
    if type(a) is not Tensor or type(b) is not Tensor:  # a number or an array to convert
        if isinstance(a, Tensor) and (number := _number(b, prim.name)) is not None:
            return apply(with_number, (a,), {"scalar": number}, out=out)
        if isinstance(b, Tensor) and (number := _number(a, prim.name)) is not None:
            attrs = {"scalar": number}
            if number_first is not with_number:
                attrs["left"] = True
            return apply(number_first, (b,), attrs, out=out)
        a, b = _pair(a, b)
    if a._data.shape != b._data.shape:
        a, b = _expand(prim.name, a, b)
    return apply(prim, (a, b), out=out)


# (the primitive, the one with a number after the tensor, the one with a number before)
_ADD, _SUB = (ADD, ADD_SCALAR, ADD_SCALAR), (SUB, SUB_SCALAR, RSUB_SCALAR)
_MUL, _DIV = (MUL, MUL_SCALAR, MUL_SCALAR), (DIV, DIV_SCALAR, RDIV_SCALAR)
_POW = (POW, POW_SCALAR, RPOW_SCALAR)


def add(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a + b elementwise, with numpy broadcasting."""
    return _binary(_ADD, a, b)


def sub(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a - b elementwise, with numpy broadcasting."""
    return _binary(_SUB, a, b)


def mul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a * b elementwise, with numpy broadcasting."""
    return _binary(_MUL, a, b)


def div(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a / b elementwise; dividing by zero gives inf or nan with numpy's warning."""
    return _binary(_DIV, a, b)


def pow(a: ArrayLike, b: ArrayLike) -> Tensor:  # noqa: A001 - the ** operator
    """a ** b elementwise, with numpy broadcasting."""
    return _binary(_POW, a, b)


_INPLACE = {add: _ADD, sub: _SUB, mul: _MUL, div: _DIV}


def inplace(fn: Callable[..., Tensor], t: Tensor, other: ArrayLike) -> Tensor:
    """`t += other` (and -=, *=, /=) as in PyTorch.

    Under no_grad, or on a tensor that does not require grad, the result is written into
    `t`'s data (a new version of `t`); on a leaf that requires grad in grad mode it is
    refused; on any other tensor it is recorded as `t = t + other` would be.
    """
    if GRAD_ENABLED.get() and t.requires_grad:
        if t.is_leaf:
            raise RuntimeError(
                f"in-place {fn.__name__} on {versions.describe(t)}, a leaf that requires "
                "grad, while grad mode is on: wrap the update in `with ad.no_grad():`"
            )
        return fn(t, other)
    if isinstance(other, np.ndarray) and other.dtype.kind == "f":
        other = leaf(other)  # read once, never recorded: no private copy needed
    return _binary(_INPLACE[fn], t, other, out=t)


def maximum(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Elementwise max(a, b); ties split the gradient evenly."""
    return apply(MAXIMUM, tuple(_expand("maximum", *_pair(a, b))))


def minimum(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Elementwise min(a, b); ties split the gradient evenly."""
    return apply(MINIMUM, tuple(_expand("minimum", *_pair(a, b))))


def where(condition: ArrayLike, a: ArrayLike, b: ArrayLike) -> Tensor:
    """a where `condition` is true, else b (the condition is a constant)."""
    cond = np.array(_const(condition), dtype=bool)  # our own copy: backward reads it
    a, b = _pair(a, b)
    return apply(WHERE, tuple(_expand("where", a, b, extra=cond.shape)), {"condition": cond})


def _unary(prim: Primitive) -> Callable[[ArrayLike], Tensor]:
    def op(x: ArrayLike) -> Tensor:
        return apply(prim, (as_tensor(x),))

    op.__name__ = op.__qualname__ = prim.name
    op.__doc__ = prim.__doc__
    return op


neg, exp, log, sqrt = _unary(NEG), _unary(EXP), _unary(LOG), _unary(SQRT)
tanh, sigmoid, relu, abs = _unary(TANH), _unary(SIGMOID), _unary(RELU), _unary(ABS)  # noqa: A001
copy, log1p, expm1 = _unary(COPY), _unary(LOG1P), _unary(EXPM1)


def leaky_relu(x: ArrayLike, slope: float = 0.01) -> Tensor:
    """x where x > 0, else slope * x; d/dx = 1 where x > 0, else slope (also at 0)."""
    return apply(LEAKY_RELU, (as_tensor(x),), {"slope": _real(slope, "leaky_relu slope")})


def clip(x: ArrayLike, lo: float | None, hi: float | None) -> Tensor:
    """x limited to [lo, hi]; d/dx = 1 inside, bounds included (as torch.clamp), 0 outside."""
    lo, hi = _real(lo, "clip bound lo"), _real(hi, "clip bound hi")
    if lo is None and hi is None:
        raise ValueError("clip needs at least one of lo and hi")
    return apply(CLIP, (as_tensor(x),), {"lo": lo, "hi": hi})


def astype(x: ArrayLike, dtype: Any) -> Tensor:
    """x converted to float32 or float64; the gradient is converted back."""
    x = as_tensor(x)
    dtype = np.dtype(dtype)
    if dtype.type not in (np.float32, np.float64):
        raise TypeError(
            f"astype: Tensor dtype must be a floating type (float32 or float64); got {dtype}"
        )
    return x if dtype == x.dtype else apply(ASTYPE, (x,), {"dtype": dtype.name})


def matmul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a @ b with numpy's rules for 1-D, 2-D and stacked operands."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}; use * to multiply by a scalar")  # fmt: skip
    k = b.shape[0] if b.ndim == 1 else b.shape[-2]
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])  # the stacked (batch) axes
    except ValueError:
        k = -1
    if a.shape[-1] != k:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"(inner dimensions or batch axes differ)")  # fmt: skip
    return apply(MATMUL, (a, b))


def linear(x: ArrayLike, W: ArrayLike, b: ArrayLike | None = None) -> Tensor:
    """x @ W.T + b in one node: a Dense layer's affine map (W is (out, in), b is (out,))."""
    x, W = _pair(x, W)
    if W.ndim != 2 or x.ndim == 0 or x.shape[-1] != W.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weights of shape "
                         f"{W.shape} (W is (out, in))")  # fmt: skip
    if b is None:
        return apply(LINEAR, (x, W))
    b = as_tensor(b, like=x)
    if b.shape != (W.shape[0],):
        raise ValueError(f"linear: bias of shape {b.shape} does not fit weights of shape {W.shape}")
    return apply(LINEAR, (x, W, b))


def _axis(axis: Axis, ndim: int, name: str) -> int | tuple[int, ...] | None:
    """`axis` checked against `ndim`, with negative axes made positive."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"{name}: axis {a} is out of bounds for a tensor with {ndim} "
                             "dimensions")  # fmt: skip
    fixed = tuple(int(a) % builtins.max(ndim, 1) for a in axes)
    return fixed[0] if isinstance(axis, (int, np.integer)) else fixed


def _reduction(prim: Primitive) -> Callable[..., Tensor]:
    def op(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
        x = as_tensor(x)
        attrs = {"axis": _axis(axis, x.ndim, prim.name), "keepdims": bool(keepdims)}
        try:
            return apply(prim, (x,), attrs)
        except ValueError as error:  # max of an empty axis
            raise ValueError(f"{prim.name}: {error} (tensor of shape {x.shape})") from None

    op.__name__ = op.__qualname__ = prim.name
    op.__doc__ = prim.__doc__
    return op


sum, mean, max, min = _reduction(SUM), _reduction(MEAN), _reduction(MAX), _reduction(MIN)  # noqa: A001
logsumexp = _reduction(LOGSUMEXP)


def softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, computed without overflow."""
    x = as_tensor(x)
    return apply(SOFTMAX, (x,), {"axis": _axis(axis, x.ndim, "softmax")})


def log_softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along `axis`, computed without overflow or cancellation."""
    x = as_tensor(x)
    return apply(LOG_SOFTMAX, (x,), {"axis": _axis(axis, x.ndim, "log_softmax")})


def _shape_args(args: tuple[Any, ...]) -> tuple[int, ...]:
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        return tuple(args[0]) if args[0] is not None else ()
    return tuple(args)


def reshape(x: ArrayLike, *shape: Any) -> Tensor:
    """The same values in another shape (`reshape(2, 3)` or `reshape((2, 3))`)."""
    x, shape = as_tensor(x), _shape_args(shape)
    try:
        return apply(RESHAPE, (x,), {"shape": np.empty(x.shape).reshape(shape).shape})
    except ValueError:
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {x.shape} into {shape}"
        ) from None


def transpose(x: ArrayLike, *axes: Any) -> Tensor:
    """Axes permuted (reversed when none are given); the gradient is permuted back."""
    x, axes = as_tensor(x), _shape_args(axes)
    perm = (
        tuple(int(a) % builtins.max(x.ndim, 1) for a in axes)
        if axes
        else tuple(range(x.ndim))[::-1]
    )
    if sorted(perm) != list(range(x.ndim)) or builtins.any(not -x.ndim <= a < x.ndim for a in axes):
        raise ValueError(f"transpose: axes {axes} do not fit a tensor of shape {x.shape}")
    return apply(TRANSPOSE, (x,), {"axes": perm})


def broadcast_to(x: ArrayLike, shape: Sequence[int]) -> Tensor:
    """x stretched to `shape` by numpy's rules; the gradient is summed back."""
    x, shape = as_tensor(x), tuple(int(n) for n in shape)
    try:
        np.broadcast_shapes(x.shape, shape)
        if len(shape) < x.ndim or np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    return apply(BROADCAST_TO, (x,), {"shape": shape})


def _private_index(index: Any) -> Any:
    """The index with private copies of its arrays: backward must scatter to the places
    read in the forward, even if the caller's index array changes in between."""
    if isinstance(index, Tensor):
        return index._data.astype(np.intp) if index.dtype.kind == "f" else index._data.copy()
    if isinstance(index, tuple):
        return tuple(_private_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return index.copy()
    if isinstance(index, list):  # as numpy reads it; [] is an empty integer index
        return np.array(index) if index else np.array(index, dtype=np.intp)
    return index


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return builtins.all(i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer))
                        for i in items)  # fmt: skip


def getitem(x: ArrayLike, index: Any) -> Tensor:
    """x[index] (basic and integer-array indexing); the gradient is scattered back."""
    x, index = as_tensor(x), _private_index(index)
    try:
        return apply(GETITEM, (x,), {"index": index})
    except IndexError as error:
        raise IndexError(f"getitem: {error} (tensor of shape {x.shape})") from None


def _join(prim: Primitive, tensors: Sequence[ArrayLike], axis: int) -> Tensor:
    if isinstance(tensors, Tensor) or not len(tensors):
        raise ValueError(f"{prim.name} needs a non-empty sequence of tensors")
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    parts = tuple(as_tensor(t, like) for t in tensors)
    ndim = parts[0].ndim + (prim is STACK)
    try:
        return apply(prim, parts, {"axis": _axis(axis, ndim, prim.name)})
    except ValueError as error:
        shapes = ", ".join(str(t.shape) for t in parts)
        raise ValueError(f"{prim.name}: shapes {shapes} along axis {axis}: {error}") from None


def concatenate(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Tensors joined along an existing axis."""
    return _join(CONCATENATE, tensors, axis)


def stack(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Tensors joined along a new axis."""
    return _join(STACK, tensors, axis)
