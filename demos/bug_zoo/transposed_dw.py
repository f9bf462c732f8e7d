"""Bug: dW as A_prev @ dZ.T, the transpose of the right product."""

import numpy as np

try:
    from .correct import forward
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from correct import forward

TITLE = "transposed dW"
BUG = "dW = A_prev @ dZ.T / m has the shape of W.T; it should be dZ @ A_prev.T / m"
LAYERS = [2, 8, 8, 1]
ACTIVATIONS = ["tanh", "tanh", "sigmoid"]


def grads(X, Y, parameters):
    AL, caches = forward(X, parameters, ACTIVATIONS)
    m = X.shape[1]
    out = {}
    dZ = AL - Y
    for l in range(len(caches), 0, -1):
        A_prev, _ = caches[l - 1]
        out[f"dW{l}"] = A_prev @ dZ.T / m  # BUG: transposed
        out[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dZ = parameters[f"W{l}"].T @ dZ * (1 - A_prev**2)  # dZ of the layer below
    return out


# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["dW3", "dW2", "dW1"], "transposed")
