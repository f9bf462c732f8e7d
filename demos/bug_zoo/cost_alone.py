"""One cost checked alone: the course's compute_cost, correct."""

import numpy as np

from nn.verify import check_cost

TITLE = "compute_cost checked alone, correct"
BUG = "none"
EXPECTED: dict[str, str] = {}


def compute_cost(AL, Y):
    m = Y.shape[1]
    cost = -1 / m * np.sum(np.multiply(Y, np.log(AL)) + np.multiply(1 - Y, np.log(1 - AL)))
    return np.squeeze(cost)


def check(max_examples=60, seed=None):
    return check_cost(compute_cost, loss="bce", max_examples=max_examples, seed=seed)
