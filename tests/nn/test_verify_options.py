"""nn.verify, second milestone: every option of check_backprop with correct code in two
styles (which must pass) and bugs (which must be flagged with the right names and
causes), the blocker cases, and the slips whose diagnosis names the line at fault."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nn.reference as ref
from nn.verify import check_backprop

ACTS = ["relu", "tanh", "sigmoid"]
DIMS = [3, 5, 4, 1]
ALL = ["dW3", "db3", "dW2", "db2", "dW1", "db1"]


def course(X, Y, p, acts=ACTS, **options):
    AL, caches = ref.L_model_forward(X, p, acts)
    return ref.L_model_backward(AL, Y, caches, acts, **options)


def run(fn, **options):
    options.setdefault("max_examples", 15)
    options.setdefault("layer_dims", DIMS)
    options.setdefault("activations", ACTS)
    return check_backprop(fn, **options)


def causes(report):
    return {k: m.cause for k, m in report.mismatches.items()}


# ---- L2 (lambd) ----


def l2_unrolled(X, Y, p, lambd=0.7):
    """A 2-layer relu/sigmoid network with the course's L2 backward, written out."""
    m = X.shape[1]
    Z1 = np.dot(p["W1"], X) + p["b1"]
    A1 = np.maximum(0, Z1)
    A2 = 1 / (1 + np.exp(-(np.dot(p["W2"], A1) + p["b2"])))
    dZ2 = A2 - Y
    dW2 = 1.0 / m * np.dot(dZ2, A1.T) + lambd / m * p["W2"]
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.multiply(np.dot(p["W2"].T, dZ2), np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T) + lambd / m * p["W1"]
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


@pytest.mark.parametrize("style", ["reference", "unrolled"])
def test_correct_l2_backward_passes(style):
    if style == "reference":
        report = run(lambda X, Y, p: course(X, Y, p, lambd=0.7), lambd=0.7)
    else:
        report = run(l2_unrolled, layer_dims=[2, 6, 1], activations=["relu", "sigmoid"], lambd=0.7)
    assert report.ok, str(report)
    assert "lambd 0.7" in str(report)


@pytest.mark.parametrize(
    "mistake, names, cause",
    [
        (lambda g, p, m, l: g, ["dW3", "dW2", "dW1"], "L2 term missing"),
        (
            lambda g, p, m, l: {**g, **{f"dW{i}": g[f"dW{i}"] + l * p[f"W{i}"] for i in (1, 2, 3)}},
            ["dW3", "dW2", "dW1"],
            "L2 term no 1/m",
        ),
        (
            lambda g, p, m, l: {
                **g,
                **{f"dW{i}": g[f"dW{i}"] + l / (2 * m) * p[f"W{i}"] for i in (1, 2, 3)},
            },
            ["dW3", "dW2", "dW1"],
            "L2 term half",
        ),
        (
            lambda g, p, m, l: {
                **g,
                **{f"db{i}": g[f"db{i}"] + l / m * p[f"b{i}"] for i in (1, 2, 3)},
                **{f"dW{i}": g[f"dW{i}"] + l / m * p[f"W{i}"] for i in (1, 2, 3)},
            },
            ["db3", "db2", "db1"],
            "L2 on biases",
        ),
    ],
)
def test_l2_bugs_are_named(mistake, names, cause):
    lambd = 0.7

    def grads(X, Y, p):
        return mistake(course(X, Y, p), p, X.shape[1], lambd)

    report = run(grads, lambd=lambd)
    assert sorted(report.mismatches) == sorted(names)
    assert set(causes(report).values()) == {cause}
    assert "L2 term" in report.explanation


def test_without_lambd_a_backward_with_l2_is_flagged_and_with_it_passes():
    grads = lambda X, Y, p: course(X, Y, p, lambd=0.5)  # noqa: E731
    assert not run(grads).ok
    assert run(grads, lambd=0.5).ok


# ---- leaky_relu's slope ----


