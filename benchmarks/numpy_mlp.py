"""The baseline: an MLP training step written by hand in numpy, as efficiently as we can.

Samples are rows, as in `nn`: `X` is `(batch, features)`, `W` is `(out, in)` and a layer
computes `X @ W.T + b`. Hidden layers use relu; the output is a sigmoid with binary
cross-entropy, or softmax cross-entropy over integer labels. The backward pass is the
course formulas with one matrix product per gradient:

    dZ_L = (P - Y) / m                    (sigmoid + BCE, and softmax + CE alike)
    dW_l = dZ_l^T @ A_{l-1},   db_l = sum of dZ_l over the batch
    dZ_{l-1} = (dZ_l @ W_l) * (A_{l-1} > 0)

Work is done in place wherever an array is fresh (the activations, dZ, the update), so
the baseline allocates no more than the products themselves need.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Loss = Literal["bce", "ce"]


def init_weights(
    sizes: list[int], dtype: type = np.float64, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialised `(W, b)` per layer, `W` of shape (out, in), small random biases."""
    rng = np.random.RandomState(seed)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = rng.randn(fan_out, fan_in) * np.sqrt(2.0 / fan_in)
        b = rng.randn(fan_out) * 0.01
        layers.append((W.astype(dtype), b.astype(dtype)))
    return layers


def make_batch(
    sizes: list[int], batch: int, loss: Loss, dtype: type = np.float64, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs `(batch, sizes[0])` and targets: a `(batch, 1)` 0/1 column or int labels."""
    rng = np.random.RandomState(seed)
    X = rng.randn(batch, sizes[0]).astype(dtype)
    if loss == "bce":
        y = (rng.rand(batch, 1) < 0.5).astype(dtype)
    else:
        y = rng.randint(0, sizes[-1], size=batch)
    return X, y


class NumpyMLP:
    """Relu MLP with a hand-derived backward pass and plain SGD, for timing against `nn`."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], loss: Loss, lr: float):
        self.W = [W.copy() for W, _ in layers]
        self.b = [b.copy() for _, b in layers]
        self.loss = loss
        self.lr = lr

    def loss_and_grads(
        self, X: np.ndarray, y: np.ndarray
    ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Forward and backward: the mean loss, then dW and db per layer."""
        acts = [X]
        last = len(self.W) - 1
        for i, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            Z = acts[-1] @ W.T
            Z += b
            if i < last:
                np.maximum(Z, 0, out=Z)
            acts.append(Z)
        m = X.shape[0]
        loss, dZ = _bce(acts.pop(), y, m) if self.loss == "bce" else _ce(acts.pop(), y, m)
        dWs: list[np.ndarray] = [None] * len(self.W)  # type: ignore[list-item]
        dbs: list[np.ndarray] = [None] * len(self.W)  # type: ignore[list-item]
        for i in range(last, -1, -1):
            A_prev = acts[i]
            dWs[i] = dZ.T @ A_prev
            dbs[i] = dZ.sum(axis=0)
            if i:
                dZ = dZ @ self.W[i]
                np.multiply(dZ, A_prev > 0, out=dZ)
        return loss, dWs, dbs

    def step(self, X: np.ndarray, y: np.ndarray) -> float:
        """One training step: forward, loss, backward and the SGD update in place."""
        loss, dWs, dbs = self.loss_and_grads(X, y)
        lr = self.lr
        for W, b, dW, db in zip(self.W, self.b, dWs, dbs, strict=True):
            dW *= lr
            W -= dW
            db *= lr
            b -= db
        return loss


def _bce(Z: np.ndarray, y: np.ndarray, m: int) -> tuple[float, np.ndarray]:
    """Sigmoid of the logits `Z` (in place), the mean BCE, and dL/dZ = (P - Y) / m."""
    np.negative(Z, out=Z)
    np.exp(Z, out=Z)
    Z += 1
    P = np.reciprocal(Z, out=Z)
    loss = -float((y * np.log(P) + (1 - y) * np.log(1 - P)).sum()) / m
    P -= y
    P *= 1.0 / m
    return loss, P


def _ce(Z: np.ndarray, labels: np.ndarray, m: int) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy of the logits `Z` (overwritten) and dL/dZ = (P - onehot) / m."""
    rows = np.arange(m)
    Z -= Z.max(axis=1, keepdims=True)
    picked = Z[rows, labels]
    np.exp(Z, out=Z)
    total = Z.sum(axis=1, keepdims=True)
    loss = float(np.log(total).sum() - picked.sum()) / m
    Z /= total
    Z[rows, labels] -= 1
    Z *= 1.0 / m
    return loss, Z
