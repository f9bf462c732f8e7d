"""Dense and MLP: the affine map and its gradients against numpy formulas, initialisers,
seeds, and the error messages for bad inputs."""

import numpy as np
import pytest

import nn
from autodiff import Tensor


def test_dense_output_and_gradients_match_numpy():
    rng = np.random.default_rng(0)
    layer = nn.Dense(3, 4, "tanh", seed=0)
    layer.b.data = rng.normal(size=4)
    x = Tensor(rng.normal(size=(5, 3)), requires_grad=True)
    g = rng.normal(size=(5, 4))
    out = layer(x)
    W, b = layer.W.data, layer.b.data
    A = np.tanh(x.data @ W.T + b)
    np.testing.assert_allclose(out.data, A, rtol=1e-12)
    out.backward(g)
    dZ = g * (1 - A**2)
    np.testing.assert_allclose(layer.W.grad, dZ.T @ x.data, rtol=1e-10)
    np.testing.assert_allclose(layer.b.grad, dZ.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(x.grad, dZ @ W, rtol=1e-10)


def test_dense_without_bias():
    layer = nn.Dense(2, 3, bias=False, seed=0)
    assert layer.b is None and [n for n, _ in layer.named_parameters()] == ["W"]
    x = np.ones((1, 2))
    np.testing.assert_allclose(layer(x).data, x @ layer.W.data.T)


@pytest.mark.parametrize(
    "init, scale", [("he", np.sqrt(2 / 7)), ("xavier", np.sqrt(1 / 7)), ("small", 0.01)]
)
def test_gaussian_inits_are_scaled_course_draws(init, scale):
    layer = nn.Dense(7, 5, init=init, seed=4)
    np.testing.assert_array_equal(layer.W.data, np.random.RandomState(4).randn(5, 7) * scale)
    np.testing.assert_array_equal(layer.b.data, np.zeros(5))


def test_glorot_uniform_and_zeros():
    W = nn.Dense(30, 20, init="glorot_uniform", seed=0).W.data
    limit = np.sqrt(6 / 50)
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.9 * limit
    assert not nn.Dense(3, 2, init="zeros").W.data.any()
    with pytest.raises(ValueError, match="unknown init 'big'"):
        nn.Dense(3, 2, init="big")


def test_mlp_default_init_per_layer_and_shared_stream():
    model = nn.MLP([3, 4, 4, 2], activation="relu", output="sigmoid", seed=7)
    rs = np.random.RandomState(7)
    expected = [
        rs.randn(4, 3) * np.sqrt(2 / 3),  # relu: he
        rs.randn(4, 4) * np.sqrt(2 / 4),
        rs.randn(2, 4) * np.sqrt(1 / 4),  # the output layer: xavier
    ]
    for layer, W in zip(model.layers, expected, strict=True):
        np.testing.assert_array_equal(layer.W.data, W)
    tanh = nn.MLP([3, 4, 1], activation="tanh", seed=7)
    rs = np.random.RandomState(7)
    np.testing.assert_array_equal(tanh.layers[0].W.data, rs.randn(4, 3) * np.sqrt(1 / 3))


def test_mlp_seed_reproducible_and_init_list():
    a = nn.MLP([2, 8, 1], seed=1, init=["small", "zeros"])
    b = nn.MLP([2, 8, 1], seed=1, init=["small", "zeros"])
    np.testing.assert_array_equal(a.layers[0].W.data, b.layers[0].W.data)
    assert not a.layers[1].W.data.any()
    with pytest.raises(ValueError, match="2 names for 1 layers"):
        nn.MLP([2, 1], init=["he", "he"])


def test_mlp_forward_matches_numpy():
    model = nn.MLP([2, 6, 5, 3], activation="leaky_relu", output="softmax", seed=3)
    x = np.random.default_rng(2).normal(size=(7, 2))
    A = x
    for i, layer in enumerate(model.layers):
        Z = A @ layer.W.data.T + layer.b.data
        if i < 2:
            A = np.where(Z > 0, Z, 0.01 * Z)
        else:
            A = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model(x).data, A, rtol=1e-12)


def test_float32_model_stays_float32():
    model = nn.MLP([2, 4, 1], seed=0, dtype=np.float32)
    out = model(np.ones((3, 2), dtype=np.float32))
    assert out.dtype == np.float32 and all(p.dtype == np.float32 for p in model.parameters())