def test_slope_is_the_users():
    acts = ["leaky_relu", "sigmoid"]

    def grads(slope):
        def fn(X, Y, p):
            m = X.shape[1]
            Z1 = p["W1"] @ X + p["b1"]
            A1 = np.where(Z1 > 0, Z1, slope * Z1)
            A2 = 1 / (1 + np.exp(-(p["W2"] @ A1 + p["b2"])))
            dZ2 = A2 - Y
            dZ1 = (p["W2"].T @ dZ2) * np.where(Z1 > 0, 1.0, slope)
            return {"dW2": dZ2 @ A1.T / m, "db2": dZ2.mean(axis=1, keepdims=True),
                    "dW1": dZ1 @ X.T / m, "db1": dZ1.mean(axis=1, keepdims=True)}  # fmt: skip

        return fn

    options = dict(layer_dims=[3, 6, 1], activations=acts)
    assert run(grads(0.2), slope=0.2, **options).ok

    def with_helpers(X, Y, p):  # a second style: the course helpers, given the slope
        Z1 = p["W1"] @ X + p["b1"]
        A1 = np.where(Z1 > 0, Z1, 0.2 * Z1)
        A2 = 1 / (1 + np.exp(-(p["W2"] @ A1 + p["b2"])))
        dA1, dW2, db2 = ref.linear_backward(A2 - Y, (A1, p["W2"], p["b2"]))
        _, dW1, db1 = ref.linear_backward(
            ref.leaky_relu_backward(dA1, Z1, 0.2), (X, p["W1"], p["b1"])
        )
        return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}

    assert run(with_helpers, slope=0.2, **options).ok
    assert not run(grads(0.01), slope=0.2, **options).ok
    assert "slope 0.2" in str(run(grads(0.2), slope=0.2, **options))


# ---- softmax output with cross-entropy ----

SOFT = ["tanh", "softmax"]


def softmax_grads(elementwise=False):
    def grads(X, Y, p):
        m = X.shape[1]
        A1 = np.tanh(p["W1"] @ X + p["b1"])
        Z2 = p["W2"] @ A1 + p["b2"]
        S = np.exp(Z2 - Z2.max(axis=0)) / np.exp(Z2 - Z2.max(axis=0)).sum(axis=0)
        dA2 = -Y / S
        dZ2 = dA2 * S * (1 - S) if elementwise else S * (dA2 - np.sum(S * dA2, axis=0))
        dZ1 = (p["W2"].T @ dZ2) * (1 - A1**2)
        return {"dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(axis=1, keepdims=True) / m,
                "dW1": dZ1 @ X.T / m, "db1": dZ1.sum(axis=1, keepdims=True) / m}  # fmt: skip

    return grads


def test_softmax_cross_entropy_correct_in_two_styles_passes():
    options = dict(layer_dims=[3, 5, 4], activations=SOFT, loss="cross_entropy")
    assert run(softmax_grads(), **options).ok
    reference = lambda X, Y, p: course(X, Y, p, SOFT, loss="cross_entropy")  # noqa: E731
    assert run(reference, **options).ok


def test_softmax_derivative_taken_elementwise_is_named():
    report = run(softmax_grads(elementwise=True), layer_dims=[3, 5, 4], activations=SOFT,
                 loss="cross_entropy")  # fmt: skip
    assert sorted(report.mismatches) == ["dW1", "dW2", "db1", "db2"]
    assert set(causes(report).values()) == {"softmax derivative taken elementwise"}
    assert "S * (dA - sum(S * dA, axis=0))" in str(report)


def test_cross_entropy_needs_a_softmax_output():
    with pytest.raises(ValueError, match="softmax output"):
        run(softmax_grads(), layer_dims=[3, 5, 4], activations=["tanh", "sigmoid"],
            loss="cross_entropy")  # fmt: skip


# ---- rows layout: X @ W + b, class-based ----


class Dense:
    """Seed 003's style: samples are rows, W is (n_in, n_out), b is (1, n_out)."""

    def __init__(self, weights, biases, activation, bug=None):
        self.weights, self.biases, self.bug = weights, biases, bug
        self.sigmoid = activation == "sigmoid"

    def activate(self, x):
        return np.divide(1, 1 + np.exp(-x)) if self.sigmoid else np.where(x > 0, x, 0)

    def dactivate(self, x):
        s = self.activate(x)
        return np.multiply(s, 1 - s) if self.sigmoid else np.where(x > 0, 1, 0)

    def forward(self, layer_input):
        self.layer_input = layer_input
        return self.activate(np.dot(layer_input, self.weights) + self.biases)

    def backward(self, last_derivative):
        w = self.weights
        z = np.dot(self.layer_input, self.weights) + self.biases
        if self.bug == "upstream":
            dfunction = self.dactivate(last_derivative)
        else:
            dfunction = last_derivative * self.dactivate(z)
        m = self.layer_input.shape[0]
        self.d_w = np.dot(self.layer_input.T, dfunction) / m
        upstream = last_derivative if self.bug == "db" else dfunction
        self.d_b = np.dot(np.ones((1, m)), upstream) / m
        if self.bug == "update":
            self.weights -= 0.1 * self.d_w
        return np.dot(dfunction, w.T)


