"""What is checked, and the cases it is checked on.

`Network` describes the network of the built-in truth (sizes, activations, loss, L2,
leaky_relu's slope) and the user's conventions (layout, dtype). A `Case` is one drawn
input in the user's layout and dtype: `X`, `Y` and the parameters. Internally the
formulas work in the course layout (samples are columns) in float64; `Case.columns()`
gives that view. Rows layout (`X @ W + b`) is the transpose of every array, so a
conversion is a transpose and nothing else.

Hypothesis draws only the batch size `m` and a seed; the arrays come from
`numpy.random.default_rng(seed)`, so a case is reproducible from `(m, seed)` and
hypothesis shrinks towards the smallest batch that still fails. Draws whose
pre-activations sit within `KINK_MARGIN` of a relu kink, or that saturate a sigmoid,
tanh or softmax, are redrawn: there a correct backward pass and autodiff could disagree
for reasons that are not bugs. Float32 cases are drawn in float64 and rounded, and the
truth is computed from the rounded values, so rounding is never mistaken for a bug.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nn import reference

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "identity", "softmax")
LOSSES = ("bce", "mse", "cross_entropy")
LAYOUTS = ("columns", "rows")
DTYPES = (np.float64, np.float32)
LEAKY_SLOPE = reference.LEAKY_SLOPE
KINK_MARGIN = 1e-3
SATURATION = {"sigmoid": 6.0, "tanh": 3.0, "softmax": 6.0}  # largest |Z| allowed
MAX_BATCH = 64


def flip(array: np.ndarray | None) -> np.ndarray | None:
    """Columns layout <-> rows layout: every array is transposed, nothing else."""
    return None if array is None else np.ascontiguousarray(np.asarray(array).T)


def is_layer_name(name: str) -> bool:
    """`W3` or `b3`: a name of the course's per-layer parameters."""
    return len(name) > 1 and name[0] in "Wb" and name[1:].isdigit() and name[1] != "0"


@dataclass(frozen=True)
class Case:
    """One drawn input, in the user's layout and dtype: batch size, seed, and arrays."""

    m: int
    seed: int
    X: np.ndarray
    Y: np.ndarray
    parameters: dict[str, np.ndarray]
    layout: str = "columns"

    def copies(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Fresh copies of X, Y and the parameters, for one call that may modify them."""
        return self.X.copy(), self.Y.copy(), {k: v.copy() for k, v in self.parameters.items()}

    def columns(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """X, Y and the parameters in the course layout (samples are columns), float64."""

        def col(a: np.ndarray) -> np.ndarray:
            a = np.asarray(a, dtype=np.float64)
            return flip(a) if self.layout == "rows" else a.copy()

        return col(self.X), col(self.Y), {k: col(v) for k, v in self.parameters.items()}

    def __str__(self) -> str:
        with np.printoptions(precision=4, suppress=True, linewidth=88, threshold=60):
            lines = [f"m = {self.m} (drawn from seed {self.seed})", f"X =\n{self.X}"]
            lines.append(f"Y =\n{self.Y}")
            lines += [f"{k} =\n{v}" for k, v in self.parameters.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class Network:
    """The network of the built-in truth, and the user's layout and dtype."""

    dims: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str = "bce"
    lambd: float = 0.0
    slope: float = LEAKY_SLOPE
    layout: str = "columns"
    dtype: type = np.float64
    data: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False)

    @property
    def L(self) -> int:
        return len(self.activations)

    def names(self) -> list[str]:
        """Gradient names from the output layer down: dWL, dbL, ..., dW1, db1."""
        return [f"{p}{i}" for i in range(self.L, 0, -1) for p in ("dW", "db")]

    def describe(self) -> str:
        text = f"layers {'-'.join(map(str, self.dims))} ({', '.join(self.activations)}), "
        text += f"loss {self.loss}"
        if self.lambd:
            text += f", lambd {self.lambd:g}"
        if "leaky_relu" in self.activations and self.slope != LEAKY_SLOPE:
            text += f", slope {self.slope:g}"
        if self.layout == "rows":
            text += ", rows layout"
        if self.dtype == np.float32:
            text += ", float32"
        return text


