"""numerical_grad, gradcheck and check_grads: right answers, and errors that name the
input, the worst element and both values when a gradient is wrong; check_grads on
inputs drawn from hypothesis strategies, shrunk to the simplest failing case."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import strategies as st

import autodiff as ad
from autodiff import Tensor
from autodiff import strategies as ads
from autodiff.ops import Primitive, apply

# x**2 with a backward rule that is off by a factor 3 at element 1 only.
WRONG_SQUARE = Primitive(
    "wrong_square", "x**2; d/dx = 2x, except 6x at element 1", lambda x: x**2,
    lambda g, out, x: g * 2 * x * np.where(np.arange(x.shape[0]) == 1, 3.0, 1.0),
)  # fmt: skip


def wrong_square(x: Tensor) -> Tensor:
    return apply(WRONG_SQUARE, (x,))


def test_numerical_grad_of_known_functions():
    a, b = np.array([1.0, -2.0, 0.5]), np.array(3.0)
    ga, gb = ad.numerical_grad(lambda x, y: (x * x * y).sum(), [a, b])
    np.testing.assert_allclose(ga, 2 * a * 3.0, rtol=1e-8)
    np.testing.assert_allclose(gb, (a * a).sum(), rtol=1e-8)
    assert ga.shape == a.shape and gb.shape == ()


def test_numerical_grad_takes_tensors_and_leaves_them_unchanged():
    x = Tensor([[0.5, 1.0], [2.0, -1.0]])
    before = x.data.copy()
    (g,) = ad.numerical_grad(lambda t: t.tanh().sum(), [x])
    np.testing.assert_allclose(g, 1 - np.tanh(before) ** 2, rtol=1e-7)
    np.testing.assert_array_equal(x.data, before)


def test_numerical_grad_of_float32_input_is_float32_and_accurate():
    x = np.array([0.3, 0.7], dtype=np.float32)
    (g,) = ad.numerical_grad(lambda t: (t**3).sum(), [x])
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 3 * x.astype(float) ** 2, rtol=1e-5)


def test_numerical_grad_requires_scalar_output():
    with pytest.raises(ValueError, match="single-element"):
        ad.numerical_grad(lambda t: t * 2, [np.ones(3)])


def test_gradcheck_passes_for_correct_gradients():
    assert ad.gradcheck(lambda x, W: (x @ W).tanh().sum(), [np.ones((2, 3)), np.eye(3)]) is True


def test_gradcheck_names_input_worst_element_and_both_values():
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(lambda a, t: (a * wrong_square(t)).sum(), [np.ones(1), x])
    message = str(info.value)
    assert "input 1" in message and "(1,)" in message
    assert "autodiff gives 12," in message  # 2 * 2 * 3
    assert "central differences gives 4 " in message  # 2 * 2, to 8 digits
    assert isinstance(info.value, RuntimeError)


def test_gradcheck_names_tensor_inputs_by_name():
    x = Tensor([1.0, 2.0, 3.0], name="weights")
    with pytest.raises(ad.GradcheckError, match="'weights'"):
        ad.gradcheck(lambda t: wrong_square(t).sum(), [x])


def test_gradcheck_float32_uses_looser_defaults():
    x = np.array([0.3, -0.8, 1.2], dtype=np.float32)
    assert ad.gradcheck(lambda t: (t.sigmoid() * t).sum(), [x])
    with pytest.raises(ad.GradcheckError):
        ad.gradcheck(lambda t: wrong_square(t).sum(), [x])


def test_check_grads_against_hand_derived_gradients():
    X = np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]])
    W = np.array([[0.1, -0.2], [0.3, 0.4]])

    def manual(X, W):
        Z = X @ W.T
        dZ = 1 - np.tanh(Z) ** 2
        return [dZ @ W, dZ.T @ X]

    assert ad.check_grads(lambda X, W: ad.linear(X, W).tanh().sum(), manual, [X, W])


def test_check_grads_reports_a_transposed_gradient():
    X = np.array([[1.0, 2.0, 0.5], [-1.0, 0.5, 2.0]])
    W = np.array([[0.1, -0.2, 0.3], [0.3, 0.4, -0.5], [0.2, 0.1, 0.0]])

    def manual(X, W):
        dZ = 1 - np.tanh(X @ W.T) ** 2
        return [dZ @ W, (dZ.T @ X).T]  # dW transposed: a classic slip

    with pytest.raises(ad.GradcheckError, match=r"input 1: gradient mismatch at element"):
        ad.check_grads(lambda X, W: (X @ W.T).tanh().sum(), manual, [X, W])


def test_check_grads_wrong_number_of_gradients():
    with pytest.raises(ad.GradcheckError, match="1 gradient"):
        ad.check_grads(lambda a, b: (a * b).sum(), lambda a, b: [b], [np.ones(2), np.ones(2)])
    with pytest.raises(ad.GradcheckError, match="shape"):
        ad.check_grads(lambda a: a.sum(), lambda a: [np.ones(3)], [np.ones(2)])


def test_check_grads_works_on_copies():
    x = np.array([1.0, -1.0])

    def clobbering_manual(a):
        grad = a  # writes into its argument, as hand-written code sometimes does
        grad[:] = 2 * grad
        return [grad]

    assert ad.check_grads(lambda t: (t * t).sum(), clobbering_manual, [x])
    np.testing.assert_array_equal(x, [1.0, -1.0])


# ---- check_grads on inputs drawn from hypothesis strategies ----


def tanh_layer(X, W):
    """The learner's numpy forward, unchanged: it runs on Tensors through numpy dispatch."""
    return np.sum(np.tanh(np.dot(W, X)))