def network(bug=None, acts=("relu", "relu", "sigmoid")):
    def grads(X, Y, p):
        layers = [Dense(p[f"W{i}"], p[f"b{i}"], a, bug) for i, a in enumerate(acts, 1)]
        out = X
        for layer in layers:
            out = layer.forward(out)
        last = -(np.divide(Y, out) - np.divide(1 - Y, 1 - out))
        for layer in reversed(layers):
            last = layer.backward(last)
        out = {}
        for i, layer in enumerate(layers, 1):
            out[f"dW{i}"], out[f"db{i}"] = layer.d_w, layer.d_b
        return out

    return grads


ROWS = dict(layer_dims=[2, 6, 6, 1], activations=["relu", "relu", "sigmoid"], layout="rows")


def rows_reference(X, Y, p):
    """The course reference on transposed arrays: a second row-major style."""
    acts = ["relu", "relu", "sigmoid"]
    cols = {k: v.T for k, v in p.items()}
    return {k: v.T for k, v in course(X.T, Y.T, cols, acts).items() if k[1] in "Wb"}


@pytest.mark.parametrize("fn", [network(), rows_reference], ids=["class", "transposed"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_major_correct_code_passes(fn, dtype):
    report = run(fn, dtype=dtype, **ROWS)
    assert report.ok, str(report)
    assert "rows layout" in str(report)


def test_row_major_cases_have_the_row_shapes():
    seen = []

    def grads(X, Y, p):
        seen.append((X.shape, Y.shape, p["W1"].shape, p["b1"].shape))
        return rows_reference(X, Y, p)

    run(grads, max_examples=5, **ROWS)
    for X, Y, W1, b1 in seen:
        assert X[1] == 2 and Y == (X[0], 1) and W1 == (2, 6) and b1 == (1, 6)


@pytest.mark.parametrize(
    "bug, names, cause",
    [
        ("upstream", ALL, "derivative applied to dA"),
        ("db", ["db3", "db2", "db1"], "db summed from dA"),
        ("update", ["dW2", "db2", "dW1", "db1"], "weights updated before use"),
    ],
)
def test_seed_003_bugs_in_row_major_classes_are_named(bug, names, cause):
    report = run(network(bug), **ROWS)
    assert sorted(report.mismatches) == sorted(names)
    assert set(causes(report).values()) == {cause}


def test_weights_updated_before_propagating_names_the_line():
    report = run(network("update"), **ROWS)
    assert "dA2 = W3.T @ dZ3" in report.explanation
    assert "relu derivative" not in str(report)
    assert report.modified_inputs == ["W1", "W2", "W3"]


# ---- float32 ----


def float32_unrolled(X, Y, p):
    m = np.float32(X.shape[1])
    A1 = np.tanh(p["W1"] @ X + p["b1"])
    A2 = np.float32(1) / (np.float32(1) + np.exp(-(p["W2"] @ A1 + p["b2"])))
    dZ2 = A2 - Y
    dZ1 = (p["W2"].T @ dZ2) * (np.float32(1) - A1 * A1)
    grads = {"dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(axis=1, keepdims=True) / m,
             "dW1": dZ1 @ X.T / m, "db1": dZ1.sum(axis=1, keepdims=True) / m}  # fmt: skip
    assert all(g.dtype == np.float32 for g in grads.values())
    return grads


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float32_correct_code_passes_in_two_styles(seed):
    two = dict(layer_dims=[4, 8, 1], activations=["tanh", "sigmoid"], dtype=np.float32)
    assert run(float32_unrolled, seed=seed, max_examples=30, **two).ok
    assert run(course, dtype=np.float32, seed=seed, max_examples=30).ok


def test_float32_cases_are_float32_and_bugs_still_show():
    seen = set()

    def grads(X, Y, p):
        seen.update({X.dtype, *(v.dtype for v in p.values())})
        g = course(X, Y, p)
        g["dW2"] = g["dW2"] * 1.01
        return g

    report = run(grads, dtype=np.float32)
    assert seen == {np.dtype(np.float32)}
    assert list(report.mismatches) == ["dW2"]


# ---- batch sizes and the user's own data ----


def test_batches_go_beyond_8_and_a_bug_that_needs_more_is_shrunk_to_9():
    sizes = []

    def grads(X, Y, p):
        sizes.append(X.shape[1])
        g = course(X[:, :8], Y[:, :8], p)  # a buffer of 8 samples: silently drops the rest
        return g

    report = run(grads, max_examples=40)
    assert max(sizes) > 16
    assert not report.ok
    for record in report.mismatches.values():
        assert record.example.m == 9  # the smallest batch the bug shows in


def test_data_draws_minibatches_of_the_users_data():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 30)), (rng.random((1, 30)) > 0.5).astype(float)
    columns = {tuple(col) for col in X.T}
    seen = []

    def grads(Xb, Yb, p):
        seen.append(Xb.shape[1])
        assert all(tuple(col) in columns for col in Xb.T)
        return course(Xb, Yb, p)

    assert run(grads, data=(X, Y), max_examples=20).ok
    assert max(seen) <= 30


