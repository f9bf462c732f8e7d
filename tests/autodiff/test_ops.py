"""Every op in one table, checked four ways (minitorch / PyTorch OpInfo style).

Each `OpCase` holds the autodiff call, the numpy forward, the hand-derived
vector-Jacobian product written out in plain numpy, and a hypothesis strategy for its
domain (values away from kinks and ties; 0-d, broadcast pairs and empty axes where numpy
allows them). The table drives:

- forward against numpy, and the automatic gradient against the hand formula
  (`ad.check_grads`), in float64 and again in float32 (float32 results and gradients),
- the automatic gradient against central differences (`ad.gradcheck`),
- second derivatives: autodiff's Hessian-vector product against central differences of
  autodiff's first derivatives.

Kinks and ties are tested on their own at the end against the documented conventions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff as ad
from autodiff import Tensor
from autodiff import strategies as ads

MAX_SIDE = 3  # small shapes keep central differences cheap


# ---- plain numpy helpers for the hand-derived formulas ----


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `g` down to `shape`: the adjoint of numpy broadcasting."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def np_logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def expand_reduced(g: np.ndarray, shape: tuple[int, ...], axis: Any, keepdims: bool):
    """A reduction's upstream gradient broadcast back to the input's shape."""
    if not keepdims:
        axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
        for a in sorted(int(a) % len(shape) for a in axes):
            g = np.expand_dims(g, a)
    return np.broadcast_to(g, shape)


def index_adjoint(g: np.ndarray, shape: tuple[int, ...], index: Any) -> np.ndarray:
    """Gradient of x[index]: each element of x collects g from every place it was copied to.

    Computed by indexing an array of flat positions, then bincount (independent of the
    engine's scatter).
    """
    size = int(np.prod(shape))
    source = np.arange(size).reshape(shape)[index]
    return np.bincount(source.ravel(), weights=g.ravel(), minlength=size).reshape(shape)


# ---- domains ----

SEEDS = st.integers(0, 2**32 - 1)


def values(lo: float = -2.0, hi: float = 2.0) -> st.SearchStrategy[float]:
    return ads.floats(lo, hi)


def away_from(points: list[float], margin: float = 0.1, lo: float = -2.0, hi: float = 2.0):
    """Floats in [lo, hi] at least `margin` away from each kink in `points`."""
    edges = [lo] + sorted(points) + [hi]
    pieces = [
        ads.floats(a + margin * (i > 0), b - margin * (i < len(edges) - 2))
        for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    return st.one_of(*pieces)


def shape_st(min_dims: int = 0, min_side: int = 0) -> st.SearchStrategy[tuple[int, ...]]:
    return ads.shapes(min_dims=min_dims, max_dims=3, min_side=min_side, max_side=MAX_SIDE)


@st.composite
def distinct_arrays(draw: Any, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Arrays whose values are all different (by at least 1/8): no ties for max/min."""
    sizes = [int(np.prod(s)) for s in shapes]
    flat = draw(hnp.arrays(np.int64, sum(sizes), elements=st.integers(-40, 40), unique=True))
    cuts = np.cumsum([0] + sizes)
    return [
        flat[a:b].reshape(s) / 8.0 + 0.01
        for a, b, s in zip(cuts[:-1], cuts[1:], shapes, strict=True)
    ]


def unary(elements: st.SearchStrategy[float] | None = None, min_dims: int = 0, min_side: int = 0):
    return ads.arrays(
        shape_st(min_dims, min_side), elements=values() if elements is None else elements
    ).map(lambda x: ([x], {}))


@st.composite
def binary(draw: Any, ea: Any = None, eb: Any = None, min_side: int = 0, **kw: Any):
    sa, sb = draw(ads.broadcastable_pairs(max_dims=3, min_side=min_side, max_side=MAX_SIDE))
    a = draw(ads.arrays(sa, elements=values() if ea is None else ea))
    b = draw(ads.arrays(sb, elements=values() if eb is None else eb))
    return [a, b], dict(kw)


@st.composite
def binary_distinct(draw: Any):
    sa, sb = draw(ads.broadcastable_pairs(max_dims=3, min_side=0, max_side=MAX_SIDE))
    return draw(distinct_arrays([sa, sb])), {}


@st.composite
def axis_args(draw: Any, ndim: int, allow_tuple: bool = True) -> dict[str, Any]:
    choices = [st.none()]
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
    if allow_tuple:
        subsets = (
            st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim) if ndim else st.just([])
        )
        choices.append(
            subsets.flatmap(lambda axes: st.tuples(*[st.sampled_from([a, a - ndim]) for a in axes]))
        )
    return {"axis": draw(st.one_of(*choices)), "keepdims": draw(st.booleans())}