def test_wrong_width_names_layer_expected_and_actual():
    model = nn.MLP([2, 16, 1], seed=0)
    with pytest.raises(ValueError) as info:
        model(np.ones((4, 3)))
    message = str(info.value)
    assert "layers.0 (Dense 2->16)" in message and "(batch, 2)" in message
    assert "(4, 3)" in message


def test_wrong_width_inside_the_network_names_inner_layer():
    model = nn.Sequential(nn.Dense(2, 16, seed=0), nn.ReLU(), nn.Dense(8, 1, seed=0))
    with pytest.raises(ValueError, match=r"layers\.2 \(Dense 8->1\).*\(batch, 8\).*\(4, 16\)"):
        model(np.ones((4, 2)))


def test_non_finite_input_names_layer():
    x = np.ones((4, 2))
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"layers\.0 \(Dense 2->3\).*non-finite.*\[2, 1\]"):
        nn.MLP([2, 3, 1], seed=0)(x)
    with pytest.raises(ValueError, match="non-finite"):
        nn.Dense(2, 3)(Tensor([[np.inf, 0.0]]))


@pytest.mark.filterwarnings("ignore:overflow encountered")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_finite_input_is_accepted(dtype):
    """The quick check (a sum) overflows here; the full check must let the input pass."""
    big = np.finfo(dtype).max / 2
    x = np.array([[big, big], [big, 2.0]], dtype=dtype)
    out = nn.Dense(2, 3, seed=0, dtype=dtype)(x)
    assert out.shape == (2, 3)
    x[1, 0] = -np.inf
    with pytest.raises(ValueError, match=r"non-finite.*\[1, 0\]"):
        nn.Dense(2, 3, seed=0, dtype=dtype)(x)


def test_bad_layer_sizes():
    with pytest.raises(ValueError, match="at least two"):
        nn.MLP([3])
    with pytest.raises(ValueError, match="positive"):
        nn.Dense(0, 3)


@pytest.mark.parametrize("sizes", [[2, 3.5, 1], [2, 3.0, 1], [2, "3", 1], [2, True, 1], [2, 0, 1]])
def test_mlp_widths_must_be_positive_integers_never_truncated(sizes):
    with pytest.raises(ValueError, match=r"layer_sizes\[1\] is .*positive integer"):
        nn.MLP(sizes)


def test_mlp_widths_as_separate_arguments_say_to_pass_a_list():
    with pytest.raises(TypeError, match=r"pass the widths as a list: nn\.MLP\(\[2, 3, 1\]"):
        nn.MLP(2, 3, 1)
    with pytest.raises(TypeError, match="list of widths"):
        nn.MLP("2,3,1")


def test_mlp_accepts_numpy_widths():
    model = nn.MLP(np.array([2, 3, 1]), seed=0)
    assert model.layer_sizes == [2, 3, 1] and all(type(n) is int for n in model.layer_sizes)


@pytest.mark.parametrize(
    "model_dtype, input_dtype", [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_input_of_another_float_dtype_is_refused_naming_both_and_the_layer(
    model_dtype, input_dtype
):
    model = nn.MLP([2, 3, 1], seed=0, dtype=model_dtype)
    mine, theirs = np.dtype(model_dtype).name, np.dtype(input_dtype).name
    pattern = rf"layers\.0 \(Dense 2->3\): the input has dtype {theirs} .* are {mine}"
    with pytest.raises(TypeError, match=pattern):
        model(np.ones((4, 2), dtype=input_dtype))
    with pytest.raises(TypeError, match=pattern):
        model(Tensor(np.ones((4, 2), dtype=input_dtype), requires_grad=True))


def test_a_float_graph_tensor_of_another_dtype_is_refused_inside_too():
    layer = nn.Dense(2, 3, seed=0, dtype=np.float32)
    x = Tensor(np.ones((4, 2)), requires_grad=True) * 2  # a float64 result of an op
    with pytest.raises(TypeError, match="dtype float64 .* float32"):
        layer(x)


def test_lists_and_integer_arrays_take_the_layer_dtype():
    model = nn.MLP([2, 3, 1], seed=0, dtype=np.float32)
    assert model([[1.0, 2.0]]).dtype == np.float32
    assert model(np.ones((3, 2), dtype=np.int64)).dtype == np.float32
