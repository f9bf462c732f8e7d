"""Models in PyTorch's layout: the same network as a `torch.nn.Sequential`, and back.

An `nn` model made of Dense layers and activations (MLP, Dense, Sequential of built-in
modules) is, in PyTorch, a `torch.nn.Sequential` of `Linear` and activation modules, in
which every module takes an index, activations and dropout included:
`Sequential(Linear(2, 16), Tanh(), Linear(16, 1), Sigmoid())` has the keys "0.weight",
"0.bias", "2.weight", "2.bias". `Linear.weight` has shape (out, in), as `Dense.W` does,
and computes `x @ weight.T + bias`, so the arrays carry over unchanged. Nothing here
imports torch.

>>> import nn
>>> model = nn.MLP([2, 16, 1], activation="tanh", output="sigmoid", seed=0)
>>> sorted(model.state_dict(layout="torch"))
['0.bias', '0.weight', '2.bias', '2.weight']
>>> torch_modules(model)
[('Linear', {'in_features': 2, 'out_features': 16, 'bias': True}), ('Tanh', {}), \
('Linear', {'in_features': 16, 'out_features': 1, 'bias': True}), ('Sigmoid', {})]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from nn.module import (
    Dropout,
    Identity,
    LeakyReLU,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

# The torch.nn module (name, keyword arguments) for each activation name.
ACTIVATION_MODULES: dict[str, tuple[str, dict[str, Any]]] = {
    "relu": ("ReLU", {}),
    "tanh": ("Tanh", {}),
    "sigmoid": ("Sigmoid", {}),
    "leaky_relu": ("LeakyReLU", {"negative_slope": 0.01}),
    "softmax": ("Softmax", {"dim": -1}),
}


def torch_modules(model: Module) -> list[tuple[str, dict[str, Any]]]:
    """The equivalent `torch.nn.Sequential`, as (torch.nn class name, keyword arguments).

    Build it with `torch.nn.Sequential(*(getattr(torch.nn, name)(**kwargs) for name,
    kwargs in torch_modules(model)))`. Raises `ValueError` for a model that has no such
    equivalent (custom modules, user-defined activation functions).
    """
    return [(name, kwargs) for name, kwargs, _ in _steps(model)]


def torch_state_dict(model: Module) -> dict[str, np.ndarray]:
    """`model`'s parameters under the keys of `torch_modules(model)` (copies)."""
    state: dict[str, np.ndarray] = {}
    for i, (name, _, layer) in enumerate(_steps(model)):
        if name == "Linear":
            state[f"{i}.weight"] = layer.W.data.copy()
            if layer.b is not None:
                state[f"{i}.bias"] = layer.b.data.copy()
    return state


def from_torch_keys(model: Module, state: Mapping[str, Any]) -> dict[str, Any]:
    """`state` in PyTorch's layout renamed to `model`'s parameter names ("0.weight" ->
    "layers.0.W"), for `model.load_state_dict(state, layout="torch")`. Keys the torch
    version does not have are passed on as they are, so load_state_dict names them."""
    names = {id(p): name for name, p in model.named_parameters()}
    rename = {}
    for i, (kind, _, layer) in enumerate(_steps(model)):
        if kind == "Linear":
            rename[f"{i}.weight"] = names[id(layer.W)]
            if layer.b is not None:
                rename[f"{i}.bias"] = names[id(layer.b)]
    return {rename.get(key, key): np.asarray(value) for key, value in state.items()}


def _steps(model: Module) -> list[tuple[str, dict[str, Any], Any]]:
    """(torch.nn name, kwargs, our Dense or None) for each module of the torch version."""
    from nn.layers import MLP, Dense

    if type(model) is MLP:
        steps = []
        for layer in model.layers:
            steps += _steps(layer)
            if model.dropout is not None and layer is not model.layers[-1]:
                steps.append(("Dropout", {"p": model.dropout.p}, None))
        return steps
    if type(model) is Dense:
        if callable(model.activation):
            raise ValueError(
                f"layout='torch': {model._summary()} has a user-defined activation "
                f"function, which has no torch.nn module"
            )
        kwargs = {"in_features": model.in_features, "out_features": model.out_features,
                  "bias": model.b is not None}  # fmt: skip
        steps = [("Linear", kwargs, model)]
        if model.activation not in (None, "identity"):
            name, extra = ACTIVATION_MODULES[model.activation]
            steps.append((name, dict(extra), None))
        return steps
    if type(model) is Sequential:
        return [step for module in model.layers for step in _steps(module)]
    simple = {ReLU: "ReLU", Tanh: "Tanh", Sigmoid: "Sigmoid", Identity: "Identity"}
    if type(model) in simple:
        return [(simple[type(model)], {}, None)]
    if type(model) is LeakyReLU:
        return [("LeakyReLU", {"negative_slope": model.slope}, None)]
    if type(model) is Softmax:
        return [("Softmax", {"dim": model.axis}, None)]
    if type(model) is Dropout:
        return [("Dropout", {"p": model.p}, None)]
    raise ValueError(
        f"layout='torch' covers MLP, Dense and Sequential of built-in modules; "
        f"{type(model).__name__} has no torch.nn.Sequential equivalent"
    )


