"""Optimizers step by step against their update formulas (PyTorch's rules)."""

import numpy as np
import pytest

import autodiff as ad
import nn
from autodiff import Tensor


def _run(opt_factory, grads, p0):
    """Apply `grads` one step each; return the parameter after every step."""
    p = Tensor(p0.copy(), requires_grad=True)
    opt = opt_factory([p])
    history = []
    for g in grads:
        opt.zero_grad()
        p.grad = g.astype(p0.dtype)
        opt.step()
        history.append(p.data.copy())
    return history


@pytest.fixture
def grads():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(3, 2)) for _ in range(5)]


@pytest.fixture
def p0():
    return np.random.default_rng(1).normal(size=(3, 2))


def test_sgd_plain_momentum_weight_decay(grads, p0):
    lr, mu, wd = 0.1, 0.9, 0.01
    got = _run(lambda ps: nn.optim.SGD(ps, lr, momentum=mu, weight_decay=wd), grads, p0)
    p, v = p0.copy(), np.zeros_like(p0)
    for g, after in zip(grads, got, strict=True):
        g = g + wd * p
        v = mu * v + g
        p = p - lr * v
        np.testing.assert_allclose(after, p, rtol=1e-12)
    plain = _run(lambda ps: nn.optim.SGD(ps, lr), grads, p0)
    np.testing.assert_allclose(plain[-1], p0 - lr * sum(grads), rtol=1e-12)


def test_adam_with_bias_correction(grads, p0):
    lr, (b1, b2), eps = 0.01, (0.8, 0.95), 1e-6
    got = _run(lambda ps: nn.optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps), grads, p0)
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, (g, after) in enumerate(zip(grads, got, strict=True), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(after, p, rtol=1e-12)


def test_adam_first_step_moves_by_lr():
    # with bias correction the first step is lr * g / (|g| + eps): lr times the sign
    got = _run(lambda ps: nn.optim.Adam(ps, lr=0.5), [np.array([3.0, -2.0])], np.zeros(2))
    np.testing.assert_allclose(got[0], [-0.5, 0.5], rtol=1e-7)


def test_rmsprop(grads, p0):
    lr, alpha, eps = 0.01, 0.9, 1e-8
    got = _run(lambda ps: nn.optim.RMSProp(ps, lr=lr, alpha=alpha, eps=eps), grads, p0)
    p, v = p0.copy(), np.zeros_like(p0)
    for g, after in zip(grads, got, strict=True):
        v = alpha * v + (1 - alpha) * g**2
        p = p - lr * g / (np.sqrt(v) + eps)
        np.testing.assert_allclose(after, p, rtol=1e-12)


def test_rmsprop_defaults():
    opt = nn.optim.RMSProp([Tensor(1.0, requires_grad=True)])
    assert (opt.lr, opt.alpha, opt.eps) == (1e-2, 0.99, 1e-8)


@pytest.mark.parametrize(
    "factory",
    [
        lambda ps: nn.optim.SGD(ps, 0.1, momentum=0.9, weight_decay=0.1),
        lambda ps: nn.optim.Adam(ps, 0.1),
        lambda ps: nn.optim.RMSProp(ps, 0.1),
    ],
)
def test_updates_in_place_and_keep_float32(factory):
    p = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    array = p.data
    opt = factory([p])
    for _ in range(3):
        (p * p).sum().backward()
        opt.step()
        opt.zero_grad()
    assert p.dtype == np.float32 and np.shares_memory(p.data, array)  # written in place
    assert not np.allclose(array, 1)


def test_parameters_without_grad_are_skipped():
    a, b = Tensor([1.0], requires_grad=True), Tensor([1.0], requires_grad=True)
    opt = nn.optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert a.data[0] < 1 and b.data[0] == 1 and opt.t == [1, 0]


def test_step_under_a_live_graph_updates_and_that_graph_then_raises():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    opt = nn.optim.SGD([w], lr=0.1)
    opt.step()  # the update succeeds, as in PyTorch
    np.testing.assert_allclose(w.data, [0.8, 1.6])
    with pytest.raises(ad.InplaceModificationError, match="'w'"):
        loss.backward()  # the retained graph saw the old values


def test_optimizer_argument_errors():
    with pytest.raises(ValueError, match="empty"):
        nn.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="requires_grad"):
        nn.optim.SGD([Tensor(1.0)], lr=0.1)
    model = nn.MLP([2, 3, 1])
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    model(np.ones((1, 2))).sum().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
