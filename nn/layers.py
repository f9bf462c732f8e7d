"""Dense layers and the multi-layer perceptron built from them.

`Dense` is an `ad.linear` node, x @ W.T + b, followed by its activation op (drawn in
one box, the layer's scope). The gradients come from the engine's rules for those ops. `W` has shape
(out, in), the `W` of the course notes' column-per-sample `Z = W @ A_prev + b`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import Tensor
from nn import init as initializers
from nn.module import RELU_FAMILY, Dropout, Module, activation_fn

Activation = str | Callable[[Tensor], Tensor] | None


class Dense(Module):
    """A fully connected layer: `activation(x @ W.T + b)`.

    `W` has shape (out_features, in_features) and `b` shape (out_features,); `init` names
    the initialiser of `W` (see `nn.init`), `b` starts at 0. `seed` (an int, or a
    `numpy.random.RandomState` to share one stream) makes the weights reproducible.

    `dtype` (float64 or float32) is the parameters' dtype. Input of another float dtype
    is refused with a `TypeError` naming both, as PyTorch does, rather than computed
    silently in float64: convert it (`X.astype(np.float32)`). Lists and integer arrays,
    which carry no float type of their own, take the layer's. (`nn.fit` converts its
    data set to the model's dtype before training.)

    >>> layer = Dense(2, 3, "tanh", seed=0)
    >>> layer
    Dense(2 -> 3, tanh)
    >>> layer(np.ones((4, 2))).shape
    (4, 3)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: Activation = None,
        *,
        init: str = "he",
        bias: bool = True,
        seed: int | np.random.RandomState | None = None,
        dtype: Any = np.float64,
    ) -> None:
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"Dense: {what} must be a positive integer, got {n!r}")
        rng = initializers.as_rng(seed)
        self.W = Tensor(
            initializers.weights(init, out_features, in_features, rng, dtype), requires_grad=True
        )
        self.b = Tensor(np.zeros(out_features, dtype=dtype), requires_grad=True) if bias else None
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.activation = activation
        self.init = init
        self._act = activation if callable(activation) else activation_fn(activation)
        self._in_shape = (self.in_features,)

    def forward(self, x: Any) -> Tensor:
        if type(x) is not Tensor or not x.op:
            x = self._check_input(x)
        elif x.shape[-1:] != self._in_shape:
            raise self._shape_error(x.shape)
        elif x.dtype != self.W.dtype:
            raise self._dtype_error(x.dtype)
        out = ad.linear(x, self.W, self.b)
        act = self._act
        return out if act is None else act(out)

    def _check_input(self, x: Any) -> Tensor:
        """Inputs from outside the graph: dtype, width and finiteness, each explained."""
        x = self._in_dtype(x)
        x = x if isinstance(x, Tensor) else Tensor(x)  # a private copy of a numpy batch
        if x.shape[-1:] != self._in_shape:
            raise self._shape_error(x.shape)
        # A finite sum means every element is finite (NaN and inf propagate): one pass and
        # no temporary array; only an overflowing or non-finite sum needs the full check.
        # The sum is an engine op read with .item(), not numpy on `.data`: inside
        # ad.compile a forward under no_grad (whose hidden inputs have no op) stays
        # compiled, and the plan drops the unused sum.
        if not np.isfinite(x.sum().item()) and not np.isfinite(data := x.numpy()).all():
            bad = np.argwhere(~np.isfinite(data))[0].tolist()
            raise ValueError(
                f"{self._where()}: the input holds non-finite values (first at index "
                f"{bad}, value {data[tuple(bad)]}); input of shape {data.shape}"
            )
        return x

    def _in_dtype(self, x: Any) -> Any:
        """Float input of another dtype refused; lists and ints converted to the layer's."""
        dtype = self.W.dtype  # read each call: assigning W.data may change it
        if isinstance(x, Tensor) or (isinstance(x, np.ndarray) and x.dtype.kind == "f"):
            if x.dtype != dtype:
                raise self._dtype_error(x.dtype)
            return x
        x = np.asarray(x)  # a list, a number or an int/bool array: no float type of its own
        return x.astype(dtype) if x.dtype.kind in "biuf" else x  # a float list too

    def _where(self) -> str:
        what = f"Dense {self.in_features}->{self.out_features}"
        return f"{self._path} ({what})" if self._path else what

    def _shape_error(self, shape: tuple[int, ...]) -> ValueError:
        return ValueError(
            f"{self._where()}: expected input of shape (batch, {self.in_features}), "
            f"got shape {shape}"
        )

    def _dtype_error(self, dtype: np.dtype) -> TypeError:
        mine = self.W.dtype
        return TypeError(
            f"{self._where()}: the input has dtype {dtype} but the layer's parameters are "
            f"{mine}; convert the input (x.astype(np.{mine})) or build the model with "
            f"dtype=np.{dtype}"
        )

    def architecture(self) -> dict[str, Any] | None:
        if type(self) is not Dense or callable(self.activation):
            return None
        return {
            "type": "Dense",
            "in_features": self.in_features,
            "out_features": self.out_features,
            "activation": self.activation,
            "bias": self.b is not None,
            "dtype": str(self.W.dtype),
        }

    def extra_repr(self) -> str:
        parts = [f"{self.in_features} -> {self.out_features}"]
        if self.activation is not None:
            parts.append(_activation_name(self.activation))
        if self.b is None:
            parts.append("bias=False")
        if self.W.dtype != np.float64:
            parts.append(f"dtype={self.W.dtype}")
        return ", ".join(parts)


def _activation_name(activation: Activation) -> str:
    if activation is None:
        return "identity"
    return activation if isinstance(activation, str) else getattr(activation, "__name__", "?")


