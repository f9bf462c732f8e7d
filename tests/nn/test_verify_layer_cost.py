"""check_layer and check_cost: one layer's backward or one cost checked alone, correct
code in two styles (which passes, also float32 and rows) and named bugs; and the command
line's new options and sub-commands, whose output names no Python object."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nn.reference as ref
from nn.verify import check_cost, check_layer
from nn.verify.cli import main

ROOT = Path(__file__).resolve().parents[2]


# ---- check_layer ----


def my_linear_activation_backward(dA, cache, activation):
    """The course's graded function, written out (a second style beside nn.reference)."""
    (A_prev, W, b), Z = cache
    m = A_prev.shape[1]
    if activation == "relu":
        dZ = np.array(dA, copy=True)
        dZ[Z <= 0] = 0
    else:
        s = 1 / (1 + np.exp(-Z))
        dZ = dA * s * (1 - s)
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    return np.dot(W.T, dZ), dW, db


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("fn", [ref.linear_activation_backward, my_linear_activation_backward])
def test_correct_layer_backward_passes(fn, activation):
    report = check_layer(fn, activation=activation, max_examples=20)
    assert report.ok, str(report)
    assert report.matched == ["dA_prev", "dW", "db"]


def test_rows_and_float32_layers_pass():
    def rows_backward(dA, cache):
        (A_prev, W, b), Z = cache  # A_prev (m, n_prev), W (n_prev, n), b (1, n)
        m = A_prev.shape[0]
        dZ = dA * (1 - np.tanh(Z) ** 2)
        return dZ @ W.T, A_prev.T @ dZ / m, dZ.sum(axis=0, keepdims=True) / m

    for dtype in (np.float64, np.float32):
        report = check_layer(rows_backward, activation="tanh", layout="rows", dtype=dtype,
                             max_examples=20)  # fmt: skip
        assert report.ok, str(report)


def test_dA_prev_is_compared():
    def backward(dA, cache, activation):
        dA_prev, dW, db = ref.linear_activation_backward(dA, cache, activation)
        return dA_prev / dA.shape[1], dW, db  # the 1/m put on dA_prev as well

    report = check_layer(backward, max_examples=20)
    assert list(report.mismatches) == ["dA_prev"]
    assert report.mismatches["dA_prev"].cause == "factor 1/m"
    assert "dW and db match" in str(report)


@pytest.mark.parametrize(
    "kind, activation, fn, names, cause",
    [
        ("activation", "tanh", lambda dA, Z: dA * (1 - Z**2), ["dZ"], "tanh derivative taken at Z"),
        (
            "activation",
            "sigmoid",
            lambda dA, Z: dA * (1 - np.tanh(Z) ** 2),
            ["dZ"],
            "tanh_backward used for a sigmoid layer",
        ),
        (
            "activation",
            "sigmoid",
            lambda dA, Z: dA * (1 - (1 / (1 + np.exp(-Z))) ** 2),  # 1 - A**2, A the sigmoid
            ["dZ"],
            "tanh derivative in a sigmoid layer",
        ),
        ("activation", "relu", lambda dA, Z: (dA > 0) * 1.0, ["dZ"], "derivative applied to dA"),
        (
            "linear",
            "relu",
            lambda dZ, c: (
                c[1].T @ dZ,
                c[0] @ dZ.T / dZ.shape[1],
                dZ.sum(1, keepdims=True) / dZ.shape[1],
            ),
            ["dW"],
            "transposed",
        ),
        (
            "linear",
            "relu",
            lambda dZ, c: (c[1].T @ dZ, dZ @ c[0].T / dZ.shape[1], dZ.sum(1) / dZ.shape[1]),
            ["db"],
            "summed without keepdims",
        ),
    ],  # fmt: skip
)
def test_layer_bugs_are_named(kind, activation, fn, names, cause):
    report = check_layer(fn, kind=kind, activation=activation, max_examples=20)
    assert sorted(report.mismatches) == sorted(names)
    assert {m.cause for m in report.mismatches.values()} == {cause}


def test_softmax_layer_elementwise_derivative_is_named():
    def backward(dA, Z):
        S = np.exp(Z) / np.exp(Z).sum(axis=0)
        return dA * S * (1 - S)

    report = check_layer(backward, kind="activation", activation="softmax", max_examples=20)
    assert report.mismatches["dZ"].cause == "softmax derivative taken elementwise"


def test_layer_returning_two_arrays_is_a_mismatch_saying_so():
    report = check_layer(lambda dA, c: (dA, dA), max_examples=5)
    assert not report.ok
    assert report.mismatches["dW"].cause.startswith("returned tuple of 2")


def test_layer_options_are_checked():
    with pytest.raises(ValueError, match="kind"):
        check_layer(ref.relu_backward, kind="conv")
    with pytest.raises(ValueError, match="layout"):
        check_layer(ref.relu_backward, kind="activation", layout="cols")


# ---- check_cost ----


def my_cost(AL, Y):
    m = Y.shape[1]
    logprobs = np.multiply(np.log(AL), Y) + np.multiply(1 - Y, np.log(1 - AL))
    return np.squeeze(-np.sum(logprobs) / m)


@pytest.mark.parametrize("fn", [my_cost, lambda AL, Y: ref.compute_cost(AL, Y)])
def test_correct_costs_pass(fn):
    assert check_cost(fn, max_examples=20).ok
    assert check_cost(fn, dtype=np.float32, max_examples=20).ok


