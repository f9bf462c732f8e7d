"""Bugs 1, 2 and 3 together, as in a forum post: every layer uses 1 - Z**2, dAL's brackets slip."""

import numpy as np

try:
    from .correct import forward
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from correct import forward

TITLE = "three bugs at once: 1 - Z**2 everywhere and dAL's brackets"
BUG = "DA4 = -(Y/A4 + (1 - Y/1 - A4)); DZl = DAl * (1 - Zl**2) in every layer, sigmoid included"
LAYERS = [2, 8, 8, 8, 1]
ACTIVATIONS = ["tanh", "tanh", "tanh", "sigmoid"]


def derivative_tanh(x):
    return 1 - np.power(x, 2)


def grads(X, Y, parameters):
    A, caches = forward(X, parameters, ACTIVATIONS)
    m, L = X.shape[1], len(caches)
    out = {}
    dA = -(Y / A + (1 - Y / 1 - A))  # BUG: the brackets of -(Y/A - (1-Y)/(1-A)) slipped
    for l in range(L, 0, -1):
        A_prev, Z = caches[l - 1]
        dZ = dA * derivative_tanh(Z)  # BUG: Z instead of A, and tanh's on the sigmoid too
        out[f"dW{l}"] = dZ @ A_prev.T / m
        out[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = parameters[f"W{l}"].T @ dZ
    return out


# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(
    ["dW4", "db4", "dW3", "db3", "dW2", "db2", "dW1", "db1"],
    "wrong dAL + 1 - Z**2 as every layer's derivative",
)