class MLP(Module):
    """A stack of Dense layers: `activation` on the hidden layers, `output` on the last.

    `layer_sizes` lists the widths from input to output (`[2, 16, 16, 1]` is two hidden
    layers of 16). `init` is a name for every layer, a list with one per layer, or None
    for the default: he for relu-family layers, xavier otherwise (output layer included).
    `dropout` > 0 adds inverted dropout after each hidden layer. `model.layers` is the
    list of Dense layers, so parameters are named "layers.0.W", "layers.0.b", ...

    `dtype` is the parameters' dtype; input of another float dtype raises `TypeError` (see
    `Dense`).

    >>> model = MLP([2, 16, 16, 1], activation="tanh", output="sigmoid", seed=0)
    >>> print(model)
    MLP(
      [2, 16, 16, 1], tanh -> sigmoid
      (layers.0): Dense(2 -> 16, tanh)
      (layers.1): Dense(16 -> 16, tanh)
      (layers.2): Dense(16 -> 1, sigmoid)
    )
    >>> [name for name, _ in model.named_parameters()][:3]
    ['layers.0.W', 'layers.0.b', 'layers.1.W']
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        output: str | None = None,
        *,
        init: str | Sequence[str] | None = None,
        dropout: float = 0.0,
        seed: int | np.random.RandomState | None = None,
        dtype: Any = np.float64,
    ) -> None:
        sizes = _layer_sizes(layer_sizes, activation, output)
        activation_fn(activation)
        activation_fn(output)
        n_layers = len(sizes) - 1
        acts = [activation] * (n_layers - 1) + [output]
        if init is None:
            inits = ["he" if a in RELU_FAMILY else "xavier" for a in acts]
        elif isinstance(init, str):
            inits = [init] * n_layers
        else:
            inits = list(init)
            if len(inits) != n_layers:
                raise ValueError(f"MLP: init lists {len(inits)} names for {n_layers} layers")
        rng = initializers.as_rng(seed)
        self.layers = [
            Dense(n_in, n_out, act, init=name, seed=rng, dtype=dtype)
            for n_in, n_out, act, name in zip(sizes[:-1], sizes[1:], acts, inits, strict=True)
        ]
        self.layer_sizes = sizes
        self.activation = activation
        self.output = output
        self.dropout = (
            Dropout(dropout, seed=seed if isinstance(seed, int) else None) if dropout else None
        )

    def forward(self, x: Any) -> Tensor:
        dropout = self.dropout
        if dropout is None:
            for layer in self.layers:
                x = layer(x)
            return x
        last = self.layers[-1]
        for layer in self.layers:
            x = layer(x)
            if layer is not last:
                x = dropout(x)
        return x

    @classmethod
    def from_state_dict(
        cls,
        state: Any,
        activation: str = "relu",
        output: str | None = None,
        *,
        dropout: float = 0.0,
    ) -> MLP:
        """The MLP holding a state dict in PyTorch's layout ("0.weight", "0.bias", ...).

        The inverse of `model.state_dict(layout="torch")`: the widths come from the
        weights' shapes, `activation`/`output`/`dropout` say what sits between the
        Linear layers. `torch_model.state_dict()` (CPU tensors) works as it is, and so
        does a dict in nn's own layout. See `nn.torch_layout.mlp_from_state_dict`.

        >>> model = MLP([2, 8, 1], activation="tanh", output="sigmoid", seed=0)
        >>> copy = MLP.from_state_dict(model.state_dict(layout="torch"), "tanh", "sigmoid")
        >>> copy.layer_sizes, bool((copy.layers[0].W.data == model.layers[0].W.data).all())
        ([2, 8, 1], True)
        """
        from nn.torch_layout import mlp_from_state_dict

        return mlp_from_state_dict(state, activation, output, dropout=dropout)

    def architecture(self) -> dict[str, Any] | None:
        if type(self) is not MLP:
            return None
        return {
            "type": "MLP",
            "layer_sizes": self.layer_sizes,
            "activation": self.activation,
            "output": self.output,
            "dropout": self.dropout.p if self.dropout is not None else 0.0,
            "dtype": str(self.layers[0].W.dtype),
        }

    def extra_repr(self) -> str:
        extra = f", dropout={self.dropout.p:g}" if self.dropout is not None else ""
        return (
            f"{self.layer_sizes}, {_activation_name(self.activation)} -> "
            f"{_activation_name(self.output)}{extra}"
        )


def _layer_sizes(layer_sizes: Any, activation: Any, output: Any) -> list[int]:
    """The widths as ints, or an error that says what was wrong: never a silent int()."""
    if not isinstance(layer_sizes, (Sequence, np.ndarray)) or isinstance(layer_sizes, str):
        if _is_width(layer_sizes):
            given = [n for n in (layer_sizes, activation, output) if _is_width(n)]
            hint = f": nn.MLP({[int(n) for n in given]}, ...)"
        else:
            hint = ", such as nn.MLP([2, 16, 1])"
        raise TypeError(
            f"MLP: layer_sizes must be one list of widths from input to output, got "
            f"{layer_sizes!r}; pass the widths as a list{hint}"
        )
    sizes = list(layer_sizes)
    for i, n in enumerate(sizes):
        if not _is_width(n) or n < 1:
            raise ValueError(
                f"MLP: layer_sizes[{i}] is {n!r}; every width must be a positive integer "
                f"(got layer_sizes={sizes})"
            )
    if len(sizes) < 2:
        raise ValueError(
            f"MLP: layer_sizes needs at least two widths (input and output), got {sizes}"
        )
    return [int(n) for n in sizes]


def _is_width(n: Any) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))
