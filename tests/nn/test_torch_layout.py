"""PyTorch's layout: keys, shapes and the forward pass by PyTorch's formulas, without
PyTorch; and, when it is installed, a real torch.nn.Sequential loading the arrays."""

import numpy as np
import pytest

import nn
from autodiff import Tensor
from nn.torch_layout import torch_modules


def _torch_forward(modules, state, x):
    """The forward pass of torch.nn.Sequential(*modules) in eval mode, by PyTorch's
    documented formulas: Linear is x @ weight.T + bias, Dropout the identity in eval."""
    for i, (name, kw) in enumerate(modules):
        if name == "Linear":
            x = x @ state[f"{i}.weight"].T
            if kw["bias"]:
                x = x + state[f"{i}.bias"]
        elif name == "ReLU":
            x = np.maximum(x, 0)
        elif name == "Tanh":
            x = np.tanh(x)
        elif name == "Sigmoid":
            x = 1 / (1 + np.exp(-x))
        elif name == "LeakyReLU":
            x = np.where(x > 0, x, kw["negative_slope"] * x)
        elif name == "Softmax":
            e = np.exp(x - x.max(axis=kw["dim"], keepdims=True))
            x = e / e.sum(axis=kw["dim"], keepdims=True)
        elif name in ("Identity", "Dropout"):
            pass
        else:
            raise AssertionError(f"unexpected module {name}")
    return x


MODELS = {
    "mlp tanh sigmoid": lambda: nn.MLP([2, 16, 16, 1], "tanh", "sigmoid", seed=0),
    "mlp relu dropout": lambda: nn.MLP([3, 8, 8, 2], "relu", "softmax", dropout=0.2, seed=1),
    "mlp leaky float32": lambda: nn.MLP([2, 5, 1], "leaky_relu", dtype=np.float32, seed=2),
    "mlp identity": lambda: nn.MLP([2, 4, 3], "identity", seed=3),
    "dense": lambda: nn.Dense(3, 2, "sigmoid", seed=4),
    "sequential": lambda: nn.Sequential(
        nn.Dense(2, 4, seed=5),
        nn.LeakyReLU(0.2),
        nn.Dense(4, 4, "tanh", seed=6),
        nn.Dropout(0.1),
        nn.Dense(4, 3, bias=False, seed=7),
        nn.Softmax(),
    ),  # fmt: skip
}


def test_keys_follow_torch_sequential_indices():
    model = nn.MLP([2, 16, 16, 1], "tanh", "sigmoid", seed=0)
    state = model.state_dict(layout="torch")
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert state["0.weight"].shape == (16, 2) and state["4.bias"].shape == (1,)
    np.testing.assert_array_equal(state["2.weight"], model.layers[1].W.data)
    state["0.weight"][0, 0] += 1.0  # a copy: the model is untouched
    assert state["0.weight"][0, 0] != model.layers[0].W.data[0, 0]
    assert [n for n, _ in torch_modules(model)] == [
        "Linear", "Tanh", "Linear", "Tanh", "Linear", "Sigmoid",
    ]  # fmt: skip


def test_dropout_and_biasless_layers_take_their_indices():
    drop = nn.MLP([2, 4, 4, 1], "relu", dropout=0.5, seed=0)
    assert list(drop.state_dict(layout="torch")) == [
        "0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias",
    ]  # fmt: skip
    seq = MODELS["sequential"]()
    assert list(seq.state_dict(layout="torch")) == [
        "0.weight", "0.bias", "2.weight", "2.bias", "5.weight",
    ]  # fmt: skip


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_by_torch_formulas_on_the_torch_dict_equals_the_model(name):
    model = MODELS[name]().eval()
    dtype = next(model.parameters()).dtype
    width = next(model.parameters()).shape[1]
    x = np.random.default_rng(0).normal(size=(7, width)).astype(dtype)
    state = model.state_dict(layout="torch")
    expected = _torch_forward(torch_modules(model), state, x)
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("name", ["mlp tanh sigmoid", "mlp relu dropout", "mlp leaky float32"])
def test_from_state_dict_rebuilds_an_equal_model(name):
    model = MODELS[name]().eval()
    spec = model.architecture()
    copy = nn.MLP.from_state_dict(
        model.state_dict(layout="torch"), spec["activation"], spec["output"],
        dropout=spec["dropout"],
    ).eval()  # fmt: skip
    assert copy.layer_sizes == model.layer_sizes and repr(copy) == repr(model)
    for a, b in zip(model.parameters(), copy.parameters(), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.data, b.data)
    x = np.ones((2, model.layer_sizes[0]), dtype=next(model.parameters()).dtype)
    np.testing.assert_array_equal(model(x).data, copy(x).data)


