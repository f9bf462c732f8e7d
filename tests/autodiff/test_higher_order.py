"""Second (and third) derivatives through `ad.grad(..., create_graph=True)`: against
hand-derived formulas and against central differences of first derivatives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad
from autodiff import Tensor
from autodiff import strategies as ads


def sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# f, f' and f'' written out by hand; the domain keeps log and sqrt real.
SECOND = {
    "tanh": (ad.tanh, lambda x: 1 - np.tanh(x) ** 2,
             lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), (-2.0, 2.0)),
    "sigmoid": (ad.sigmoid, lambda x: sig(x) * (1 - sig(x)),
                lambda x: sig(x) * (1 - sig(x)) * (1 - 2 * sig(x)), (-4.0, 4.0)),
    "exp": (ad.exp, np.exp, np.exp, (-2.0, 2.0)),
    "log": (ad.log, lambda x: 1 / x, lambda x: -1 / x**2, (0.2, 3.0)),
    "cube": (lambda x: x**3, lambda x: 3 * x**2, lambda x: 6 * x, (-2.0, 2.0)),
    "sqrt": (ad.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x**-1.5, (0.2, 3.0)),
    "softplus": (lambda x: (1 + x.exp()).log(), sig, lambda x: sig(x) * (1 - sig(x)), (-3.0, 3.0)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SECOND))
@given(data=st.data())
def test_second_derivative_matches_hand_formula(name: str, data: Any):
    f, d1, d2, (lo, hi) = SECOND[name]
    values = data.draw(ads.arrays(ads.shapes(max_side=3), elements=ads.floats(lo, hi)))
    x = Tensor(values, requires_grad=True)
    (g,) = ad.grad(f(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, d1(values), rtol=1e-10, atol=1e-12)
    (h,) = ad.grad(g.sum(), x)  # f elementwise: the Hessian is diagonal
    np.testing.assert_allclose(h.data, d2(values), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(SECOND))
@given(data=st.data())
def test_second_derivative_matches_differences_of_first(name: str, data: Any):
    f, _, _, (lo, hi) = SECOND[name]
    values = data.draw(ads.arrays(ads.shapes(max_side=3), elements=ads.floats(lo, hi)))

    def first(t: Tensor) -> np.ndarray:
        leaf = Tensor(t.data.copy(), requires_grad=True)
        with ad.enable_grad():
            return ad.grad(f(leaf).sum(), leaf)[0].data

    x = Tensor(values, requires_grad=True)
    (g,) = ad.grad(f(x).sum(), x, create_graph=True)
    (h,) = ad.grad(g.sum(), x)
    # f is elementwise, so d/dx_i of sum(f'(x)) = f''(x_i): nudge each element in turn.
    eps = 1e-6
    numeric = np.zeros_like(values)
    for i in np.ndindex(values.shape):
        up, down = values.copy(), values.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (first(Tensor(up))[i] - first(Tensor(down))[i]) / (2 * eps)
    np.testing.assert_allclose(h.data, numeric, rtol=1e-5, atol=1e-6)


def test_third_derivatives():
    x = Tensor(0.7, requires_grad=True)
    (d1,) = ad.grad(x**4, x, create_graph=True)
    (d2,) = ad.grad(d1, x, create_graph=True)
    (d3,) = ad.grad(d2, x)
    assert d1.item() == pytest.approx(4 * 0.7**3)
    assert d2.item() == pytest.approx(12 * 0.7**2)
    assert d3.item() == pytest.approx(24 * 0.7)
    t = Tensor(0.3, requires_grad=True)
    (a,) = ad.grad(t.tanh(), t, create_graph=True)
    (b,) = ad.grad(a, t, create_graph=True)
    (c,) = ad.grad(b, t)
    th = np.tanh(0.3)
    assert c.item() == pytest.approx(-2 * (1 - th**2) ** 2 + 4 * th**2 * (1 - th**2))


def test_mixed_partials():
    x = Tensor(1.5, requires_grad=True)
    y = Tensor(-0.5, requires_grad=True)
    f = x * x * y + (x * y).exp()
    gx, gy = ad.grad(f, [x, y], create_graph=True)
    (dxy,) = ad.grad(gx, y, retain_graph=True)  # gx and gy share the first graph
    (dyx,) = ad.grad(gy, x)
    expected = 2 * 1.5 + np.exp(-0.75) * (1 + 1.5 * -0.5)  # d2f/dxdy
    assert dxy.item() == pytest.approx(expected)
    assert dyx.item() == pytest.approx(expected)


def test_hessian_of_quadratic_form_is_a_plus_a_transpose():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 4))
    v = rng.standard_normal(4)
    x = Tensor(rng.standard_normal(4), requires_grad=True)
    (g,) = ad.grad(x @ (Tensor(A) @ x), x, create_graph=True)
    np.testing.assert_allclose(g.data, (A + A.T) @ x.data)
    (hv,) = ad.grad((g * v).sum(), x)
    np.testing.assert_allclose(hv.data, (A + A.T) @ v)


def test_hessian_of_logsumexp_is_diag_p_minus_p_p_transpose():
    values = np.array([0.3, -1.2, 0.8])
    p = np.exp(values) / np.exp(values).sum()
    hessian = np.diag(p) - np.outer(p, p)
    for f in (lambda t: t.logsumexp(), lambda t: -t.log_softmax()[0] + t[0]):
        x = Tensor(values, requires_grad=True)
        (g,) = ad.grad(f(x), x, create_graph=True)
        rows = [ad.grad(g[i], x, retain_graph=True)[0].data for i in range(3)]
        np.testing.assert_allclose(np.stack(rows), hessian, atol=1e-12)


# ---- Hessian-vector products of an MLP loss ----


def mlp_loss(params: dict[str, Tensor], X: np.ndarray, Y: np.ndarray) -> Tensor:
    """A tanh hidden layer and a sigmoid output, course layout (columns are samples)."""
    A1 = (params["W1"] @ X + params["b1"]).tanh()
    AL = (params["W2"] @ A1 + params["b2"]).sigmoid()
    m = X.shape[1]
    return -((Y * AL.log() + (1 - Y) * (1 - AL).log()).sum()) / m


def gradients(params: dict[str, np.ndarray], X, Y, *, create_graph=False):
    leaves = {k: Tensor(v, requires_grad=True) for k, v in params.items()}
    grads = ad.grad(mlp_loss(leaves, X, Y), list(leaves.values()), create_graph=create_graph)
    return leaves, dict(zip(leaves, grads, strict=True))


def hessian_vector_product(params, vector, X, Y) -> dict[str, np.ndarray]:
    leaves, grads = gradients(params, X, Y, create_graph=True)
    dot = sum(((grads[k] * vector[k]).sum() for k in params), Tensor(0.0))
    hv = ad.grad(dot, list(leaves.values()))
    return {k: h.data for k, h in zip(leaves, hv, strict=True)}


@given(
    params=ads.mlp_parameters([3, 4, 1]),
    vector=ads.mlp_parameters([3, 4, 1]),
    X=ads.arrays((3, 5)),
    Y=ads.arrays((1, 5), elements=st.sampled_from([0.0, 1.0])),
)
def test_mlp_hessian_vector_product_matches_central_differences_of_grad(params, vector, X, Y):
    hv = hessian_vector_product(params, vector, X, Y)
    eps = 1e-5
    up = {k: params[k] + eps * vector[k] for k in params}
    down = {k: params[k] - eps * vector[k] for k in params}
    g_up, g_down = gradients(up, X, Y)[1], gradients(down, X, Y)[1]
    for k in params:
        numeric = (g_up[k].data - g_down[k].data) / (2 * eps)
        np.testing.assert_allclose(hv[k], numeric, rtol=1e-4, atol=1e-7, err_msg=k)


def test_mlp_hessian_is_symmetric():
    rng = np.random.default_rng(3)
    params = {"W1": rng.standard_normal((4, 3)) * 0.5, "b1": rng.standard_normal((4, 1)) * 0.1,
              "W2": rng.standard_normal((1, 4)) * 0.5, "b2": np.zeros((1, 1))}  # fmt: skip
    X, Y = rng.standard_normal((3, 6)), (rng.random((1, 6)) > 0.5).astype(float)
    u = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    w = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    hu, hw = hessian_vector_product(params, u, X, Y), hessian_vector_product(params, w, X, Y)
    # w . H u == u . H w
    assert sum((w[k] * hu[k]).sum() for k in params) == pytest.approx(
        sum((u[k] * hw[k]).sum() for k in params), rel=1e-10
    )


def _hvp_of(f: Callable[[Tensor], Tensor], x: np.ndarray, v: np.ndarray) -> np.ndarray:
    t = Tensor(x, requires_grad=True)
    (g,) = ad.grad(f(t), t, create_graph=True)
    return ad.grad((g * v).sum(), t)[0].data


def test_hvp_through_linear_relu_network_matches_hand_formula():
    rng = np.random.default_rng(2)
    W = rng.standard_normal((3, 4))
    x = rng.standard_normal(4)
    v = rng.standard_normal(4)
    # f(x) = 0.5 * ||W x||^2 has Hessian W^T W; through linear() with no bias.
    hv = _hvp_of(lambda t: 0.5 * (ad.linear(t, Tensor(W)) ** 2).sum(), x, v)
    np.testing.assert_allclose(hv, W.T @ W @ v)
