"""Bug 3: dAL with a sign inside the bracket wrong."""

import numpy as np

TITLE = "dAL with the sign inside the bracket wrong"
BUG = "dAL = -(Y/AL + (1-Y)/(1-AL)); it should be -(Y/AL - (1-Y)/(1-AL))"
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
    dA = -(Y / A + (1 - Y) / (1 - A))  # BUG: + where - belongs
    for l in range(L, 0, -1):
        A_prev, A = caches[l - 1]
        dZ = dA * (A * (1 - A) if l == L else 1 - A**2)
        out[f"dW{l}"] = dZ @ A_prev.T / m
        out[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = parameters[f"W{l}"].T @ dZ
    return out


# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["dW4", "db4", "dW3", "db3", "dW2", "db2", "dW1", "db1"], "wrong dAL")
