"""Bug: the weights are updated inside backward, before the gradient for the layer below."""

import numpy as np

try:
    from .class_style import ACTIVATIONS, LAYERS, Dense, grads_with
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from class_style import ACTIVATIONS, LAYERS, Dense, grads_with

TITLE = "weights updated in place inside backward"
BUG = "w = self.weights is no copy; self.weights -= lr * d_w changes it before dfunction @ w.T"

__all__ = ["ACTIVATIONS", "BUG", "LAYERS", "TITLE", "grads"]


class BuggyDense(Dense):
    # the learner's backward, with the bug marked
    def backward(self, last_derivative):
        m = self.layer_input.shape[0]
        dfunction = last_derivative * self.dactivate(self.layer_input @ self.weights + self.biases)
        self.d_w = self.layer_input.T @ dfunction / m
        self.d_b = np.ones((1, m)) @ dfunction / m
        w = self.weights
        self.weights -= 0.5 * self.d_w  # BUG: in place, and w is the same array
        return dfunction @ w.T


grads = grads_with(BuggyDense)

# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["dW2", "db2", "dW1", "db1"], "weights updated before use")