@st.composite
def reduction(draw: Any, min_side: int = 0, distinct: bool = False):
    shape = draw(shape_st(0, min_side))
    x = draw(distinct_arrays([shape]))[0] if distinct else draw(ads.arrays(shape))
    return [x], draw(axis_args(x.ndim))


@st.composite
def along_axis(draw: Any, min_side: int = 0):
    x = draw(ads.arrays(shape_st(1, min_side)))
    return [x], {"axis": draw(st.integers(-x.ndim, x.ndim - 1))}


@st.composite
def pow_scalar(draw: Any):
    p = draw(st.sampled_from([0, 1, 2, 3, -1, -2, 0.5, 1.5, -0.5, 2.5]))
    x = draw(ads.arrays(shape_st(), elements=values(0.5, 2.0)))
    return [x], {"p": p}


@st.composite
def pow_int_negative_base(draw: Any):
    p = draw(st.sampled_from([2, 3, -1, -2]))
    x = draw(ads.arrays(shape_st(), elements=away_from([0.0], 0.4)))
    return [x], {"p": p}


@st.composite
def rpow(draw: Any):
    c = draw(st.sampled_from([0.5, 2.0, np.e, 3.0]))
    return [draw(ads.arrays(shape_st()))], {"c": c}


@st.composite
def matmul_operands(draw: Any):
    m, n, p = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    ba, bb = draw(ads.broadcastable_pairs(max_dims=2, max_side=2))
    a_kind = draw(st.sampled_from(["1d", "2d", "nd"]))
    b_kind = draw(st.sampled_from(["1d", "2d", "nd"]))
    a_shape = {"1d": (n,), "2d": (m, n), "nd": ba + (m, n)}[a_kind]
    b_shape = {"1d": (n,), "2d": (n, p), "nd": bb + (n, p)}[b_kind]
    return [draw(ads.arrays(a_shape)), draw(ads.arrays(b_shape))], {}


@st.composite
def linear_operands(draw: Any):
    n_in, n_out = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
    lead = draw(st.sampled_from([(), (2,), (3,), (2, 2), (0,)]))
    x = draw(ads.arrays(lead + (n_in,)))
    W = draw(ads.arrays((n_out, n_in)))
    if draw(st.booleans()):
        return [x, W, draw(ads.arrays((n_out,)))], {}
    return [x, W], {}


# activation(z) and activation'(z) of the activations that follow `linear` in a Dense layer
ACTIVATIONS = {
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
    "leaky_relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z: np.where(z > 0, 1.0, 0.01)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sigmoid": (lambda z: np_sigmoid(z), lambda z: np_sigmoid(z) * (1 - np_sigmoid(z))),
}


@st.composite
def activated_linear_operands(draw: Any, activation: str):
    """linear operands (always with a bias) whose pre-activations stay off the kink at 0."""
    args, _ = draw(linear_operands())
    if len(args) == 2:
        args.append(draw(ads.arrays((args[1].shape[0],))))
    x, W, b = args
    if activation in ("relu", "leaky_relu"):
        assume(np.all(np.abs(x @ W.T + b) > 1e-3))
    return args, {"activation": activation}


def activated_linear_ref(x, W, b, activation):
    return ACTIVATIONS[activation][0](x @ W.T + b)


def activated_linear_vjp(g, x, W, b, activation):
    return linear_vjp(g * ACTIVATIONS[activation][1](x @ W.T + b), x, W, b)


@st.composite
def reshape_args(draw: Any):
    x = draw(ads.arrays(shape_st()))
    targets = [(-1,), x.shape[::-1], (1,) + x.shape, (x.size, 1), ()]
    targets = [t for t in targets if t != () or x.size == 1]
    return [x], {"shape": draw(st.sampled_from(targets))}


@st.composite
def transpose_args(draw: Any):
    x = draw(ads.arrays(shape_st(min_dims=1)))
    perm = draw(st.one_of(st.none(), st.permutations(range(x.ndim)).map(tuple)))
    return [x], {"axes": perm}


