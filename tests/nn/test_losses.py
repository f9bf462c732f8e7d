"""Losses against numpy formulas, their gradients, stability at extreme logits, and the
target shape rules."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad
import nn
from autodiff import Tensor


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@given(st.integers(1, 20), st.integers(0, 2**31 - 1))
def test_bce_value_and_gradient(m, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.01, 0.99, size=(m, 1))
    t = rng.integers(0, 2, size=m).astype(float)
    probs = Tensor(p, requires_grad=True)
    loss = nn.binary_cross_entropy(probs, t)
    T = t[:, None]
    np.testing.assert_allclose(loss.item(), -np.mean(T * np.log(p) + (1 - T) * np.log(1 - p)))
    loss.backward()
    np.testing.assert_allclose(probs.grad, (-(T / p) + (1 - T) / (1 - p)) / m, rtol=1e-10)


def test_bce_soft_and_tensor_targets():
    p, t = np.array([[0.2], [0.7]]), np.array([[0.3], [0.9]])
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert np.isclose(nn.binary_cross_entropy(Tensor(p), t).item(), expected)
    assert np.isclose(nn.binary_cross_entropy(Tensor(p), Tensor(t)).item(), expected)


def test_bce_clipped_region_has_the_clipped_formulas_gradient():
    probs = Tensor([[0.0], [1.0], [0.5]], requires_grad=True)
    loss = nn.binary_cross_entropy(probs, [1.0, 0.0, 1.0], eps=1e-7)
    expected = -(np.log(1e-7) + np.log(1e-7) + np.log(0.5)) / 3
    assert np.isclose(loss.item(), expected, rtol=1e-6)
    loss.backward()
    # outside [eps, 1 - eps] the clipped loss is flat: gradient 0; inside the usual -1/(m p)
    np.testing.assert_allclose(probs.grad, [[0.0], [0.0], [-1 / (3 * 0.5)]])


@pytest.mark.parametrize(
    "probs, seen",
    [([[2.5], [-1.0]], "-1.0 to 2.5"), ([[0.5], [1.0000001]], "0.5 to 1.0000001")],
)
def test_bce_refuses_probabilities_outside_0_1_naming_the_range(probs, seen):
    with pytest.raises(
        ValueError, match=rf"\[0, 1\], got values from {re.escape(seen)}\. .*with_logits"
    ) as info:
        nn.binary_cross_entropy(Tensor(probs, requires_grad=True), [1.0, 0.0])
    assert "loss='bce_with_logits'" in str(info.value)
    with pytest.raises(ValueError, match="probabilities must lie in"):
        nn.binary_cross_entropy(np.array(probs), [1.0, 0.0])  # a plain array as well


def test_fit_with_bce_on_a_model_without_sigmoid_says_to_use_logits():
    X, y = nn.data.make_moons(32, seed=0)
    model = nn.MLP([2, 4, 1], seed=0)  # no sigmoid: the outputs are logits
    model.layers[-1].b.data[:] = 3.0  # outputs surely outside [0, 1]
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="bce_with_logits"):
        nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=1, progress=False)


def test_bce_accepts_the_bounds_and_lets_nan_through():
    assert np.isfinite(nn.binary_cross_entropy(Tensor([[0.0], [1.0]]), [0.0, 1.0]).item())
    with np.errstate(invalid="ignore"):
        assert np.isnan(nn.binary_cross_entropy(Tensor([[np.nan]]), [1.0]).item())


def test_bce_float32_saturated_is_finite():
    probs = Tensor(np.array([[1.0], [0.0]], dtype=np.float32), requires_grad=True)
    loss = nn.binary_cross_entropy(probs, [0.0, 1.0])
    loss.backward()
    assert np.isfinite(loss.item()) and loss.dtype == np.float32
    assert np.all(np.isfinite(probs.grad)) and probs.grad.dtype == np.float32


@given(st.integers(1, 20), st.integers(0, 2**31 - 1))
def test_bce_with_logits_matches_sigmoid_formula(m, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3, size=(m, 1))
    t = rng.uniform(0, 1, size=(m, 1))
    logits = Tensor(z, requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(logits, t)
    s = _sigmoid(z)
    np.testing.assert_allclose(loss.item(), -np.mean(t * np.log(s) + (1 - t) * np.log(1 - s)))
    loss.backward()
    np.testing.assert_allclose(logits.grad, (s - t) / m, rtol=1e-9, atol=1e-15)


def test_stable_losses_at_extreme_logits():
    z = Tensor([[1000.0], [-1000.0], [1000.0], [0.0]], requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(z, [0.0, 1.0, 1.0, 1.0])
    loss.backward()
    assert np.isclose(loss.item(), (1000 + 1000 + 0 + np.log(2)) / 4)
    np.testing.assert_allclose(z.grad[:, 0], np.array([1.0, -1.0, 0.0, -0.5]) / 4)
    logits = Tensor([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], requires_grad=True)
    ce = nn.cross_entropy(logits, [1, 0])
    ce.backward()
    assert np.isclose(ce.item(), (2000 + 2000 + np.log(2)) / 2)
    np.testing.assert_allclose(logits.grad, np.array([[1, -1, 0], [-1, 0.5, 0.5]]) / 2)


@given(st.integers(1, 12), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_cross_entropy_matches_softmax_formula(m, classes, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2, size=(m, classes))
    labels = rng.integers(0, classes, size=m)
    logits = Tensor(z, requires_grad=True)
    loss = nn.cross_entropy(logits, labels[:, None] if seed % 2 else labels)
    S = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    Y = np.eye(classes)[labels]
    np.testing.assert_allclose(loss.item(), -np.mean(np.log(S[np.arange(m), labels])))
    loss.backward()
    np.testing.assert_allclose(logits.grad, (S - Y) / m, rtol=1e-9, atol=1e-15)


def test_cross_entropy_label_errors():
    logits = Tensor(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 2\)"):
        nn.cross_entropy(logits, [0, 1, 1, 0])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        nn.cross_entropy(logits, [0, 1, 2])
    with pytest.raises(ValueError, match="integer"):
        nn.cross_entropy(logits, [0.5, 1, 0])


def test_mse_mean_over_all_elements():
    pred = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    target = np.array([[0.0, 2.0], [1.0, 1.0]])
    loss = nn.mse_loss(pred, target)
    assert loss.item() == (1 + 0 + 4 + 9) / 4
    loss.backward()
    np.testing.assert_allclose(pred.grad, 2 * (pred.data - target) / 4)


def test_column_target_rule_and_mismatch_errors():
    pred = Tensor(np.full((3, 1), 0.5))
    assert np.isclose(nn.mse_loss(pred, [0.0, 1.0, 0.5]).item(), (0.25 + 0.25) / 3)
    for loss in (nn.binary_cross_entropy, nn.binary_cross_entropy_with_logits, nn.mse_loss):
        with pytest.raises(ValueError, match=r"\(3, 3\).*\(3, 1\)"):
            loss(pred, np.zeros((3, 3)))
        with pytest.raises(ValueError, match=r"\(4,\).*\(3, 1\)"):
            loss(pred, np.zeros(4))
    with pytest.raises(ValueError, match=r"\(3, 1\).*\(3,\)"):
        nn.mse_loss(Tensor(np.zeros(3)), np.zeros((3, 1)))


def test_l2_penalty_counts_weights_not_biases():
    model = nn.MLP([2, 3, 1], seed=0)
    model.layers[0].b.data = np.ones(3)
    penalty = nn.l2_penalty(model, 0.7, 10)
    W1, W2 = model.layers[0].W.data, model.layers[1].W.data
    expected = 0.7 / 20 * (np.sum(W1**2) + np.sum(W2**2))
    assert np.isclose(penalty.item(), expected)
    (g1, g2, gb) = ad.grad(penalty, [model.layers[0].W, model.layers[1].W, model.layers[0].b])
    np.testing.assert_allclose(g1.data, 0.7 / 10 * W1)
    np.testing.assert_allclose(g2.data, 0.7 / 10 * W2)
    assert not gb.data.any()


def test_bce_does_not_read_the_range_of_a_sigmoid_output():
    """A sigmoid's output lies in [0, 1] by construction: no range read, so a compiled
    step carries no guard for it; anything else is still checked."""
    import autodiff as ad

    z = Tensor([[3.0], [-2.0]], requires_grad=True)
    assert np.isfinite(nn.binary_cross_entropy(z.sigmoid(), [1.0, 0.0]).item())
    model = nn.MLP([2, 3, 1], output="sigmoid", seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(4, 2)), (rng.random((4, 1)) < 0.5).astype(float)

    @ad.compile
    def step():
        opt.zero_grad()
        loss = nn.binary_cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        return loss

    step()
    assert "_guard" not in step.source and "minimum.reduce" not in step.source
    with pytest.raises(ValueError, match="probabilities must lie in"):
        nn.binary_cross_entropy(z * 1.0, [1.0, 0.0])  # z is not a sigmoid's output
