"""Tensor reprs: numpy-like values when small, shape and dtype when large, ASCII only."""

import numpy as np

from autodiff import Tensor
from autodiff.reprs import MAX_VALUES, tensor_repr


def test_small_tensors_show_values_as_numpy_prints_them():
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.])"
    assert repr(Tensor(2.5)) == "Tensor(2.5)"
    assert repr(Tensor(np.eye(2))) == "Tensor([[1., 0.], [0., 1.]])"
    assert repr(Tensor([1.0], requires_grad=True)) == "Tensor([1.], requires_grad=True)"


def test_a_result_names_its_op_and_a_non_default_dtype():
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True, name="x")
    assert repr(x * 2) == "Tensor([2., 4.], op='mul', dtype=float32)"
    assert repr(x) == "Tensor([1., 2.], name='x', requires_grad=True, dtype=float32)"


def test_large_tensors_show_shape_and_dtype_on_one_line():
    big = Tensor(np.zeros((100, 100)))
    assert repr(big) == "Tensor(shape=(100, 100), dtype=float64)"
    w = Tensor(np.zeros((100, 200), np.float32), requires_grad=True, name="W")
    assert repr(w) == "Tensor(shape=(100, 200), dtype=float32, name='W', requires_grad=True)"
    assert "shape=" not in repr(Tensor(np.ones(MAX_VALUES)))
    assert "shape=(21,)" in repr(Tensor(np.ones(MAX_VALUES + 1)))


def test_few_but_long_values_are_summarised_too():
    text = repr(Tensor(np.full(20, 123456.789)))
    assert text == "Tensor(shape=(20,), dtype=float64)"


def test_reprs_are_ascii():
    t = Tensor([1.0], requires_grad=True, name="\u03b8")  # theta
    text = tensor_repr(t)
    assert text.isascii() and "\\u03b8" in text
    text.encode("cp1252")
