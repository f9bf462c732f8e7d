"""Lowering: each recorded op as numpy kernels of a plan, forward and vector-Jacobian.

`FORWARD[op](plan, inputs, attrs, out)` appends the kernels that compute the op from its
input values and returns the result's value; `VJP[op](plan, g, out, inputs, attrs,
need)` appends the kernels of its backward rule and returns one gradient value per
input (None where `need` says none is wanted). The kernels repeat the eager rules of
`autodiff.ops` call for call, so a replay gives the eager engine's numbers. An op
missing here makes the step run eagerly, with a warning naming the op.

To lower a new op, add its two functions below; `tests/autodiff/test_compile.py` runs
every lowering against the eager engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autodiff.plan import Plan, Value

Forward = Callable[[Plan, list[Value], dict[str, Any], Any], Value]
Vjp = Callable[[Plan, Value, Value, list[Value], dict[str, Any], list[bool]], list[Any]]
FORWARD: dict[str, Forward] = {}
VJP: dict[str, Vjp] = {}


class Unsupported(Exception):  # noqa: N818 (a reason to run eagerly, not an error)
    """An op (or a use of one) that has no lowering; the message names it."""


def lowering(op: str) -> Callable[[Any], Any]:
    def register(pair: Any) -> Any:
        FORWARD[op], VJP[op] = pair.forward, pair.vjp
        return pair

    return register


def _name(out: Any, default: str) -> str:
    return getattr(out, "name", None) or default


def _number(attrs: dict[str, Any]) -> Any:
    c = attrs["scalar"]
    if type(c) not in (int, float):
        raise Unsupported(f"a number operand of type {type(c).__name__} computed in the step")
    return c


def _scale(p: Plan, g: Value, c: Any, name: str) -> Value:
    return p.call("np.multiply", g, c, name=name, elementwise=True)


# ---- elementwise ----


@lowering("add")
class _Add:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        other = _number(attrs) if "scalar" in attrs else ins[1]
        return p.call(
            "np.add", ins[0], other, name=_name(out, "s"), shape=out.shape, elementwise=True
        )

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        return [g] * len(ins)


@lowering("sub")
class _Sub:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        if "scalar" in attrs:
            c = _number(attrs)
            args = (c, ins[0]) if attrs.get("left") else (ins[0], c)
        else:
            args = (ins[0], ins[1])
        return p.call("np.subtract", *args, name=_name(out, "d"), shape=out.shape, elementwise=True)

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        if "scalar" in attrs:
            return [p.call("np.negative", g, name="d_neg", elementwise=True) if attrs.get("left")
                    else g]  # fmt: skip
        return [g, p.call("np.negative", g, name="d_neg", elementwise=True) if need[1] else None]


@lowering("mul")
class _Mul:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        other = _number(attrs) if "scalar" in attrs else ins[1]
        return p.call(
            "np.multiply", ins[0], other, name=_name(out, "m"), shape=out.shape, elementwise=True
        )

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        if "scalar" in attrs:
            return [_scale(p, g, _number(attrs), "d_scaled")]
        a, b = ins
        return [
            p.call("np.multiply", g, b, name="d_a", shape=g.shape, elementwise=True)
            if need[0]
            else None,
            p.call("np.multiply", g, a, name="d_b", shape=g.shape, elementwise=True)
            if need[1]
            else None,
        ]


@lowering("div")
class _Div:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        if "scalar" in attrs:
            c = _number(attrs)
            args = (c, ins[0]) if attrs.get("left") else (ins[0], c)
        else:
            args = (ins[0], ins[1])
        return p.call("np.divide", *args, name=_name(out, "q"), shape=out.shape, elementwise=True)

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        if "scalar" in attrs:
            c = _number(attrs)
            if not attrs.get("left"):
                return [_scale(p, g, 1 / float(c), "d_scaled")]
            # c / b: d/db = -g * out / b
            t = p.call("np.negative", g, name="d_neg", elementwise=True)
            t = p.call("np.multiply", t, out, name="d_out", elementwise=True)
            return [p.call("np.divide", t, ins[0], name="d_b", elementwise=True)]
        a, b = ins
        ga = gb = None
        if need[0]:
            ga = p.call("np.divide", g, b, name="d_a", shape=g.shape, elementwise=True)
        if need[1]:
            t = p.call("np.negative", g, name="d_neg", elementwise=True)
            t = p.call("np.multiply", t, out, name="d_out", elementwise=True)
            gb = p.call("np.divide", t, b, name="d_b", shape=g.shape, elementwise=True)
        return [ga, gb]


@lowering("pow")
class _Pow:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        if "exponent" not in attrs:
            raise Unsupported("pow with a Tensor exponent")
        c = attrs["exponent"]
        if type(c) not in (int, float):
            raise Unsupported(f"pow with an exponent of type {type(c).__name__}")
        return p.call("np.power", ins[0], c, name=_name(out, "pw"), elementwise=True)

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        c = attrs["exponent"]
        x = ins[0]
        if c == 2:  # g * 2 * x, as the eager rule
            t = p.call("np.multiply", g, 2, name="g2", elementwise=True)
            return [p.call("np.multiply", t, x, name="d_x", elementwise=True)]
        t = p.call("np.multiply", g, c, name="gc", elementwise=True)
        xp = p.call("np.power", x, c - 1, name="x_pow", elementwise=True)
        return [p.call("np.multiply", t, xp, name="d_x", elementwise=True)]


@lowering("neg")
class _Neg:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        return p.call("np.negative", ins[0], name=_name(out, "n"), elementwise=True)

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        return [p.call("np.negative", g, name="d_neg", elementwise=True)]


def _unary(op: str, fn: str, rule: Callable[[Plan, Value, Value, Value], Value]) -> None:
    class _Op:
        @staticmethod
        def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
            return p.call(fn, ins[0], name=_name(out, op), elementwise=True)

        @staticmethod
        def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
            return [rule(p, g, out, ins[0])]

    lowering(op)(_Op)


def _tanh_grad(p: Plan, g: Value, out: Value, x: Value) -> Value:
    """g * (1 - out * out)"""
    sq = p.call("np.multiply", out, out, name="out_sq", elementwise=True)
    one_minus = p.call("np.subtract", 1, sq, name="dtanh", elementwise=True)
    return p.call("np.multiply", g, one_minus, name="dz", elementwise=True)


def _sigmoid_grad(p: Plan, g: Value, out: Value, x: Value) -> Value:
    """g * (out * (1 - out))"""
    one_minus = p.call("np.subtract", 1, out, name="one_minus", elementwise=True)
    d = p.call("np.multiply", out, one_minus, name="dsigmoid", elementwise=True)
    return p.call("np.multiply", g, d, name="dz", elementwise=True)


def _relu_grad(p: Plan, g: Value, out: Value, x: Value) -> Value:
    """g * (x > 0)"""
    mask = p.call("np.greater", x, 0, name="active", dtype=np.bool_, elementwise=True)
    return p.call("np.multiply", g, mask, name="dz", dtype=g.dtype, elementwise=True)


def _leaky_grad(p: Plan, g: Value, x: Value, slope: float) -> Value:
    """g * where(x > 0, 1, slope)"""
    mask = p.call("np.greater", x, 0, name="positive", dtype=np.bool_, elementwise=True)
    d = p.expr(
        "np.where({0}, 1.0, {1}).astype({2})",
        mask,
        slope,
        np.dtype(x.dtype),
        name="dleaky",
        shape=x.shape,
        dtype=x.dtype,
    )
    return p.call("np.multiply", g, d, name="dz", elementwise=True)


_unary("exp", "np.exp", lambda p, g, out, x: p.call("np.multiply", g, out, name="d_x"))
_unary("log", "np.log", lambda p, g, out, x: p.call("np.divide", g, x, name="d_x"))
_unary("tanh", "np.tanh", _tanh_grad)
_unary("relu", "_relu", _relu_grad)


def _sigmoid_kernels(p: Plan, z: Value, name: str) -> Value:
    """sigmoid(z) as exp(-log(1 + e**-z)), the eager engine's stable formula."""
    s = p.call("np.negative", z, name="neg_z", elementwise=True)
    s = p.call("np.logaddexp", 0, s, name="softplus", elementwise=True)
    s = p.call("np.negative", s, name="log_sigmoid", elementwise=True)
    return p.call("np.exp", s, name=name, elementwise=True)


