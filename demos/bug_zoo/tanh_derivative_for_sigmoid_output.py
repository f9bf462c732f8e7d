"""Bug 2: the output layer is a sigmoid, but its dZ uses the tanh derivative."""

import numpy as np

TITLE = "tanh derivative used for the sigmoid output layer"
BUG = "DZ4 = DA4 * (1 - A4**2); the output is a sigmoid, so it should be DA4 * A4 * (1 - A4)"
LAYERS = [2, 8, 8, 8, 1]
ACTIVATIONS = ["tanh", "tanh", "tanh", "sigmoid"]


def grads(X, Y, parameters):
    m, L = X.shape[1], len(ACTIVATIONS)
    A, caches = X, []
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ A + parameters[f"b{l}"]
        A_prev, A = A, (np.tanh(Z) if l < L else 1 / (1 + np.exp(-Z)))
        caches.append((A_prev, A))
    out = {}
    dA = -(Y / A - (1 - Y) / (1 - A))
    for l in range(L, 0, -1):
        A_prev, A = caches[l - 1]
        dZ = dA * (1 - A**2)  # BUG for l == L: the tanh derivative on a sigmoid layer
        out[f"dW{l}"] = dZ @ A_prev.T / m
        out[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = parameters[f"W{l}"].T @ dZ
    return out


# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(
    ["dW4", "db4", "dW3", "db3", "dW2", "db2", "dW1", "db1"], "tanh derivative in a sigmoid layer"
)
