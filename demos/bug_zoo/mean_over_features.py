"""Bug 7: the mean taken over the feature count instead of the batch (class style, rows)."""

import numpy as np

try:
    from .class_style import ACTIVATIONS, LAYERS, Dense, grads_with
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from class_style import ACTIVATIONS, LAYERS, Dense, grads_with

TITLE = "mean over the feature count instead of the batch"
BUG = "1 / layer_input.shape[1] is the input width; the batch size is layer_input.shape[0]"

__all__ = ["ACTIVATIONS", "BUG", "LAYERS", "TITLE", "grads"]


class BuggyDense(Dense):
    # the learner's backward, with the bug marked
    def backward(self, last_derivative):
        m = self.layer_input.shape[0]
        dfunction = last_derivative * self.dactivate(self.layer_input @ self.weights + self.biases)
        self.d_w = self.layer_input.T @ dfunction * (1.0 / self.layer_input.shape[1])  # BUG
        self.d_b = (1.0 / self.layer_input.shape[1]) * np.ones((1, m)) @ dfunction  # BUG
        return dfunction @ self.weights.T


grads = grads_with(BuggyDense)

# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["dW3", "db3", "dW2", "db2", "dW1", "db1"], "factor m/n_in")