@lowering("sigmoid")
class _Sigmoid:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        return _sigmoid_kernels(p, ins[0], _name(out, "sigmoid"))

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        return [_sigmoid_grad(p, g, out, ins[0])]


@lowering("leaky_relu")
class _LeakyRelu:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        x, slope = ins[0], attrs["slope"]
        positive = p.call("np.greater", x, 0, name="positive", dtype=np.bool_, elementwise=True)
        scaled = p.call("np.multiply", x, slope, name="x_slope", elementwise=True)
        return p.call("np.where", positive, x, scaled, name=_name(out, "leaky"), shape=x.shape)

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        return [_leaky_grad(p, g, ins[0], attrs["slope"])]


# ---- linear: x @ W.T + b, then its activation ----

_ACTIVATION_GRADS = {"relu": _relu_grad, "tanh": _tanh_grad, "sigmoid": _sigmoid_grad}
LEAKY_SLOPE = 0.01


@lowering("linear")
class _Linear:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        x, W = ins[0], ins[1]
        if len(x.shape) != 2:
            raise Unsupported("linear on an input that is not (batch, features)")
        shape = (x.shape[0], W.shape[0])
        act = attrs.get("activation")
        layer = W.name[:-2] + "_" if W.name.endswith("_W") else ""
        name = _name(out, layer + ("a" if act else "z"))
        WT = p.expr("{0}.T", W, name=W.name + "_T", shape=W.shape[::-1], dtype=W.dtype, view_of=W)
        z = p.call("np.matmul", x, WT, name=layer + ("xW" if len(ins) == 3 else "z"),
                   shape=shape)  # fmt: skip
        if len(ins) == 3:
            z = p.call("np.add", z, ins[2], name=layer + "z", elementwise=True)
        if act is None:
            return z
        if act == "relu":
            return p.call("np.maximum", z, 0, name=name, elementwise=True)
        if act == "tanh":
            return p.call("np.tanh", z, name=name, elementwise=True)
        if act == "sigmoid":
            return _sigmoid_kernels(p, z, name)
        if act == "leaky_relu":
            neg = p.call("np.less", z, 0, name="negative", dtype=np.bool_, elementwise=True)
            return p.call("_leaky", z, LEAKY_SLOPE, neg, name=name, elementwise=True)
        raise Unsupported(f"linear with activation {act!r}")

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        act = attrs.get("activation")
        if act == "leaky_relu":
            g = _leaky_grad(p, g, out, LEAKY_SLOPE)
        elif act is not None:
            g = _ACTIVATION_GRADS[act](p, g, out, out)
        x, W = ins[0], ins[1]
        grads: list[Any] = [None] * len(ins)
        if need[0]:
            grads[0] = p.call("np.matmul", g, W, name="d_" + x.name, shape=x.shape)
        if need[1]:
            gT = p.expr(
                "{0}.T", g, name=g.name + "_T", shape=g.shape[::-1], dtype=g.dtype, view_of=g
            )
            grads[1] = p.call("np.matmul", gT, x, name="d_" + W.name, shape=W.shape)
        if len(ins) == 3 and need[2]:
            grads[2] = p.call("np.add.reduce", g, 0, name="d_" + ins[2].name, shape=ins[2].shape)
        return grads


