"""fit: training reaches high accuracy on the toy sets; History; errors and divergence."""

import numpy as np
import pytest

import autodiff as ad
import nn


def _accuracy(model, X, y):
    model.eval()
    with ad.no_grad():
        out = model(X).data
    return float(np.mean((out[:, 0] > 0.5) == y))


def test_moons_reach_97_percent():
    X, y = nn.data.make_moons(512, noise=0.1, seed=0)
    model = nn.MLP([2, 16, 16, 1], activation="tanh", output="sigmoid", seed=0)
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    history = nn.fit(
        model, X, y, loss="bce", optimizer=opt, epochs=60, batch_size=64, progress=False, seed=0
    )
    assert _accuracy(model, X, y) >= 0.97
    assert history.accuracy[-1] >= 0.97 and history.loss[-1] < history.loss[0] / 5


def test_circles_reach_95_percent():
    X, y = nn.data.make_circles(512, noise=0.1, seed=0)
    model = nn.MLP([2, 16, 16, 1], activation="relu", output="sigmoid", seed=0)
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=60, batch_size=64, progress=False, seed=0)
    assert _accuracy(model, X, y) >= 0.95


def test_spirals_with_cross_entropy():
    X, y = nn.data.make_spirals(300, classes=3, noise=0.02, seed=0)
    model = nn.MLP([2, 32, 32, 3], activation="relu", seed=0)
    opt = nn.optim.Adam(model.parameters(), lr=2e-2)
    h = nn.fit(model, X, y, loss="cross_entropy", optimizer=opt, epochs=80, batch_size=50,
               progress=False, seed=0)  # fmt: skip
    assert h.accuracy[-1] >= 0.85


def test_history_records_one_entry_per_epoch():
    X, y = nn.data.make_xor(64, seed=0)
    model = nn.MLP([2, 8, 1], output="sigmoid", seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    h = nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=4, batch_size=16, progress=False)
    assert len(h.loss) == len(h.accuracy) == 4
    assert all(0 <= a <= 1 for a in h.accuracy)
    h = nn.fit(model, X, y.astype(float), loss="mse", optimizer=opt, epochs=3, progress=False)
    assert h.accuracy == [None, None, None] and len(h.loss) == 3


def test_full_batch_loss_is_the_cost_before_each_step():
    X, y = nn.data.make_moons(40, noise=0.2, seed=1)
    model = nn.MLP([2, 4, 1], activation="tanh", output="sigmoid", seed=2)
    start = [p.data.copy() for p in model.parameters()]
    opt = nn.optim.SGD(model.parameters(), lr=0.5)
    h = nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=2, progress=False)
    W1, b1, W2, b2 = start
    A1 = np.tanh(X @ W1.T + b1)
    p = 1 / (1 + np.exp(-(A1 @ W2.T + b2)))[:, 0]
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert np.isclose(h.loss[0], expected, rtol=1e-12)
    assert h.loss[1] < h.loss[0]


def test_callable_loss_and_l2_and_logits():
    X, y = nn.data.make_moons(64, noise=0.1, seed=0)
    model = nn.MLP([2, 8, 1], activation="tanh", seed=0)
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)

    def loss(out, yb):
        return nn.binary_cross_entropy_with_logits(out, yb)

    h1 = nn.fit(model, X, y, loss=loss, optimizer=opt, epochs=2, l2=0.1, progress=False)
    assert h1.accuracy == [None, None]
    h2 = nn.fit(model, X, y, loss="bce_with_logits", optimizer=opt, epochs=2, progress=False)
    assert all(a is not None for a in h2.accuracy)


def test_fit_restores_mode():
    X, y = nn.data.make_moons(32, seed=0)
    model = nn.MLP([2, 4, 1], output="sigmoid", dropout=0.2, seed=0).eval()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=1, progress=False)
    assert not model.training


def test_divergence_raises_naming_epoch_and_learning_rate():
    X, y = nn.data.make_moons(64, noise=0.1, seed=0)
    X = X * 1e3
    model = nn.MLP([2, 16, 1], activation="relu", seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=10.0)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError) as info:
        nn.fit(model, X, y.astype(float), loss="mse", optimizer=opt, epochs=50, progress=False)
    message = str(info.value)
    assert "epoch" in message and "lower learning rate" in message and "lr=10.0" in message


def test_input_errors_name_the_layer():
    model = nn.MLP([2, 16, 1], output="sigmoid", seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    X, y = nn.data.make_moons(20, seed=0)
    kwargs = dict(loss="bce", optimizer=opt, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"layers\.0 \(Dense 2->16\).*\(batch, 2\).*\(20, 3\)"):
        nn.fit(model, np.ones((20, 3)), y, **kwargs)
    with pytest.raises(ValueError, match=r"\(19,\).*20 rows.*layers\.1 \(Dense 16->1\)"):
        nn.fit(model, X, y[:19], **kwargs)
    bad = X.copy()
    bad[5, 0] = np.inf
    with pytest.raises(ValueError, match=r"non-finite.*row 5.*layers\.0 \(Dense 2->16\)"):
        nn.fit(model, bad, y, **kwargs)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nn.fit(model, X, y + 1, **kwargs)
    with pytest.raises(ValueError, match="unknown loss"):
        nn.fit(model, X, y, loss="hinge", optimizer=opt, epochs=1)


def test_progress_bar_silent_off_terminal(capsys):
    X, y = nn.data.make_moons(32, seed=0)
    model = nn.MLP([2, 4, 1], output="sigmoid", seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=2, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_on_terminal(monkeypatch, capsys):
    monkeypatch.setattr(nn.train, "_on_terminal", lambda: True)
    X, y = nn.data.make_moons(32, seed=0)
    model = nn.MLP([2, 4, 1], output="sigmoid", seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=2)
    assert "2/2" in capsys.readouterr().err
