"""Module: parameter discovery and names, modes, state dicts, the drawing protocol,
Sequential, Dropout and the activation modules."""

import numpy as np
import pytest

import autodiff as ad
import nn
from autodiff import Tensor


class Block(nn.Module):
    """A custom module whose tensors hide in lists, tuples and dicts."""

    def __init__(self):
        self.scale = Tensor(np.ones(3), requires_grad=True)
        self.constant = Tensor(np.ones(3))  # no grad: not a parameter
        self.pairs = [Tensor(np.zeros(2), requires_grad=True), (Tensor(1.0, requires_grad=True),)]
        self.table = {"k": Tensor(np.zeros((2, 2)), requires_grad=True)}
        self.inner = nn.Dense(3, 2, seed=0)
        self.note = "text"

    def forward(self, x):
        return self.inner(x * self.scale)


def test_named_parameters_walk_attributes_in_order():
    names = [name for name, _ in Block().named_parameters()]
    assert names == ["scale", "pairs.0", "pairs.1.0", "table.k", "inner.W", "inner.b"]


def test_mlp_parameter_names_and_shapes():
    model = nn.MLP([2, 5, 3, 1], seed=0)
    shapes = {name: p.shape for name, p in model.named_parameters()}
    assert shapes == {
        "layers.0.W": (5, 2), "layers.0.b": (5,),
        "layers.1.W": (3, 5), "layers.1.b": (3,),
        "layers.2.W": (1, 3), "layers.2.b": (1,),
    }  # fmt: skip
    assert model.parameters() == [p for _, p in model.named_parameters()]


def test_shared_parameter_listed_once():
    layer = nn.Dense(2, 2, seed=0)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert [n for n, _ in model.named_parameters()] == ["layers.0.W", "layers.0.b"]


def test_module_without_super_init_works():
    class Bare(nn.Module):
        def __init__(self):
            self.w = Tensor(2.0, requires_grad=True)

        def forward(self, x):
            return x * self.w

    m = Bare()
    assert m.training and m(Tensor(3.0)).item() == 6.0


def test_train_eval_reach_every_submodule():
    model = nn.MLP([2, 4, 4, 1], dropout=0.5, seed=0)
    assert model.eval() is model
    assert not model.training and not model.dropout.training
    assert all(not layer.training for layer in model.layers)
    model.train()
    assert model.training and model.dropout.training


