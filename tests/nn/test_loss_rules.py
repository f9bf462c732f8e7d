"""The losses of nn (compositions of core ops), linear and scatter_add, checked three ways.

`linear` already has its row in the table of `test_ops.py` (N-D inputs, with and without
bias). The losses and `scatter_add` get rows of the same `OpCase` kind here, and the same
checks: forward against numpy and gradient against the hand-derived formula (float64 and
float32), gradient against central differences (targets that require grad included),
and grad-of-grad against central differences of first derivatives. Then:

- second derivatives against their hand formulas,
- an MLP-like composition (gather, linear, tanh, linear) feeding each loss: hand-written
  numpy backprop, central differences, and Hessian-vector products,
- edge cases: p exactly 0 or 1 and at the clip bounds, float32 where 1 - 1e-12 rounds to
  1, logits of +-1000, which inputs need a gradient, and shape errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff as ad
import nn
from autodiff import Tensor, ops
from autodiff import strategies as ads
from tests.autodiff.test_ops import (
    MAX_SIDE,
    SEEDS,
    OpCase,
    basic_index_args,
    bool_index_args,
    index_adjoint,
    int_array_index_args,
    np_sigmoid,
    np_softmax,
    shape_st,
)

# ---- hand-derived formulas in plain numpy ----


def bce_ref(p: np.ndarray, t: np.ndarray, eps: float) -> np.ndarray:
    pc = np.clip(p, eps, 1 - eps)
    return -(t * np.log(pc) + (1 - t) * np.log(1 - pc)).sum() / p.size


def bce_vjp(g: np.ndarray, p: np.ndarray, t: np.ndarray, eps: float) -> list[np.ndarray]:
    """d/dp = g (p - t) / (p (1 - p)) / n inside [eps, 1 - eps], bounds included, 0 outside;
    d/dt = g (log(1 - pc) - log pc) / n with pc the clipped p."""
    n = p.size
    pc = np.clip(p, eps, 1 - eps)
    inside = (p >= eps) & (p <= 1 - eps)
    gp = np.where(inside, g * (pc - t) / (pc * (1 - pc)) / n, 0.0)
    return [gp, g * (np.log(1 - pc) - np.log(pc)) / n]


def bce_logits_ref(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    p = np_sigmoid(z)  # the textbook formula, not the stable one the op uses
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum() / z.size


def bce_logits_vjp(g: np.ndarray, z: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    return [g * (np_sigmoid(z) - t) / z.size, -g * z / z.size]


def onehot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[labels]


def ce_ref(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return -np.log(np_softmax(z, -1))[np.arange(len(z)), labels].mean()


def ce_vjp(g: np.ndarray, z: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    return [g * (np_softmax(z, -1) - onehot(labels, z.shape[1])) / len(z)]


# ---- domains ----

EPS_VALUES = [1e-12, 0.05, 0.2]
MARGIN = 0.02  # central differences stay on one side of a clip bound


def probabilities(eps: float) -> st.SearchStrategy[float]:
    """p in [0, 1] at least MARGIN away from the clip bounds; moderate gradients inside."""
    if eps < MARGIN:
        return ads.floats(MARGIN, 1 - MARGIN)
    return st.one_of(
        ads.floats(0.0, eps - MARGIN),
        ads.floats(eps + MARGIN, 1 - eps - MARGIN),
        ads.floats(1 - eps + MARGIN, 1.0),
    )


@st.composite
def bce_args(draw: Any):
    shape = draw(shape_st(min_side=1))
    eps = draw(st.sampled_from(EPS_VALUES))
    p = draw(ads.arrays(shape, elements=probabilities(eps)))
    t = draw(ads.arrays(shape, elements=ads.floats(0.0, 1.0)))  # soft targets too
    return [p, t], {"eps": eps}


@st.composite
def logits_args(draw: Any):
    shape = draw(shape_st(min_side=1))
    z = draw(ads.arrays(shape, elements=ads.floats(-6.0, 6.0)))
    t = draw(ads.arrays(shape, elements=ads.floats(0.0, 1.0)))
    return [z, t], {}


@st.composite
def ce_args(draw: Any):
    m, classes = draw(st.integers(1, MAX_SIDE + 1)), draw(st.integers(1, MAX_SIDE + 1))
    z = draw(ads.arrays((m, classes), elements=ads.floats(-4.0, 4.0)))
    labels = draw(hnp.arrays(np.int64, m, elements=st.integers(0, classes - 1)))
    return [z], {"labels": labels}


def scatter_args(index_args: st.SearchStrategy, basic: bool) -> st.SearchStrategy:
    """Reuse getitem's index domains: scatter the values x[index] back into x's shape."""

    def as_scatter(drawn: Any) -> Any:
        [x], kwargs = drawn
        index = kwargs["index"]
        return [np.array(x[index], dtype=np.float64)], {
            "index": index,
            "shape": x.shape,
            "basic": basic,
        }

    return index_args.map(as_scatter)


def scatter_fn(g: Tensor, index: Any, shape: tuple[int, ...], basic: bool) -> Tensor:
    """The adjoint of indexing as an op of its own (what getitem's rule records)."""
    return ops.apply(ops.SCATTER_ADD, (g,), {"index": index, "shape": shape})


FUSED = [
    OpCase("binary_cross_entropy", lambda p, t, eps: nn.binary_cross_entropy(p, t, eps),
           bce_ref, bce_vjp, bce_args()),
    OpCase("binary_cross_entropy_with_logits", nn.binary_cross_entropy_with_logits,
           bce_logits_ref, bce_logits_vjp, logits_args()),
    OpCase("cross_entropy", lambda z, labels: nn.cross_entropy(z, labels), ce_ref, ce_vjp,
           ce_args()),
    OpCase("scatter_add_basic", scatter_fn,
           lambda g, index, shape, basic: index_adjoint(g, shape, index),
           lambda G, g, index, shape, basic: [G[index]], scatter_args(basic_index_args(), True)),
    OpCase("scatter_add_int_array", scatter_fn,
           lambda g, index, shape, basic: index_adjoint(g, shape, index),
           lambda G, g, index, shape, basic: [G[index]],
           scatter_args(int_array_index_args(), False)),
    OpCase("scatter_add_bool", scatter_fn,
           lambda g, index, shape, basic: index_adjoint(g, shape, index),
           lambda G, g, index, shape, basic: [G[index]], scatter_args(bool_index_args(), False)),
]  # fmt: skip
FUSED_IDS = [op.name for op in FUSED]


def _upstream(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _loss(op: OpCase, kwargs: dict[str, Any], G: np.ndarray) -> Callable[..., Tensor]:
    return lambda *ts: (op.fn(*ts, **kwargs) * G).sum()


# ---- (1) forward and gradient against numpy formulas, float64 and float32 ----


@pytest.mark.parametrize("op", FUSED, ids=FUSED_IDS)
@given(data=st.data(), seed=SEEDS)
def test_forward_and_gradient_match_numpy_formulas(op: OpCase, data: Any, seed: int):
    arrays, kwargs = data.draw(op.draw)
    expected = op.ref(*arrays, **kwargs)
    out = op.fn(*[Tensor(a) for a in arrays], **kwargs)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-9, atol=1e-12)

    G = _upstream(np.shape(expected), seed)
    assert ad.check_grads(_loss(op, kwargs, G), lambda *xs: op.vjp(G, *xs, **kwargs), arrays)

    xs = [Tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    out = op.fn(*xs, **kwargs)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-5)
    G32 = G.astype(np.float32)
    out.backward(G32)
    exact = op.vjp(G32.astype(np.float64), *[x.data.astype(np.float64) for x in xs], **kwargs)
    for x, e in zip(xs, exact, strict=True):
        assert x.grad.dtype == np.float32, (op.name, x.grad.dtype)
        np.testing.assert_allclose(x.grad, e, rtol=1e-4, atol=1e-5)


# ---- (2) against central differences: every input requires grad, targets included ----


@pytest.mark.parametrize("op", FUSED, ids=FUSED_IDS)
@given(data=st.data(), seed=SEEDS)
def test_gradient_matches_central_differences(op: OpCase, data: Any, seed: int):
    arrays, kwargs = data.draw(op.draw)
    G = _upstream(np.shape(op.ref(*arrays, **kwargs)), seed)
    assert ad.gradcheck(_loss(op, kwargs, G), arrays)


# ---- (3) grad of grad ----


def _directional_grad(loss: Callable[..., Tensor], V: list[np.ndarray]) -> Callable[..., Tensor]:
    """x -> <grad loss(x), V>, built with create_graph=True so it can be differentiated."""

    def fn(*xs: Tensor) -> Tensor:
        with ad.enable_grad():  # numerical_grad probes under no_grad; we need the graph
            leaves = [x if x.requires_grad else Tensor(x.data.copy(), requires_grad=True)
                      for x in xs]  # fmt: skip
            grads = ad.grad(loss(*leaves), leaves, create_graph=True)
            return sum(((g * v).sum() for g, v in zip(grads, V, strict=True)), Tensor(0.0))

    return fn


@pytest.mark.parametrize("op", FUSED, ids=FUSED_IDS)
@given(data=st.data(), seed=SEEDS)
def test_second_derivative_matches_differences_of_first(op: OpCase, data: Any, seed: int):
    arrays, kwargs = data.draw(op.draw)
    G = _upstream(np.shape(op.ref(*arrays, **kwargs)), seed)
    V = [_upstream(a.shape, seed + 1 + i) for i, a in enumerate(arrays)]
    assert ad.gradcheck(_directional_grad(_loss(op, kwargs, G), V), arrays)


def _hvp(fn: Callable[..., Tensor], arrays: list[np.ndarray], V: list[np.ndarray]):
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    grads = ad.grad(fn(*leaves), leaves, create_graph=True)
    dot = sum(((g * v).sum() for g, v in zip(grads, V, strict=True)), Tensor(0.0))
    return [h.data for h in ad.grad(dot, leaves)]


@given(data=st.data(), seed=SEEDS)
def test_bce_second_derivatives_match_hand_formula(data: Any, seed: int):
    """d2/dp2 = (t/p^2 + (1-t)/(1-p)^2)/n and d2/dp dt = -1/(p(1-p))/n inside the clip
    range; zero outside it; d2/dt2 = 0."""
    [p, t], kw = data.draw(bce_args())
    vp, vt = _upstream(p.shape, seed), _upstream(p.shape, seed + 1)
    n, eps = p.size, kw["eps"]
    inside = (p >= eps) & (p <= 1 - eps)
    pc = np.clip(p, eps, 1 - eps)
    hpp = np.where(inside, t / pc**2 + (1 - t) / (1 - pc) ** 2, 0.0) / n
    hpt = np.where(inside, -1 / (pc * (1 - pc)), 0.0) / n
    hp, ht = _hvp(lambda a, b: nn.binary_cross_entropy(a, b, eps), [p, t], [vp, vt])
    np.testing.assert_allclose(hp, hpp * vp + hpt * vt, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ht, hpt * vp, rtol=1e-9, atol=1e-12)


@given(data=st.data(), seed=SEEDS)
def test_bce_with_logits_second_derivatives_match_hand_formula(data: Any, seed: int):
    """d2/dz2 = s (1 - s) / n, d2/dz dt = -1/n, d2/dt2 = 0."""
    [z, t], _ = data.draw(logits_args())
    vz, vt = _upstream(z.shape, seed), _upstream(z.shape, seed + 1)
    s, n = np_sigmoid(z), z.size
    hz, ht = _hvp(nn.binary_cross_entropy_with_logits, [z, t], [vz, vt])
    np.testing.assert_allclose(hz, (s * (1 - s) * vz - vt) / n, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ht, -vz / n, rtol=1e-9, atol=1e-12)


@given(data=st.data(), seed=SEEDS)
def test_cross_entropy_hessian_vector_product_matches_hand_formula(data: Any, seed: int):
    """Each row's Hessian is (diag(s) - s s^T) / m."""
    [z], kw = data.draw(ce_args())
    v = _upstream(z.shape, seed)
    s = np_softmax(z, -1)
    [hv] = _hvp(lambda a: nn.cross_entropy(a, kw["labels"]), [z], [v])
    expected = (s * v - s * (s * v).sum(axis=-1, keepdims=True)) / len(z)
    np.testing.assert_allclose(hv, expected, rtol=1e-9, atol=1e-12)


# ---- an MLP-like composition feeding each loss ----

LOSS_KINDS = ["bce", "bce_with_logits", "cross_entropy"]


@st.composite
def mlp_case(draw: Any, kind: str):
    """Inputs gathered with repeated rows (getitem, so scatter_add in backward), then
    linear -> tanh -> linear; N-D batches for the elementwise losses."""
    n_in, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n_out = draw(st.integers(1, 3)) if kind != "cross_entropy" else draw(st.integers(2, 4))
    rows = draw(st.integers(1, 3))
    lead = (rows,) if kind == "cross_entropy" or draw(st.booleans()) else (2, rows)
    x = draw(ads.arrays((draw(st.integers(1, 3)), n_in)))
    pick = draw(hnp.arrays(np.intp, lead, elements=st.integers(0, len(x) - 1)))
    unit = ads.floats(-1.0, 1.0)
    params = [draw(ads.arrays(s, elements=unit)) for s in
              [(hidden, n_in), (hidden,), (n_out, hidden), (n_out,)]]  # fmt: skip
    if kind == "cross_entropy":
        target = draw(hnp.arrays(np.int64, rows, elements=st.integers(0, n_out - 1)))
        return [x, *params], pick, target
    t = draw(ads.arrays(lead + (n_out,), elements=ads.floats(0.0, 1.0)))
    return [x, *params, t], pick, None


def mlp_loss(kind: str, pick: np.ndarray, labels: np.ndarray | None) -> Callable[..., Tensor]:
    def fn(x: Tensor, W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor, *t: Tensor) -> Tensor:
        h = ad.linear(x[pick], W1, b1).tanh()
        z = ad.linear(h, W2, b2)
        if kind == "bce":
            return nn.binary_cross_entropy(z.sigmoid(), t[0])
        if kind == "bce_with_logits":
            return nn.binary_cross_entropy_with_logits(z, t[0])
        return nn.cross_entropy(z, labels)

    return fn


def mlp_backprop(kind: str, pick: np.ndarray, labels: np.ndarray | None) -> Callable[..., Any]:
    """The same network's gradients by hand, in plain numpy (chain rule written out)."""

    def grads(x, W1, b1, W2, b2, *t):
        xs = x[pick]
        h = np.tanh(xs @ W1.T + b1)
        z = h @ W2.T + b2
        if kind == "bce":
            p, n = np_sigmoid(z), z.size
            dz = (p - t[0]) / (p * (1 - p)) / n * p * (1 - p)  # dL/dp times dp/dz
            dt = [(np.log(1 - p) - np.log(p)) / n]
        elif kind == "bce_with_logits":
            dz = (np_sigmoid(z) - t[0]) / z.size
            dt = [-z / z.size]
        else:
            dz = (np_softmax(z, -1) - onehot(labels, z.shape[1])) / len(z)
            dt = []
        dz2, h2 = dz.reshape(-1, W2.shape[0]), h.reshape(-1, W2.shape[1])
        da = (dz @ W2) * (1 - h**2)
        da2, xs2 = da.reshape(-1, W1.shape[0]), xs.reshape(-1, W1.shape[1])
        dx = np.zeros_like(x)
        np.add.at(dx, pick, da @ W1)
        return [dx, da2.T @ xs2, da2.sum(axis=0), dz2.T @ h2, dz2.sum(axis=0), *dt]

    return grads


@pytest.mark.parametrize("kind", LOSS_KINDS)
@given(data=st.data())
def test_mlp_feeding_a_loss_matches_hand_backprop_and_differences(kind: str, data: Any):
    arrays, pick, labels = data.draw(mlp_case(kind))
    fn = mlp_loss(kind, pick, labels)
    assert ad.check_grads(fn, mlp_backprop(kind, pick, labels), arrays, atol=1e-10, rtol=1e-8)
    assert ad.gradcheck(fn, arrays)


@pytest.mark.parametrize("kind", LOSS_KINDS)
@given(data=st.data(), seed=SEEDS)
def test_mlp_feeding_a_loss_hessian_vector_product(kind: str, data: Any, seed: int):
    arrays, pick, labels = data.draw(mlp_case(kind))
    V = [_upstream(a.shape, seed + i) for i, a in enumerate(arrays)]
    assert ad.gradcheck(_directional_grad(mlp_loss(kind, pick, labels), V), arrays)


@given(data=st.data(), seed=SEEDS)
def test_scatter_add_inside_a_nonlinear_composition(data: Any, seed: int):
    [g], kw = data.draw(scatter_args(int_array_index_args(), False))
    G = _upstream(kw["shape"], seed)

    def fn(t: Tensor) -> Tensor:
        return ((scatter_fn(t.tanh(), kw["index"], kw["shape"], False) ** 2) * G).sum()

    def by_hand(a: np.ndarray) -> list[np.ndarray]:
        s = index_adjoint(np.tanh(a), kw["shape"], kw["index"])
        return [(2 * s * G)[kw["index"]] * (1 - np.tanh(a) ** 2)]

    assert ad.check_grads(fn, by_hand, [g], atol=1e-10)
    assert ad.gradcheck(fn, [g])
    assert ad.gradcheck(_directional_grad(fn, [_upstream(g.shape, seed + 1)]), [g])


# ---- which inputs need a gradient ----


@pytest.mark.parametrize("need", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_bce_ops_give_gradients_only_to_inputs_that_require_them(name: str, need: tuple):
    p = np.array([[0.2, 0.7], [0.5, 0.9]])
    t = np.array([[0.0, 1.0], [0.3, 1.0]])
    a, b = Tensor(p, requires_grad=need[0]), Tensor(t, requires_grad=need[1])
    getattr(nn, name)(a, b).backward()
    vjp = bce_vjp(1.0, p, t, 1e-12) if name == "binary_cross_entropy" else bce_logits_vjp(1.0, p, t)
    for tensor, needed, expected in zip((a, b), need, vjp, strict=True):
        if needed:
            np.testing.assert_allclose(tensor.grad, expected, rtol=1e-12)
        else:
            assert tensor.grad is None


def test_bce_ops_take_a_numpy_target():
    p = np.array([0.25, 0.6, 0.8])
    t = np.array([1.0, 0.0, 0.5])
    a = Tensor(p, requires_grad=True)
    nn.binary_cross_entropy(a, t).backward()
    np.testing.assert_allclose(a.grad, bce_vjp(1.0, p, t, 1e-12)[0], rtol=1e-12)
    z = Tensor(p, requires_grad=True)
    nn.binary_cross_entropy_with_logits(z, t).backward()
    np.testing.assert_allclose(z.grad, bce_logits_vjp(1.0, p, t)[0], rtol=1e-12)


@pytest.mark.parametrize(
    "need",
    [
        (True, True, True),
        (False, True, True),
        (True, False, False),
        (False, False, True),
        (True, True, None),
        (False, True, None),
    ],
)
def test_linear_gives_gradients_only_to_inputs_that_require_them(need: tuple):
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    G = rng.standard_normal((2, 3, 5))
    leaves = [Tensor(x, requires_grad=need[0]), Tensor(W, requires_grad=need[1])]
    if need[2] is not None:
        leaves.append(Tensor(b, requires_grad=need[2]))
    out = ad.linear(*leaves)
    np.testing.assert_allclose(out.data, x @ W.T + (b if need[2] is not None else 0), rtol=1e-12)
    out.backward(G)
    G2, x2 = G.reshape(-1, 5), x.reshape(-1, 4)
    expected = [G @ W, G2.T @ x2, G2.sum(axis=0)]
    for leaf, needed, e in zip(leaves, need, expected):
        if needed:
            np.testing.assert_allclose(leaf.grad, e, rtol=1e-12, atol=1e-14)
        else:
            assert leaf.grad is None


@pytest.mark.parametrize("activation, slope_at_zero", [("relu", 0.0), ("leaky_relu", 0.01)])
def test_linear_then_activation_kink_follows_the_activation_convention(activation, slope_at_zero):
    """Pre-activations exactly at 0: relu'(0) = 0 and leaky_relu'(0) = slope, as the ops."""
    x = Tensor(np.array([[1.0, -1.0], [0.5, 2.0]]), requires_grad=True)
    W = Tensor(np.array([[1.0, 1.0], [0.0, 0.0], [2.0, -1.0]]), requires_grad=True)
    b = Tensor(np.array([0.0, 0.0, -3.0]), requires_grad=True)  # z: [[0, 0, 0], [2.5, 0, -2]]
    layer = nn.Dense(2, 3, activation)
    layer.W, layer.b = W, b
    layer(x).sum().backward()
    slopes = np.where(np.array([[0.0, 0.0, 0.0], [2.5, 0.0, -2.0]]) > 0, 1.0, slope_at_zero)
    np.testing.assert_allclose(b.grad, slopes.sum(axis=0), rtol=1e-15)
    np.testing.assert_allclose(W.grad, slopes.T @ x.data, rtol=1e-15)


def test_linear_then_sigmoid_saturates_without_overflow():
    x = Tensor(np.array([[1.0]]), requires_grad=True)
    W = Tensor(np.array([[-1000.0], [1000.0]]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        out = ad.linear(x, W).sigmoid()
        out.sum().backward()
    np.testing.assert_array_equal(out.data, [[0.0, 1.0]])
    np.testing.assert_array_equal(W.grad, [[0.0], [0.0]])


def test_dense_names_an_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*'relu'"):
        nn.Dense(3, 4, "swish")


# ---- edge cases ----


def _bce_grads(p: Any, t: Any, eps: float = 1e-12, dtype: Any = np.float64):
    a = Tensor(np.asarray(p, dtype=dtype), requires_grad=True)
    b = Tensor(np.asarray(t, dtype=dtype), requires_grad=True)
    loss = nn.binary_cross_entropy(a, b, eps)
    loss.backward()
    return loss, a.grad, b.grad


def test_bce_at_exactly_zero_and_one_is_finite_with_zero_gradient():
    p, t = np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    loss, gp, gt = _bce_grads(p, t)
    pc = np.clip(p, 1e-12, 1 - 1e-12)
    assert loss.item() == pytest.approx(-np.mean(t * np.log(pc) + (1 - t) * np.log(1 - pc)))
    assert loss.item() == pytest.approx(-np.log(1e-12) / 2)  # two confident mistakes
    np.testing.assert_array_equal(gp, 0.0)  # strictly outside [eps, 1 - eps]
    np.testing.assert_allclose(gt, (np.log(1 - pc) - np.log(pc)) / 4)
    assert np.isfinite(gt).all()


def test_bce_gradient_passes_at_the_clip_bounds_and_is_zero_beyond():
    eps = 0.1
    lo, hi = eps, 1 - eps
    p = np.array([lo, hi, np.nextafter(lo, 0), np.nextafter(hi, 1), 0.5])
    t = np.array([1.0, 0.0, 1.0, 0.0, 0.3])
    _, gp, gt = _bce_grads(p, t, eps)
    n = p.size
    expected = [(lo - 1) / (lo * (1 - lo)) / n, hi / (hi * (1 - hi)) / n, 0.0, 0.0,
                (0.5 - 0.3) / 0.25 / n]  # fmt: skip
    np.testing.assert_allclose(gp, expected, rtol=1e-12)
    pc = np.clip(p, lo, hi)
    np.testing.assert_allclose(gt, (np.log(1 - pc) - np.log(pc)) / n, rtol=1e-12)


def test_bce_default_eps_bound_passes_gradient():
    _, gp, _ = _bce_grads([1e-12, 0.5], [0.0, 1.0])
    np.testing.assert_allclose(gp, [1e-12 / (1e-12 * (1 - 1e-12)) / 2, -0.5 / 0.25 / 2])


def test_bce_float32_end_to_end_where_one_minus_eps_rounds_to_one():
    assert np.float32(1 - 1e-12) == 1  # so the upper bound is the largest float32 below 1
    hi = np.nextafter(np.float32(1), np.float32(0))
    lo = np.float32(1e-12)
    p = np.array([0.0, lo, hi, 1.0, 0.5], dtype=np.float32)
    t = np.array([1.0, 1.0, 0.0, 0.0, 1.0], dtype=np.float32)
    loss, gp, gt = _bce_grads(p, t, dtype=np.float32)
    assert loss.dtype == gp.dtype == gt.dtype == np.float32
    assert np.isfinite(loss.item()) and np.isfinite(gp).all() and np.isfinite(gt).all()
    p64, t64, lo64, hi64 = p.astype(float), t.astype(float), float(lo), float(hi)
    pc = np.clip(p64, lo64, hi64)
    n = p.size
    per_element = -(t64 * np.log(pc) + (1 - t64) * np.log(1 - pc))
    assert per_element[3] == pytest.approx(24 * np.log(2))  # -log(1 - hi) = -log(2**-24)
    np.testing.assert_allclose(loss.item(), per_element.mean(), rtol=1e-5)
    inside = (p64 >= lo64) & (p64 <= hi64)
    np.testing.assert_array_equal(inside, [False, True, True, False, True])
    expected = np.where(inside, (pc - t64) / (pc * (1 - pc)), 0.0) / n
    assert expected[2] == pytest.approx(2.0**24 / n)  # the gradient passes at hi
    np.testing.assert_allclose(gp, expected, rtol=1e-5)
    np.testing.assert_allclose(gt, (np.log(1 - pc) - np.log(pc)) / n, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_is_finite_at_extreme_logits(dtype: Any):
    z = Tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0], dtype=dtype), requires_grad=True)
    t = Tensor(np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype), requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(z, t)
    assert loss.dtype == dtype
    assert loss.item() == pytest.approx(500.0)  # two mistakes of 1000, two exact hits
    (gz, gt) = ad.grad(loss, [z, t], create_graph=True)
    np.testing.assert_allclose(gz.data, [0.25, -0.25, 0.0, 0.0])  # (sigmoid(z) - t) / n
    np.testing.assert_allclose(gt.data, [-250.0, 250.0, -250.0, 250.0])  # -z / n
    assert gz.dtype == gt.dtype == dtype
    (hz,) = ad.grad(gz.sum(), [z])  # s (1 - s) / n: zero in saturation, never NaN
    np.testing.assert_array_equal(hz.data, 0.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_is_finite_at_extreme_logits(dtype: Any):
    z = Tensor(np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]], dtype=dtype),
               requires_grad=True)  # fmt: skip
    loss = nn.cross_entropy(z, np.array([1, 1]))
    assert loss.dtype == dtype
    assert loss.item() == pytest.approx(1000.0)  # row 0 misses by 2000, row 1 is right
    (gz,) = ad.grad(loss, [z], create_graph=True)
    assert gz.dtype == dtype
    np.testing.assert_allclose(gz.data, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)
    (hz,) = ad.grad((gz * np.arange(6.0).reshape(2, 3)).sum(), [z])
    assert np.isfinite(hz.data).all()


