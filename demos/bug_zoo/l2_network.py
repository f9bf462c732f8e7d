"""An L2-regularised network (the course's lambd), correct: checked with lambd=0.7."""

import numpy as np

from nn.verify import check_backprop

TITLE = "L2-regularised relu network, correct"
BUG = "none: dW = dZ @ A_prev.T / m + (lambd / m) * W in every layer"
LAYERS = [3, 8, 6, 1]
ACTIVATIONS = ["relu", "relu", "sigmoid"]
LAMBD = 0.7
EXPECTED: dict[str, str] = {}


def backward(X, Y, parameters, lambd=LAMBD, l2_term=lambda lambd, m, W: lambd / m * W):
    m, L = X.shape[1], len(ACTIVATIONS)
    A, caches = X, []
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ A + parameters[f"b{l}"]
        caches.append((A, Z))
        A = np.maximum(Z, 0) if l < L else 1 / (1 + np.exp(-Z))
    grads, dZ = {}, A - Y
    for l in range(L, 0, -1):
        A_prev, Z = caches[l - 1]
        W = parameters[f"W{l}"]
        grads[f"dW{l}"] = dZ @ A_prev.T / m + l2_term(lambd, m, W)
        grads[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        if l > 1:
            dZ = (W.T @ dZ) * (caches[l - 2][1] > 0)
    return grads


grads = backward


def check(max_examples=60, seed=None):
    return check_backprop(grads, layer_dims=LAYERS, activations=ACTIVATIONS, lambd=LAMBD,
                          max_examples=max_examples, seed=seed)  # fmt: skip
