"""Bug 4: a relu derivative that overwrites its argument, the cached activations."""

import numpy as np

TITLE = "relu derivative that overwrites the cache in place"
BUG = (
    "relu_deriv(z) writes 1/0 into z, the cached A; dW is computed after that call "
    "and so multiplies by the mask instead of the activations"
)
LAYERS = [2, 10, 10, 1]
ACTIVATIONS = ["relu", "relu", "sigmoid"]


def relu_deriv(z):
    z[z > 0] = 1  # BUG: modifies the caller's array
    z[z <= 0] = 0
    return z


def grads(X, Y, parameters):
    m, L = X.shape[1], len(ACTIVATIONS)
    c = {"A0": X}
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ c[f"A{l - 1}"] + parameters[f"b{l}"]
        c[f"A{l}"] = np.maximum(Z, 0) if l < L else 1 / (1 + np.exp(-Z))
    out = {}
    dZ = c[f"A{L}"] - Y
    for l in range(L, 0, -1):
        dA_prev = parameters[f"W{l}"].T @ dZ
        dZ_prev = dA_prev * relu_deriv(c[f"A{l - 1}"]) if l > 1 else None
        out[f"dW{l}"] = 1 / m * dZ @ c[f"A{l - 1}"].T  # A{l-1} is now a 0/1 mask
        out[f"db{l}"] = 1 / m * np.sum(dZ, axis=1, keepdims=True)
        dZ = dZ_prev
    return out


# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["dW3", "dW2"], "A_prev overwritten in place")
