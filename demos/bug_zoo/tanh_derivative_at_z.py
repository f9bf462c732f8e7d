"""Bug 1: the tanh derivative 1 - x**2 fed with Z instead of A = tanh(Z)."""

import numpy as np

try:
    from .correct import forward
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from correct import forward

TITLE = "tanh derivative applied to Z instead of A"
BUG = "derivative_tanh(Z) = 1 - Z**2; it should be 1 - tanh(Z)**2 = 1 - A**2"
LAYERS = [2, 8, 8, 8, 1]
ACTIVATIONS = ["tanh", "tanh", "tanh", "sigmoid"]


def derivative_tanh(x):
    return 1 - np.power(x, 2)


def grads(X, Y, parameters):
    A, caches = forward(X, parameters, ACTIVATIONS)
    m, L = X.shape[1], len(caches)
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


# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["dW3", "db3", "dW2", "db2", "dW1", "db1"], "tanh derivative taken at Z")