def test_regularised_and_rows_costs_pass():
    def l2_cost(AL, Y, parameters, lambd):
        m = Y.shape[1]
        squares = sum(np.sum(np.square(parameters[k])) for k in parameters if k[0] == "W")
        return my_cost(AL, Y) + lambd / (2 * m) * squares

    assert check_cost(l2_cost, lambd=0.7, max_examples=20).ok
    rows = lambda AL, Y: -np.mean(np.sum(Y * np.log(AL), axis=1))  # noqa: E731
    assert check_cost(rows, loss="cross_entropy", layout="rows", max_examples=20).ok


@pytest.mark.parametrize(
    "fn, cause",
    [
        (lambda AL, Y: -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)), "missing 1/m"),
        (lambda AL, Y: np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)), "sign flipped"),
        (
            lambda AL, Y: -np.mean(Y * np.log(1 - AL) + (1 - Y) * np.log(AL)),
            "log of the wrong argument: logs swapped",
        ),
        (
            lambda AL, Y: -np.mean(Y * np.log(AL) + (1 - Y) * np.log(AL)),
            "log of the wrong argument: log(AL) in both terms",
        ),
    ],  # fmt: skip
)
def test_cost_bugs_are_named(fn, cause):
    report = check_cost(fn, max_examples=20)
    assert report.mismatches["cost"].cause == cause


def test_l2_cost_without_1_over_m_is_named():
    def cost(AL, Y, p, lambd):
        return my_cost(AL, Y) + lambd / 2 * sum(np.sum(p[k] ** 2) for k in p if k[0] == "W")

    report = check_cost(cost, lambd=0.7, max_examples=20)
    assert report.mismatches["cost"].cause == "L2 term without 1/m"


# ---- the command line ----

USER = textwrap.dedent(
    """
    import numpy as np

    def cost(X, Y, p):
        A1 = np.tanh(np.dot(p["W1"], X) + p["b1"])
        A2 = 1 / (1 + np.exp(-(np.dot(p["W2"], A1) + p["b2"])))
        return -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))

    def grads(X, Y, p):
        m = X.shape[1]
        A1 = np.tanh(p["W1"] @ X + p["b1"])
        A2 = 1 / (1 + np.exp(-(p["W2"] @ A1 + p["b2"])))
        dZ2 = A2 - Y
        dZ1 = p["W2"].T @ dZ2 * (1 - A1**2)
        return {"dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(1, keepdims=True) / m,
                "dW1": dZ1 @ X.T / m, "db1": dZ1.sum(1, keepdims=True) / m}

    def no_return(X, Y, p):
        g = grads(X, Y, p)

    def rows_grads(X, Y, p):
        g = grads(X.T, Y.T, {k: v.T for k, v in p.items()})
        return {k: v.T for k, v in g.items()}

    def layer(dA, cache, activation):
        (A_prev, W, b), Z = cache
        m = A_prev.shape[1]
        dZ = dA * (Z > 0)
        return W.T @ dZ, dZ @ A_prev.T / m, dZ.sum(1, keepdims=True)

    def compute_cost(AL, Y):
        return -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / Y.shape[1]
    """
)


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_net.py"
    path.write_text(USER)
    return str(path)


NET = ["--layers", "3,4,1", "--activations", "tanh,sigmoid", "--max-examples", "10"]


def test_cli_options_and_exit_codes(user_file, capsys):
    assert main([f"{user_file}:grads", *NET]) == 0
    assert main([f"{user_file}:grads", "--layers", "3,4,1", "--cost", f"{user_file}:cost",
                 "--max-examples", "10"]) == 0  # fmt: skip
    assert main([f"{user_file}:rows_grads", *NET, "--layout", "rows", "--dtype", "float32"]) == 0
    assert main([f"{user_file}:grads", *NET, "--lambd", "0.5"]) == 1
    capsys.readouterr()
    assert main([f"{user_file}:no_return", *NET]) == 1
    out = capsys.readouterr().out
    assert "returned None: is `return grads` missing?" in out
    assert main([f"{user_file}:grads", "--layers", "3,4,1", "--activations", "relu,sigmoid",
                 "--loss", "cross_entropy"]) == 2  # fmt: skip


def test_cli_subcommands(user_file, capsys):
    assert main(["layer", f"{user_file}:layer", "--kind", "linear_activation",
                 "--activation", "relu", "--max-examples", "10"]) == 1  # fmt: skip
    out = capsys.readouterr().out
    assert "db is wrong in" in out and "factor m" in out  # m = 1 hides a missing 1/m
    assert main(["cost", f"{user_file}:compute_cost", "--loss", "bce", "--max-examples", "10"]) == 0
    assert main(["cost", f"{user_file}:nope"]) == 2


def test_cli_output_names_no_python_object(user_file, capsys):
    main(["layer", f"{user_file}:layer", "--max-examples", "10"])
    main([f"{user_file}:no_return", *NET])
    out = capsys.readouterr().out
    assert "report." not in out and ".example" not in out
    assert "m = 1 (drawn from seed" in out  # the smallest case itself is printed


@pytest.mark.slow  # an interpreter start-up
def test_python_dash_m_runs_a_subcommand(user_file, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "nn.verify", "cost", f"{user_file}:compute_cost"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All costs match" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_net.py"]  # nothing written