def tanh_layer_grads(X, W):
    dZ = 1 - np.tanh(W @ X) ** 2
    return [W.T @ dZ, dZ @ X.T]


def test_check_grads_on_drawn_inputs_passes_a_right_gradient():
    W = np.array([[0.1, -0.2, 0.3], [0.3, 0.4, -0.5]])
    batches = ads.arrays(st.integers(1, 6).map(lambda m: (3, m)))
    assert ad.check_grads(tanh_layer, tanh_layer_grads, [batches, W], max_examples=30)
    assert ad.check_grads(tanh_layer, tanh_layer_grads, [batches, ads.arrays((2, 3))])


def test_check_grads_on_drawn_inputs_catches_a_wrong_gradient_and_shrinks_it():
    def wrong(x):  # d/dx sum(x**2) is 2x; this one is wrong where x > 1 only
        return [np.where(x > 1, x, 2 * x)]

    with pytest.raises(ad.GradcheckError) as info:
        ad.check_grads(lambda x: np.sum(x**2), wrong, [ads.arrays((3, 4))], seed=0)
    message, (x,) = str(info.value), info.value.case
    assert re.match(r"input 0: gradient mismatch at element \(\d, \d\): autodiff gives", message)
    assert "simplest failing case (drawn, then shrunk):\n  input 0 (drawn) = array(" in message
    # shrunk: one simple value just past the bug's threshold (2.0 of the drawn [-2, 2]), and
    # zeros (hypothesis's simplest value) wherever the value does not matter
    failing = x.max()
    assert 1 < failing <= 2 and set(np.unique(x)) <= {0.0, failing}
    element = tuple(int(i) for i in re.search(r"element \((\d), (\d)\)", message).groups())
    assert x[element] == failing
    assert f"autodiff gives {2 * failing:.8g}, the hand-derived gives {failing:.8g}" in message


def test_check_grads_shrinks_a_batch_size_bug_to_the_smallest_failing_batch():
    w = np.array([[0.5, -1.0]])

    def missing_one_over_m(X, w):  # the mean's 1/m forgotten in dw: right only for m = 1
        m = X.shape[1]
        return [np.broadcast_to(w.T, X.shape) / m, np.sum(X, axis=1, keepdims=True).T]

    batches = ads.arrays(st.integers(1, 64).map(lambda m: (2, m)))
    with pytest.raises(ad.GradcheckError, match="input 1: gradient mismatch") as info:
        ad.check_grads(lambda X, w: np.mean(np.dot(w, X)), missing_one_over_m, [batches, w])
    X, fixed_w = info.value.case
    assert X.shape == (2, 2)  # m = 1 passes; 2 is the smallest batch that shows the bug
    np.testing.assert_array_equal(fixed_w, w)
    assert "input 1 (fixed) = array([[ 0.5, -1. ]])" in str(info.value)


def test_check_grads_on_drawn_inputs_is_repeatable_with_a_seed():
    def wrong(x):
        return [3 * x]

    messages = []
    for _ in range(2):
        with pytest.raises(ad.GradcheckError) as info:
            ad.check_grads(lambda x: np.sum(x**3), wrong, [ads.arrays((2, 2))], seed=3)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_check_grads_on_drawn_inputs_restores_hypothesis_storage():
    from hypothesis import configuration

    before = configuration.storage_directory()
    ad.check_grads(lambda x: np.sum(x), lambda x: [np.ones_like(x)], [ads.arrays(3)])
    assert configuration.storage_directory().path == before.path


def test_check_grads_outside_pytest_writes_nothing_into_the_working_directory(tmp_path):
    code = (
        "import numpy as np, autodiff as ad\n"
        "from autodiff import strategies as ads\n"
        "assert ad.check_grads(lambda x: np.sum(np.tanh(x)), lambda x: [1 - np.tanh(x)**2],\n"
        "                      [ads.arrays((3, 4))])\n"
        "try:\n"
        "    ad.check_grads(lambda x: np.sum(x**2), lambda x: [x], [ads.arrays(5)])\n"
        "except ad.GradcheckError as error:\n"
        "    print(str(error).splitlines()[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(ad.__file__).parent.parent)}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "simplest failing case (drawn, then shrunk):\n"  # no other output
    assert list(tmp_path.iterdir()) == []
