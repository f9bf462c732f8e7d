"""Bug: the 1/m of the mean cost forgotten in dW (db has it)."""

import numpy as np

try:
    from .correct import forward
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from correct import forward

TITLE = "missing 1/m in dW"
BUG = "dW = dZ @ A_prev.T; the cost is a mean over m samples, so it needs / m"
LAYERS = [2, 8, 8, 1]
ACTIVATIONS = ["tanh", "tanh", "sigmoid"]


def grads(X, Y, parameters):
    AL, caches = forward(X, parameters, ACTIVATIONS)
    m = X.shape[1]
    out = {}
    dZ = AL - Y
    for l in range(len(caches), 0, -1):
        A_prev, _ = caches[l - 1]
        out[f"dW{l}"] = dZ @ A_prev.T  # BUG: no / m
        out[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dZ = parameters[f"W{l}"].T @ dZ * (1 - A_prev**2)  # dZ of the layer below
    return out


# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["dW3", "dW2", "dW1"], "factor m")
