"""Bug 6: db summed from the upstream gradient instead of dZ (class style, rows)."""

import numpy as np

try:
    from .class_style import ACTIVATIONS, LAYERS, Dense, grads_with
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from class_style import ACTIVATIONS, LAYERS, Dense, grads_with

TITLE = "db summed from the wrong tensor"
BUG = "d_b sums last_derivative (dA); it should sum dfunction (dZ)"

__all__ = ["ACTIVATIONS", "BUG", "LAYERS", "TITLE", "grads"]


class BuggyDense(Dense):
    # the learner's backward, with the bug marked
    def backward(self, last_derivative):
        m = self.layer_input.shape[0]
        dfunction = last_derivative * self.dactivate(self.layer_input @ self.weights + self.biases)
        self.d_w = self.layer_input.T @ dfunction / m
        self.d_b = np.ones((1, m)) @ last_derivative / m  # BUG: dA, not dZ
        return dfunction @ self.weights.T


grads = grads_with(BuggyDense)

# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["db3", "db2", "db1"], "db summed from dA")
