"""The true gradients, from autodiff: the built-in network, or the user's own cost.

Built-in: course layout, `Z = W @ A_prev + b` with `b` of shape (n_l, 1), samples are
columns, the cost the mean over the m samples of binary cross-entropy (summed over the
outputs, the course's `compute_cost`), categorical cross-entropy of a softmax output, or
the plain mean of squared errors over every entry; plus `lambd / (2m) * sum ||W||^2`.

`cost_gradients` differentiates the user's own `cost_fn(X, Y, parameters)`: the
parameters are Tensors, so numpy code runs through autodiff (numpy dispatch) and the
gradient of whatever it computes is the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import Tensor
from nn.verify.cases import LEAKY_SLOPE


def _activate(name: str, Z: Tensor, slope: float) -> Tensor:
    if name == "relu":
        return Z.relu()
    if name == "leaky_relu":
        return Z.leaky_relu(slope)
    if name == "tanh":
        return Z.tanh()
    if name == "sigmoid":
        return Z.sigmoid()
    if name == "softmax":
        return Z.softmax(axis=0)
    return Z


def forward(
    X: np.ndarray,
    parameters: dict[str, Tensor],
    activations: Sequence[str],
    slope: float = LEAKY_SLOPE,
) -> Tensor:
    """AL, the network's output, as a Tensor that depends on the parameter Tensors."""
    A = Tensor(X)
    for layer, name in enumerate(activations, start=1):
        A = _activate(name, parameters[f"W{layer}"] @ A + parameters[f"b{layer}"], slope)
    return A


def cost(AL: Tensor, Y: np.ndarray, loss: str) -> Tensor:
    """The mean cost over the m samples (columns)."""
    m = Y.shape[1]
    if loss == "bce":
        return -(Y * AL.log() + (1.0 - Y) * (1.0 - AL).log()).sum() / m
    if loss == "cross_entropy":
        return -(Y * AL.log()).sum() / m
    return ((AL - Y) ** 2).mean()


def gradients(
    X: np.ndarray,
    Y: np.ndarray,
    parameters: dict[str, np.ndarray],
    activations: Sequence[str],
    loss: str,
    lambd: float = 0.0,
    slope: float = LEAKY_SLOPE,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(AL, {"dW1": ..., "db1": ...}): the output and the true gradients of the cost.

    Works on copies of the arrays, so nothing the caller holds is pinned or changed.
    """
    leaves = {k: Tensor(v.copy(), requires_grad=True, name=k) for k, v in parameters.items()}
    AL = forward(X.copy(), leaves, activations, slope)
    J = cost(AL, Y.copy(), loss)
    if lambd:
        m = Y.shape[1]
        squares = [(leaves[f"W{i}"] ** 2).sum() for i in range(1, len(activations) + 1)]
        J = J + lambd / (2 * m) * sum(squares[1:], squares[0])
    grads = ad.grad(J, list(leaves.values()))
    return AL.data.copy(), {f"d{k}": g.data for k, g in zip(leaves, grads, strict=True)}


def cost_gradients(
    cost_fn: Callable[..., Any],
    X: np.ndarray,
    Y: np.ndarray,
    parameters: dict[str, np.ndarray],
) -> tuple[float, dict[str, np.ndarray]]:
    """(cost, {"d" + name: gradient}) of the user's `cost_fn(X, Y, parameters)`.

    The parameters are float64 Tensors; a name the cost does not depend on gets zeros.
    Raises TypeError when the cost is not a single number that depends on the parameters.
    """
    leaves = {
        k: Tensor(np.asarray(v, dtype=np.float64).copy(), requires_grad=True, name=k)
        for k, v in parameters.items()
    }
    J = cost_fn(X.astype(np.float64), Y.astype(np.float64), dict(leaves))
    if not isinstance(J, Tensor):
        raise TypeError(
            f"cost_fn returned {type(J).__name__}, not a value computed from the parameters: "
            "compute the cost from parameters[...] with numpy or Tensor operations (no "
            "float() or .item() on the way)"
        )
    if J.size != 1:
        raise TypeError(f"cost_fn must return a single number, got shape {J.shape}")
    grads = ad.grad(J.reshape(()) if J.ndim else J, list(leaves.values()))
    return float(J.data.reshape(())), {f"d{k}": g.data for k, g in zip(leaves, grads, strict=True)}
