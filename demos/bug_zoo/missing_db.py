"""Bug: db of the first layer never stored in the returned dict."""

import numpy as np

try:
    from .correct import forward
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from correct import forward

TITLE = "missing db key"
BUG = "db1 is computed but the dict only gets db for the layers above the first"
LAYERS = [2, 8, 8, 1]
ACTIVATIONS = ["tanh", "tanh", "sigmoid"]


def grads(X, Y, parameters):
    AL, caches = forward(X, parameters, ACTIVATIONS)
    m = X.shape[1]
    out = {}
    dZ = AL - Y
    for l in range(len(caches), 0, -1):
        A_prev, _ = caches[l - 1]
        out[f"dW{l}"] = dZ @ A_prev.T / m
        db = np.sum(dZ, axis=1, keepdims=True) / m
        if l > 1:  # BUG: the first layer's db is dropped
            out[f"db{l}"] = db
        dZ = parameters[f"W{l}"].T @ dZ * (1 - A_prev**2)  # dZ of the layer below
    return out


# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["db1"], "missing")
