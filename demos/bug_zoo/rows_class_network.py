"""A class-based network with samples as rows (seed 003's style, `X @ W + b`), correct.

Checked with `layout="rows"`: X is (m, n_x), W{l} is (n_{l-1}, n_l), b{l} is (1, n_l), so
the learner's arrays go in unchanged, with no wrapper that transposes anything.
"""

import numpy as np

from nn.verify import check_backprop

TITLE = "row-major class-based network (X @ W + b), correct"
BUG = "none: dfunction = last_derivative * dactivate(Z), d_b sums dfunction"
LAYERS = [2, 8, 8, 1]
ACTIVATIONS = ["relu", "relu", "sigmoid"]
EXPECTED: dict[str, str] = {}


class Dense:
    def __init__(self, weights, biases, activation):
        self.weights, self.biases = weights, biases
        if activation == "sigmoid":
            self.activate = lambda x: np.divide(1, 1 + np.exp(-x))
            self.dactivate = lambda x: np.multiply(self.activate(x), 1 - self.activate(x))
        else:
            self.activate = lambda x: np.where(x > 0, x, 0)
            self.dactivate = lambda x: np.where(x > 0, 1, 0)

    def forward(self, layer_input):
        self.layer_input = layer_input
        return self.activate(np.dot(layer_input, self.weights) + self.biases)

    def backward(self, last_derivative):
        z = np.dot(self.layer_input, self.weights) + self.biases
        dfunction = last_derivative * self.dactivate(z)
        m = self.layer_input.shape[0]
        self.d_w = np.dot(self.layer_input.T, dfunction) / m
        self.d_b = np.dot(np.ones((1, m)), dfunction) / m
        return np.dot(dfunction, self.weights.T)


class DenseNeuralNetwork:
    def __init__(self, parameters, layer_class=Dense):
        L = len(ACTIVATIONS)
        self.layers = [
            layer_class(parameters[f"W{l}"], parameters[f"b{l}"], ACTIVATIONS[l - 1])
            for l in range(1, L + 1)
        ]

    def gradients(self, X, y):
        output = X
        for layer in self.layers:
            output = layer.forward(output)
        last_derivative = -(np.divide(y, output) - np.divide(1 - y, 1 - output))
        for layer in reversed(self.layers):
            last_derivative = layer.backward(last_derivative)
        grads = {}
        for l, layer in enumerate(self.layers, start=1):
            grads[f"dW{l}"], grads[f"db{l}"] = layer.d_w, layer.d_b
        return grads


def grads(X, Y, parameters):
    return DenseNeuralNetwork(parameters).gradients(X, Y)


def check(max_examples=60, seed=None):
    return check_backprop(grads, layer_dims=LAYERS, activations=ACTIVATIONS, layout="rows",
                          max_examples=max_examples, seed=seed)  # fmt: skip
