"""Weight initialisers by name, for a weight matrix of shape (fan_out, fan_in).

Each draws from a `numpy.random.RandomState`, the generator behind the course notes'
`np.random.seed(k)`; so `nn.MLP(..., seed=k)` draws exactly the weights of
`nn.reference.initialize_parameters(..., seed=k)`, layer after layer. Biases start at 0.

To add an initialiser, add a function `(rng, fan_out, fan_in) -> array` to `INITIALIZERS`.

>>> w = weights("he", 3, 2, np.random.RandomState(0))
>>> bool(np.allclose(w, np.random.RandomState(0).randn(3, 2) * np.sqrt(2 / 2)))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def he(rng: np.random.RandomState, fan_out: int, fan_in: int) -> np.ndarray:
    """randn * sqrt(2 / fan_in): keeps the variance of relu layers' outputs steady."""
    return rng.randn(fan_out, fan_in) * np.sqrt(2 / fan_in)


def xavier(rng: np.random.RandomState, fan_out: int, fan_in: int) -> np.ndarray:
    """randn * sqrt(1 / fan_in), the scaling the course notes call Xavier (for tanh)."""
    return rng.randn(fan_out, fan_in) * np.sqrt(1 / fan_in)


def glorot_uniform(rng: np.random.RandomState, fan_out: int, fan_in: int) -> np.ndarray:
    """Uniform on [-a, a] with a = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio)."""
    limit = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_out, fan_in))


def small(rng: np.random.RandomState, fan_out: int, fan_in: int) -> np.ndarray:
    """randn * 0.01: the classic too-small start that freezes deep tanh networks."""
    return rng.randn(fan_out, fan_in) * 0.01


def zeros(rng: np.random.RandomState, fan_out: int, fan_in: int) -> np.ndarray:
    """All zeros: every unit of a layer stays identical (a symmetry nothing breaks)."""
    return np.zeros((fan_out, fan_in))


INITIALIZERS: dict[str, Callable[[np.random.RandomState, int, int], np.ndarray]] = {
    "he": he,
    "xavier": xavier,
    "glorot_uniform": glorot_uniform,
    "small": small,
    "zeros": zeros,
}


def as_rng(seed: Any) -> np.random.RandomState:
    """A RandomState from a seed (int or None) or an existing RandomState."""
    if isinstance(seed, np.random.RandomState):
        return seed
    return np.random.RandomState(seed)


def weights(
    name: str, fan_out: int, fan_in: int, rng: np.random.RandomState, dtype: Any = np.float64
) -> np.ndarray:
    """A (fan_out, fan_in) weight matrix drawn by the initialiser called `name`."""
    try:
        fn = INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown init {name!r}; choose one of {', '.join(map(repr, INITIALIZERS))}"
        ) from None
    return np.asarray(fn(rng, fan_out, fan_in), dtype=dtype)