def test_cross_entropy_float32_end_to_end():
    rng = np.random.default_rng(1)
    z64, labels = rng.standard_normal((4, 3)), np.array([0, 2, 2, 1])
    z = Tensor(z64.astype(np.float32), requires_grad=True)
    loss = nn.cross_entropy(z, labels)
    loss.backward()
    assert loss.dtype == z.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), ce_ref(z64, labels), rtol=1e-5)
    np.testing.assert_allclose(z.grad, ce_vjp(1.0, z64, labels)[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: nn.binary_cross_entropy(a, b),
        lambda a, b: nn.binary_cross_entropy_with_logits(a, b),
    ],
    ids=["binary_cross_entropy", "binary_cross_entropy_with_logits"],
)
@pytest.mark.parametrize("shapes", [((2, 3), (3, 2)), ((4, 2), (4,)), ((3,), (1, 3))])
def test_bce_shape_mismatch_raises_naming_both_shapes(call: Any, shapes: tuple):
    a = Tensor(np.full(shapes[0], 0.5), requires_grad=True)
    with pytest.raises(ValueError) as info:
        call(a, np.full(shapes[1], 0.5))
    assert str(shapes[0]) in str(info.value) and str(shapes[1]) in str(info.value)


@pytest.mark.parametrize("shapes", [((2, 3), (4, 5)), ((3,), (2, 4)), ((2, 3), (3,))])
def test_linear_shape_mismatch_raises_naming_both_shapes(shapes: tuple):
    x, W = Tensor(np.ones(shapes[0])), Tensor(np.ones(shapes[1]), requires_grad=True)
    with pytest.raises(ValueError) as info:
        ad.linear(x, W)
    assert str(shapes[0]) in str(info.value) and str(shapes[1]) in str(info.value)


def test_linear_bias_shape_mismatch_raises_naming_both_shapes():
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 2\)"):
        ad.linear(Tensor(np.ones((5, 2))), Tensor(np.ones((3, 2))), Tensor(np.ones(4)))


@pytest.mark.parametrize("label_shape", [(2,), (4,), (1, 3), ()])
def test_cross_entropy_label_shape_mismatch_raises_naming_both_shapes(label_shape: tuple):
    z = Tensor(np.zeros((3, 4)), requires_grad=True)
    with pytest.raises(ValueError) as info:
        nn.cross_entropy(z, np.zeros(label_shape, dtype=np.int64))
    assert str(label_shape) in str(info.value) and "(3, 4)" in str(info.value)
