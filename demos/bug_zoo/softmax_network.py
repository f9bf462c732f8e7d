"""A softmax output with cross-entropy and one-hot Y: correct, dZ = AL - Y."""

import numpy as np

from nn.verify import check_backprop

TITLE = "softmax output with cross-entropy, correct"
BUG = "none: dZ2 = AL - Y for softmax + cross-entropy"
LAYERS = [3, 8, 4]
ACTIVATIONS = ["tanh", "softmax"]
EXPECTED: dict[str, str] = {}


def softmax(Z):
    e = np.exp(Z - Z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def backward(X, Y, parameters, elementwise=False):
    m = X.shape[1]
    A1 = np.tanh(parameters["W1"] @ X + parameters["b1"])
    AL = softmax(parameters["W2"] @ A1 + parameters["b2"])
    dZ2 = -Y / AL * AL * (1 - AL) if elementwise else AL - Y
    dZ1 = (parameters["W2"].T @ dZ2) * (1 - A1**2)
    return {"dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(axis=1, keepdims=True) / m,
            "dW1": dZ1 @ X.T / m, "db1": dZ1.sum(axis=1, keepdims=True) / m}  # fmt: skip


grads = backward


def check(max_examples=60, seed=None):
    return check_backprop(grads, layer_dims=LAYERS, activations=ACTIVATIONS,
                          loss="cross_entropy", max_examples=max_examples, seed=seed)  # fmt: skip
