"""Well-conditioned test cases for the backprop checker, in the course-notes layout.

A case is `X` (n_x, m), `Y` (n_out, m) and `parameters` {"W1", "b1", ...} with `b` of
shape (n_l, 1). Hypothesis draws only the batch size `m` and a seed; the arrays come
from `numpy.random.default_rng(seed)`, so a case is reproducible from `(m, seed)` and
hypothesis shrinks towards the smallest batch that still fails. Draws whose pre-
activations sit within `KINK_MARGIN` of a relu kink, or that saturate a sigmoid or
tanh, are redrawn: there a correct backward pass and autodiff could disagree for
reasons that are not bugs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nn import reference

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "identity")
LOSSES = ("bce", "mse")
LEAKY_SLOPE = reference.LEAKY_SLOPE
KINK_MARGIN = 1e-3
SATURATION = {"sigmoid": 6.0, "tanh": 3.0}  # largest |Z| allowed for these activations
MAX_BATCH = 8


@dataclass(frozen=True)
class Case:
    """One drawn input: the batch size, the seed it came from, and the arrays."""

    m: int
    seed: int
    X: np.ndarray
    Y: np.ndarray
    parameters: dict[str, np.ndarray]

    def copies(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Fresh copies of X, Y and the parameters, for one call that may modify them."""
        return self.X.copy(), self.Y.copy(), {k: v.copy() for k, v in self.parameters.items()}

    def __str__(self) -> str:
        with np.printoptions(precision=4, suppress=True, linewidth=88, threshold=60):
            lines = [f"m = {self.m} (drawn from seed {self.seed})", f"X =\n{self.X}"]
            lines.append(f"Y =\n{self.Y}")
            lines += [f"{k} =\n{v}" for k, v in self.parameters.items()]
        return "\n".join(lines)


def activate(name: str, Z: np.ndarray) -> np.ndarray:
    """The activation `name` applied to Z with numpy (the course formulas of nn.reference)."""
    return reference.apply_activation(name, Z)


def validate(layer_dims: Sequence[int], activations: Sequence[str], loss: str) -> None:
    """Raise ValueError naming what is wrong with a network description."""
    dims = list(layer_dims)
    if len(dims) < 2 or any(not isinstance(n, int | np.integer) or n < 1 for n in dims):
        raise ValueError(f"layer_dims must be at least two positive ints, got {dims}")
    if len(activations) != len(dims) - 1:
        raise ValueError(
            f"activations must name one activation per layer: {len(dims) - 1} for "
            f"layer_dims {dims}, got {len(activations)} ({list(activations)})"
        )
    for i, name in enumerate(activations, start=1):
        if name not in ACTIVATIONS:
            raise ValueError(f"layer {i}: unknown activation {name!r}; choose from {ACTIVATIONS}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss == "bce" and activations[-1] != "sigmoid":
        raise ValueError(
            f"loss 'bce' needs a sigmoid output layer; layer {len(activations)} is "
            f"{activations[-1]!r} (use loss='mse' for other outputs)"
        )


def _well_conditioned(Z: np.ndarray, activation: str) -> bool:
    if activation in ("relu", "leaky_relu"):
        return bool(np.all(np.abs(Z) >= KINK_MARGIN))
    limit = SATURATION.get(activation)
    return limit is None or bool(np.all(np.abs(Z) <= limit))


def draw_case(
    layer_dims: Sequence[int], activations: Sequence[str], loss: str, m: int, seed: int
) -> Case:
    """The case for batch size `m` and `seed`; redraws until it is well-conditioned."""
    rng = np.random.default_rng(seed)
    dims = [int(n) for n in layer_dims]
    for _ in range(1000):
        X = rng.standard_normal((dims[0], m))
        parameters: dict[str, np.ndarray] = {}
        A, fine = X, True
        for layer, activation in enumerate(activations, start=1):
            W = rng.standard_normal((dims[layer], dims[layer - 1])) / np.sqrt(dims[layer - 1])
            b = 0.5 * rng.standard_normal((dims[layer], 1))
            parameters[f"W{layer}"], parameters[f"b{layer}"] = W, b
            Z = W @ A + b
            fine = fine and _well_conditioned(Z, activation)
            A = activate(activation, Z)
        if fine:
            break
    else:  # pragma: no cover - needs hundreds of wide relu layers
        raise RuntimeError(
            f"could not draw pre-activations at least {KINK_MARGIN} away from the relu kink "
            f"for layer_dims {dims} and m={m}; try a smaller network"
        )
    shape = (dims[-1], m)
    Y = (
        rng.integers(0, 2, size=shape).astype(np.float64)
        if loss == "bce"
        else (rng.standard_normal(shape))
    )
    return Case(m, seed, X, Y, parameters)
