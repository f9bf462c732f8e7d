"""Bug in the cost: log(AL) where log(1 - AL) belongs."""

import numpy as np

from nn.verify import check_cost

TITLE = "compute_cost with a log of the wrong argument"
BUG = "(1 - Y) * np.log(AL); it should be (1 - Y) * np.log(1 - AL)"
EXPECTED = {"cost": "log of the wrong argument: log(AL) in both terms"}


def compute_cost(AL, Y):
    m = Y.shape[1]
    return -1 / m * np.sum(Y * np.log(AL) + (1 - Y) * np.log(AL))  # BUG


def check(max_examples=60, seed=None):
    return check_cost(compute_cost, loss="bce", max_examples=max_examples, seed=seed)
