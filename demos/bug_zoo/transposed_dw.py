"""Bug: dW as A_prev @ dZ.T, the transpose of the right product."""

import numpy as np

TITLE = "transposed dW"
BUG = "dW = A_prev @ dZ.T / m has the shape of W.T; it should be dZ @ A_prev.T / m"
LAYERS = [2, 8, 8, 1]
ACTIVATIONS = ["tanh", "tanh", "sigmoid"]


def grads(X, Y, parameters):
    m, L = X.shape[1], len(ACTIVATIONS)
    A, caches = X, []
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ A + parameters[f"b{l}"]
        A_prev, A = A, (np.tanh(Z) if l < L else 1 / (1 + np.exp(-Z)))
        caches.append((A_prev, A))
    out = {}
    dZ = A - Y
    for l in range(L, 0, -1):
        A_prev, A = caches[l - 1]
        out[f"dW{l}"] = A_prev @ dZ.T / m  # BUG: transposed
        out[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dZ = parameters[f"W{l}"].T @ dZ * (1 - A_prev**2)  # dZ of the layer below
    return out
