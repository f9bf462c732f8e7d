"""numerical_grad, gradcheck and check_grads: right answers, and errors that name the
input, the worst element and both values when a gradient is wrong."""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import Tensor
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