@st.composite
def broadcast_args(draw: Any):
    sa, sb = draw(ads.broadcastable_pairs(max_dims=3, min_side=0, max_side=MAX_SIDE))
    return [draw(ads.arrays(sa))], {"shape": np.broadcast_shapes(sa, sb)}


@st.composite
def basic_index_args(draw: Any):
    x = draw(ads.arrays(shape_st(min_dims=1, min_side=1)))
    items: list[Any] = []
    for n in x.shape:
        kind = draw(st.sampled_from(["int", "slice", "full"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = draw(st.one_of(st.none(), st.integers(-n, n)))
            stop = draw(st.one_of(st.none(), st.integers(-n, n)))
            items.append(slice(start, stop, draw(st.sampled_from([1, 2, -1]))))
        else:
            items.append(slice(None))
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), None)
    if len(items) > 1 and draw(st.booleans()):
        items = [Ellipsis] + items[1:]
    index = tuple(items) if len(items) > 1 or draw(st.booleans()) else items[0]
    return [x], {"index": index}


@st.composite
def int_array_index_args(draw: Any):
    x = draw(ads.arrays(shape_st(min_dims=1, min_side=1)))
    n0 = x.shape[0]
    rows = st.lists(st.integers(-n0, n0 - 1), min_size=1, max_size=5)  # repeats on purpose
    if x.ndim >= 2 and draw(st.booleans()):  # a pair of index arrays, broadcast together
        n1 = x.shape[1]
        i = np.array(draw(rows))
        j = np.array(draw(st.lists(st.integers(0, n1 - 1), min_size=len(i), max_size=len(i))))
        return [x], {"index": (i, j)}
    i = np.array(draw(rows))
    if draw(st.booleans()):
        i = np.stack([i, i[::-1]])  # a 2-D index array
    return [x], {"index": i}


@st.composite
def bool_index_args(draw: Any):
    x = draw(ads.arrays(shape_st(min_dims=1, min_side=0)))
    if draw(st.booleans()):
        mask = draw(hnp.arrays(bool, x.shape))
    else:
        mask = draw(hnp.arrays(bool, x.shape[:1]))
    return [x], {"index": mask}


@st.composite
def join_args(draw: Any, new_axis: bool):
    shape = draw(shape_st(min_dims=0 if new_axis else 1))
    k = draw(st.integers(1, 3))
    if new_axis:
        axis = draw(st.integers(-len(shape) - 1, len(shape)))
        shapes = [shape] * k
    else:
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        sizes = [draw(st.integers(0, MAX_SIDE)) for _ in range(k)]
        shapes = [shape[: axis % len(shape)] + (s,) + shape[axis % len(shape) + 1 :] for s in sizes]
    return [draw(ads.arrays(s)) for s in shapes], {"axis": axis}


@st.composite
def where_args(draw: Any):
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, min_side=0, max_side=MAX_SIDE)
    ).input_shapes
    cond = draw(hnp.arrays(bool, shapes[0]))
    return [draw(ads.arrays(shapes[1])), draw(ads.arrays(shapes[2]))], {"cond": cond}


@st.composite
def leaky_args(draw: Any):
    x = draw(ads.arrays(shape_st(), elements=away_from([0.0])))
    return [x], {"slope": draw(st.sampled_from([0.01, 0.1, 0.3, 2.0]))}


@st.composite
def clip_args(draw: Any):
    lo, hi = draw(st.sampled_from([(-0.5, 0.5), (None, 0.3), (-1.0, None), (0.0, 1.0)]))
    kinks = [b for b in (lo, hi) if b is not None]
    x = draw(ads.arrays(shape_st(), elements=away_from(kinks)))
    return [x], {"lo": lo, "hi": hi}


# ---- hand-derived vjps of the multi-line kind ----


def matmul_vjp(g, a, b):
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    g2 = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
    ga = np.einsum("...ij,...kj->...ik", g2, b2)  # g @ b^T
    gb = np.einsum("...ki,...kj->...ij", a2, g2)  # a^T @ g
    return [unbroadcast(ga, a2.shape).reshape(a.shape), unbroadcast(gb, b2.shape).reshape(b.shape)]