def check_options(layout: str, dtype: object, lambd: float, slope: float) -> type:
    """Validate the options every check shares; returns the dtype as a numpy type."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'columns' or 'rows', got {layout!r}")
    try:
        kind = np.dtype(dtype).type
    except TypeError:
        raise ValueError(f"dtype must be np.float64 or np.float32, got {dtype!r}") from None
    if kind not in DTYPES:
        raise ValueError(f"dtype must be np.float64 or np.float32, got {np.dtype(dtype).name}")
    if not np.isfinite(lambd) or lambd < 0:
        raise ValueError(f"lambd must be a number >= 0, got {lambd!r}")
    if not np.isfinite(slope):
        raise ValueError(f"slope must be a finite number, got {slope!r}")
    return kind


def validate(layer_dims: Sequence[int], activations: Sequence[str], loss: str) -> None:
    """Raise ValueError naming what is wrong with a network description."""
    dims = list(layer_dims)
    if len(dims) < 2 or any(
        isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1 for n in dims
    ):
        raise ValueError(f"layer_dims must be at least two positive ints, got {dims}")
    if isinstance(activations, str) or len(activations) != len(dims) - 1:
        raise ValueError(
            f"activations must name one activation per layer: {len(dims) - 1} for "
            f"layer_dims {dims}, got {activations!r}"
        )
    for i, name in enumerate(activations, start=1):
        if name not in ACTIVATIONS:
            raise ValueError(f"layer {i}: unknown activation {name!r}; choose from {ACTIVATIONS}")
        if name == "softmax" and i != len(activations):
            raise ValueError(f"layer {i}: softmax is only supported on the output layer")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss == "bce" and activations[-1] != "sigmoid":
        raise ValueError(
            f"loss 'bce' needs a sigmoid output layer; layer {len(activations)} is "
            f"{activations[-1]!r} (use loss='mse' for other outputs)"
        )
    if loss == "cross_entropy" and (activations[-1] != "softmax" or dims[-1] < 2):
        raise ValueError(
            "loss 'cross_entropy' needs a softmax output layer of at least 2 units; got "
            f"{activations[-1]!r} with {dims[-1]} unit(s)"
        )
    if activations[-1] == "softmax" and loss != "cross_entropy":
        raise ValueError("a softmax output layer needs loss='cross_entropy'")


def dims_from_parameters(parameters: Mapping[str, np.ndarray], layout: str) -> list[int]:
    """layer_dims read off an example {"W1", "b1", ...} dict in the given layout."""
    L = sum(1 for k in parameters if is_layer_name(k) and k[0] == "W")
    if L == 0 or set(parameters) != {f"{p}{i}" for i in range(1, L + 1) for p in "Wb"}:
        raise ValueError(
            "the built-in truth needs parameters named W1, b1, ..., WL, bL; got "
            f"{sorted(parameters)} (pass cost_fn= for other names)"
        )
    dims = []
    for i in range(1, L + 1):
        W = np.asarray(parameters[f"W{i}"])
        if W.ndim != 2:
            raise ValueError(f"W{i} must be 2-D, got shape {W.shape}")
        n_out, n_in = W.shape if layout == "columns" else W.shape[::-1]
        if dims and dims[-1] != n_in:
            raise ValueError(f"W{i} of shape {W.shape} does not follow W{i - 1} ({layout} layout)")
        dims = dims or [n_in]
        dims.append(n_out)
    return dims


def _well_conditioned(Z: np.ndarray, activation: str) -> bool:
    if activation in ("relu", "leaky_relu"):
        return bool(np.all(np.abs(Z) >= KINK_MARGIN))
    limit = SATURATION.get(activation)
    return limit is None or bool(np.all(np.abs(Z) <= limit))


def _labels(rng: np.random.Generator, loss: str, shape: tuple[int, int]) -> np.ndarray:
    """Targets in the course layout: 0/1 for bce, one-hot columns for cross_entropy."""
    if loss == "bce":
        return rng.integers(0, 2, size=shape).astype(np.float64)
    if loss == "cross_entropy":
        return np.eye(shape[0])[:, rng.integers(0, shape[0], size=shape[1])]
    return rng.standard_normal(shape)


def data_columns(data: tuple[object, object], layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The user's example data (X, Y) in the course layout, float64; Y may be 1-D."""
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ValueError("data must be a pair (X, Y)")
    X, Y = (np.asarray(a, dtype=np.float64) for a in data)
    if X.ndim != 2:
        raise ValueError(f"data: X must be 2-D, got shape {X.shape}")
    if Y.ndim == 1:
        Y = Y.reshape(1, -1) if layout == "columns" else Y.reshape(-1, 1)
    if layout == "rows":
        X, Y = flip(X), flip(Y)
    if Y.ndim != 2 or Y.shape[1] != X.shape[1]:
        raise ValueError(f"data: X and Y hold different numbers of samples ({layout} layout)")
    return X, Y


