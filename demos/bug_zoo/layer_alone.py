"""One layer checked alone: the course's graded linear_activation_backward, correct."""

import numpy as np

from nn.verify import check_layer

TITLE = "linear_activation_backward checked alone, correct"
BUG = "none"
EXPECTED: dict[str, str] = {}


def linear_activation_backward(dA, cache, activation, db_scale=None):
    (A_prev, W, b), Z = cache
    m = A_prev.shape[1]
    if activation == "relu":
        dZ = np.array(dA, copy=True)
        dZ[Z <= 0] = 0
    else:
        s = 1 / (1 + np.exp(-Z))
        dZ = dA * s * (1 - s)
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = (1 / m if db_scale is None else db_scale) * np.sum(dZ, axis=1, keepdims=True)
    return np.dot(W.T, dZ), dW, db


def check(max_examples=60, seed=None):
    return check_layer(linear_activation_backward, kind="linear_activation", activation="relu",
                       max_examples=max_examples, seed=seed)  # fmt: skip
