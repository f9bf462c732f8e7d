"""A dropout network checked against the learner's own numpy cost (cost_fn): correct.

`cost` is the forward pass and cost exactly as a learner writes them, masks drawn with
`np.random.rand`; autodiff differentiates it, and the backward pass sees the same masks
because both functions start from the same random state on every case.
"""

import numpy as np

from nn.verify import check_backprop

TITLE = "dropout network (keep_prob = 0.8) through cost_fn, correct"
BUG = "none: dA1 = dA1 * D1 / keep_prob with the forward pass's mask"
LAYERS = [4, 10, 1]
KEEP_PROB = 0.8
EXPECTED: dict[str, str] = {}


def forward(X, parameters, keep_prob=KEEP_PROB):
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = np.maximum(0, Z1)
    D1 = np.random.rand(A1.shape[0], A1.shape[1]) < keep_prob
    A1 = np.multiply(A1, D1) / keep_prob
    A2 = 1 / (1 + np.exp(-(np.dot(parameters["W2"], A1) + parameters["b2"])))
    return Z1, A1, D1, A2


def cost(X, Y, parameters):
    m = X.shape[1]
    *_, A2 = forward(X, parameters)
    return -np.sum(np.multiply(Y, np.log(A2)) + np.multiply(1 - Y, np.log(1 - A2))) / m


def backward(X, Y, parameters, apply_mask=True):
    m = X.shape[1]
    Z1, A1, D1, A2 = forward(X, parameters)
    dZ2 = A2 - Y
    dA1 = np.dot(parameters["W2"].T, dZ2)
    if apply_mask:
        dA1 = dA1 * D1
    dA1 = dA1 / KEEP_PROB
    dZ1 = np.multiply(dA1, np.int64(Z1 > 0))
    grads = {"dW1": np.dot(dZ1, X.T) / m, "dW2": np.dot(dZ2, A1.T) / m}
    grads["db1"] = np.sum(dZ1, axis=1, keepdims=True) / m
    grads["db2"] = np.sum(dZ2, axis=1, keepdims=True) / m
    return grads


grads = backward


def check(max_examples=60, seed=None):
    return check_backprop(
        grads, layer_dims=LAYERS, cost_fn=cost, max_examples=max_examples, seed=seed
    )
