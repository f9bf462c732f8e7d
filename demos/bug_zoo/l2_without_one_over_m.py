"""Bug: the L2 term of dW is lambd * W, without its 1/m."""

try:
    from .l2_network import ACTIVATIONS, LAMBD, LAYERS, backward
except ImportError:  # loaded as a single file, as `python -m nn.verify FILE:grads` does
    from l2_network import ACTIVATIONS, LAMBD, LAYERS, backward

from nn.verify import check_backprop

TITLE = "L2 term without its 1/m"
BUG = "dW = dZ @ A_prev.T / m + lambd * W; the derivative of lambd/(2m) * ||W||^2 is lambd/m * W"
EXPECTED = dict.fromkeys(["dW3", "dW2", "dW1"], "L2 term no 1/m")


def grads(X, Y, parameters):
    return backward(X, Y, parameters, l2_term=lambda lambd, m, W: lambd * W)  # BUG: no / m


def check(max_examples=60, seed=None):
    return check_backprop(grads, layer_dims=LAYERS, activations=ACTIVATIONS, lambd=LAMBD,
                          max_examples=max_examples, seed=seed)  # fmt: skip