@lowering("matmul")
class _Matmul:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        a, b = ins
        if len(a.shape) != 2 or len(b.shape) != 2:
            raise Unsupported("matmul of operands that are not both 2-D")
        return p.call("np.matmul", a, b, name=_name(out, "mm"), shape=(a.shape[0], b.shape[1]))

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        a, b = ins
        ga = gb = None
        if need[0]:
            bT = p.expr("{0}.T", b, name=b.name + "_T", shape=b.shape[::-1], dtype=b.dtype,
                        view_of=b)  # fmt: skip
            ga = p.call("np.matmul", g, bT, name="d_a", shape=a.shape)
        if need[1]:
            aT = p.expr("{0}.T", a, name=a.name + "_T", shape=a.shape[::-1], dtype=a.dtype,
                        view_of=a)  # fmt: skip
            gb = p.call("np.matmul", aT, g, name="d_b", shape=b.shape)
        return [ga, gb]


# ---- shapes and reductions ----


def _keepdims(x: Value, out: Any) -> bool:
    return len(out.shape) == len(x.shape) and len(x.shape) > 0


def _axis(attrs: dict[str, Any]) -> Any:
    axis = attrs.get("axis")
    return axis if axis is None or isinstance(axis, int) else tuple(axis)


def _unreduced(x_shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    if axis is None:
        return (1,) * len(x_shape)
    axes = (axis,) if isinstance(axis, int) else axis
    axes = {a % len(x_shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(x_shape))


def _fill(p: Plan, g: Value, shape: tuple[int, ...], name: str) -> Value:
    """`g` broadcast into a fresh array of `shape` (the eager `_broadcast` helper)."""
    return p.call("_filled", g, shape, name=name, shape=shape)


@lowering("sum")
class _Sum:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        x = ins[0]
        return p.call("np.sum", x, name=_name(out, "total"), shape=out.shape, axis=_axis(attrs),
                      keepdims=_keepdims(x, out))  # fmt: skip

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        x = ins[0]
        kept = _unreduced(x.shape, _axis(attrs))
        if g.shape != kept:
            g = p.expr("{0}.reshape({1})", g, kept, name="d_kept", shape=kept, dtype=g.dtype,
                       view_of=g)  # fmt: skip
        return [_fill(p, g, x.shape, "d_" + x.name)]


@lowering("mean")
class _Mean:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        x = ins[0]
        return p.call("np.mean", x, name=_name(out, "avg"), shape=out.shape, axis=_axis(attrs),
                      keepdims=_keepdims(x, out))  # fmt: skip

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        x = ins[0]
        size = int(np.prod(x.shape))
        n = size // max(int(np.prod(out.shape)), 1) if size else 0
        kept = _unreduced(x.shape, _axis(attrs))
        if g.shape != kept:
            g = p.expr("{0}.reshape({1})", g, kept, name="d_kept", shape=kept, dtype=g.dtype,
                       view_of=g)  # fmt: skip
        g = p.call("np.divide", g, n, name="d_mean", elementwise=True)
        return [_fill(p, g, x.shape, "d_" + x.name)]


@lowering("broadcast_to")
class _BroadcastTo:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        x, shape = ins[0], tuple(attrs["shape"])
        return p.expr("np.broadcast_to({0}, {1})", x, shape, name=_name(out, "stretched"),
                      shape=shape, dtype=x.dtype, view_of=x)  # fmt: skip

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        return [p.call("_sum_to", g, ins[0].shape, name="d_" + ins[0].name, shape=ins[0].shape)]


@lowering("reshape")
class _Reshape:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        x = ins[0]
        return p.expr("{0}.reshape({1})", x, tuple(out.shape), name=_name(out, "r"),
                      shape=out.shape, dtype=x.dtype, view_of=x)  # fmt: skip

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        x = ins[0]
        return [p.expr("{0}.reshape({1})", g, x.shape, name="d_" + x.name, shape=x.shape,
                       dtype=g.dtype, view_of=g)]  # fmt: skip


# ---- losses in one node ----


@lowering("binary_cross_entropy_with_logits")
class _BCEWithLogits:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        z, t = ins
        n = max(int(np.prod(z.shape)), 1)
        relu = p.call("np.maximum", z, 0, name="z_pos", elementwise=True)
        tz = p.call("np.multiply", t, z, name="t_z", elementwise=True)
        a = p.call("np.subtract", relu, tz, name="margin", elementwise=True)
        absz = p.call("np.abs", z, name="z_abs", elementwise=True)
        e = p.call("np.negative", absz, name="neg_abs", elementwise=True)
        e = p.call("np.exp", e, name="e", elementwise=True)
        e = p.call("np.log1p", e, name="log1p_e", elementwise=True)
        a = p.call("np.add", a, e, name="per_sample", elementwise=True)
        total = p.call("np.sum", a, name="total", shape=())
        mean = p.call("np.divide", total, n, name="mean", shape=())
        return p.expr("{0}.astype({1})", mean, np.dtype(z.dtype), name=_name(out, "loss"),
                      shape=(), dtype=z.dtype)  # fmt: skip

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        z, t = ins
        n = max(int(np.prod(z.shape)), 1)
        scale = p.call("np.multiply", g, 1 / n, name="scale", shape=g.shape)
        s = _sigmoid_kernels(p, z, "probs")
        d = p.call("np.subtract", s, t, name="residual", elementwise=True)
        gz = p.call("np.multiply", d, scale, name="d_" + z.name, shape=z.shape, elementwise=True)
        gt = None
        if need[1]:
            nz = p.call("np.negative", z, name="neg_z", elementwise=True)
            gt = p.call("np.multiply", nz, scale, name="d_t", shape=z.shape, elementwise=True)
        return [gz, gt]


BCE_EPS = 1e-12  # nn's default: the eager op keeps eps in its rule, not in an attribute


@lowering("binary_cross_entropy")
class _BCE:
    @staticmethod
    def forward(p: Plan, ins: list[Value], attrs: dict[str, Any], out: Any) -> Value:
        probs, t = ins
        lo, hi = _clip_range(np.dtype(probs.dtype), BCE_EPS)
        n = max(int(np.prod(probs.shape)), 1)
        pc = p.call("_clip_probs", probs, lo, hi, name="p_clipped")
        log_q = p.call("np.log1p", p.call("np.negative", pc, name="neg_p"), name="log_q")
        log_p = p.call("np.log", pc, name="log_p", elementwise=True)
        diff = p.call("np.subtract", log_p, log_q, name="log_odds", elementwise=True)
        dot = p.expr("np.vdot({0}, {1})", t, diff, name="t_dot", shape=(), dtype=probs.dtype)
        rest = p.call("np.add.reduce", log_q, None, name="sum_log_q", shape=())
        s = p.call("np.add", dot, rest, name="log_lik", shape=())
        s = p.call("np.negative", s, name="neg_log_lik", shape=())
        s = p.call("np.divide", s, n, name="mean", shape=())
        return p.expr("{0}.astype({1})", s, np.dtype(probs.dtype), name=_name(out, "loss"),
                      shape=(), dtype=probs.dtype)  # fmt: skip

    @staticmethod
    def vjp(p: Plan, g: Value, out: Value, ins: list[Value], attrs: dict, need: list) -> list:
        probs, t = ins
        lo, hi = _clip_range(np.dtype(probs.dtype), BCE_EPS)
        n = max(int(np.prod(probs.shape)), 1)
        scale = p.call("np.multiply", g, 1 / n, name="scale", shape=g.shape)
        pc = p.call("_clip_probs", probs, lo, hi, name="p_clipped")
        gp = p.call("np.subtract", pc, t, name="residual", elementwise=True)
        den = p.call("np.subtract", 1, pc, name="one_minus_p", elementwise=True)
        den = p.call("np.multiply", den, pc, name="p_q", elementwise=True)
        gp = p.call("np.divide", gp, den, name="dp", elementwise=True)
        gp = p.call("np.multiply", gp, scale, name="dp_scaled", elementwise=True)
        inside = p.call("_inside", probs, lo, hi, name="inside", dtype=np.bool_)
        gp = p.call("np.multiply", gp, inside, name="d_" + probs.name, elementwise=True)
        gt = None
        if need[1]:
            lq = p.call("np.log1p", p.call("np.negative", pc, name="neg_p"), name="log_q")
            lp = p.call("np.log", pc, name="log_p", elementwise=True)
            d = p.call("np.subtract", lq, lp, name="log_odds", elementwise=True)
            gt = p.call("np.multiply", d, scale, name="d_t", elementwise=True)
        return [gp, gt]


def _clip_range(dtype: np.dtype, eps: float) -> tuple[float, float]:
    one = dtype.type(1)
    hi = 1.0 - eps
    if dtype.type(hi) >= one:
        hi = float(np.nextafter(one, dtype.type(0)))
    return eps, hi


# ---- helpers the generated code calls (each one numpy kernel, or two) ----


def _relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(x, 0, out=out)


def _leaky(z: np.ndarray, slope: float, negative: np.ndarray, out: np.ndarray | None = None):
    """z where z >= 0, slope * z where z < 0 (the fused eager activation, in place)."""
    if out is None:
        out = z.copy()
    elif out is not z:
        np.copyto(out, z)
    return np.multiply(out, slope, out=out, where=negative)


def _filled(g: Any, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def _sum_to(g: np.ndarray, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    g = g.reshape(shape)
    if out is None:
        return g
    np.copyto(out, g)
    return out


def _clip_probs(x: np.ndarray, lo: float, hi: float, out: np.ndarray | None = None) -> np.ndarray:
    t = np.maximum(x, lo, out=out)
    return np.minimum(t, hi, out=t)


def _inside(x: np.ndarray, lo: float, hi: float, out: np.ndarray | None = None) -> np.ndarray:
    t = np.greater_equal(x, lo, out=out)
    t &= x <= hi
    return t


HELPERS = {
    "_relu": _relu,
    "_leaky": _leaky,
    "_filled": _filled,
    "_sum_to": _sum_to,
    "_clip_probs": _clip_probs,
    "_inside": _inside,
}
