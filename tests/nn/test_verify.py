"""nn.verify: every zoo bug is flagged with the right names and cause, correct
implementations in several coding styles never raise a false alarm, and the CLI exits
with the documented status."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nn.reference as ref
from nn.verify import assert_backprop, check_backprop
from nn.verify.cases import Network, draw_case
from nn.verify.truth import gradients
from nn.verify.variants import backward

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "demos"))

ALL3 = ["dW3", "db3", "dW2", "db2", "dW1", "db1"]
ALL4 = ["dW4", "db4", *ALL3]

# module -> (names that must be wrong, cause of each); worked out from each bug by hand
ZOO = {
    "tanh_derivative_at_z": (ALL3, "tanh derivative taken at Z"),
    "tanh_derivative_for_sigmoid_output": (ALL4, "tanh derivative in a sigmoid layer"),
    "dal_bracket": (ALL4, "wrong dAL"),
    "seed_000_as_posted": (ALL4, "wrong dAL + 1 - Z**2 as every layer's derivative"),
    "relu_derivative_in_place": (["dW3", "dW2"], "A_prev overwritten in place"),
    "derivative_of_upstream": (ALL3, "derivative applied to dA"),
    "db_from_upstream": (["db3", "db2", "db1"], "db summed from dA"),
    "mean_over_features": (ALL3, "factor m/n_in"),
    "missing_one_over_m": (["dW3", "dW2", "dW1"], "factor m"),
    "transposed_dw": (["dW3", "dW2", "dW1"], "transposed"),
    "missing_db": (["db1"], "missing"),
    "update_inside_backward": (["dW2", "db2", "dW1", "db1"], "weights updated before use"),
}


def zoo(name: str):
    return importlib.import_module(f"bug_zoo.{name}")


def check(fn, module, **options):
    options.setdefault("max_examples", 20)
    return check_backprop(fn, layer_dims=module.LAYERS, activations=module.ACTIVATIONS, **options)


# ---- the truth itself, against independent formulas ----


@pytest.mark.parametrize(
    "dims, acts, loss",
    [
        ([3, 5, 4, 1], ["relu", "tanh", "sigmoid"], "bce"),
        ([2, 6, 3], ["leaky_relu", "identity"], "mse"),
        ([4, 3, 2], ["sigmoid", "tanh"], "mse"),
    ],
)
@pytest.mark.parametrize("m", [1, 5])
def test_truth_matches_course_formulas(dims, acts, loss, m):
    net = Network(tuple(dims), tuple(acts), loss)
    case = draw_case(net, m, seed=7)
    AL, true = gradients(case.X, case.Y, case.parameters, acts, loss)
    ref_AL, caches = ref.L_model_forward(case.X, case.parameters, acts)
    expected = ref.L_model_backward(ref_AL, case.Y, caches, acts, loss=loss)
    np.testing.assert_allclose(AL, ref_AL, rtol=1e-12)
    for name, g in true.items():
        np.testing.assert_allclose(g, expected[name], rtol=1e-9, atol=1e-14, err_msg=name)
    plain = backward(case.X, case.Y, case.parameters, net)  # variant-free backward
    for name, g in true.items():
        np.testing.assert_allclose(plain[name], g, rtol=1e-9, atol=1e-14, err_msg=name)


def test_cases_are_well_conditioned():
    for seed in range(30):
        net = Network((2, 10, 10, 1), ("relu", "relu", "sigmoid"), "bce")
        case = draw_case(net, 8, seed)
        A = case.X
        for layer in (1, 2, 3):
            Z = case.parameters[f"W{layer}"] @ A + case.parameters[f"b{layer}"]
            A = np.maximum(Z, 0) if layer < 3 else 1 / (1 + np.exp(-Z))
            if layer < 3:
                assert np.abs(Z).min() >= 1e-3
        assert 0.002 < A.min() and A.max() < 0.998
        assert set(np.unique(case.Y)) <= {0.0, 1.0}


# ---- the zoo: every bug flagged with the right names and cause ----


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_bug_is_diagnosed(name):
    module = zoo(name)
    wrong, cause = ZOO[name]
    report = check(module.grads, module)
    assert not report.ok
    assert sorted(report.mismatches) == sorted(wrong)
    for record in report.mismatches.values():
        assert record.cause == cause, (record.name, record.cause)
        assert record.max_abs_error > 0 and record.max_rel_error > 1e-5
        assert record.example.m >= 1
    text = str(report)
    top = wrong[0]
    assert f"{top} is wrong" in text
    assert "Likely cause" in text


def test_zoo_bugs_that_hide_at_m_equal_1_shrink_to_m_equal_2():
    module = zoo("missing_one_over_m")
    report = check(module.grads, module)
    for record in report.mismatches.values():
        assert record.example.m == 2  # the smallest batch where a missing 1/m shows
        assert record.failed < record.cases  # every m = 1 case matched
    assert "match only when m = 1" in str(report)


def test_in_place_update_reports_the_changed_inputs():
    module = zoo("update_inside_backward")
    report = check(module.grads, module)
    assert report.modified_inputs == ["W1", "W2", "W3"]
    assert "changed its inputs in place: W1, W2, W3" in str(report)


def test_diagnosis_names_first_wrong_layer_and_what_matches():
    module = zoo("tanh_derivative_for_sigmoid_output")
    text = str(check(module.grads, module))
    assert "dW4 is wrong in every case, db4 too" in text
    assert "error in layer 4 propagates to every layer below it" in text
    module = zoo("db_from_upstream")
    text = str(check(module.grads, module))
    assert "db3 is wrong in every case (dW3 matches)" in text
    assert "dW2 and dW1 match" in text


# ---- more bugs, written here ----

LAYERS, ACTS = [3, 4, 5, 1], ["tanh", "relu", "sigmoid"]


def course_grads(X, Y, p, acts=ACTS, loss="bce"):
    AL, caches = ref.L_model_forward(X, p, acts)
    return ref.L_model_backward(AL, Y, caches, acts, loss=loss)


def run(fn, **options):
    options.setdefault("max_examples", 15)
    options.setdefault("layer_dims", LAYERS)
    options.setdefault("activations", ACTS)
    return check_backprop(fn, **options)


def test_sign_flipped_everywhere():
    report = run(lambda X, Y, p: {k: -v for k, v in course_grads(X, Y, p).items()})
    assert sorted(report.mismatches) == sorted(["dW3", "db3", "dW2", "db2", "dW1", "db1"])
    for record in report.mismatches.values():
        assert record.cause == "sign flipped"
        assert record.max_rel_error == pytest.approx(2.0)  # |-g - g| / max|g|


def test_factor_two_in_one_gradient_only():
    def grads(X, Y, p):
        g = course_grads(X, Y, p)
        g["dW2"] = 2 * g["dW2"]
        return g

    report = run(grads)
    assert list(report.mismatches) == ["dW2"]
    assert report.mismatches["dW2"].cause == "factor 2"
    assert report.mismatches["dW2"].max_rel_error == pytest.approx(1.0)
    # a case whose relu layer is dead everywhere has dW2 = 0 = 2 * 0, so "every" is not promised
    assert re.search(
        r"dW3 and db3 match; dW2 is wrong in (every case|\d+ of 15 cases) "
        r"\(db2 matches\)",
        str(report),
    )


def test_db_with_the_wrong_shape():
    def grads(X, Y, p):
        g = course_grads(X, Y, p)
        g["db1"] = g["db1"].ravel()
        return g

    report = run(grads)
    assert report.mismatches["db1"].cause == "summed without keepdims"
    assert "true db1 has shape (4, 1); yours has shape (4,)" in str(report)
    assert "keepdims=True" in str(report)


def test_db_not_summed_over_the_batch():
    def grads(X, Y, p):
        AL, caches = ref.L_model_forward(X, p, ACTS)
        g = ref.L_model_backward(AL, Y, caches, ACTS)
        dZ = AL - Y
        g["db3"] = dZ / X.shape[1]
        return g

    report = run(grads)
    assert list(report.mismatches) == ["db3"]
    assert report.mismatches["db3"].cause.startswith("not summed over the batch")


def test_mse_missing_two_is_half():
    acts = ["tanh", "identity"]

    def grads(X, Y, p):
        return {k: v / 2 for k, v in course_grads(X, Y, p, acts, "mse").items()}

    report = run(grads, layer_dims=[2, 3, 2], activations=acts, loss="mse")
    assert {r.cause for r in report.mismatches.values()} == {"factor 1/2"}


def test_tanh_hidden_layer_only_when_the_output_is_fine():
    # relu layers use the right derivative; only the tanh layer takes it at Z
    def grads(X, Y, p):
        AL, caches = ref.L_model_forward(X, p, ACTS)
        g = ref.L_model_backward(AL, Y, caches, ACTS)
        m = X.shape[1]
        (_, _, _), Z1 = caches[0]
        dZ1 = g["dA1"] * (1 - Z1**2)
        g["dW1"], g["db1"] = dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=True) / m
        return g

    report = run(grads)
    assert sorted(report.mismatches) == ["dW1", "db1"]
    assert report.mismatches["dW1"].cause == "tanh derivative taken at Z"
    assert "layer 1 (tanh) is differentiated as 1 - Z**2 instead of 1 - A**2" in str(report)


def test_forward_output_checked_and_activation_swap_named():
    report = run(
        course_grads,
        forward_fn=lambda X, p: ref.L_model_forward(X, p, ["tanh", "relu", "tanh"])[0],
    )
    assert list(report.mismatches) == ["AL"]
    assert report.mismatches["AL"].cause == "tanh instead of sigmoid"
    ok = run(course_grads, forward_fn=lambda X, p: ref.L_model_forward(X, p, ACTS)[0])
    assert ok.ok and "AL" in ok.matched


def test_dA_entries_and_extra_keys_are_ignored():
    def grads(X, Y, p):
        g = course_grads(X, Y, p)
        g["dA0"] = np.full((7, 7), np.nan)
        g["something_else"] = "ignored"
        return g

    assert run(grads).ok


def test_mutating_inputs_is_reported_even_when_gradients_are_right():
    def grads(X, Y, p):
        g = course_grads(X, Y, p)
        X *= 0  # clobbers the caller's data after using it
        return g

    report = run(grads)
    assert report.ok  # the gradients are right: the change is a warning, not a mismatch
    assert report.mismatches == {}
    assert report.modified_inputs == ["X"]
    assert "Warning: the function changed its inputs in place: X" in str(report)
    assert "All gradients match" in str(report)


def test_a_function_that_raises_is_reported_with_traceback_and_smallest_input():
    def grads(X, Y, p):
        if X.shape[1] > 2:
            raise IndexError("batch too large for my buffer")
        return course_grads(X, Y, p)

    report = run(grads, max_examples=25)
    assert not report.ok
    assert isinstance(report.error.exception, IndexError)
    assert report.error.example.m == 3  # the smallest batch that raises
    text = str(report)
    assert "grads_fn raised IndexError: batch too large for my buffer" in text
    assert "Traceback" in text and "test_verify.py" in text
    assert 0 < report.error.failed < report.error.cases


@pytest.mark.parametrize(
    "result, cause",
    [
        (lambda g: None, "returned None: is `return grads` missing?"),
        (lambda g: list(g.values()), "returned a list"),
        (lambda g: tuple(g.values()), "returned a tuple"),
        (lambda g: (g, 0.3), "returned a tuple holding a dict"),
    ],
)
def test_returning_something_other_than_a_dict_is_a_mismatch_with_its_cause(result, cause):
    report = run(lambda X, Y, p: result(course_grads(X, Y, p)))
    assert not report.ok
    assert sorted(report.mismatches) == sorted(ALL3)
    for record in report.mismatches.values():
        assert record.cause.startswith(cause)
    assert f"grads_fn {cause}" in str(report)
    assert "All gradients match" not in str(report)


def test_bad_network_descriptions_raise_value_errors():
    with pytest.raises(ValueError, match="one activation per layer"):
        run(course_grads, activations=["relu", "sigmoid"])
    with pytest.raises(ValueError, match="sigmoid output"):
        run(course_grads, activations=["relu", "relu", "tanh"])
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        run(course_grads, activations=["relu", "swish", "sigmoid"])
    with pytest.raises(TypeError, match="callable"):
        run("grads")


def test_assert_backprop_raises_with_the_diagnosis():
    module = zoo("missing_db")
    with pytest.raises(AssertionError, match="db1 is not returned at all"):
        assert_backprop(
            module.grads, layer_dims=module.LAYERS, activations=module.ACTIVATIONS, max_examples=5
        )


# ---- no false alarms: correct code in three styles, many seeds ----


class Dense:
    """Class-based layer, samples as rows (the style of many from-scratch tutorials)."""

    FUNCTIONS = {
        "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0) * 1.0),
        "leaky_relu": (
            lambda z: np.where(z > 0, z, 0.01 * z),
            lambda z, a: np.where(z > 0, 1, 0.01),
        ),
        "tanh": (np.tanh, lambda z, a: 1 - a * a),
        "sigmoid": (lambda z: 0.5 * (1 + np.tanh(z / 2)), lambda z, a: a - a * a),
        "identity": (lambda z: z, lambda z, a: np.ones_like(z)),
    }

    def __init__(self, W, b, activation):
        self.weights, self.biases = W.T.copy(), b.T.copy()
        self.f, self.df = self.FUNCTIONS[activation]

    def forward(self, x):
        self.x, self.z = x, x @ self.weights + self.biases
        self.a = self.f(self.z)
        return self.a

    def backward(self, grad_out):
        dz = grad_out * self.df(self.z, self.a)
        self.dW = np.einsum("mi,mo->oi", self.x, dz) / len(self.x)
        self.db = dz.mean(axis=0)[:, None]
        return dz @ self.weights.T


def layered_grads(acts, loss):
    def grads(X, Y, p):
        layers = [Dense(p[f"W{i}"], p[f"b{i}"], a) for i, a in enumerate(acts, start=1)]
        out = X.T
        for layer in layers:
            out = layer.forward(out)
        y = Y.T
        if loss == "bce":
            g = (out - y) / (out * (1 - out))
        else:
            g = 2 * (out - y) / y.shape[1]
        for layer in reversed(layers):
            g = layer.backward(g)
        return {
            k: v for i, l in enumerate(layers, 1) for k, v in ((f"dW{i}", l.dW), (f"db{i}", l.db))
        }

    return grads


def unrolled_grads(X, Y, p):
    """A 2-layer tanh/sigmoid network written out line by line."""
    m = X.shape[1]
    Z1 = np.dot(p["W1"], X) + p["b1"]
    A1 = np.tanh(Z1)
    Z2 = np.dot(p["W2"], A1) + p["b2"]
    A2 = 1 / (1 + np.exp(-Z2))
    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.multiply(np.dot(p["W2"].T, dZ2), 1 - np.power(A1, 2))
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


STYLES = {
    "course loop (zoo)": (
        lambda X, Y, p: zoo("correct").grads(X, Y, p, ["relu", "tanh", "sigmoid"]),
        [3, 6, 5, 1],
        ["relu", "tanh", "sigmoid"],
        "bce",
    ),
    "class layers, bce": (
        layered_grads(["leaky_relu", "relu", "sigmoid"], "bce"),
        [2, 7, 4, 1],
        ["leaky_relu", "relu", "sigmoid"],
        "bce",
    ),
    "class layers, mse": (
        layered_grads(["sigmoid", "tanh", "identity"], "mse"),
        [3, 4, 5, 3],
        ["sigmoid", "tanh", "identity"],
        "mse",
    ),
    "unrolled 2 layers": (unrolled_grads, [4, 3, 1], ["tanh", "sigmoid"], "bce"),
    "course reference": (lambda X, Y, p: course_grads(X, Y, p), LAYERS, ACTS, "bce"),
}


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("seed", [0, 1, 2, 12345])
def test_correct_implementations_never_raise_a_false_alarm(style, seed):
    fn, dims, acts, loss = STYLES[style]
    report = check_backprop(
        fn, layer_dims=dims, activations=acts, loss=loss, max_examples=25, seed=seed
    )
    assert report.ok, str(report)
    assert "All gradients match" in str(report)
    assert report.cases >= 20


def test_tolerance_scales_with_the_gradient():
    def nudged(scale):
        def grads(X, Y, p):
            return {k: v * (1 + scale) for k, v in course_grads(X, Y, p).items()}

        return grads

    assert run(nudged(1e-8)).ok  # round-off level: fine
    assert not run(nudged(1e-3)).ok  # a real (if small) error


# ---- the command line ----

CLI = [sys.executable, "-m", "nn.verify"]


def cli(*args):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.slow  # seven interpreter start-ups
def test_cli_exit_codes(tmp_path):
    zoo_dir = ROOT / "demos" / "bug_zoo"
    net = ["--layers", "2,8,8,8,1", "--activations", "tanh,tanh,tanh,sigmoid"]
    good = cli(f"{zoo_dir / 'correct.py'}:grads", *net, "--max-examples", "10")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "All gradients match" in good.stdout
    bad = cli(f"{zoo_dir / 'dal_bracket.py'}:grads", *net, "--max-examples", "10", "--seed", "1")
    assert bad.returncode == 1
    assert "wrong dAL" in bad.stdout
    assert cli(f"{zoo_dir / 'correct.py'}:nope", *net).returncode == 2
    assert cli(f"{tmp_path / 'missing.py'}:grads", *net).returncode == 2
    assert cli("no-colon", *net).returncode == 2
    assert cli(f"{zoo_dir / 'correct.py'}:grads", "--layers", "2,x").returncode == 2
    wrong_count = cli(
        f"{zoo_dir / 'correct.py'}:grads", "--layers", "2,3,1", "--activations", "relu"
    )
    assert wrong_count.returncode == 2
    assert "one activation per layer" in wrong_count.stderr