@pytest.mark.parametrize("name", list(MODELS))
def test_load_state_dict_in_torch_layout_is_the_inverse(name):
    model = MODELS[name]()
    other = MODELS[name]()
    for p in other.parameters():
        p.data = p.data * 0 + 0.5
    other.load_state_dict(model.state_dict(layout="torch"), layout="torch")
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_in_torch_layout_checks_like_the_nn_layout():
    model = nn.MLP([2, 3, 1], "tanh", seed=0)
    state = model.state_dict(layout="torch")
    with pytest.raises(ValueError, match=r"missing parameters: layers\.1\.b.*unexpected.*1\.bias"):
        model.load_state_dict({**{k: v for k, v in state.items() if k != "2.bias"},
                               "1.bias": np.ones(1)}, layout="torch")  # fmt: skip
    with pytest.raises(ValueError, match="layout must be 'nn' or 'torch'"):
        model.load_state_dict(state, layout="jax")


def test_from_state_dict_takes_nn_layout_too():
    model = nn.MLP([2, 3, 1], "tanh", seed=0)
    copy = nn.MLP.from_state_dict(model.state_dict(), "tanh")
    np.testing.assert_array_equal(copy.layers[1].W.data, model.layers[1].W.data)


def test_from_state_dict_errors_say_what_does_not_fit():
    state = nn.MLP([2, 3, 3, 1], "tanh", seed=0).state_dict(layout="torch")
    with pytest.raises(
        ValueError, match=r"indices \[0, 2, 4\].*dropout=0.2 puts them at \[0, 3, 6\]"
    ):
        nn.MLP.from_state_dict(state, "tanh", dropout=0.2)
    with pytest.raises(ValueError, match=r"at \[0, 1, 2\]"):
        nn.MLP.from_state_dict(state, "identity")
    no_bias = {k: v for k, v in state.items() if k != "2.bias"}
    with pytest.raises(ValueError, match="layer 2 has no bias"):
        nn.MLP.from_state_dict(no_bias, "tanh")
    broken = {**state, "2.weight": np.ones((3, 5))}
    with pytest.raises(ValueError, match=r"layer 2's weight has shape \(3, 5\).*3 outputs"):
        nn.MLP.from_state_dict(broken, "tanh")
    with pytest.raises(ValueError, match="unexpected key 'fc1.weight'"):
        nn.MLP.from_state_dict({"fc1.weight": np.ones((2, 2))}, "tanh")
    with pytest.raises(ValueError, match="holds no layers"):
        nn.MLP.from_state_dict({}, "tanh")


def test_models_without_a_torch_equivalent_are_refused():
    class Net(nn.Module):
        def __init__(self):
            self.w = Tensor(np.ones(2), requires_grad=True)

    with pytest.raises(ValueError, match="Net has no torch.nn.Sequential equivalent"):
        Net().state_dict(layout="torch")
    with pytest.raises(ValueError, match="user-defined activation"):
        nn.Dense(2, 2, activation=lambda z: z * 2).state_dict(layout="torch")
    with pytest.raises(ValueError, match="layout must be 'nn' or 'torch'"):
        nn.Dense(2, 2).state_dict(layout="keras")


@pytest.mark.parametrize("name", list(MODELS))
def test_a_real_torch_sequential_loads_the_dict_and_computes_the_same(name):
    torch = pytest.importorskip("torch")
    model = MODELS[name]().eval()
    dtype = next(model.parameters()).dtype
    modules = [getattr(torch.nn, n)(**kw) for n, kw in torch_modules(model)]
    net = torch.nn.Sequential(*modules).to(torch.from_numpy(np.zeros(1, dtype)).dtype).eval()
    state = model.state_dict(layout="torch")
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})  # strict
    x = np.random.default_rng(1).normal(size=(5, next(model.parameters()).shape[1]))
    x = x.astype(dtype)
    with torch.no_grad():
        theirs = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(x).data, theirs, rtol=1e-5, atol=1e-6)
    if isinstance(model, nn.MLP):
        spec = model.architecture()
        back = nn.MLP.from_state_dict(
            net.state_dict(), spec["activation"], spec["output"], dropout=spec["dropout"]
        ).eval()
        np.testing.assert_allclose(back(x).data, theirs, rtol=1e-5, atol=1e-6)
    again = MODELS[name]().eval()
    again.load_state_dict(net.state_dict(), layout="torch")  # torch tensors, by name
    np.testing.assert_allclose(again(x).data, theirs, rtol=1e-5, atol=1e-6)
