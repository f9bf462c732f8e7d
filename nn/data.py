"""Mini-batches and small seeded 2-D toy datasets (plain numpy, no scikit-learn).

Every `make_*` returns `(X, y)`: `X` float64 of shape (n, 2), `y` integer labels of
shape (n,), in shuffled order; the same `seed` gives the same data, and `noise` is the
standard deviation of Gaussian noise added to the points.

>>> X, y = make_moons(6, seed=0)
>>> X.shape, y.shape, sorted(set(y.tolist()))
((6, 2), (6,), [0, 1])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

Seed = int | np.random.Generator | None


def batches(
    X: Any, y: Any, batch_size: int | None, *, shuffle: bool = True, seed: Seed = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield `(X_batch, y_batch)` pairs covering the data once; the last may be partial.

    `batch_size=None` gives the whole data set as one batch. With `shuffle` the order is
    a permutation drawn from `seed` (an int, a `numpy.random.Generator`, or None).

    >>> [len(xb) for xb, yb in batches(np.zeros((5, 2)), np.zeros(5), 2, shuffle=False)]
    [2, 2, 1]
    """
    X, y = np.asarray(X), np.asarray(y)
    n = len(X)
    if len(y) != n:
        raise ValueError(
            f"batches: X has {n} rows but y has {len(y)} (shapes {X.shape} and {y.shape})"
        )
    if batch_size is None:
        batch_size = max(n, 1)
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool):
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")
    order = np.random.default_rng(seed).permutation(n) if shuffle else None
    return _iterate(X, y, int(batch_size), order)


def _iterate(
    X: np.ndarray, y: np.ndarray, size: int, order: np.ndarray | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(X), size):
        if order is None:
            yield X[start : start + size], y[start : start + size]
        else:
            idx = order[start : start + size]
            yield X[idx], y[idx]


def _check_n(n: int, name: str, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name}: n must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _finish(
    X: np.ndarray, y: np.ndarray, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if noise:
        X = X + rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(len(X))
    return X[order], y[order].astype(np.int64)


def make_moons(n: int, *, noise: float = 0.0, seed: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles: label 0 the upper one, label 1 the lower one."""
    n = _check_n(n, "make_moons")
    rng = np.random.default_rng(seed)
    n_upper = n // 2
    n_lower = n - n_upper
    t_upper = np.linspace(0, np.pi, n_upper)
    t_lower = np.linspace(0, np.pi, n_lower)
    upper = np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1)
    lower = np.stack([1 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1)
    y = np.concatenate([np.zeros(n_upper), np.ones(n_lower)])
    return _finish(np.concatenate([upper, lower]), y, noise, rng)


def make_circles(
    n: int, *, noise: float = 0.0, seed: Seed = None, factor: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """A circle of radius `factor` (label 1) inside the unit circle (label 0)."""
    n = _check_n(n, "make_circles")
    if not 0 < factor < 1:
        raise ValueError(f"make_circles: factor must be in (0, 1), got {factor}")
    rng = np.random.default_rng(seed)
    n_outer = n // 2
    n_inner = n - n_outer
    t_outer = np.linspace(0, 2 * np.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0, 2 * np.pi, n_inner, endpoint=False)
    outer = np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1)
    inner = factor * np.stack([np.cos(t_inner), np.sin(t_inner)], axis=1)
    y = np.concatenate([np.zeros(n_outer), np.ones(n_inner)])
    return _finish(np.concatenate([outer, inner]), y, noise, rng)


def make_xor(n: int, *, noise: float = 0.0, seed: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform on [-1, 1]^2, label 1 where the two coordinates differ in sign."""
    n = _check_n(n, "make_xor")
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    return _finish(X, y, noise, rng)


def make_spirals(
    n: int, *, classes: int = 2, noise: float = 0.0, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """`classes` interleaved spiral arms of 1.5 turns each, label k for arm k."""
    n = _check_n(n, "make_spirals")
    classes = _check_n(classes, "make_spirals (classes)", minimum=2)
    rng = np.random.default_rng(seed)
    parts, labels = [], []
    for k in range(classes):
        count = n // classes + (k < n % classes)
        r = np.linspace(0.05, 1.0, count)
        theta = 3 * np.pi * r + 2 * np.pi * k / classes
        parts.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        labels.append(np.full(count, k))
    return _finish(np.concatenate(parts), np.concatenate(labels), noise, rng)