def linear_vjp(g, x, W, b=None):
    gx = g @ W
    gW = g.reshape(-1, W.shape[0]).T @ x.reshape(-1, W.shape[1])  # g^T x over the batch
    grads = [gx, gW]
    if b is not None:
        grads.append(g.reshape(-1, W.shape[0]).sum(axis=0))
    return grads


def extremum_reduce_vjp(fn):
    def vjp(g, x, axis, keepdims):
        full = expand_reduced(fn(x, axis=axis, keepdims=keepdims), x.shape, axis, keepdims)
        return [expand_reduced(g, x.shape, axis, keepdims) * (x == full)]

    return vjp


def transpose_fn(x, axes):
    return x.transpose(*axes) if axes is not None else x.transpose()


def transpose_vjp(g, x, axes):
    perm = axes if axes is not None else tuple(reversed(range(x.ndim)))
    return [g.transpose(np.argsort(perm))]


def join_vjp(new_axis: bool):
    def vjp(g, *xs, axis):
        if new_axis:
            return [np.take(g, i, axis=axis) for i in range(len(xs))]
        ax = axis % g.ndim
        cuts = np.cumsum([x.shape[ax] for x in xs])[:-1]
        return np.split(g, cuts, axis=ax)

    return vjp


# ---- the table ----


@dataclass(frozen=True)
class OpCase:
    name: str
    fn: Callable[..., Tensor]  # autodiff: (*tensors, **kwargs) -> Tensor
    ref: Callable[..., np.ndarray]  # numpy forward: (*arrays, **kwargs)
    vjp: Callable[..., list[np.ndarray]]  # hand-derived: (g, *arrays, **kwargs)
    draw: st.SearchStrategy[tuple[list[np.ndarray], dict[str, Any]]]
    gradcheck_kw: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        return self.name


