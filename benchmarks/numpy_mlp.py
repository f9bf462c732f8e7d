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

    def _forward(self, X: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], float, np.ndarray]:
        """The activations feeding each layer (X first), the mean loss and dL/dZ_L."""
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
        return acts, loss, dZ

    def loss_and_grads(
        self, X: np.ndarray, y: np.ndarray
    ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Forward and backward: the mean loss, then dW and db per layer."""
        acts, loss, dZ = self._forward(X, y)
        last = len(self.W) - 1
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
        """One training step: forward, loss, then backward with each layer's SGD update
        folded in (in place, as soon as dZ has been passed down through the old W)."""
        acts, loss, dZ = self._forward(X, y)
        last = len(self.W) - 1
        lr = self.lr
        for i in range(last, -1, -1):
            A_prev, W = acts[i], self.W[i]
            dW = dZ.T @ A_prev
            db = dZ.sum(axis=0)
            if i:
                dZ = dZ @ W
                np.multiply(dZ, A_prev > 0, out=dZ)
            dW *= lr
            W -= dW
            db *= lr
            self.b[i] -= db
        return loss


class PreallocatedMLP(NumpyMLP):
    """The same step with every array allocated once: the practical limit of numpy."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], loss: Loss, lr: float,
                 batch: int):  # fmt: skip
        super().__init__(layers, loss, lr)
        self.Z = [np.empty((batch, W.shape[0]), W.dtype) for W in self.W]
        self.dZ = [np.empty((batch, W.shape[0]), W.dtype) for W in self.W]
        self.mask = [np.empty((batch, W.shape[0]), bool) for W in self.W]
        self.dW = [np.empty_like(W) for W in self.W]
        self.db = [np.empty_like(b) for b in self.b]

    def step(self, X: np.ndarray, y: np.ndarray) -> float:
        A = X
        last = len(self.W) - 1
        for i, (W, b, Z) in enumerate(zip(self.W, self.b, self.Z, strict=True)):
            np.matmul(A, W.T, out=Z)
            Z += b
            if i < last:
                np.maximum(Z, 0, out=Z)
            A = Z
        m = X.shape[0]
        loss, dZ = _bce(A, y, m) if self.loss == "bce" else _ce(A, y, m)
        lr = self.lr
        for i in range(last, -1, -1):
            W, dW, db = self.W[i], self.dW[i], self.db[i]
            A_prev = self.Z[i - 1] if i else X
            np.matmul(dZ.T, A_prev, out=dW)
            np.add.reduce(dZ, 0, out=db)
            if i:
                below = self.dZ[i - 1]
                np.matmul(dZ, W, out=below)
                np.greater(A_prev, 0, out=self.mask[i - 1])
                np.multiply(below, self.mask[i - 1], out=below)
                dZ = below
            dW *= lr
            W -= dW
            db *= lr
            self.b[i] -= db
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
