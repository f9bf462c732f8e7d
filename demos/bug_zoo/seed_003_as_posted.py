"""Seed 003 as posted: the derivative applied to the upstream gradient, and d_b summed
from last_derivative (two bugs of one backward, in a row-major class)."""

import numpy as np

try:
    from .rows_class_network import ACTIVATIONS, LAYERS, Dense, DenseNeuralNetwork
except ImportError:  # loaded as a single file
    from rows_class_network import ACTIVATIONS, LAYERS, Dense, DenseNeuralNetwork

from nn.verify import check_backprop

TITLE = "seed 003 as posted: dactivate(last_derivative) and d_b from last_derivative"
BUG = "dfunction = dactivate(last_derivative); d_b = ones @ last_derivative"
EXPECTED = dict.fromkeys(
    ["dW3", "db3", "dW2", "db2", "dW1", "db1"], "derivative applied to dA + db summed from dA"
)


class PostedDense(Dense):
    def backward(self, last_derivative):
        dfunction = self.dactivate(last_derivative)  # BUG 1
        m = self.layer_input.shape[0]
        self.d_w = np.dot(self.layer_input.T, dfunction) / m
        self.d_b = np.dot(np.ones((1, m)), last_derivative) / m  # BUG 2
        return np.dot(dfunction, self.weights.T)


def grads(X, Y, parameters):
    return DenseNeuralNetwork(parameters, PostedDense).gradients(X, Y)


def check(max_examples=60, seed=None):
    return check_backprop(grads, layer_dims=LAYERS, activations=ACTIVATIONS, layout="rows",
                          max_examples=max_examples, seed=seed)  # fmt: skip