# ---- back from PyTorch's layout ----

_TORCH_KEY = re.compile(r"^(\d+)\.(weight|bias)$")
_NN_KEY = re.compile(r"^layers\.(\d+)\.(W|b)$")


def mlp_from_state_dict(
    state: Mapping[str, Any],
    activation: str = "relu",
    output: str | None = None,
    *,
    dropout: float = 0.0,
) -> Any:
    """An `nn.MLP` holding the arrays of a state dict in PyTorch's (or nn's) layout.

    The widths come from the weights' shapes. The indices of PyTorch's keys must fit
    the layout of `activation` and `dropout` (Linear at 0, 2, 4 ... with an activation
    module between layers; at 0, 3, 6 ... with dropout too): a mismatch raises
    `ValueError` saying which indices it found and expected. Values may be numpy arrays
    or CPU torch tensors; the model takes the weights' dtype (float32 from PyTorch).
    """
    from nn.layers import MLP

    layers = _linear_layers(state)
    per_layer = 1 + (activation not in (None, "identity")) + (dropout > 0)
    found = [i for i, _, _ in layers]
    if _is_torch_layout(state) and found != [k * per_layer for k in range(len(layers))]:
        expected = [k * per_layer for k in range(len(layers))]
        raise ValueError(
            f"from_state_dict: Linear layers at indices {found}, but activation="
            f"{activation!r} with dropout={dropout} puts them at {expected} "
            f"(each hidden Linear is followed by {per_layer - 1} module(s)); check "
            f"activation and dropout"
        )
    weights = [w for _, w, _ in layers]
    for k, (i, w, b) in enumerate(layers):
        if w.ndim != 2:
            raise ValueError(f"from_state_dict: the weight of layer {i} has shape {w.shape}")
        if b is None:
            raise ValueError(f"from_state_dict: layer {i} has no bias; MLP layers have biases")
        if k and w.shape[1] != weights[k - 1].shape[0]:
            raise ValueError(
                f"from_state_dict: layer {i}'s weight has shape {w.shape}, which does not "
                f"take the {weights[k - 1].shape[0]} outputs of the layer before"
            )
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    dtype = weights[0].dtype if weights[0].dtype in (np.float32, np.float64) else np.float64
    model = MLP(sizes, activation, output, init="zeros", dropout=dropout, dtype=dtype)
    model.load_state_dict(
        {
            f"layers.{k}.{n}": v
            for k, (_, w, b) in enumerate(layers)
            for n, v in (("W", w), ("b", b))
        }
    )
    return model


def _is_torch_layout(state: Mapping[str, Any]) -> bool:
    return any(_TORCH_KEY.match(k) for k in state.keys())


def _linear_layers(state: Mapping[str, Any]) -> list[tuple[int, np.ndarray, np.ndarray | None]]:
    """(index, weight, bias or None) per layer in index order, from either layout."""
    pattern, weight = (_TORCH_KEY, "weight") if _is_torch_layout(state) else (_NN_KEY, "W")
    found: dict[int, dict[str, np.ndarray]] = {}
    for key in state.keys():
        match = pattern.match(key)
        if match is None:
            raise ValueError(
                f"from_state_dict: unexpected key {key!r}; expected PyTorch's '0.weight', "
                f"'0.bias', ... or nn's 'layers.0.W', 'layers.0.b', ..."
            )
        kind = "weight" if match.group(2) == weight else "bias"
        found.setdefault(int(match.group(1)), {})[kind] = np.asarray(state[key])
    if not found:
        raise ValueError("from_state_dict: the state dict holds no layers")
    layers = []
    for i in sorted(found):
        if "weight" not in found[i]:
            raise ValueError(f"from_state_dict: layer {i} has a bias but no weight")
        layers.append((i, found[i]["weight"], found[i].get("bias")))
    return layers