def test_parameters_example_gives_the_shapes():
    example = ref.initialize_parameters([3, 5, 4, 1], seed=0)
    report = check_backprop(course, parameters=example, activations=ACTS, max_examples=10)
    assert report.ok and report.layer_dims == [3, 5, 4, 1]


# ---- blockers: no `return grads`, lower-case keys, in-place updates ----


def test_forgotten_return_is_never_a_pass():
    def grads(X, Y, p):
        grads = course(X, Y, p)  # noqa: F841 - the bug: computed, never returned

    report = run(grads)
    assert not report.ok
    assert "returned None: is `return grads` missing?" in str(report)
    assert "All gradients match" not in str(report)


def test_lower_case_keys_are_missing_and_the_received_keys_are_named():
    def grads(X, Y, p):
        return {k.lower(): v for k, v in course(X, Y, p).items()}

    report = run(grads)
    assert sorted(report.mismatches) == ["dW1", "dW2", "dW3"]
    assert {m.cause for m in report.mismatches.values()} == {"missing"}
    text = str(report)
    assert "returned the keys" in text and "dw1" in text
    assert "dw1 for dW1" in text


def test_correct_gradients_then_an_in_place_update_passes_with_a_warning():
    def step(X, Y, p):
        g = course(X, Y, p)
        for k in list(p):
            p[k] -= 0.1 * g["d" + k]  # a train step that updates after the backward pass
        return g

    report = run(step)
    assert report.ok
    assert report.warnings and "W1" in report.warnings[0]
    assert "Warning" in str(report)


# ---- slips whose diagnosis names the line ----


def test_dal_precedence_slip_is_one_mistake_named_by_its_line():
    def grads(X, Y, p):
        AL, caches = ref.L_model_forward(X, p, ACTS)
        g = course(X, Y, p)
        dAL = -(Y / AL - (1 - Y) / 1 - AL)  # the slip: (1 - Y)/1 - AL
        s = AL
        dZ3 = dAL * s * (1 - s)
        (A2, W3, _), _ = caches[2]
        m = X.shape[1]
        g["dW3"], g["db3"] = dZ3 @ A2.T / m, dZ3.sum(axis=1, keepdims=True) / m
        dA2 = W3.T @ dZ3
        Z2 = caches[1][1]
        dZ2 = dA2 * (1 - np.tanh(Z2) ** 2)
        (A1, W2, _), _ = caches[1]
        g["dW2"], g["db2"] = dZ2 @ A1.T / m, dZ2.sum(axis=1, keepdims=True) / m
        dZ1 = (W2.T @ dZ2) * (caches[0][1] > 0)
        g["dW1"], g["db1"] = dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=True) / m
        return g

    report = run(grads)
    assert set(causes(report).values()) == {"wrong dAL"}
    assert "operator precedence" in report.explanation
    assert "two mistakes" not in str(report)


def test_no_m_equal_1_hint_next_to_a_smallest_case_of_m_equal_1():
    def grads(X, Y, p):
        g = course(X, Y, p)
        if X.shape[1] > 1 or X[0, 0] > 0:
            g["dW1"] = g["dW1"] * 3
        return g

    report = run(grads, max_examples=40)
    record = report.mismatches["dW1"]
    assert record.example.m == 1
    assert "only when m = 1" not in str(report)


