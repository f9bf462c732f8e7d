"""Every differentiable op: its numpy forward and its backward rule, side by side.

How to read (and extend) this file
----------------------------------
An op computes its result with numpy and hands it to `apply(op, data, parents, vjp)`.
`vjp(g, out, *inputs)` is the vector-Jacobian product: given `g`, the gradient of the
result, it returns one gradient per input, with that input's shape (None for an input
that needs none; the engine checks the shapes and names the op if a rule is wrong).

The rules are written once for every order of derivative. In a first-order backward
`g`, `out` and the inputs are numpy arrays; under `ad.grad(..., create_graph=True)` they
are Tensors and the very same expression records a differentiable graph. So a rule may
use operators (`+ - * / ** @`), the methods arrays and Tensors share (`sum`, `reshape`,
`transpose`, `.T`, `astype`, indexing) and the `_exp`, `_log`, `_broadcast` and
`_scatter` helpers below, which dispatch on the type. Quantities that are piecewise
constant (masks, tie weights, signs) come from `_const(x)`, the raw values: their
derivative is zero, so reading raw values there is right; anywhere else it would
silently break second derivatives. A rule never writes into its arguments: they are
the forward's own arrays, and `g` may be handed to several inputs.

Broadcasting lives in one place: a binary op whose input requires grad and has another
shape than the result gets an explicit `broadcast_to` node in front, whose rule sums the
gradient back (`_sum_to`). That is also why a drawing of `x @ W.T + b` shows
`b -> broadcast_to -> add`, and why db sums over the batch. `matmul` (batch axes),
`linear` (x @ W.T + b in one node, what `nn.Dense` uses) and the fused losses at the
end of the file reduce their own gradients.

Kinks follow PyTorch: relu'(0) = 0, abs'(0) = 0, leaky_relu'(0) = slope, clip passes the
gradient at its bounds, and max/min/maximum/minimum split it evenly among ties.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from autodiff.mode import GRAD, MODE
from autodiff.tensor import ArrayLike, Tensor, apply, as_tensor

Axis = int | Sequence[int] | None

# ---- helpers shared by the rules ----


def _const(x: Any) -> np.ndarray:
    """Raw values of an array or Tensor, for piecewise-constant factors only."""
    return x._data if isinstance(x, Tensor) else x


def _exp(x: Any) -> Any:
    return exp(x) if isinstance(x, Tensor) else np.exp(x)


def _log(x: Any) -> Any:
    return log(x) if isinstance(x, Tensor) else np.log(x)


def _broadcast(x: Any, shape: tuple[int, ...]) -> Any:
    if isinstance(x, Tensor):
        return broadcast_to(x, shape)
    out = np.empty(shape, dtype=x.dtype)  # a filled array: much cheaper than np.broadcast_to
    out[...] = x
    return out


def _sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum `g` over the axes that broadcasting added or stretched, down to `shape`."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, b if isinstance(b, Tensor) else as_tensor(b, like=a)
    return as_tensor(a, like=b), b


def _shape_error(op: str, a: Tensor, b: Tensor) -> ValueError:
    return ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast together")


def _expand(a: Tensor, b: Tensor, shape: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """Put a `broadcast_to` node in front of an input that requires grad and was stretched."""
    if MODE.get() & GRAD:
        if a.requires_grad and a._data.shape != shape:
            a = broadcast_to(a, shape)
        if b.requires_grad and b._data.shape != shape:
            b = broadcast_to(b, shape)
    return a, b


def _axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """`axis` as a sorted tuple of non-negative axes, checked against `ndim`."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for a tensor with {ndim} dimensions")
    return tuple(sorted(int(a) % ndim for a in axes))


_check_axes = _axes


