"""check_backprop with the user's own cost as the truth (cost_fn): a learner's unchanged
numpy forward pass and cost, differentiated by autodiff through numpy dispatch. Dropout
masks agree because both functions see the same random state; custom losses, layers
without biases and any names work."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from nn.verify import check_backprop

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "demos"))
import bug_zoo  # noqa: E402

KEEP = 0.8


def forward(X, p, keep_prob=KEEP):
    """The course's dropout forward pass, plain numpy."""
    Z1 = np.dot(p["W1"], X) + p["b1"]
    A1 = np.maximum(0, Z1)
    D1 = np.random.rand(A1.shape[0], A1.shape[1]) < keep_prob
    A1 = np.multiply(A1, D1) / keep_prob
    Z2 = np.dot(p["W2"], A1) + p["b2"]
    A2 = 1 / (1 + np.exp(-Z2))
    return Z1, A1, D1, A2


def cost(X, Y, p):
    m = X.shape[1]
    *_, A2 = forward(X, p)
    return -np.sum(np.multiply(Y, np.log(A2)) + np.multiply(1 - Y, np.log(1 - A2))) / m


def dropout_grads(bug=None):
    def grads(X, Y, p):
        m = X.shape[1]
        Z1, A1, D1, A2 = forward(X, p)
        dZ2 = A2 - Y
        dW2 = 1.0 / m * np.dot(dZ2, A1.T)
        db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
        dA1 = np.dot(p["W2"].T, dZ2)
        if bug != "mask not applied":
            dA1 = dA1 * D1
        if bug != "not divided by keep_prob":
            dA1 = dA1 / KEEP
        dZ1 = np.multiply(dA1, np.int64(Z1 > 0))  # Z1: A1 > 0 would re-apply the mask
        return {"dW1": 1.0 / m * np.dot(dZ1, X.T), "db1": 1.0 / m * np.sum(dZ1, 1, keepdims=True),
                "dW2": dW2, "db2": db2}  # fmt: skip

    return grads


def dropout_grads_with_own_draw(X, Y, p):
    """A second style: the forward written again inside, drawing the same mask."""
    m = X.shape[1]
    Z1 = p["W1"] @ X + p["b1"]
    A1 = Z1 * (Z1 > 0)
    D1 = (np.random.rand(*A1.shape) < KEEP).astype(float)
    A1d = A1 * D1 / KEEP
    A2 = 1 / (1 + np.exp(-(p["W2"] @ A1d + p["b2"])))
    dZ2 = A2 - Y
    dZ1 = (p["W2"].T @ dZ2) * D1 / KEEP * (Z1 > 0)
    return {"dW2": dZ2 @ A1d.T / m, "db2": dZ2.mean(axis=1, keepdims=True),
            "dW1": dZ1 @ X.T / m, "db1": dZ1.mean(axis=1, keepdims=True)}  # fmt: skip


def run(fn, **options):
    options.setdefault("max_examples", 20)
    options.setdefault("layer_dims", [3, 6, 1])
    return check_backprop(fn, cost_fn=cost, **options)


@pytest.mark.parametrize("fn", [dropout_grads(), dropout_grads_with_own_draw])
def test_correct_dropout_backward_passes_through_cost_fn(fn):
    report = run(fn)
    assert report.ok, str(report)
    assert "against your cost_fn" in str(report)


def test_dropout_mask_not_applied_is_flagged_in_layer_1_with_the_mask_named():
    report = run(dropout_grads("mask not applied"))
    assert sorted(report.mismatches) == ["dW1", "db1"]
    assert report.mismatches["dW1"].cause == "nonzero where the truth is 0"
    text = str(report)
    assert "dW2 and db2 match" in text
    assert "dA1 = dA1 * D1 / keep_prob" in text


def test_dropout_not_divided_by_keep_prob_is_a_factor_keep_prob():
    report = run(dropout_grads("not divided by keep_prob"))
    assert sorted(report.mismatches) == ["dW1", "db1"]
    assert {m.cause for m in report.mismatches.values()} == {"factor 0.8"}
    assert "keep_prob = 0.8" in str(report)


def test_the_users_random_state_is_restored():
    np.random.seed(11)
    expected = np.random.rand(3)
    np.random.seed(11)
    run(dropout_grads(), max_examples=5)
    np.testing.assert_array_equal(np.random.rand(3), expected)


def test_half_mse_convention_without_biases_and_custom_names_pass():
    # 1/2-MSE, a two-layer linear-tanh net without biases, names of the user's choosing
    def half_mse(X, Y, p):
        H = np.tanh(np.dot(p["hidden"], X))
        out = np.dot(p["out"], H)
        return 0.5 * np.mean(np.square(out - Y))

    def grads(X, Y, p):
        m = X.shape[1]
        H = np.tanh(p["hidden"] @ X)
        out = p["out"] @ H
        d_out = (out - Y) / (m * Y.shape[0])
        d_hidden = (p["out"].T @ d_out) * (1 - H**2)
        return {"dout": d_out @ H.T, "dhidden": d_hidden @ X.T}

    rng = np.random.default_rng(0)
    data = (rng.normal(size=(4, 40)), rng.normal(size=(2, 40)))
    example = {"hidden": np.zeros((5, 4)), "out": np.zeros((2, 5))}
    report = check_backprop(grads, cost_fn=half_mse, parameters=example, data=data,
                            max_examples=15)  # fmt: skip
    assert report.ok, str(report)
    assert sorted(report.matched) == ["dhidden", "dout"]

    def forgot_the_half(X, Y, p):
        return {k: 2 * v for k, v in grads(X, Y, p).items()}

    report = check_backprop(forgot_the_half, cost_fn=half_mse, parameters=example, data=data,
                            max_examples=15)  # fmt: skip
    assert {m.cause for m in report.mismatches.values()} == {"factor 2"}
    assert (
        "dout is wrong" in str(report)
        or "dout and dhidden" in str(report)
        or "dhidden" in str(report)
    )