def max_batch(data: tuple[np.ndarray, np.ndarray] | None) -> int:
    """Largest batch drawn: MAX_BATCH, or the number of samples in the user's data."""
    return MAX_BATCH if data is None else max(1, min(MAX_BATCH, data[0].shape[1]))


def _batch(rng, data, m: int, n_x: int, n_out: int, loss: str):
    if data is None:
        return rng.standard_normal((n_x, m)), _labels(rng, loss, (n_out, m))
    X, Y = data
    pick = rng.choice(X.shape[1], size=min(m, X.shape[1]), replace=False)
    return X[:, pick], Y[:, pick]


def to_user(m: int, seed: int, X, Y, parameters: dict, layout: str, dtype: type) -> Case:
    """A Case from course-layout float64 arrays, in the user's layout and dtype."""

    def user(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=dtype)
        return flip(a) if layout == "rows" else a

    return Case(m, seed, user(X), user(Y), {k: user(v) for k, v in parameters.items()}, layout)


def draw_case(net: Network, m: int, seed: int) -> Case:
    """The case for batch size `m` and `seed`; redraws until it is well-conditioned."""
    rng = np.random.default_rng(seed)
    dims = net.dims
    for _ in range(1000):
        X, Y = _batch(rng, net.data, m, dims[0], dims[-1], net.loss)
        X = X.astype(net.dtype).astype(np.float64)
        parameters: dict[str, np.ndarray] = {}
        A, fine = X, True
        for layer, activation in enumerate(net.activations, start=1):
            W = rng.standard_normal((dims[layer], dims[layer - 1])) / np.sqrt(dims[layer - 1])
            b = 0.5 * rng.standard_normal((dims[layer], 1))
            W, b = W.astype(net.dtype).astype(np.float64), b.astype(net.dtype).astype(np.float64)
            parameters[f"W{layer}"], parameters[f"b{layer}"] = W, b
            Z = W @ A + b
            fine = fine and _well_conditioned(Z, activation)
            A = activate(activation, Z, net.slope)
        if fine or net.data is not None and _ == 50:  # user data may sit on a kink: accept
            break
    else:  # pragma: no cover - needs hundreds of wide relu layers
        raise RuntimeError(
            f"could not draw pre-activations at least {KINK_MARGIN} away from the relu kink "
            f"for layer_dims {list(dims)} and m={m}; try a smaller network"
        )
    return to_user(X.shape[1], seed, X, Y, parameters, net.layout, net.dtype)


def draw_free_case(
    examples: Mapping[str, np.ndarray],
    n_x: int,
    n_out: int,
    loss: str,
    layout: str,
    dtype: type,
    data: tuple[np.ndarray, np.ndarray] | None,
    m: int,
    seed: int,
) -> Case:
    """A case for any parameter names and shapes (the `cost_fn` truth): weights-like
    arrays scaled by 1/sqrt(fan_in), everything else N(0, 0.25)."""
    rng = np.random.default_rng(seed)
    X, Y = _batch(rng, data, m, n_x, n_out, loss)
    params = {}
    for name, example in examples.items():
        shape = np.shape(example)
        if len(shape) == 2 and min(shape) > 1:
            fan_in = shape[1] if layout == "columns" else shape[0]
            params[name] = rng.standard_normal(shape) / np.sqrt(fan_in)
        else:
            params[name] = 0.5 * rng.standard_normal(shape)
    user = to_user(X.shape[1], seed, X, Y, {}, layout, dtype)
    return Case(
        user.m, seed, user.X, user.Y, {k: v.astype(dtype) for k, v in params.items()}, layout
    )


def activate(name: str, Z: np.ndarray, slope: float = LEAKY_SLOPE) -> np.ndarray:
    """The activation `name` applied to Z with numpy (the course formulas of nn.reference);
    softmax normalises each column."""
    if name == "leaky_relu":
        return np.where(Z > 0, Z, slope * Z)
    return reference.apply_activation(name, Z)
