"""The class-based network (samples as rows) that the class-style zoo entries share.

A learner's `Dense` layer keeps its input in `forward` and returns the gradient for the
layer below from `backward`. Each class-style entry subclasses `Dense` and rewrites
`backward` with its one bug; `backward` here is the correct version to compare with.
"""

import numpy as np

LAYERS = [2, 8, 8, 1]
ACTIVATIONS = ["relu", "relu", "sigmoid"]

FUNCTIONS = {
    "relu": (lambda x: np.where(x > 0, x, 0), lambda x: np.where(x > 0, 1, 0)),
    "sigmoid": (
        lambda x: 1 / (1 + np.exp(-x)),
        lambda x: 1 / (1 + np.exp(-x)) * (1 - 1 / (1 + np.exp(-x))),
    ),
}


class Dense:
    """One layer with samples as rows: output = activate(input @ weights + biases)."""

    def __init__(self, weights, biases, activation):
        self.weights, self.biases = weights, biases
        self.activate, self.dactivate = FUNCTIONS[activation]

    def forward(self, layer_input):
        self.layer_input = layer_input
        return self.activate(layer_input @ self.weights + self.biases)

    def backward(self, last_derivative):
        m = self.layer_input.shape[0]
        dfunction = last_derivative * self.dactivate(self.layer_input @ self.weights + self.biases)
        self.d_w = self.layer_input.T @ dfunction / m
        self.d_b = np.ones((1, m)) @ dfunction / m
        return dfunction @ self.weights.T


def grads_with(layer_class):
    """`grads(X, Y, parameters)` in the course layout, computed with `layer_class` layers."""

    def grads(X, Y, parameters):
        layers = [
            layer_class(parameters[f"W{l}"].T, parameters[f"b{l}"].T, name)
            for l, name in enumerate(ACTIVATIONS, start=1)
        ]
        output = X.T
        for layer in layers:
            output = layer.forward(output)
        last_derivative = -(Y.T / output - (1 - Y.T) / (1 - output))
        for layer in reversed(layers):
            last_derivative = layer.backward(last_derivative)
        out = {}
        for l, layer in enumerate(layers, start=1):
            out[f"dW{l}"], out[f"db{l}"] = layer.d_w.T, layer.d_b.T
        return out

    return grads
