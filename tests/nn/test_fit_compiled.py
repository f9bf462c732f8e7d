"""nn.fit(compile=True), the default, gives the History and model of the eager loop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nn


def fit_twice(loss, make_opt, *, output=None, l2=0.0, dropout=0.0, classes=1, epochs=3,
              batch_size=24, dtype=np.float64):  # fmt: skip
    X, y = nn.data.make_spirals(100, classes=max(classes, 2), noise=0.2, seed=1)
    if classes == 1 and loss != "cross_entropy":
        y = (y > 0).astype(float)
    X = X.astype(dtype)
    results = []
    for compile in (True, False):
        model = nn.MLP([2, 12, 12, classes], activation="tanh", output=output, dropout=dropout,
                       seed=0)  # fmt: skip
        if dtype != np.float64:
            for p in model.parameters():
                p.data = p.data.astype(dtype)
        opt = make_opt(model.parameters())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # compiled fit must not fall back to eager
            h = nn.fit(model, X, y, loss=loss, optimizer=opt, epochs=epochs,
                       batch_size=batch_size, l2=l2, progress=False, seed=0,
                       compile=compile)  # fmt: skip
        results.append((h, model))
    return results


def assert_same_fit(results, rtol=1e-12):
    (h1, m1), (h2, m2) = results
    np.testing.assert_allclose(h1.loss, h2.loss, rtol=rtol)
    assert h1.accuracy == h2.accuracy
    for (name, p), (_, q) in zip(m1.named_parameters(), m2.named_parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=rtol, atol=rtol, err_msg=name)


@pytest.mark.parametrize(
    "loss,output",
    [
        ("bce", "sigmoid"),
        ("bce_with_logits", None),
        ("mse", None),
        (lambda out, y: ((out - y.reshape(out.shape)) ** 2).mean() * 2.0, None),
    ],  # fmt: skip
)
def test_compiled_fit_equals_eager_for_every_loss(loss, output):
    assert_same_fit(fit_twice(loss, lambda ps: nn.optim.Adam(ps, lr=0.01), output=output))


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: nn.optim.SGD(ps, lr=0.1),
        lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
        lambda ps: nn.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-7),
        lambda ps: nn.optim.RMSProp(ps, lr=0.01, alpha=0.9),
    ],
)
def test_compiled_fit_equals_eager_for_every_optimizer(make_opt):
    assert_same_fit(fit_twice("bce_with_logits", make_opt))


def test_compiled_fit_with_l2_dropout_and_float32():
    opt = lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.5)  # noqa: E731
    assert_same_fit(fit_twice("bce_with_logits", opt, l2=0.05, dropout=0.2))
    assert_same_fit(fit_twice("mse", opt, dtype=np.float32), rtol=1e-5)


def test_compiled_fit_with_cross_entropy_equals_eager():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the step may run eagerly; the History must agree
        results = []
        for compile in (True, False):
            X, y = nn.data.make_spirals(90, classes=3, noise=0.2, seed=1)
            model = nn.MLP([2, 8, 3], activation="relu", seed=0)
            opt = nn.optim.Adam(model.parameters(), lr=0.01)
            h = nn.fit(model, X, y, loss="cross_entropy", optimizer=opt, epochs=2,
                       batch_size=32, progress=False, seed=0, compile=compile)  # fmt: skip
            results.append((h, model))
    assert_same_fit(results)


def test_compiled_fit_stops_where_eager_stops_on_divergence():
    X, y = nn.data.make_moons(64, noise=0.1, seed=0)
    states = []
    for compile in (True, False):
        model = nn.MLP([2, 8, 1], activation="relu", seed=0)
        opt = nn.optim.SGD(model.parameters(), lr=1e6)
        with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="epoch") as error:
            nn.fit(model, X * 1e3, y * 1e3 / 1e3, loss="mse", optimizer=opt, epochs=50,
                   batch_size=16, progress=False, seed=0, compile=compile)  # fmt: skip
        states.append((str(error.value), [p.data.copy() for p in model.parameters()]))
    assert states[0][0] == states[1][0]
    for a, b in zip(states[0][1], states[1][1]):
        np.testing.assert_array_equal(a, b)
