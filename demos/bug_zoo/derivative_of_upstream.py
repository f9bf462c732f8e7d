"""Bug 5: the activation derivative applied to the upstream gradient (class style, rows)."""

import numpy as np

try:
    from .class_style import ACTIVATIONS, LAYERS, Dense, grads_with
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from class_style import ACTIVATIONS, LAYERS, Dense, grads_with

TITLE = "activation derivative applied to the upstream gradient"
BUG = "dfunction = dactivate(last_derivative); it should be last_derivative * dactivate(Z)"

__all__ = ["ACTIVATIONS", "BUG", "LAYERS", "TITLE", "grads"]


class BuggyDense(Dense):
    # the learner's backward, with the bug marked
    def backward(self, last_derivative):
        m = self.layer_input.shape[0]
        dfunction = self.dactivate(last_derivative)  # BUG: derivative of the gradient
        self.d_w = self.layer_input.T @ dfunction / m
        self.d_b = np.ones((1, m)) @ dfunction / m
        return dfunction @ self.weights.T


grads = grads_with(BuggyDense)

# what nn.verify must say (names that are wrong, and the cause of each)
EXPECTED = dict.fromkeys(["dW3", "db3", "dW2", "db2", "dW1", "db1"], "derivative applied to dA")