def test_zero_grad_clears_every_parameter():
    model = nn.MLP([2, 3, 1], seed=0)
    model(np.ones((4, 2))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_state_dict_copies_and_load_restores():
    a, b = nn.MLP([2, 3, 1], seed=0), nn.MLP([2, 3, 1], seed=1)
    state = a.state_dict()
    state["layers.0.W"][0, 0] = 123.0  # a copy: the model is untouched
    assert a.layers[0].W.data[0, 0] != 123.0
    b.load_state_dict(a.state_dict())
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert na == nb and np.array_equal(pa.data, pb.data) and pa.data is not pb.data


def test_load_state_dict_names_missing_unexpected_and_misshaped():
    model = nn.MLP([2, 3, 1], seed=0)
    state = model.state_dict()
    del state["layers.1.b"]
    state["layers.9.W"] = np.zeros(1)
    state["layers.0.W"] = np.zeros((3, 5))
    before = model.layers[0].W.data.copy()
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "layers.1.b" in message and "layers.9.W" in message
    assert "layers.0.W" in message and "(3, 2)" in message and "(3, 5)" in message
    assert np.array_equal(model.layers[0].W.data, before)  # nothing changed


def test_load_state_dict_ignores_reserved_keys_and_keeps_dtype():
    model = nn.Dense(2, 2, seed=0, dtype=np.float32)
    state = {"W": np.ones((2, 2)), "b": np.ones(2), "__architecture__": np.array("{}")}
    model.load_state_dict(state)
    assert model.W.dtype == np.float32 and np.all(model.W.data == 1)


# ---- scopes: what drawings and messages read ----


def _scope_chain(t: Tensor) -> list[str]:
    labels, s = [], t._scope
    while s is not None:
        labels.append(s.label)
        s = s.parent
    return labels


def test_calling_a_module_never_renames_its_parameters():
    model = nn.MLP([2, 3, 1], seed=0)
    model(np.ones((1, 2)))
    assert all(p.name is None for p in model.parameters())
    layer = nn.Dense(2, 2, seed=0)
    layer.W.name = "mine"
    nn.Sequential(layer)(np.ones((1, 2)))
    assert layer.W.name == "mine" and layer.b.name is None


def test_module_scopes_name_parameters_by_path():
    model = nn.MLP([2, 3, 1], seed=0)
    out = model(np.ones((1, 2)))
    scope = out._scope
    while scope.parent is not None:
        scope = scope.parent
    assert dict((n, p) for n, p in scope.names()) == dict(model.named_parameters())


def test_nodes_record_the_module_scopes_they_were_made_in():
    model = nn.MLP([2, 16, 1], activation="tanh", output="sigmoid", seed=0)
    x = Tensor(np.ones((4, 2)))
    out = model(x)
    assert out.op == "sigmoid"
    assert _scope_chain(out) == [
        "layers.1: Dense(16→1, sigmoid)",
        "MLP([2, 16, 1], tanh → sigmoid)",
    ]
    linear = out._parents[0]  # each Dense layer is linear, then its activation op
    assert linear.op == "linear" and linear._scope is out._scope
    hidden = linear._parents[0]
    assert hidden.op == "tanh" and _scope_chain(hidden)[0] == "layers.0: Dense(2→16, tanh)"
    assert hidden._parents[0].op == "linear" and hidden._parents[0]._parents[0] is x


def test_module_scope_keeps_op_attributes():
    out = nn.LeakyReLU(0.2)(Tensor(np.ones(3), requires_grad=True))
    assert out._attrs == {"slope": 0.2} and out._scope.label == "LeakyReLU(0.2)"


def test_no_graph_and_no_scope_without_grad():
    with ad.no_grad():
        out = nn.Dense(2, 2, seed=0)(np.ones((1, 2)))
    assert out.is_leaf and out._scope is None


def test_reprs():
    assert repr(nn.Dense(2, 16, "tanh")) == "Dense(2→16, tanh)"
    assert repr(nn.Dense(3, 1, bias=False)) == "Dense(3→1, bias=False)"
    assert repr(nn.MLP([2, 16, 16, 1], "relu", "sigmoid")) == "MLP([2, 16, 16, 1], relu → sigmoid)"
    assert repr(nn.MLP([2, 4, 1], dropout=0.2)) == "MLP([2, 4, 1], relu → identity, dropout=0.2)"
    assert repr(nn.Sequential(nn.Dense(2, 3), nn.ReLU())) == "Sequential(Dense(2→3), ReLU())"


# ---- Sequential, activations, Dropout ----


def test_sequential_applies_in_order():
    seq = nn.Sequential(nn.Dense(2, 3, seed=0), nn.Tanh(), nn.Dense(3, 1, seed=1), nn.Sigmoid())
    x = np.random.default_rng(0).normal(size=(5, 2))
    W1, b1, W2, b2 = (p.data for p in seq.parameters())
    expected = 1 / (1 + np.exp(-(np.tanh(x @ W1.T + b1) @ W2.T + b2)))
    np.testing.assert_allclose(seq(x).data, expected, rtol=1e-12)
    assert len(seq) == 4 and seq[1].__class__ is nn.Tanh


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="item 1"):
        nn.Sequential(nn.ReLU(), np.tanh)


@pytest.mark.parametrize(
    "module, fn",
    [
        (nn.ReLU(), lambda z: np.maximum(z, 0)),
        (nn.Tanh(), np.tanh),
        (nn.Sigmoid(), lambda z: 1 / (1 + np.exp(-z))),
        (nn.LeakyReLU(0.1), lambda z: np.where(z > 0, z, 0.1 * z)),
        (nn.Identity(), lambda z: z),
        (nn.Softmax(), lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)),
    ],
)
def test_activation_modules(module, fn):
    z = np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_allclose(np.asarray(module(Tensor(z)).data), fn(z), rtol=1e-12)


def test_dropout_is_inverted_and_gradient_follows_mask():
    drop = nn.Dropout(0.25, seed=0)
    x = Tensor(np.ones((400, 50)), requires_grad=True)
    out = drop(x)
    values = np.unique(np.asarray(out.data))
    np.testing.assert_allclose(values, [0.0, 1 / 0.75])
    assert abs(np.mean(np.asarray(out.data) == 0) - 0.25) < 0.01
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.asarray(out.data))  # d(out)/dx = mask / (1 - p)


def test_dropout_eval_is_identity_and_seed_repeats():
    x = Tensor(np.ones((3, 4)))
    assert nn.Dropout(0.5).eval()(x) is x
    a = nn.Dropout(0.5, seed=3)(x).data
    b = nn.Dropout(0.5, seed=3)(x).data
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="p must be"):
        nn.Dropout(1.0)


def test_unknown_activation_lists_choices():
    with pytest.raises(ValueError, match="'swish'.*'relu'"):
        nn.Dense(2, 2, "swish")