def test_gradient_clipping_is_named():
    def grads(X, Y, p):
        return {k: np.clip(v, -0.05, 0.05) for k, v in course(X, Y, p).items()}

    report = run(grads)
    assert report.mismatches
    assert all(m.cause == "clipped at +-0.05" for m in report.mismatches.values())
    assert "clipping" in str(report)


def test_float16_caches_are_named():
    def grads(X, Y, p):
        p16 = {k: v.astype(np.float16) for k, v in p.items()}
        g = course(X.astype(np.float16), Y, p16)
        return {k: v.astype(np.float64) for k, v in g.items()}

    report = run(grads)
    assert report.mismatches
    assert {m.cause for m in report.mismatches.values()} == {"float16 round-off"}
    assert "float16" in str(report)


def test_missing_transpose_with_a_square_weight_is_named():
    def grads(X, Y, p):
        m = X.shape[1]
        A1 = np.tanh(p["W1"] @ X + p["b1"])
        A2 = np.tanh(p["W2"] @ A1 + p["b2"])
        A3 = 1 / (1 + np.exp(-(p["W3"] @ A2 + p["b3"])))
        dZ3 = A3 - Y
        dA2 = p["W3"].T @ dZ3
        dZ2 = dA2 * (1 - A2**2)
        dA1 = p["W2"] @ dZ2  # the slip: W2 is square, so this runs
        dZ1 = dA1 * (1 - A1**2)
        return {"dW3": dZ3 @ A2.T / m, "db3": dZ3.sum(1, keepdims=True) / m,
                "dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(1, keepdims=True) / m,
                "dW1": dZ1 @ X.T / m, "db1": dZ1.sum(1, keepdims=True) / m}  # fmt: skip

    report = run(grads, layer_dims=[3, 5, 5, 1], activations=["tanh", "tanh", "sigmoid"])
    assert sorted(report.mismatches) == ["dW1", "db1"]
    assert set(causes(report).values()) == {"W not transposed"}
    assert "W[l].T @ dZ[l]" in report.explanation


@pytest.mark.parametrize("dims", [[3, 5, 5, 1], [3, 5, 4, 1]], ids=["square", "not square"])
def test_own_output_used_for_the_previous_activation_is_named(dims):
    def grads(X, Y, p):
        g = course(X, Y, p, ["tanh", "tanh", "sigmoid"])
        AL, caches = ref.L_model_forward(X, p, ["tanh", "tanh", "sigmoid"])
        A2 = caches[2][0][0]
        dZ2 = g["dA2"] * (1 - A2**2)
        g["dW2"] = dZ2 @ A2.T / X.shape[1]  # the slip: A[2] where A[1] belongs
        return g

    report = run(grads, layer_dims=dims, activations=["tanh", "tanh", "sigmoid"])
    assert list(report.mismatches) == ["dW2"]
    assert report.mismatches["dW2"].cause == "A[l] used for A[l-1]"


def test_tanh_backward_called_for_the_sigmoid_output_is_named():
    def grads(X, Y, p):
        g = course(X, Y, p)
        AL, caches = ref.L_model_forward(X, p, ACTS)
        dAL = -(Y / AL - (1 - Y) / (1 - AL))
        dZ3 = ref.tanh_backward(dAL, caches[2][1])  # the tanh helper on the sigmoid layer
        (A2, W3, _), _ = caches[2]
        m = X.shape[1]
        g["dW3"], g["db3"] = dZ3 @ A2.T / m, dZ3.sum(1, keepdims=True) / m
        dZ2 = ref.tanh_backward(W3.T @ dZ3, caches[1][1])
        g["dW2"], g["db2"] = dZ2 @ caches[1][0][0].T / m, dZ2.sum(1, keepdims=True) / m
        dZ1 = ref.relu_backward(p["W2"].T @ dZ2, caches[0][1])
        g["dW1"], g["db1"] = dZ1 @ X.T / m, dZ1.sum(1, keepdims=True) / m
        return g

    report = run(grads)
    assert set(causes(report).values()) == {"tanh_backward used for a sigmoid layer"}
    assert "layer 3 (sigmoid) is differentiated as 1 - tanh(Z)**2" in report.explanation


