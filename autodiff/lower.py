"""Lowering: each recorded primitive as numpy kernels of a plan, forward and backward.

Every primitive lowers: by default to one call of its own numpy forward and one call of
each vjp rule on arrays (what the eager engine's first-order backward runs), named
after the primitive (`relu_forward`, `mul_vjp_1`), so a replay computes exactly the
eager numbers. The table below writes the common primitives out as plain numpy calls
with `out=` buffers instead (`np.matmul(x, W_T, out=z)`): the same calls as the
primitive's own forward and rules, in the same order, so the numbers agree too; and
a page a learner can read as backprop written out.

To write out a new primitive, add it to `FORWARD` / `VJP`; `tests/autodiff/test_compile.py`
runs the lowered kernels against the eager engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autodiff import ops
from autodiff.plan import Plan, Value

Forward = Callable[[Plan, list[Value], dict[str, Any], Any], Value]
Vjp = Callable[[Plan, Value, Value, list[Value], dict[str, Any], list[bool]], list[Any]]
FORWARD: dict[Any, Forward] = {}
VJP: dict[Any, Vjp] = {}


class Unsupported(Exception):  # noqa: N818 (a reason to run eagerly, not an error)
    """Something a plan cannot follow; the message names it."""


def _name(out: Any, default: str) -> str:
    return getattr(out, "name", None) or default


def forward(plan: Plan, prim: Any, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
    """The kernels of `prim` applied to `ins`; returns the result's value."""
    rule = FORWARD.get(prim)
    if rule is not None:
        v = rule(plan, ins, attrs, out)
        if v is not None:
            return v
    fn = plan.fresh_name(f"{prim.name}_forward")
    plan.env[fn] = _private(prim.forward)
    return plan.expr(_template(fn, len(ins), attrs), *ins, *attrs.values(),
                     name=_name(out, prim.name), shape=out.shape, dtype=out.dtype)  # fmt: skip


def _template(fn: str, n: int, attrs: dict[str, Any]) -> str:
    """`fn({0}, ..., {n-1}, key={n}, ...)`: the attributes follow the inputs as positional
    values of the template (never keywords of `Plan.expr`, such as astype's `dtype`)."""
    args = [f"{{{i}}}" for i in range(n)]
    args += [f"{key}={{{n + j}}}" for j, key in enumerate(attrs)]
    return f"{fn}({', '.join(args)})"


def vjp(
    plan: Plan, prim: Any, g: Value, out: Value, ins: list[Value], attrs: dict[str, Any],
    need: list[bool],
) -> list[Value | None]:  # fmt: skip
    """The kernels of `prim`'s rules: one gradient value per input (None where unneeded)."""
    rule = VJP.get(prim)
    if rule is not None:
        grads = rule(plan, g, out, ins, attrs, need)
        if grads is not None:
            return grads
    grads: list[Value | None] = []
    for i, (x, wanted) in enumerate(zip(ins, need)):
        if not wanted:
            grads.append(None)
            continue
        fn = plan.fresh_name(f"{prim.name}_vjp_{i}")
        extra = dict(attrs)
        if prim.variadic:
            plan.env[fn] = _private(prim.vjp[0])
            extra["index"] = i
        else:
            plan.env[fn] = _private(prim.vjp[i])
        grads.append(plan.expr(_template(fn, len(ins) + 2, extra), g, out, *ins,
                               *extra.values(), name="d_" + x.name, shape=x.shape,
                               dtype=x.dtype))  # fmt: skip
    return grads


