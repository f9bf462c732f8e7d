"""Bug: softmax differentiated elementwise, as if it were a sigmoid."""

try:
    from .softmax_network import ACTIVATIONS, LAYERS, backward
except ImportError:  # loaded as a single file
    from softmax_network import ACTIVATIONS, LAYERS, backward

from nn.verify import check_backprop

TITLE = "softmax derivative taken elementwise"
BUG = "dZ2 = dAL * S * (1 - S); each softmax output depends on every Z of its column"
EXPECTED = dict.fromkeys(["dW2", "db2", "dW1", "db1"], "softmax derivative taken elementwise")


def grads(X, Y, parameters):
    return backward(X, Y, parameters, elementwise=True)  # BUG


def check(max_examples=60, seed=None):
    return check_backprop(grads, layer_dims=LAYERS, activations=ACTIVATIONS,
                          loss="cross_entropy", max_examples=max_examples, seed=seed)  # fmt: skip