def test_rows_layout_and_float32_through_cost_fn():
    def cost_rows(X, Y, p):
        A = np.tanh(X @ p["W1"] + p["b1"])
        out = 1 / (1 + np.exp(-(A @ p["W2"] + p["b2"])))
        return -np.mean(Y * np.log(out) + (1 - Y) * np.log(1 - out))

    def grads_rows(X, Y, p):
        m = X.shape[0]
        A = np.tanh(X @ p["W1"] + p["b1"])
        out = 1 / (1 + np.exp(-(A @ p["W2"] + p["b2"])))
        d2 = (out - Y) / m
        d1 = (d2 @ p["W2"].T) * (1 - A**2)
        return {"dW2": A.T @ d2, "db2": d2.sum(0, keepdims=True),
                "dW1": X.T @ d1, "db1": d1.sum(0, keepdims=True)}  # fmt: skip

    for dtype in (np.float64, np.float32):
        report = check_backprop(grads_rows, cost_fn=cost_rows, layer_dims=[3, 5, 1],
                                layout="rows", dtype=dtype, max_examples=15)  # fmt: skip
        assert report.ok, str(report)


def test_a_cost_that_is_not_differentiable_is_reported():
    def detached(X, Y, p):
        return float(np.sum(np.asarray(p["W1"])))

    report = (
        run(dropout_grads(), max_examples=3)
        if False
        else check_backprop(dropout_grads(), cost_fn=detached, layer_dims=[3, 6, 1], max_examples=3)
    )
    assert not report.ok
    assert report.error.function == "cost_fn"
    assert "not a value computed from the parameters" in str(report)


# ---- the course's dropout assignment, in its own shape: seed inside, nansum cost ----


def course_relu(x):
    return np.maximum(0, x)


def course_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward_propagation_with_dropout(X, parameters, keep_prob=0.5):
    np.random.seed(1)
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = np.dot(W1, X) + b1
    A1 = course_relu(Z1)
    D1 = np.random.rand(A1.shape[0], A1.shape[1])
    D1 = D1 < keep_prob
    A1 = A1 * D1
    A1 = A1 / keep_prob
    Z2 = np.dot(W2, A1) + b2
    A2 = course_relu(Z2)
    D2 = np.random.rand(A2.shape[0], A2.shape[1]) < keep_prob
    A2 = A2 * D2 / keep_prob
    Z3 = np.dot(W3, A2) + b3
    A3 = course_sigmoid(Z3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)


def compute_cost(a3, Y):
    m = Y.shape[1]
    logprobs = np.multiply(-np.log(a3), Y) + np.multiply(-np.log(1 - a3), 1 - Y)
    return 1.0 / m * np.nansum(logprobs)


def backward_propagation_with_dropout(X, Y, cache, keep_prob, divide=True):
    m = X.shape[1]
    (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T)
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3) * D2
    if divide:
        dA2 = dA2 / keep_prob
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2) * D1 / keep_prob
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {
        "dZ3": dZ3,
        "dW3": dW3,
        "db3": db3,
        "dA2": dA2,
        "dZ2": dZ2,
        "dW2": dW2,
        "db2": db2,
        "dA1": dA1,
        "dZ1": dZ1,
        "dW1": dW1,
        "db1": db1,
    }


def test_the_course_dropout_assignment_shape_passes_and_a_missing_division_is_named():
    def cost_of(X, Y, p):
        return compute_cost(forward_propagation_with_dropout(X, p, 0.86)[0], Y)

    def grads_of(divide):
        def grads(X, Y, p):
            cache = forward_propagation_with_dropout(X, p, 0.86)[1]
            return backward_propagation_with_dropout(X, Y, cache, 0.86, divide)

        return grads

    options = dict(layer_dims=[2, 20, 3, 1], cost_fn=cost_of, max_examples=20)
    assert check_backprop(grads_of(True), **options).ok
    report = check_backprop(grads_of(False), **options)
    assert sorted(report.mismatches) == ["dW1", "dW2", "db1", "db2"]
    assert {m.cause for m in report.mismatches.values()} == {"factor 0.86"}


# ---- the second-milestone zoo of demos/bug_zoo: each module says what it must get ----


@pytest.mark.parametrize("name", bug_zoo.CHECKED)
def test_zoo_checked_modules_get_their_expected_diagnosis(name):
    module = importlib.import_module(f"bug_zoo.{name}")
    report = module.check(max_examples=25)
    assert {k: m.cause for k, m in report.mismatches.items()} == module.EXPECTED
    assert report.ok == (not module.EXPECTED)