def _private(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, giving an array of its own: rules may return an input itself, or a view."""

    def call(*args: Any, **kwargs: Any) -> np.ndarray:
        result = fn(*args, **kwargs)
        result = result if type(result) is np.ndarray else np.asarray(result)
        if result.base is not None or any(result is a for a in args):
            result = result.copy()
        return result

    call.__name__ = getattr(fn, "__name__", "rule")
    return call


def lowering(*prims: Any) -> Callable[[Any], Any]:
    def register(pair: Any) -> Any:
        for prim in prims:
            FORWARD[prim] = pair.forward
            VJP[prim] = pair.vjp
        return pair

    return register


def _scalar(attrs: dict[str, Any]) -> Any:
    c = attrs["scalar"]
    if type(c) not in (int, float):
        return None  # a numpy scalar, say: the generic kernels keep its exact type
    return c


# ---- elementwise ----


def _binary(fn: str) -> Callable[..., Value | None]:
    def run(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value | None:
        if "scalar" in attrs:
            c = _scalar(attrs)
            if c is None:
                return None
            args = (c, ins[0]) if "left" in attrs else (ins[0], c)
        else:
            args = (ins[0], ins[1])
        return p.call(fn, *args, name=_name(out, "t"), shape=out.shape, dtype=out.dtype,
                      elementwise=True)  # fmt: skip

    return run


def _scaled(p: Plan, fn: str, g: Value, attrs: dict[str, Any]) -> list[Value] | None:
    """The gradient of `x * c` or `x / c` for a Python number c: g scaled the same way."""
    c = _scalar(attrs)
    return None if c is None else [p.call(fn, g, c, name="d_scaled", elementwise=True)]


def _neg(p: Plan, g: Value) -> Value:
    return p.call("np.negative", g, name="d_neg", elementwise=True)


@lowering(ops.ADD, ops.ADD_SCALAR)
class _Add:
    forward = staticmethod(_binary("np.add"))

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        return [g] * len(ins)


@lowering(ops.SUB, ops.SUB_SCALAR, ops.RSUB_SCALAR)
class _Sub:
    forward = staticmethod(_binary("np.subtract"))

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        if "scalar" in attrs:
            return [_neg(p, g) if "left" in attrs else g]
        return [g, _neg(p, g) if need[1] else None]


@lowering(ops.MUL, ops.MUL_SCALAR)
class _Mul:
    forward = staticmethod(_binary("np.multiply"))

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        if "scalar" in attrs:
            return _scaled(p, "np.multiply", g, attrs)
        a, b = ins
        return [
            p.call("np.multiply", g, b, name="d_" + a.name, shape=g.shape) if need[0] else None,
            p.call("np.multiply", g, a, name="d_" + b.name, shape=g.shape) if need[1] else None,
        ]


@lowering(ops.DIV, ops.DIV_SCALAR)
class _Div:
    forward = staticmethod(_binary("np.divide"))

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        if "scalar" in attrs:
            return _scaled(p, "np.divide", g, attrs)
        a, b = ins
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = p.call("np.divide", g, b, name="d_" + a.name, shape=g.shape)
        if need[1]:  # -g * out / b
            t = p.call("np.multiply", _neg(p, g), out, name="d_out", elementwise=True)
            grads[1] = p.call("np.divide", t, b, name="d_" + b.name, shape=g.shape)
        return grads


def _unary(prim: Any, fn: str, rule: Callable[[Plan, Value, Value, Value], Value]) -> None:
    class _Op:
        @staticmethod
        def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
            x = ins[0]  # a layer's activation: layers_0_z -> layers_0_a
            default = x.name[:-1] + "a" if x.name.endswith("_z") else prim.name
            return p.call(fn, x, name=_name(out, default), elementwise=True)

        @staticmethod
        def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
            return [rule(p, g, out, ins[0])]

    lowering(prim)(_Op)


def _tanh_grad(p: Plan, g: Value, out: Value, x: Value) -> Value:
    """g * (1 - out * out)"""
    sq = p.call("np.multiply", out, out, name="out_sq", elementwise=True)
    one_minus = p.call("np.subtract", 1, sq, name="dtanh", elementwise=True)
    return p.call("np.multiply", g, one_minus, name="d_" + x.name, elementwise=True)


def _sigmoid_grad(p: Plan, g: Value, out: Value, x: Value) -> Value:
    """g * (out * (1 - out))"""
    one_minus = p.call("np.subtract", 1, out, name="one_minus", elementwise=True)
    d = p.call("np.multiply", out, one_minus, name="dsigmoid", elementwise=True)
    return p.call("np.multiply", g, d, name="d_" + x.name, elementwise=True)


def _relu_grad(p: Plan, g: Value, out: Value, x: Value) -> Value:
    """g * (x > 0), read from the output: max(x, 0) > 0 exactly where x > 0 (NaN and -0.0
    included), so x dies at the forward and relu can write over it, as by hand."""
    mask = p.call("np.greater", out, 0, name="active", dtype=np.bool_, elementwise=True)
    return p.call("np.multiply", g, mask, name="d_" + x.name, dtype=g.dtype, elementwise=True)


_unary(ops.NEG, "np.negative", lambda p, g, out, x: _neg(p, g))
_unary(ops.EXP, "np.exp", lambda p, g, out, x: p.call("np.multiply", g, out, name="d_" + x.name))
_unary(ops.LOG, "np.log", lambda p, g, out, x: p.call("np.divide", g, x, name="d_" + x.name))
_unary(ops.TANH, "np.tanh", _tanh_grad)
_unary(ops.RELU, "_relu", _relu_grad)
FORWARD[ops.RELU] = lambda p, ins, attrs, out: p.call(  # np.maximum(x, 0), as the primitive
    "np.maximum", ins[0], 0, name=ins[0].name[:-1] + "a" if ins[0].name.endswith("_z")
    else _name(out, "relu"), elementwise=True)  # fmt: skip


@lowering(ops.SIGMOID)
class _Sigmoid:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        """exp(-logaddexp(0, -x)): the engine's stable formula, four kernels."""
        s = p.call("np.negative", ins[0], name="neg_z", elementwise=True)
        s = p.call("np.logaddexp", 0, s, name="softplus", elementwise=True)
        s = p.call("np.negative", s, name="log_sigmoid", elementwise=True)
        x = ins[0]
        default = x.name[:-1] + "a" if x.name.endswith("_z") else "sigmoid"
        return p.call("np.exp", s, name=_name(out, default), elementwise=True)

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        return [_sigmoid_grad(p, g, out, ins[0])]


@lowering(ops.CLIP)
class _Clip:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        # np.clip's ufunc, minus its Python wrapper (which is what reads a bound of None)
        lo, hi = attrs["lo"], attrs["hi"]
        fn = "np.clip" if lo is None or hi is None else "_clip"
        return p.call(fn, ins[0], lo, hi, name=_name(out, "clipped"), elementwise=True)

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        x = ins[0]
        inside = p.call("_inside", x, attrs["lo"], attrs["hi"], name="inside", dtype=np.bool_)
        return [p.call("np.multiply", g, inside, name="d_" + x.name, dtype=g.dtype)]


# ---- linear algebra ----


def _transposed(p: Plan, v: Value) -> Value:
    return p.expr("{0}.T", v, name=v.name + "_T", shape=v.shape[::-1], dtype=v.dtype, view_of=v)


def _product(p: Plan, a: Value, b: Value, name: str) -> Value:
    """The matrix product a @ b of two 2-d values.

    Over an inner dimension of 1 (a (n, 1) column times a (1, m) row, as the gradient of
    a one-unit layer is) each entry is a single product: the broadcast multiply gives the
    same numbers without the matrix-product machinery (about 8 us against 1 us at
    (128, 1) x (1, 64)).
    """
    shape = (a.shape[0], b.shape[1])
    if a.shape[1] == 1:
        return p.call("np.multiply", a, b, name=name, shape=shape)
    return p.call("np.matmul", a, b, name=name, shape=shape)


@lowering(ops.LINEAR)
class _Linear:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value | None:
        x, W = ins[0], ins[1]
        if len(x.shape) != 2:
            return None
        layer = W.name[:-2] + "_" if W.name.endswith("_W") else ""
        name = _name(out, layer + "z")
        xw = _product(p, x, _transposed(p, W), layer + "xW" if len(ins) == 3 else name)
        if len(ins) == 2:
            return xw
        return p.call("np.add", xw, ins[2], name=name, elementwise=True)

    @staticmethod
    def vjp(
        p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list
    ) -> list | None:
        x, W = ins[0], ins[1]
        if len(x.shape) != 2:
            return None  # the primitive's rule (one sample, or a stack of batches)
        grads: list[Any] = [None] * len(ins)
        if need[0]:
            grads[0] = _product(p, g, W, "d_" + x.name)
        if need[1]:
            grads[1] = _product(p, _transposed(p, g), x, "d_" + W.name)
        if len(ins) == 3 and need[2]:  # the sum over the batch (keepdims, then the shape)
            grads[2] = p.call("np.add.reduce", g, 0, name="d_" + ins[2].name,
                              shape=ins[2].shape)  # fmt: skip
        return grads


@lowering(ops.MATMUL)
class _Matmul:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value | None:
        a, b = ins
        if len(a.shape) != 2 or len(b.shape) != 2:
            return None
        return _product(p, a, b, _name(out, "mm"))

    @staticmethod
    def vjp(
        p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list
    ) -> list | None:
        a, b = ins
        if len(a.shape) != 2 or len(b.shape) != 2:
            return None  # the primitive's rule (vectors, stacks of matrices)
        return [
            _product(p, g, _transposed(p, b), "d_" + a.name) if need[0] else None,
            _product(p, _transposed(p, a), g, "d_" + b.name) if need[1] else None,
        ]


# ---- reductions ----


def _kept(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    kept = list(shape)
    for a in axes:
        kept[int(a)] = 1
    return tuple(kept)


def _unreduced(p: Plan, g: Value, x: Value, attrs: dict[str, Any]) -> Value:
    if attrs["keepdims"]:
        return g
    kept = _kept(x.shape, attrs["axis"])
    return p.expr("{0}.reshape({1})", g, kept, name=g.name + "_kept", shape=kept, dtype=g.dtype,
                  view_of=g)  # fmt: skip


def _extremum(reduce: str) -> Any:
    """max/min over an axis as the ufunc's reduce into a buffer (np.max minus its wrapper);
    the gradient keeps the primitive's own rule."""

    class Extremum:
        @staticmethod
        def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
            name = _name(out, reduce.split(".")[1])
            return p.call(reduce, ins[0], name=name, shape=out.shape, axis=attrs["axis"],
                          keepdims=attrs["keepdims"])  # fmt: skip

        @staticmethod
        def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> None:
            return None

    return Extremum


lowering(ops.MAX)(_extremum("np.maximum.reduce"))
lowering(ops.MIN)(_extremum("np.minimum.reduce"))


@lowering(ops.SUM)
class _Sum:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        # np.sum of floats is the add ufunc's reduce, minus its Python wrapper
        fn = "np.add.reduce" if np.dtype(ins[0].dtype).kind == "f" else "np.sum"
        return p.call(fn, ins[0], name=_name(out, "total"), shape=out.shape,
                      axis=attrs["axis"], keepdims=attrs["keepdims"])  # fmt: skip

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        x = ins[0]
        return [p.call("_filled", _unreduced(p, g, x, attrs), x.shape, name="d_" + x.name,
                       shape=x.shape)]  # fmt: skip


@lowering(ops.MEAN)
class _Mean:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        # np.mean of floats is this sum divided by the count, minus its Python wrapper
        x = ins[0]
        n = max(int(np.prod(x.shape)) // max(int(np.prod(out.shape)), 1), 1)
        total = p.call("np.add.reduce", x, name="total", shape=out.shape, axis=attrs["axis"],
                       keepdims=attrs["keepdims"])  # fmt: skip
        return p.call("np.divide", total, n, name=_name(out, "mean"), elementwise=True)

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        x = ins[0]
        size, out_size = int(np.prod(x.shape)), int(np.prod(out.shape))
        n = max(size // max(out_size, 1), 1)
        d = p.call("np.divide", _unreduced(p, g, x, attrs), n, name="d_mean", elementwise=True)
        return [p.call("_filled", d, x.shape, name="d_" + x.name, shape=x.shape)]


@lowering(ops.LOG_SOFTMAX)
class _LogSoftmax:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value | None:
        """The engine's formula, kernel by kernel: shifted = x - max(x) (0 where the max is
        not finite), then shifted - log(sum(exp(shifted)))."""
        x, axis = ins[0], attrs["axis"]
        if x.shape[axis] == 0:  # log(0) over an empty axis: the primitive's own forward
            return None
        kept = _kept(x.shape, axis)
        peak = p.call("np.maximum.reduce", x, name="row_max", shape=kept, axis=axis,
                      keepdims=True, initial=-np.inf)  # fmt: skip
        peak = p.call("_finite_or_zero", peak, name="shift", elementwise=True)
        shifted = p.call("np.subtract", x, peak, name="shifted", shape=x.shape)
        e = p.call("np.exp", shifted, name="exp_shifted", elementwise=True)
        total = p.call("np.add.reduce", e, name="row_total", shape=kept, axis=axis,
                       keepdims=True)  # fmt: skip
        logs = p.call("_log_quietly", total, name="log_total", elementwise=True)
        return p.call("np.subtract", shifted, logs, name=_name(out, "log_softmax"),
                      shape=x.shape)  # fmt: skip

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> None:
        return None  # the primitive's rule (the cross-entropy rewrite skips it)


@lowering(ops.BROADCAST_TO)
class _BroadcastTo:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        x, shape = ins[0], tuple(attrs["shape"])
        return p.expr("np.broadcast_to({0}, {1})", x, shape, name=_name(out, "stretched"),
                      shape=shape, dtype=x.dtype, view_of=x)  # fmt: skip

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        x = ins[0]
        return [p.call("_sum_to", g, x.shape, name="d_" + x.name, shape=x.shape)]


# ---- helpers the generated code calls ----


def _relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(x, 0, out=out)


def _log_quietly(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.log, silent about log(0) = -inf (a row of -inf logits), as the engine is."""
    with np.errstate(divide="ignore"):
        return np.log(x, out=out)


def _finite_or_zero(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """`x` where it is finite, else 0 (the engine's `np.where(np.isfinite(x), x, 0)`)."""
    result = np.where(np.isfinite(x), x, 0)
    if out is None:
        return result
    np.copyto(out, result)
    return out


def _filled(g: Any, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """`g` broadcast into an array of `shape` (the engine's `_broadcast`)."""
    if out is None:
        out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def _sum_to(g: np.ndarray, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """`g` summed down to `shape` over the axes broadcasting added (the engine's `_sum_to`)."""
    lead = g.ndim - len(shape)
    stretched = tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    axes = tuple(range(lead)) + stretched
    result = (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)
    if out is None:
        return result.copy() if result.base is not None or result is g else result
    np.copyto(out, result)
    return out


_clip = getattr(getattr(np, "_core", np.core).umath, "clip", np.clip)
HELPERS = {"_relu": _relu, "_filled": _filled, "_sum_to": _sum_to, "_clip": _clip,
           "_finite_or_zero": _finite_or_zero, "_log_quietly": _log_quietly}  # fmt: skip