def test_derivative_taken_at_a_instead_of_z_is_named():
    def grads(X, Y, p):
        g = course(X, Y, p)
        AL, caches = ref.L_model_forward(X, p, ACTS)
        A2 = caches[2][0][0]
        dZ2 = g["dA2"] * (1 - np.tanh(A2) ** 2)  # tanh'(A) instead of tanh'(Z)
        m = X.shape[1]
        g["dW2"], g["db2"] = dZ2 @ caches[1][0][0].T / m, dZ2.sum(1, keepdims=True) / m
        dZ1 = (p["W2"].T @ dZ2) * (caches[0][1] > 0)
        g["dW1"], g["db1"] = dZ1 @ X.T / m, dZ1.sum(1, keepdims=True) / m
        return g

    report = run(grads)
    assert set(causes(report).values()) == {"tanh derivative taken at A"}


@pytest.mark.parametrize(
    "edit, cause",
    [
        (lambda g, m: {**g, "dW2": g["dW2"] * m}, "factor m"),
        (lambda g, m: {**g, "db2": g["db2"] / m}, "factor 1/m"),
        (lambda g, m: {**g, "db1": g["db1"].ravel()}, "summed without keepdims"),
    ],
)
def test_per_gradient_slips_are_named(edit, cause):
    report = run(lambda X, Y, p: edit(course(X, Y, p), X.shape[1]), max_examples=20)
    assert len(report.mismatches) == 1
    assert next(iter(report.mismatches.values())).cause.startswith(cause.split()[0])


def test_db_summed_over_the_wrong_axis_is_named():
    def grads(X, Y, p):
        g = course(X, Y, p)
        AL, caches = ref.L_model_forward(X, p, ACTS)
        dZ2 = g["dA2"] * (1 - np.tanh(caches[1][1]) ** 2)
        g["db2"] = np.sum(dZ2, axis=0, keepdims=True) / X.shape[1]  # axis 0: the units
        return g

    report = run(grads)
    assert list(report.mismatches) == ["db2"]
    assert report.mismatches["db2"].cause == "summed over the wrong axis"


def test_db_of_a_one_unit_layer_not_summed_names_both_readings():
    def grads(X, Y, p):
        g = course(X, Y, p)
        AL, _ = ref.L_model_forward(X, p, ACTS)
        g["db3"] = (AL - Y) / X.shape[1]  # one unit: not summed, or summed over axis 0?
        return g

    report = run(grads)
    assert list(report.mismatches) == ["db3"]
    assert (
        report.mismatches["db3"].cause == "not summed over the batch, or summed over the wrong axis"
    )
    assert "look at both" in str(report)


def test_float32_code_checked_with_the_float64_default_is_told_to_pass_the_dtype():
    def grads(X, Y, p):
        g = course(X.astype(np.float32), Y.astype(np.float32),
                   {k: v.astype(np.float32) for k, v in p.items()})  # fmt: skip
        g["db3"] = g["db3"] + np.float32(3e-5) * np.abs(g["db3"]).max()  # float32-sized slop
        return g

    report = run(grads)
    assert "db3" in report.mismatches
    assert report.mismatches["db3"].cause == "float32 round-off"
    assert "dtype=np.float32" in str(report)


def test_bad_options_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match="layout"):
        run(course, layout="cols")
    with pytest.raises(ValueError, match="dtype"):
        run(course, dtype=np.int32)
    with pytest.raises(ValueError, match="lambd"):
        run(course, lambd=-1.0)
    with pytest.raises(ValueError, match="layer_dims"):
        check_backprop(course, cost_fn=lambda X, Y, p: 0.0)
    with pytest.raises(ValueError, match="disagree"):
        check_backprop(course, layer_dims=[3, 4, 1], activations=["relu", "sigmoid"],
                       parameters=ref.initialize_parameters([3, 5, 1], seed=0))  # fmt: skip
    with pytest.raises(TypeError, match="cost_fn"):
        run(course, cost_fn="cost")


# ---- display and hygiene ----


def test_repr_and_jupyter_show_the_diagnosis_in_ascii():
    report = run(lambda X, Y, p: {k: -v for k, v in course(X, Y, p).items()})
    text = str(report)
    assert repr(report) == text and "Mismatch(" not in repr(report)
    assert text.isascii()
    assert "sign flipped" in report._repr_html_()

    class Printer:
        out = ""

        def text(self, s):
            self.out += s

    printer = Printer()
    report._repr_pretty_(printer, False)
    assert printer.out == text


def test_user_random_state_is_restored_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    run(lambda X, Y, p: {k: v * np.random.rand() for k, v in course(X, Y, p).items()})
    assert np.random.rand() == expected
    assert os.listdir(tmp_path) == []