def _kept_shape(shape: tuple[int, ...], axis: Axis) -> tuple[int, ...]:
    """The shape of a reduction over `axis` with keepdims=True."""
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _unreduce(g: Any, x_shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Any:
    """A reduction's gradient `g` made to broadcast against the input again."""
    if not keepdims:
        g = g.reshape(_kept_shape(x_shape, axis))
    return g


# ---- elementwise binary ----
# Rules that need nothing but their arguments are module-level functions, so recording
# an op allocates no closure. A Python-number operand stays out of the graph: its rule
# and its drawing records are made once per number (see `_NumberRecords`). Drawing
# records (`meta`) are shared dicts: never mutate one, replace it.


def _pass_vjp(g: Any, out: Any, a: Any) -> tuple[Any]:
    return (g,)


def _negate_vjp(g: Any, out: Any, a: Any) -> tuple[Any]:
    return (-g,)


def _number_record(c: float) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(rule of x * c, drawing record of x op c, drawing record of c op x)."""

    def scale_vjp(g: Any, out: Any, a: Any) -> tuple[Any]:  # a closure: called directly
        return (g * c,)

    return scale_vjp, {"scalar": c}, {"scalar": c, "left": True}


class _NumberRecords(dict):
    """`records[c]`: the record of the number c, made on first use.

    A loop multiplies by the same few numbers millions of times: sharing one rule and one
    drawing record per number spares allocations per op (and the garbage collector). A
    plain dict lookup is also cheaper than a cache's call. Ints and floats get a table
    each (2 == 2.0 as keys, yet a drawing says which was written); a full table starts
    over, so a stream of distinct numbers cannot grow it without bound.
    """

    def __init__(self, make: Any) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, c: float) -> tuple[Any, ...]:
        if len(self) >= 1024:
            self.clear()
        record = self[c] = self.make(c)
        return record


# Python ints and floats (not bools) stay out of the graph: the keys are their types.
_RECORDS = {float: _NumberRecords(_number_record), int: _NumberRecords(_number_record)}
_RULE, _META, _LEFT_META = 0, 1, 2


def _add_vjp(g: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    return g, g


def _sub_vjp(g: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    return g, -g


def _mul_vjp(g: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    if type(a) is np.ndarray and not a.ndim:  # see mul: 0-d arrays as numpy scalars
        a = a[()]
    if type(b) is np.ndarray and not b.ndim:
        b = b[()]
    return g * b, g * a


def _div_vjp(g: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    return g / b, -g * out / b


def _rdiv_vjp(g: Any, out: Any, b: Any) -> tuple[Any]:  # c / b for a number c
    return (-g * out / b,)


def add(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a + b; d/da = 1, d/db = 1."""
    kind = type(b)
    if (kind is float or kind is int) and type(a) is Tensor:  # x op number
        record = _RECORDS[kind][b]
        return apply("add", a._data + b, (a,), _pass_vjp, record[_META])
    if kind is not Tensor or type(a) is not Tensor:  # two Tensors skip these checks
        if type(a) in _RECORDS and isinstance(b, Tensor):
            record = _RECORDS[type(a)][a]
            return apply("add", a + b._data, (b,), _pass_vjp, record[_META])
        a, b = _pair(a, b)
    try:
        data = a._data + b._data
    except ValueError:
        raise _shape_error("add", a, b) from None
    if a._data.shape != b._data.shape:
        a, b = _expand(a, b, data.shape)
    return apply("add", data, (a, b), _add_vjp)


def sub(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a - b; d/da = 1, d/db = -1."""
    kind = type(b)
    if (kind is float or kind is int) and type(a) is Tensor:  # x op number
        record = _RECORDS[kind][b]
        return apply("sub", a._data - b, (a,), _pass_vjp, record[_META])
    if kind is not Tensor or type(a) is not Tensor:  # two Tensors skip these checks
        if type(a) in _RECORDS and isinstance(b, Tensor):
            record = _RECORDS[type(a)][a]
            return apply("sub", a - b._data, (b,), _negate_vjp, record[_LEFT_META])
        a, b = _pair(a, b)
    try:
        data = a._data - b._data
    except ValueError:
        raise _shape_error("sub", a, b) from None
    if a._data.shape != b._data.shape:
        a, b = _expand(a, b, data.shape)
    return apply("sub", data, (a, b), _sub_vjp)


def mul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a * b; d/da = b, d/db = a."""
    kind = type(b)
    if (kind is float or kind is int) and type(a) is Tensor:  # x op number
        record = _RECORDS[kind][b]
        return apply("mul", a._data * b, (a,), record[_RULE], record[_META])
    if kind is not Tensor or type(a) is not Tensor:  # two Tensors skip these checks
        if type(a) in _RECORDS and isinstance(b, Tensor):
            record = _RECORDS[type(a)][a]
            return apply("mul", a * b._data, (b,), record[_RULE], record[_META])
        a, b = _pair(a, b)
    ad, bd = a._data, b._data
    # a 0-d array (a leaf) as numpy's scalar: scalar arithmetic is several times cheaper
    if type(ad) is np.ndarray and not ad.ndim:
        ad = ad[()]
    if type(bd) is np.ndarray and not bd.ndim:
        bd = bd[()]
    try:
        data = ad * bd
    except ValueError:
        raise _shape_error("mul", a, b) from None
    if a._data.shape != b._data.shape:
        a, b = _expand(a, b, data.shape)
    return apply("mul", data, (a, b), _mul_vjp)


def div(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a / b; d/da = 1 / b, d/db = -a / b**2 = -out / b."""
    kind = type(b)
    if (kind is float or kind is int) and type(a) is Tensor:  # x op number
        meta = _RECORDS[kind][b][_META]
        return apply("div", a._data / b, (a,), _RECORDS[float][1 / b][_RULE], meta)
    if kind is not Tensor or type(a) is not Tensor:  # two Tensors skip these checks
        if type(a) in _RECORDS and isinstance(b, Tensor):
            record = _RECORDS[type(a)][a]
            return apply("div", a / b._data, (b,), _rdiv_vjp, record[_LEFT_META])
        a, b = _pair(a, b)
    try:
        data = a._data / b._data
    except ValueError:
        raise _shape_error("div", a, b) from None
    if a._data.shape != b._data.shape:
        a, b = _expand(a, b, data.shape)
    return apply("div", data, (a, b), _div_vjp)


def pow(a: ArrayLike, b: ArrayLike) -> Tensor:  # noqa: A001 - the ** operator
    """a ** b; d/da = b * a**(b-1), d/db = out * log(a) (taken as 0 where a == 0)."""
    if type(b) in _POWERS and isinstance(a, Tensor):
        rule, meta = _POWERS[type(b)][b]
        return apply("pow", a._data**b, (a,), rule, meta)
    a, b = _pair(a, b)
    try:
        data = a._data**b._data
    except ValueError:
        raise _shape_error("pow", a, b) from None
    if a._data.shape != b._data.shape:
        a, b = _expand(a, b, data.shape)
    need_a, need_b = a.requires_grad, b.requires_grad

    def vjp(g: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
        ga = g * b * a ** (b - 1) if need_a else None
        gb = None
        if need_b:
            zero = _const(a) == 0
            gb = g * out * _log(a + zero) if zero.any() else g * out * _log(a)
        return ga, gb

    return apply("pow", data, (a, b), vjp)


def _power_record(p: float) -> tuple[Any, dict[str, Any]]:
    """(rule of x ** p, its drawing record), made once per exponent."""
    if p == 2:

        def square_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
            return (g * 2 * x,)

        return square_vjp, {"exponent": p}

    def power_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
        return (g * p * x ** (p - 1),)

    return power_vjp, {"exponent": p}


_POWERS = {float: _NumberRecords(_power_record), int: _NumberRecords(_power_record)}


def maximum(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Elementwise max; the gradient goes to the larger input, split evenly on ties."""
    return _extremum("maximum", np.maximum, np.greater, a, b)


def minimum(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Elementwise min; the gradient goes to the smaller input, split evenly on ties."""
    return _extremum("minimum", np.minimum, np.less, a, b)


def _extremum(op: str, fn: Any, wins: Any, a: ArrayLike, b: ArrayLike) -> Tensor:
    a, b = _pair(a, b)
    try:
        data = fn(a._data, b._data)
    except ValueError:
        raise _shape_error(op, a, b) from None
    if a._data.shape != b._data.shape:
        a, b = _expand(a, b, data.shape)

    def vjp(g: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
        ra, rb = _const(a), _const(b)
        share_a = (wins(ra, rb) + 0.5 * (ra == rb)).astype(ra.dtype)
        return g * share_a, g * (1 - share_a)

    return apply(op, data, (a, b), vjp)


def where(condition: ArrayLike, a: ArrayLike, b: ArrayLike) -> Tensor:
    """`a` where `condition` holds, else `b`; the gradient follows the same choice."""
    cond = np.asarray(condition._data if isinstance(condition, Tensor) else condition, dtype=bool)
    a, b = _pair(a, b)
    try:
        data = np.where(cond, a._data, b._data)
    except ValueError:
        raise ValueError(
            f"where: shapes {cond.shape}, {a.shape} and {b.shape} do not broadcast together"
        ) from None
    a, b = _expand(a, b, data.shape)
    dtype = data.dtype
    chosen, other = cond.astype(dtype), (~cond).astype(dtype)
    return apply("where", data, (a, b), lambda g, out, a, b: (g * chosen, g * other))


# ---- elementwise unary ----


def neg(x: ArrayLike) -> Tensor:
    """-x; d/dx = -1."""
    x = as_tensor(x)
    return apply("neg", -x._data, (x,), _negate_vjp)


def exp(x: ArrayLike) -> Tensor:
    """e**x; d/dx = e**x = out."""
    x = as_tensor(x)
    return apply("exp", np.exp(x._data), (x,), _exp_vjp)


def _exp_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
    return (g * out,)


def log(x: ArrayLike) -> Tensor:
    """Natural log; d/dx = 1 / x."""
    x = as_tensor(x)
    return apply("log", np.log(x._data), (x,), _log_vjp)


def _log_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
    return (g / x,)


def sqrt(x: ArrayLike) -> Tensor:
    """Square root; d/dx = 1 / (2 sqrt(x)) = 1 / (2 out)."""
    x = as_tensor(x)
    return apply("sqrt", np.sqrt(x._data), (x,), _sqrt_vjp)


def _sqrt_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
    return (g / (out * 2),)


def tanh(x: ArrayLike) -> Tensor:
    """tanh(x); d/dx = 1 - tanh(x)**2 = 1 - out**2 (out, the activation, not x)."""
    x = as_tensor(x)
    return apply("tanh", np.tanh(x._data), (x,), _tanh_vjp)


def _tanh_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
    return (g * (1 - out * out),)


def sigmoid(x: ArrayLike) -> Tensor:
    """1 / (1 + e**-x); d/dx = out * (1 - out)."""
    x = as_tensor(x)
    return apply("sigmoid", _sigmoid_array(x._data), (x,), _sigmoid_vjp)


def _sigmoid_array(z: Any, out: np.ndarray | None = None) -> Any:
    """sigmoid(z) as exp(-log(1 + e**-z)), which neither overflows nor loses the tiny
    values of a saturated unit; written into `out` when given (`out=z`: in place)."""
    s = np.negative(z, out=out)
    s = np.logaddexp(0, s, out=out)
    s = np.negative(s, out=out)
    return np.exp(s, out=out)


def _sigmoid_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
    return (g * (out * (1 - out)),)


def relu(x: ArrayLike) -> Tensor:
    """max(x, 0); d/dx = 1 where x > 0, else 0 (relu'(0) = 0, as in PyTorch)."""
    x = as_tensor(x)
    raw = x._data
    if type(raw) is np.ndarray:
        return apply("relu", np.maximum(raw, 0), (x,), _relu_vjp)
    # a numpy scalar (a 0-d op result): Python's comparison is much cheaper than a ufunc
    return apply("relu", raw if not raw <= 0 else _ZEROS[type(raw)], (x,), _relu_vjp)


_ZEROS = {np.float64: np.float64(0), np.float32: np.float32(0)}


def _relu_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
    return (g * (_const(x) > 0),)


LEAKY_SLOPE = 0.01  # leaky_relu's default slope, the one `linear` fuses


def leaky_relu(x: ArrayLike, slope: float = LEAKY_SLOPE) -> Tensor:
    """x where x > 0, else slope * x; d/dx = 1 where x > 0, else slope (also at 0)."""
    x = as_tensor(x)
    data = np.where(x._data > 0, x._data, x._data * slope)

    def vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
        return (_leaky_grad(g, x, slope),)

    return apply("leaky_relu", data, (x,), vjp, {"slope": slope})


def _leaky_grad(g: Any, x: Any, slope: float) -> Any:
    """g * leaky_relu'(x); `x` may be the output as well (same sign, slope > 0)."""
    raw = _const(x)
    return g * np.where(raw > 0, 1.0, slope).astype(raw.dtype)


def abs(x: ArrayLike) -> Tensor:  # noqa: A001
    """|x|; d/dx = sign(x) (abs'(0) = 0, as in PyTorch)."""
    x = as_tensor(x)
    return apply("abs", np.abs(x._data), (x,), _abs_vjp)


def _abs_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
    return (g * np.sign(_const(x)),)


def clip(x: ArrayLike, lo: float | None, hi: float | None) -> Tensor:
    """x limited to [lo, hi]; d/dx = 1 inside, bounds included (as torch.clamp), 0 outside."""
    x = as_tensor(x)
    if lo is None and hi is None:
        raise ValueError("clip needs at least one of lo and hi")
    data = np.clip(x._data, lo, hi)

    def vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
        raw = _const(x)
        if lo is None:
            inside = raw <= hi
        elif hi is None:
            inside = raw >= lo
        else:
            inside = (raw >= lo) & (raw <= hi)
        return (g * inside,)

    return apply("clip", data, (x,), vjp, {"lo": lo, "hi": hi})


def astype(x: ArrayLike, dtype: Any) -> Tensor:
    """x converted to another floating dtype; the gradient is converted back."""
    x = as_tensor(x)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"astype: Tensor dtype must be a floating type; got {dtype}")
    if dtype == x.dtype:
        return x
    return apply(
        "astype", x._data.astype(dtype), (x,), lambda g, out, x: (g.astype(x.dtype),),
        {"dtype": str(dtype)},
    )  # fmt: skip


def copy(x: ArrayLike) -> Tensor:
    """A copy of x, as `ndarray.copy()`; d/dx = 1."""
    x = as_tensor(x)
    return apply("copy", np.array(x._data), (x,), _pass_vjp)


def log1p(x: ArrayLike) -> Tensor:
    """log(1 + x), exact for tiny x; d/dx = 1 / (1 + x)."""
    x = as_tensor(x)
    return apply("log1p", np.log1p(x._data), (x,), _log1p_vjp)


def _log1p_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
    return (g / (x + 1),)


def expm1(x: ArrayLike) -> Tensor:
    """e**x - 1, exact for tiny x; d/dx = e**x = out + 1."""
    x = as_tensor(x)
    return apply("expm1", np.expm1(x._data), (x,), _expm1_vjp)


def _expm1_vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
    return (g * (out + 1),)


# ---- matrix product ----


def matmul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a @ b with numpy's rules for 1-D, 2-D and stacked operands.

    d/da = g @ b^T, d/db = a^T @ g, with 1-D operands promoted to a row (a) or a column
    (b) and the stacked (batch) axes summed back to each operand's shape.
    """
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}; use * to multiply by a scalar")  # fmt: skip
    try:
        data = a._data @ b._data
    except ValueError:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: the last dimension of "
            f"the first ({a.shape[-1]}) must equal the "
            f"{'only' if b.ndim == 1 else 'second-to-last'} dimension of the second "
            f"({b.shape[0] if b.ndim == 1 else b.shape[-2]})"
        ) from None
    need_a, need_b = a.requires_grad, b.requires_grad
    if a.ndim == 2 and b.ndim == 2:  # the common case, kept cheap
        return apply("matmul", data, (a, b), _MATMUL_VJPS[need_a, need_b])
    a_shape, b_shape = a.shape, b.shape

    def vjp(g: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
        if a.ndim == 1:
            a = a.reshape(1, -1)
            g = g.reshape(g.shape[:-1] + (1, g.shape[-1])) if b.ndim > 1 else g.reshape(1, -1)
        if b.ndim == 1:
            b = b.reshape(-1, 1)
            g = g.reshape(g.shape + (1,))
        ga = _sum_to(g @ _swap_last(b), a.shape).reshape(a_shape) if need_a else None
        gb = _sum_to(_swap_last(a) @ g, b.shape).reshape(b_shape) if need_b else None
        return ga, gb

    return apply("matmul", data, (a, b), vjp)


def _swap_last(x: Any) -> Any:
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return x.transpose(axes)


def _matmul_2d_vjp(need_a: bool, need_b: bool) -> Any:
    def vjp(g: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
        return (g @ b.T if need_a else None, a.T @ g if need_b else None)

    return vjp


# One rule per pattern of inputs needing a gradient, made once: a matmul never computes
# the (often large) gradient of an input such as the data batch, which needs none.
_MATMUL_VJPS = {(na, nb): _matmul_2d_vjp(na, nb) for na in (False, True) for nb in (False, True)}


def linear(
    x: ArrayLike, W: ArrayLike, b: ArrayLike | None = None, *, activation: str | None = None
) -> Tensor:
    """activation(x @ W.T + b) in one node: a Dense layer (W is (out, in), b is (out,)).

    `activation` is None (the affine map alone), "relu", "leaky_relu" (slope 0.01),
    "tanh" or "sigmoid". With Z = x @ W.T + b and A = activation(Z), the rule first forms
    dZ = g * activation'(Z), written with A (A > 0, 1 - A**2, A (1 - A)) as the course
    notes do, then d/dx = dZ @ W, d/dW = dZ^T @ x (batch axes folded), d/db = dZ summed
    over the batch. Kinks follow relu and leaky_relu.
    """
    if type(x) is not Tensor or type(W) is not Tensor:
        x, W = _pair(x, W)
    xd, Wd = x._data, W._data
    if Wd.ndim != 2 or xd.ndim == 0 or xd.shape[-1] != Wd.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not fit weights of shape {W.shape} "
            f"(expected the input's last dimension to be {W.shape[1] if W.ndim == 2 else '?'})"
        )
    if activation is not None and activation not in _ACTIVATE:
        raise ValueError(
            f"linear: unknown activation {activation!r}; choose None or one of "
            f"{', '.join(map(repr, _ACTIVATE))}"
        )
    data = xd @ Wd.T
    if b is None:
        parents: tuple[Tensor, ...] = (x, W)
        need_b = None
    else:
        b = b if isinstance(b, Tensor) else as_tensor(b, like=x)
        if b._data.shape != (Wd.shape[0],):
            raise ValueError(
                f"linear: bias of shape {b.shape} does not fit weights of shape {W.shape}"
            )
        data += b._data
        parents = (x, W, b)
        need_b = b.requires_grad
    if activation is None:
        vjp = _LINEAR_VJPS[x.requires_grad, W.requires_grad, need_b]
        return apply("linear", data, parents, vjp)
    _ACTIVATE[activation](data)  # in place: `data` is this op's own fresh array
    vjp = _ACTIVATED_LINEAR_VJPS[activation, x.requires_grad, W.requires_grad, need_b]
    return apply("linear", data, parents, vjp, _ACTIVATION_META[activation])


# The activations `linear` can fuse. Each overwrites the fresh affine result in place, and
# its rule is the standalone op's, fed the output: relu and leaky_relu test its sign,
# which is the input's, and tanh and sigmoid are written with the output anyway.
_ACTIVATE = {
    "relu": lambda z: np.maximum(z, 0, out=z),
    "leaky_relu": lambda z: np.multiply(z, LEAKY_SLOPE, out=z, where=z < 0),
    "tanh": lambda z: np.tanh(z, out=z),
    "sigmoid": lambda z: _sigmoid_array(z, out=z),
}
_ACTIVATION_GRAD = {  # (g, out) -> g * activation'(Z)
    "relu": lambda g, out: _relu_vjp(g, out, out)[0],
    "leaky_relu": lambda g, out: _leaky_grad(g, out, LEAKY_SLOPE),
    "tanh": lambda g, out: _tanh_vjp(g, out, None)[0],
    "sigmoid": lambda g, out: _sigmoid_vjp(g, out, None)[0],
}
FUSED_ACTIVATIONS = frozenset(_ACTIVATE)
_ACTIVATION_META = {name: {"activation": name} for name in _ACTIVATE}


def _linear_vjp(need_x: bool, need_w: bool, need_b: bool | None) -> Any:
    def vjp(g: Any, out: Any, x: Any, W: Any, b: Any = None) -> tuple[Any, ...]:
        if g.ndim == 2:
            g2, x2 = g, x
        else:
            g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        grads = (g @ W if need_x else None, g2.T @ x2 if need_w else None)
        if need_b is None:  # no bias
            return grads
        if not need_b:
            return grads + (None,)
        # np.add.reduce is g2.sum(axis=0) minus a Python-level wrapper
        return grads + (np.add.reduce(g2, 0) if type(g2) is np.ndarray else g2.sum(axis=0),)

    return vjp


def _activated_linear_vjp(activation: str, affine_vjp: Any) -> Any:
    activation_grad = _ACTIVATION_GRAD[activation]

    def vjp(g: Any, out: Any, x: Any, W: Any, b: Any = None) -> tuple[Any, ...]:
        return affine_vjp(activation_grad(g, out), out, x, W, b)

    return vjp


# One rule per pattern of inputs needing a gradient (and per activation), made once.
_LINEAR_VJPS = {
    (nx, nw, nb): _linear_vjp(nx, nw, nb)
    for nx in (False, True)
    for nw in (False, True)
    for nb in (None, False, True)
}
_ACTIVATED_LINEAR_VJPS = {
    (name, *need): _activated_linear_vjp(name, rule)
    for name in _ACTIVATE
    for need, rule in _LINEAR_VJPS.items()
}


# ---- reductions ----


def sum(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over `axis`; d/dx = 1, so the gradient is broadcast back to x's shape."""
    x = as_tensor(x)
    _check_axes(axis, x.ndim)
    data = x._data.sum(axis=_tuple(axis), keepdims=keepdims)
    shape = x.shape
    return apply(
        "sum",
        data,
        (x,),
        lambda g, out, x: (_broadcast(_unreduce(g, shape, axis, keepdims), shape),),
        {"axis": axis} if axis is not None else None,
    )


def mean(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis`; d/dx = 1 / n for the n elements averaged."""
    x = as_tensor(x)
    _check_axes(axis, x.ndim)
    data = x._data.mean(axis=_tuple(axis), keepdims=keepdims)
    shape = x.shape
    n = x.size // builtins.max(np.size(data), 1) if x.size else 0
    return apply(
        "mean",
        data,
        (x,),
        lambda g, out, x: (_broadcast(_unreduce(g, shape, axis, keepdims) / n, shape),),
        {"axis": axis} if axis is not None else None,
    )


def max(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest element over `axis`; the gradient is split evenly among tied maxima."""
    return _reduce_extremum("max", np.max, x, axis, keepdims)


def min(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest element over `axis`; the gradient is split evenly among tied minima."""
    return _reduce_extremum("min", np.min, x, axis, keepdims)


def _reduce_extremum(op: str, fn: Any, x: ArrayLike, axis: Axis, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    _check_axes(axis, x.ndim)
    try:
        data = fn(x._data, axis=_tuple(axis), keepdims=keepdims)
    except ValueError as error:
        raise ValueError(f"{op}: {error} (tensor of shape {x.shape})") from None
    shape = x.shape

    def vjp(g: Any, out: Any, x: Any) -> tuple[Any]:
        raw = _const(x)
        hits = raw == _unreduce(_const(out), shape, axis, keepdims)
        share = (hits / hits.sum(axis=_tuple(axis), keepdims=True)).astype(raw.dtype)
        return (_unreduce(g, shape, axis, keepdims) * share,)

    return apply(op, data, (x,), vjp, {"axis": axis} if axis is not None else None)


def logsumexp(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over `axis`, shifted by the max so it never overflows.

    d/dx = exp(x - out), the softmax of x.
    """
    x = as_tensor(x)
    _check_axes(axis, x.ndim)
    kept = _stable_logsumexp(x._data, axis)
    data = kept if keepdims else kept.reshape(_reduced_shape(x.shape, axis))
    shape = x.shape
    return apply(
        "logsumexp",
        data,
        (x,),
        lambda g, out, x: (
            _unreduce(g, shape, axis, keepdims) * _exp(x - _unreduce(out, shape, axis, keepdims)),
        ),
        {"axis": axis} if axis is not None else None,
    )


def _stable_logsumexp(data: np.ndarray, axis: Axis) -> np.ndarray:
    axes = _tuple(axis)
    shift = data.max(axis=axes, keepdims=True, initial=-np.inf)  # initial: empty axes
    shift = np.where(np.isfinite(shift), shift, 0)
    with np.errstate(divide="ignore"):  # log(0) = -inf over an empty axis, as in PyTorch
        return np.log(np.exp(data - shift).sum(axis=axes, keepdims=True)) + shift


def _reduced_shape(shape: tuple[int, ...], axis: Axis) -> tuple[int, ...]:
    axes = _axes(axis, len(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`; d/dx = out * (g - sum(g * out))."""
    x = as_tensor(x)
    _check_axes(axis, x.ndim)
    data = _softmax_array(x._data, axis)
    return apply(
        "softmax",
        data,
        (x,),
        lambda g, out, x: (out * (g - (g * out).sum(axis=axis, keepdims=True)),),
        {"axis": axis},
    )


def log_softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along `axis`; d/dx = g - softmax(x) * sum(g)."""
    x = as_tensor(x)
    _check_axes(axis, x.ndim)
    data = x._data - _stable_logsumexp(x._data, axis)
    return apply(
        "log_softmax",
        data,
        (x,),
        lambda g, out, x: (g - _exp(out) * g.sum(axis=axis, keepdims=True),),
        {"axis": axis},
    )


def _tuple(axis: Axis) -> int | tuple[int, ...] | None:
    return axis if axis is None or isinstance(axis, (int, np.integer)) else tuple(axis)


# ---- losses in one node ----
# Each is a mean over all elements (rows for cross_entropy), fused into one op so that a
# training step records and differentiates one node instead of six; `nn.losses` checks
# shapes and labels and calls these.


_amin, _amax = np.minimum.reduce, np.maximum.reduce  # x.min() minus a Python-level wrapper


@lru_cache(maxsize=64)
def _clip_range(dtype: np.dtype, eps: float) -> tuple[float, float]:
    """[eps, 1 - eps], with 1 - eps made the largest float below 1 where it rounds to 1."""
    one = dtype.type(1)
    hi = 1.0 - eps
    if dtype.type(hi) >= one:  # 1 - 1e-12 rounds to 1 in float32
        hi = float(np.nextafter(one, dtype.type(0)))
    return eps, hi


def binary_cross_entropy(p: ArrayLike, t: ArrayLike, eps: float = 1e-12) -> Tensor:
    """mean(-(t log p + (1 - t) log(1 - p))), p clipped to [eps, 1 - eps].

    d/dp = (p - t) / (p (1 - p)) / n inside the clip range (bounds included, as clip), and 0
    outside it, where the loss does not depend on p; d/dt = (log(1 - p) - log p) / n.
    """
    p, t = _pair(p, t)
    if p.shape != t.shape:
        raise ValueError(f"binary_cross_entropy: shapes {p.shape} and {t.shape} differ")
    lo, hi = _clip_range(p.dtype, eps)
    raw = p._data
    n = builtins.max(raw.size, 1)
    clipped = bool(raw.size) and not (lo <= _amin(raw, None) and _amax(raw, None) <= hi)
    pc = np.minimum(np.maximum(raw, lo), hi) if clipped else raw  # np.clip, minus its overhead
    # sum(t log p + (1 - t) log(1 - p)) = t . (log p - log(1 - p)) + sum(log(1 - p))
    log_q = np.log1p(-pc)
    data = -(np.vdot(t._data, np.log(pc) - log_q) + np.add.reduce(log_q, None)) / n
    need_t = t.requires_grad

    def vjp(g: Any, out: Any, p: Any, t: Any) -> tuple[Any, Any]:
        scale = g * (1 / n)
        if isinstance(p, Tensor):  # under create_graph: the same formula on Tensors
            pc = clip(p, lo, hi) if clipped else p
            gp = (pc - t) / (pc * (1 - pc)) * scale
            if clipped:
                raw = p._data
                gp = gp * ((raw >= lo) & (raw <= hi))
            return gp, (_log(1 - pc) - _log(pc)) * scale if need_t else None
        pc = np.minimum(np.maximum(p, lo), hi) if clipped else p
        gp = pc - t
        denominator = 1 - pc
        denominator *= pc
        gp /= denominator
        gp *= scale
        if clipped:
            gp *= (p >= lo) & (p <= hi)
        return gp, (np.log1p(-pc) - np.log(pc)) * scale if need_t else None

    return apply("binary_cross_entropy", data.astype(p.dtype), (p, t), vjp)


def binary_cross_entropy_with_logits(z: ArrayLike, t: ArrayLike) -> Tensor:
    """binary_cross_entropy(sigmoid(z), t), computed from the logits without overflow.

    loss = mean(max(z, 0) - t z + log(1 + e**-|z|)); d/dz = (sigmoid(z) - t) / n,
    d/dt = -z / n.
    """
    z, t = _pair(z, t)
    if z.shape != t.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: shapes {z.shape} and {t.shape} differ")
    n = builtins.max(z.size, 1)
    raw = z._data
    data = (np.maximum(raw, 0) - t._data * raw + np.log1p(np.exp(-np.abs(raw)))).sum() / n
    need_t = t.requires_grad

    def vjp(g: Any, out: Any, z: Any, t: Any) -> tuple[Any, Any]:
        scale = g * (1 / n)
        s = sigmoid(z) if isinstance(z, Tensor) else _sigmoid_array(z)
        return (s - t) * scale, -z * scale if need_t else None

    return apply("binary_cross_entropy_with_logits", data.astype(z.dtype), (z, t), vjp)


def cross_entropy(logits: ArrayLike, labels: np.ndarray) -> Tensor:
    """mean over rows of -log_softmax(logits)[row, label], for integer labels (batch,).

    d/dlogits = (softmax(logits) - onehot(labels)) / batch.
    """
    z = as_tensor(logits)
    if z.ndim != 2 or np.shape(labels) != z.shape[:1]:  # a (batch, 1) column would broadcast
        raise ValueError(
            f"cross_entropy: labels of shape {np.shape(labels)} do not fit logits of shape "
            f"{z.shape} (expected (batch, classes) logits and (batch,) integer labels)"
        )
    m = z.shape[0]
    n = builtins.max(m, 1)
    rows = np.arange(m)
    labels = np.array(labels)  # our own copy: the rule reads it during backward
    raw = z._data
    shifted = raw - _amax(raw, -1, keepdims=True)
    exps = np.exp(shifted)
    totals = np.add.reduce(exps, -1, keepdims=True)
    data = (np.log(totals).sum() - shifted[rows, labels].sum()) / n
    exps /= totals  # the softmax, kept for the rule (first order) instead of recomputed
    probs = exps

    def vjp(g: Any, out: Any, z: Any) -> tuple[Any]:
        if isinstance(z, Tensor):  # under create_graph: differentiable softmax
            target = np.zeros(z.shape, dtype=z.dtype)
            target[rows, labels] = 1
            return ((softmax(z) - target) * (g * (1 / n)),)
        grad = probs.copy()
        grad[rows, labels] -= 1
        grad *= g * (1 / n)
        return (grad,)

    return apply("cross_entropy", np.asarray(data, dtype=z.dtype), (z,), vjp)


def _softmax_array(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=axis, keepdims=True)


# ---- shape and indexing ----
# reshape, transpose and basic indexing return views that share the input's memory; the
# views are made read-only, so that writing into such a result can never change its input.


def reshape(x: ArrayLike, *shape: Any) -> Tensor:
    """The same values in another shape (`reshape(2, 3)` or `reshape((2, 3))`)."""
    x = as_tensor(x)
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    try:
        data = x._data.reshape(shape)
    except ValueError:
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {x.shape} into {shape}"
        ) from None
    data.setflags(write=False)
    x_shape = x.shape
    return apply("reshape", data, (x,), lambda g, out, x: (g.reshape(x_shape),), {"shape": shape})


def transpose(x: ArrayLike, *axes: Any) -> Tensor:
    """Axes permuted (reversed when none are given); the gradient is permuted back."""
    x = as_tensor(x)
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = tuple(axes[0]) if axes[0] is not None else ()
    perm = tuple(axes) if axes else tuple(reversed(range(x.ndim)))
    try:
        data = x._data.transpose(perm)
    except ValueError:
        raise ValueError(f"transpose: axes {perm} do not fit a tensor of shape {x.shape}") from None
    data.setflags(write=False)
    inverse = tuple(np.argsort(perm).tolist())
    meta = {"axes": perm} if axes else None
    return apply("transpose", data, (x,), lambda g, out, x: (g.transpose(inverse),), meta)


def broadcast_to(x: ArrayLike, shape: Sequence[int]) -> Tensor:
    """x stretched to `shape` by numpy's rules; the gradient is summed back (sum_to)."""
    x = as_tensor(x)
    shape = tuple(shape)
    try:
        data = np.broadcast_to(x._data, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    x_shape = x.shape
    return apply(
        "broadcast_to", data, (x,), lambda g, out, x: (_sum_to(g, x_shape),), {"shape": shape}
    )


def _plain_index(index: Any) -> Any:
    """The index with private copies of its arrays: the backward rule must scatter to the
    places read in the forward, even if the caller's index array changes in between."""
    if isinstance(index, Tensor):
        return index._data.astype(np.intp) if index.dtype.kind == "f" else index._data.copy()
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return index.copy()
    if isinstance(index, list):  # as numpy reads it; [] is an empty integer index
        return np.array(index) if index else np.array(index, dtype=np.intp)
    return index


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer)) for i in items)


def getitem(x: ArrayLike, index: Any) -> Tensor:
    """x[index] (basic and integer-array indexing); the gradient is scattered back,
    adding up where an index repeats."""
    x = as_tensor(x)
    index = _plain_index(index)
    try:
        data = x._data[index]
    except IndexError as error:
        raise IndexError(f"getitem: {error} (tensor of shape {x.shape})") from None
    shape, basic = x.shape, _is_basic(index)
    if type(data) is np.ndarray and np.may_share_memory(data, x._data):
        data.setflags(write=False)
    return apply(
        "getitem",
        data,
        (x,),
        lambda g, out, x: (_scatter(g, index, shape, basic),),
        {"index": index},
    )


def _scatter(g: Any, index: Any, shape: tuple[int, ...], basic: bool) -> Any:
    """An array of `shape`, zero except `g` added at `index` (getitem's adjoint)."""
    if isinstance(g, Tensor):
        return scatter_add(g, index, shape, basic)
    out = np.zeros(shape, dtype=g.dtype)
    if basic:
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def scatter_add(g: ArrayLike, index: Any, shape: tuple[int, ...], basic: bool = False) -> Tensor:
    """Zeros of `shape` with `g` added at `index`; its adjoint is indexing: out_grad[index]."""
    g = as_tensor(g)
    index = _plain_index(index)
    data = _scatter(g._data, index, shape, basic)
    return apply("scatter_add", data, (g,), lambda gg, out, g: (gg[index],), {"index": index})


def concatenate(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Tensors joined along an existing axis; each gets its slice of the gradient back."""
    parts = _tensors(tensors, "concatenate")
    try:
        data = np.concatenate([t._data for t in parts], axis=axis)
    except ValueError as error:
        shapes = ", ".join(str(t.shape) for t in parts)
        raise ValueError(f"concatenate: shapes {shapes} along axis {axis}: {error}") from None
    ax = axis % data.ndim
    bounds = np.cumsum([0] + [t.shape[ax] for t in parts]).tolist()
    slices = [(slice(None),) * ax + (slice(lo, hi),) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return apply(
        "concatenate",
        data,
        tuple(parts),
        lambda g, out, *inputs: tuple(g[s] for s in slices),
        {"axis": axis},
    )


def stack(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Tensors joined along a new axis; each gets its slice of the gradient back."""
    parts = _tensors(tensors, "stack")
    try:
        data = np.stack([t._data for t in parts], axis=axis)
    except ValueError as error:
        shapes = ", ".join(str(t.shape) for t in parts)
        raise ValueError(f"stack: shapes {shapes}: {error}") from None
    ax = axis % data.ndim
    picks = [(slice(None),) * ax + (i,) for i in range(len(parts))]
    return apply(
        "stack",
        data,
        tuple(parts),
        lambda g, out, *inputs: tuple(g[p] for p in picks),
        {"axis": axis},
    )


def _tensors(tensors: Sequence[ArrayLike], op: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not len(tensors):
        raise ValueError(f"{op} needs a non-empty sequence of tensors")
    parts = [t if isinstance(t, Tensor) else None for t in tensors]
    like = next((t for t in parts if t is not None), None)
    return [t if t is not None else as_tensor(x, like=like) for t, x in zip(parts, tensors)]
