"""The true gradients: the same network run through autodiff, from engine ops only.

Course layout: `Z = W @ A_prev + b` with `b` of shape (n_l, 1), samples are columns.
The cost is the mean over the m samples: binary cross-entropy summed over the outputs
(the course's `compute_cost`), or the plain mean of squared errors over every entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import autodiff as ad
from autodiff import Tensor
from nn.verify.cases import LEAKY_SLOPE


def _activate(name: str, Z: Tensor) -> Tensor:
    if name == "relu":
        return Z.relu()
    if name == "leaky_relu":
        return Z.leaky_relu(LEAKY_SLOPE)
    if name == "tanh":
        return Z.tanh()
    if name == "sigmoid":
        return Z.sigmoid()
    return Z


def forward(X: np.ndarray, parameters: dict[str, Tensor], activations: Sequence[str]) -> Tensor:
    """AL, the network's output, as a Tensor that depends on the parameter Tensors."""
    A = Tensor(X)
    for layer, name in enumerate(activations, start=1):
        A = _activate(name, parameters[f"W{layer}"] @ A + parameters[f"b{layer}"])
    return A


def cost(AL: Tensor, Y: np.ndarray, loss: str) -> Tensor:
    """The mean cost over the m samples (columns)."""
    m = Y.shape[1]
    if loss == "bce":
        return -(Y * AL.log() + (1.0 - Y) * (1.0 - AL).log()).sum() / m
    return ((AL - Y) ** 2).mean()


def gradients(
    X: np.ndarray,
    Y: np.ndarray,
    parameters: dict[str, np.ndarray],
    activations: Sequence[str],
    loss: str,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(AL, {"dW1": ..., "db1": ...}): the output and the true gradients of the cost.

    Works on copies of the arrays, so nothing the caller holds is pinned or changed.
    """
    leaves = {k: Tensor(v.copy(), requires_grad=True, name=k) for k, v in parameters.items()}
    AL = forward(X.copy(), leaves, activations)
    grads = ad.grad(cost(AL, Y.copy(), loss), list(leaves.values()))
    return AL.data.copy(), {f"d{k}": g.data for k, g in zip(leaves, grads, strict=True)}
