"""Bug 1: the tanh derivative 1 - x**2 fed with Z instead of A = tanh(Z)."""

import numpy as np

TITLE = "tanh derivative applied to Z instead of A"
BUG = "derivative_tanh(Z) = 1 - Z**2; it should be 1 - tanh(Z)**2 = 1 - A**2"
LAYERS = [2, 8, 8, 8, 1]
ACTIVATIONS = ["tanh", "tanh", "tanh", "sigmoid"]


def derivative_tanh(x):
    return 1 - np.power(x, 2)


def grads(X, Y, parameters):
    m, L = X.shape[1], len(ACTIVATIONS)
    A, caches = X, []
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ A + parameters[f"b{l}"]
        caches.append((A, Z))
        A = np.tanh(Z) if l < L else 1 / (1 + np.exp(-Z))
    out = {}
    dZ = A - Y  # output layer: sigmoid with cross-entropy
    for l in range(L, 0, -1):
        A_prev, _ = caches[l - 1]
        out[f"dW{l}"] = dZ @ A_prev.T / m
        out[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        if l > 1:
            Z_prev = caches[l - 2][1]
            dZ = parameters[f"W{l}"].T @ dZ * derivative_tanh(Z_prev)  # BUG: Z where A belongs
    return out
