"""Bug in one layer: db = np.sum(dZ, axis=1, keepdims=True), the 1/m forgotten."""

try:
    from .layer_alone import linear_activation_backward as correct
except ImportError:  # loaded as a single file
    from layer_alone import linear_activation_backward as correct

from nn.verify import check_layer

TITLE = "one layer alone: db without its 1/m"
BUG = "db = np.sum(dZ, axis=1, keepdims=True); it should be divided by m"
EXPECTED = {"db": "factor m"}


def linear_activation_backward(dA, cache, activation):
    return correct(dA, cache, activation, db_scale=1.0)  # BUG


def check(max_examples=60, seed=None):
    return check_layer(linear_activation_backward, kind="linear_activation", activation="sigmoid",
                       max_examples=max_examples, seed=seed)  # fmt: skip