OPS = [
    # elementwise binary, with broadcasting
    OpCase("add", lambda a, b: a + b, np.add,
           lambda g, a, b: [unbroadcast(g, a.shape), unbroadcast(g, b.shape)], binary()),
    OpCase("sub", lambda a, b: a - b, np.subtract,
           lambda g, a, b: [unbroadcast(g, a.shape), unbroadcast(-g, b.shape)], binary()),
    OpCase("mul", lambda a, b: a * b, np.multiply,
           lambda g, a, b: [unbroadcast(g * b, a.shape), unbroadcast(g * a, b.shape)], binary()),
    OpCase("div", lambda a, b: a / b, np.divide,
           lambda g, a, b: [unbroadcast(g / b, a.shape), unbroadcast(-g * a / b**2, b.shape)],
           binary(eb=away_from([0.0], 0.5))),
    OpCase("pow_tensor_tensor", lambda a, b: a**b, np.power,
           lambda g, a, b: [unbroadcast(g * b * a ** (b - 1), a.shape),
                            unbroadcast(g * a**b * np.log(a), b.shape)],
           binary(ea=values(0.5, 2.0))),
    OpCase("pow_tensor_scalar", lambda x, p: x**p, lambda x, p: x**p,
           lambda g, x, p: [g * p * x ** (p - 1)], pow_scalar()),
    OpCase("pow_negative_base", lambda x, p: x**p, lambda x, p: x ** float(p),
           lambda g, x, p: [g * p * x ** float(p - 1)], pow_int_negative_base()),
    OpCase("pow_scalar_tensor", lambda x, c: c**x, lambda x, c: c**x,
           lambda g, x, c: [g * c**x * np.log(c)], rpow()),
    OpCase("matmul", lambda a, b: a @ b, np.matmul, matmul_vjp, matmul_operands()),
    OpCase("maximum", ad.maximum, np.maximum,
           lambda g, a, b: [unbroadcast(g * (a > b), a.shape), unbroadcast(g * (b > a), b.shape)],
           binary_distinct()),
    OpCase("minimum", ad.minimum, np.minimum,
           lambda g, a, b: [unbroadcast(g * (a < b), a.shape), unbroadcast(g * (b < a), b.shape)],
           binary_distinct()),
    OpCase("where", lambda a, b, cond: ad.where(cond, a, b),
           lambda a, b, cond: np.where(cond, a, b),
           lambda g, a, b, cond: [unbroadcast(np.where(cond, g, 0.0), a.shape),
                                  unbroadcast(np.where(cond, 0.0, g), b.shape)],
           where_args()),
    OpCase("linear", lambda x, W, b=None: ad.linear(x, W, b),
           lambda x, W, b=None: x @ W.T + (0 if b is None else b), linear_vjp, linear_operands()),
    *[OpCase(f"linear_{name}",
             lambda x, W, b, activation: getattr(ad, activation)(ad.linear(x, W, b)),
             activated_linear_ref, activated_linear_vjp,
             activated_linear_operands(name)) for name in ACTIVATIONS],
    # elementwise unary
    OpCase("neg", lambda x: -x, np.negative, lambda g, x: [-g], unary()),
    OpCase("exp", ad.exp, np.exp, lambda g, x: [g * np.exp(x)], unary()),
    OpCase("log", ad.log, np.log, lambda g, x: [g / x], unary(values(0.2, 3.0))),
    OpCase("sqrt", ad.sqrt, np.sqrt, lambda g, x: [g / (2 * np.sqrt(x))], unary(values(0.2, 3.0))),
    OpCase("tanh", ad.tanh, np.tanh, lambda g, x: [g * (1 - np.tanh(x) ** 2)], unary()),
    OpCase("sigmoid", ad.sigmoid, np_sigmoid,
           lambda g, x: [g * np_sigmoid(x) * (1 - np_sigmoid(x))], unary(values(-4.0, 4.0))),
    OpCase("relu", ad.relu, lambda x: np.maximum(x, 0), lambda g, x: [g * (x > 0)],
           unary(away_from([0.0]))),
    OpCase("abs", ad.abs, np.abs, lambda g, x: [g * np.sign(x)], unary(away_from([0.0]))),
    OpCase("leaky_relu", lambda x, slope: x.leaky_relu(slope),
           lambda x, slope: np.where(x > 0, x, slope * x),
           lambda g, x, slope: [g * np.where(x > 0, 1.0, slope)], leaky_args()),
    OpCase("clip", lambda x, lo, hi: x.clip(lo, hi), lambda x, lo, hi: np.clip(x, lo, hi),
           lambda g, x, lo, hi: [g * ((x > (-np.inf if lo is None else lo))
                                      & (x < (np.inf if hi is None else hi)))],
           clip_args()),
    OpCase("astype", lambda x: x.astype(np.float32), lambda x: x.astype(np.float32),
           lambda g, x: [g.astype(x.dtype)], unary(), gradcheck_kw={"eps": 1e-2}),
    # reductions and normalisations
    OpCase("sum", lambda x, axis, keepdims: x.sum(axis, keepdims),
           lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
           lambda g, x, axis, keepdims: [expand_reduced(g, x.shape, axis, keepdims)],
           reduction()),
    OpCase("mean", lambda x, axis, keepdims: x.mean(axis, keepdims),
           lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
           lambda g, x, axis, keepdims: [
               expand_reduced(g, x.shape, axis, keepdims) * g.size / max(x.size, 1)],
           reduction(min_side=1)),
    OpCase("max", lambda x, axis, keepdims: x.max(axis, keepdims),
           lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
           extremum_reduce_vjp(np.max), reduction(min_side=1, distinct=True)),
    OpCase("min", lambda x, axis, keepdims: ad.min(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
           extremum_reduce_vjp(np.min), reduction(min_side=1, distinct=True)),
    OpCase("logsumexp", lambda x, axis, keepdims: x.logsumexp(axis, keepdims), np_logsumexp,
           lambda g, x, axis, keepdims: [
               expand_reduced(g, x.shape, axis, keepdims)
               * np.exp(x - expand_reduced(np_logsumexp(x, axis, keepdims), x.shape, axis,
                                           keepdims))],
           reduction(min_side=1)),
    OpCase("softmax", lambda x, axis: x.softmax(axis), np_softmax,
           lambda g, x, axis: [np_softmax(x, axis)
                               * (g - (g * np_softmax(x, axis)).sum(axis=axis, keepdims=True))],
           along_axis()),
    OpCase("log_softmax", lambda x, axis: ad.log_softmax(x, axis),
           lambda x, axis: np.log(np_softmax(x, axis)),
           lambda g, x, axis: [g - np_softmax(x, axis) * g.sum(axis=axis, keepdims=True)],
           along_axis()),
    # shape and indexing
    OpCase("reshape", lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape),
           lambda g, x, shape: [g.reshape(x.shape)], reshape_args()),
    OpCase("transpose", transpose_fn, transpose_fn, transpose_vjp, transpose_args()),
    OpCase("broadcast_to", lambda x, shape: x.broadcast_to(shape), np.broadcast_to,
           lambda g, x, shape: [unbroadcast(g, x.shape)], broadcast_args()),
    OpCase("getitem_basic", lambda x, index: x[index], lambda x, index: x[index],
           lambda g, x, index: [index_adjoint(g, x.shape, index)], basic_index_args()),
    OpCase("getitem_int_array", lambda x, index: x[index], lambda x, index: x[index],
           lambda g, x, index: [index_adjoint(g, x.shape, index)], int_array_index_args()),
    OpCase("getitem_bool", lambda x, index: x[index], lambda x, index: x[index],
           lambda g, x, index: [index_adjoint(g, x.shape, index)], bool_index_args()),
    OpCase("concatenate", lambda *xs, axis: ad.concatenate(xs, axis=axis),
           lambda *xs, axis: np.concatenate(xs, axis=axis), join_vjp(False), join_args(False)),
    OpCase("stack", lambda *xs, axis: ad.stack(xs, axis=axis),
           lambda *xs, axis: np.stack(xs, axis=axis), join_vjp(True), join_args(True)),
]  # fmt: skip

