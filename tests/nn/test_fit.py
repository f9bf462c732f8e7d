"""fit: training reaches high accuracy on the toy sets; History; errors and divergence."""

import os
import struct
import subprocess
import sys
import types

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


def _fit_script(progress):
    return (
        "import nn\n"
        "X, y = nn.data.make_moons(32, seed=0)\n"
        "model = nn.MLP([2, 4, 1], output='sigmoid', seed=0)\n"
        "opt = nn.optim.SGD(model.parameters(), lr=0.1)\n"
        f"nn.fit(model, X, y, loss='bce', optimizer=opt, epochs=3, progress={progress})\n"
    )


def _run(script, stderr):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root}
    return subprocess.run(
        [sys.executable, "-c", script], stderr=stderr, stdout=subprocess.PIPE, env=env,
        cwd=root, timeout=60, check=True,
    )  # fmt: skip


def test_progress_bar_silent_in_a_pipe_and_when_off(capsys):
    X, y = nn.data.make_moons(32, seed=0)
    model = nn.MLP([2, 4, 1], output="sigmoid", seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=2, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    piped = _run(_fit_script(True), subprocess.PIPE)  # a CI log: stderr is a pipe
    assert piped.stdout == b"" and piped.stderr == b""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_on_a_real_terminal(progress):
    import fcntl
    import termios

    leader, follower = os.openpty()
    # A new pseudo-terminal is 0 columns wide, and tqdm fits its bar to the width.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        _run(_fit_script(progress), follower)
        os.close(follower)
        follower = None
        text = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # Linux: EIO once the writer has closed
                break
            if not chunk:
                break
            text += chunk
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)
    text = text.decode()
    if progress:
        assert "fit: 100%" in text and "3/3" in text and "loss=" in text and "acc=" in text
    else:
        assert text == ""


def test_progress_bar_shows_in_jupyter_whose_streams_are_no_tty(monkeypatch):
    assert nn.train._bar_disabled(False) is True
    assert nn.train._bar_disabled(True) is None  # tqdm decides: a TTY gets a bar
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert nn.train._bar_disabled(True) is False
    assert nn.train._bar_disabled(False) is True


@pytest.mark.parametrize(
    "value, text", [(0.6931472, "0.6931"), (3.2e-05, "3.2e-05"), (1e-9, "1e-09"), (12.34, "12.34")]
)
def test_small_losses_stay_readable(value, text):
    assert nn.train.format_loss(value) == text


def test_optimizer_none_or_a_class_says_what_to_pass():
    X, y = nn.data.make_moons(16, seed=0)
    model = nn.MLP([2, 4, 1], output="sigmoid", seed=0)
    kwargs = dict(loss="bce", epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"step\(\) and zero_grad\(\).*got None"):
        nn.fit(model, X, y, optimizer=None, **kwargs)
    with pytest.raises(TypeError, match=r"not the class Adam itself: pass Adam\(model\."):
        nn.fit(model, X, y, optimizer=nn.optim.Adam, **kwargs)
    other = nn.optim.SGD(nn.MLP([2, 4, 1], seed=1).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="none of the model's parameters"):
        nn.fit(model, X, y, optimizer=other, **kwargs)


def test_divergence_error_carries_the_history_so_far():
    X, y = nn.data.make_moons(64, noise=0.1, seed=0)
    model = nn.MLP([2, 16, 1], activation="relu", seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.05)
    good = 3
    calls = 0

    def loss(pred, target):  # finite for three epochs, then NaN (eager: a compiled step
        nonlocal calls  # runs this Python counter only while recording)
        calls += 1
        value = nn.mse_loss(pred, target)
        return value if calls <= good else value * np.nan

    with np.errstate(all="ignore"), pytest.raises(FloatingPointError) as info:
        nn.fit(
            model,
            X,
            y.astype(float),
            loss=loss,
            optimizer=opt,
            epochs=10,
            progress=False,
            compile=False,
        )
    history = info.value.history
    assert isinstance(history, nn.History) and len(history.loss) == good
    assert all(np.isfinite(history.loss)) and history.accuracy == [None] * good
    assert "epoch 4 of 10" in str(info.value) and ".history" in str(info.value)
