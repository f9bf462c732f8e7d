"""Bug: db of the first layer never stored in the returned dict."""

import numpy as np

TITLE = "missing db key"
BUG = "db1 is computed but the dict only gets db for the layers above the first"
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
        out[f"dW{l}"] = dZ @ A_prev.T / m
        db = np.sum(dZ, axis=1, keepdims=True) / m
        if l > 1:  # BUG: the first layer's db is dropped
            out[f"db{l}"] = db
        dZ = parameters[f"W{l}"].T @ dZ * (1 - A_prev**2)  # dZ of the layer below
    return out