OP_IDS = [op.name for op in OPS]


def test_table_covers_every_differentiable_function():
    covered = {op.name.split("_")[0] for op in OPS} | {op.name for op in OPS}
    for name in ad.__all__:
        obj = getattr(ad, name)
        if name in {"add", "sub", "mul", "div", "neg"}:
            continue  # reached through their operators, listed under those names
        if callable(obj) and getattr(obj, "__module__", "") == "autodiff.ops":
            assert name in covered, name


def _upstream(shape: tuple[int, ...], seed: int, dtype: Any = np.float64) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _loss(op: OpCase, kwargs: dict[str, Any], G: np.ndarray) -> Callable[..., Tensor]:
    """A scalar whose gradient is the op's vjp applied to the upstream gradient G."""
    return lambda *ts: (op.fn(*ts, **kwargs) * G).sum()


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@given(data=st.data(), seed=SEEDS)
def test_forward_and_gradient_match_numpy_formulas(op: OpCase, data: Any, seed: int):
    """Forward vs numpy, gradient vs the hand-derived vjp, in float64 and in float32."""
    arrays, kwargs = data.draw(op.draw)
    expected = op.ref(*arrays, **kwargs)
    out = op.fn(*[Tensor(a) for a in arrays], **kwargs)
    assert isinstance(out, Tensor)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=1e-12)

    G = _upstream(np.shape(expected), seed)
    assert ad.check_grads(
        _loss(op, kwargs, G),
        lambda *xs: op.vjp(G, *xs, **kwargs),
        arrays,
        atol=1e-6 if op.name == "astype" else 1e-9,
    )

    # float32 stays float32 end to end: the result and every gradient.
    xs = [Tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    out = op.fn(*xs, **kwargs)
    assert out.dtype == np.float32
    G32 = G.astype(np.float32)
    out.backward(G32)
    exact = op.vjp(G32.astype(np.float64), *[x.data.astype(np.float64) for x in xs], **kwargs)
    for x, e in zip(xs, exact, strict=True):
        assert x.grad.dtype == np.float32, (op.name, x.grad.dtype)
        np.testing.assert_allclose(x.grad, e, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@given(data=st.data(), seed=SEEDS)
def test_gradient_matches_central_differences(op: OpCase, data: Any, seed: int):
    arrays, kwargs = data.draw(op.draw)
    G = _upstream(np.shape(op.ref(*arrays, **kwargs)), seed)
    assert ad.gradcheck(_loss(op, kwargs, G), arrays, **op.gradcheck_kw)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@given(data=st.data(), seed=SEEDS)
def test_second_derivative_matches_differences_of_first(op: OpCase, data: Any, seed: int):
    """d/dx <grad L(x), v> by autodiff (grad of grad) vs central differences of grad L."""
    arrays, kwargs = data.draw(op.draw)
    G = _upstream(np.shape(op.ref(*arrays, **kwargs)), seed)
    V = [_upstream(a.shape, seed + 1 + i) for i, a in enumerate(arrays)]
    loss = _loss(op, kwargs, G)

    def directional_grad(*xs: Tensor) -> Tensor:
        with ad.enable_grad():  # numerical_grad probes under no_grad; we need the graph
            leaves = [x if x.requires_grad else Tensor(x.data.copy(), requires_grad=True)
                      for x in xs]  # fmt: skip
            grads = ad.grad(loss(*leaves), leaves, create_graph=True)
            return sum(((g * v).sum() for g, v in zip(grads, V, strict=True)), Tensor(0.0))

    assert ad.gradcheck(directional_grad, arrays, **op.gradcheck_kw)


# ---- kinks and ties, against the documented (PyTorch) conventions ----


def _grad_of(fn: Callable[[Tensor], Tensor], data: Any) -> np.ndarray:
    x = Tensor(data, requires_grad=True)
    fn(x).sum().backward()
    return x.grad


def test_relu_gradient_at_zero_is_zero():
    np.testing.assert_array_equal(_grad_of(ad.relu, [-1.0, 0.0, 2.0]), [0.0, 0.0, 1.0])


def test_abs_gradient_at_zero_is_zero():
    np.testing.assert_array_equal(_grad_of(ad.abs, [-1.0, 0.0, 2.0]), [-1.0, 0.0, 1.0])


def test_leaky_relu_gradient_at_zero_is_slope():
    g = _grad_of(lambda x: x.leaky_relu(0.2), [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(g, [0.2, 0.2, 1.0])
    assert ad.leaky_relu(Tensor(-2.0)).item() == pytest.approx(-0.02)  # default slope 0.01


def test_clip_passes_gradient_at_its_bounds():
    g = _grad_of(lambda x: x.clip(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("name", ["max", "min"])
def test_reduction_ties_split_evenly(name: str):
    x = np.array([[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    if name == "min":
        x = -x
    fn = getattr(ad, name)
    np.testing.assert_allclose(_grad_of(fn, x), [[0.5, 0, 0.5], [0, 0, 0]])
    np.testing.assert_allclose(
        _grad_of(lambda t: fn(t, axis=1), x), [[0.5, 0, 0.5], [1 / 3, 1 / 3, 1 / 3]]
    )
    np.testing.assert_allclose(
        _grad_of(lambda t: fn(t, axis=0, keepdims=True), x), [[1, 0, 1], [0, 1, 0]]
    )


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_elementwise_ties_split_evenly(name: str):
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = Tensor([1.0, 5.0, 0.0], requires_grad=True)
    getattr(ad, name)(a, b).sum().backward()
    if name == "maximum":
        np.testing.assert_allclose(a.grad, [0.5, 0.0, 1.0])
        np.testing.assert_allclose(b.grad, [0.5, 1.0, 0.0])
    else:
        np.testing.assert_allclose(a.grad, [0.5, 1.0, 0.0])
        np.testing.assert_allclose(b.grad, [0.5, 0.0, 1.0])


def test_maximum_tie_with_broadcast_scalar():
    x = Tensor([0.0, 1.0, -1.0], requires_grad=True)
    ad.maximum(x, 0.0).sum().backward()  # relu through maximum: the tie at 0 gets half
    np.testing.assert_allclose(x.grad, [0.5, 1.0, 0.0])


def test_pow_of_zero_base_with_tensor_exponent_has_finite_gradient():
    a = Tensor([0.0, 2.0], requires_grad=True)
    b = Tensor([2.0, 3.0], requires_grad=True)
    (a**b).sum().backward()
    np.testing.assert_allclose(a.grad, [0.0, 12.0])
    np.testing.assert_allclose(b.grad, [0.0, 8.0 * np.log(2.0)])


# ---- operators: Python scalars and numpy arrays on either side ----

BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
}


@pytest.mark.parametrize("symbol", list(BINARY))
@pytest.mark.parametrize("other_kind", ["int", "float", "0-d array", "array"])
@pytest.mark.parametrize("tensor_side", ["left", "right"])
def test_binary_operators_take_scalars_and_arrays_on_either_side(symbol, other_kind, tensor_side):
    fn = BINARY[symbol]
    x_data = np.array([[0.5, 1.5, 2.0], [1.0, 0.25, 3.0]])
    other = {"int": 2, "float": 1.5, "0-d array": np.array(1.5),
             "array": np.array([1.0, 2.0, 0.5])}[other_kind]  # fmt: skip
    x = Tensor(x_data, requires_grad=True)
    out = fn(x, other) if tensor_side == "left" else fn(other, x)
    expected = fn(x_data, other) if tensor_side == "left" else fn(other, x_data)
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, expected)
    out.sum().backward()
    const = np.asarray(other, dtype=float)
    wrapped = (lambda t: fn(t, const)) if tensor_side == "left" else (lambda t: fn(const, t))
    numeric = ad.numerical_grad(lambda t: wrapped(t).sum(), [x_data])[0]
    np.testing.assert_allclose(x.grad, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tensor_side", ["left", "right"])
def test_matmul_operator_takes_arrays_on_either_side(tensor_side):
    A = np.arange(6.0).reshape(2, 3)
    x = Tensor(np.ones((3, 2)) if tensor_side == "left" else np.ones((3, 2)), requires_grad=True)
    if tensor_side == "left":
        out = x @ A  # (3, 2) @ (2, 3)
        np.testing.assert_allclose(out.data, np.ones((3, 2)) @ A)
        out.sum().backward()
        np.testing.assert_allclose(x.grad, np.ones((3, 3)) @ A.T)
    else:
        out = A @ x  # ndarray on the left defers to Tensor.__rmatmul__
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.data, A @ np.ones((3, 2)))
        out.sum().backward()
        np.testing.assert_allclose(x.grad, A.T @ np.ones((2, 2)))


def test_comparisons_return_boolean_arrays_and_tensors_stay_hashable():
    x = Tensor([1.0, 2.0, 3.0])
    for result, expected in [
        (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]),
        (x > 2, [False, False, True]),
        (x >= 2, [False, True, True]),
        (x == 2, [False, True, False]),
        (x != 2, [True, False, True]),
        (x == Tensor([1.0, 0.0, 3.0]), [True, False, True]),
    ]:
        assert type(result) is np.ndarray and result.dtype == bool
        np.testing.assert_array_equal(result, expected)
    y = Tensor([1.0, 2.0, 3.0])
    assert len({x, y, x}) == 2 and {x: 1}[x] == 1


METHODS = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "leaky_relu", "sum", "mean",
           "max", "min", "softmax", "log_softmax", "logsumexp"]  # fmt: skip


@pytest.mark.parametrize("name", METHODS)
def test_methods_and_module_functions_agree(name: str):
    data = np.array([[0.3, 1.2, 2.0], [0.7, 0.1, 1.5]])
    by_method = getattr(Tensor(data, requires_grad=True), name)()
    by_function = getattr(ad, name)(Tensor(data, requires_grad=True))
    np.testing.assert_array_equal(by_method.data, by_function.data)
    assert by_method.op == by_function.op == name


def test_module_functions_accept_keyword_arguments():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(ad.sum(x, axis=0).data, [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(ad.mean(x, axis=1, keepdims=True).data, [[1.0], [4.0]])
    np.testing.assert_array_equal(ad.clip(x, 1.0, 4.0).data, np.clip(x.data, 1.0, 4.0))
    np.testing.assert_array_equal(ad.transpose(x).data, x.data.T)
    np.testing.assert_array_equal(x.T.data, x.data.T)
    np.testing.assert_array_equal(ad.reshape(x, 3, 2).data, x.data.reshape(3, 2))
    np.testing.assert_array_equal(x.reshape(3, 2).data, x.data.reshape(3, 2))
    np.testing.assert_array_equal(ad.broadcast_to(x[0], (2, 3)).data, [[0, 1, 2]] * 2)
    np.testing.assert_array_equal(ad.getitem(x, (1, 2)).data, 5.0)
    np.testing.assert_array_equal(ad.where(x.data > 2, x, 0.0).data, [[0, 0, 0], [3, 4, 5]])


def test_softmax_is_stable_for_large_inputs():
    x = Tensor([1000.0, 1001.0, 1002.0], requires_grad=True)
    p = x.softmax()
    np.testing.assert_allclose(p.data, np_softmax(np.array([0.0, 1.0, 2.0]), -1))
    np.testing.assert_allclose(x.logsumexp().item(), 1002.0 + np.log(np.exp([-2, -1, 0.0]).sum()))
    np.testing.assert_allclose(x.log_softmax().data, np.log(p.data))
    (p * Tensor([1.0, 2.0, 3.0])).sum().backward()
    assert np.all(np.isfinite(x.grad))
