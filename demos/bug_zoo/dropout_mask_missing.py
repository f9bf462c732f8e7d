"""Bug: dropout's mask is applied in the forward pass but not to dA1 in the backward pass."""

try:
    from .dropout_network import LAYERS, backward, cost
except ImportError:  # loaded as a single file
    from dropout_network import LAYERS, backward, cost

from nn.verify import check_backprop

TITLE = "dropout mask missing in the backward pass (cost_fn)"
BUG = "dA1 = dA1 / keep_prob without * D1; relu's (Z1 > 0) does not switch the dropped units off"
EXPECTED = dict.fromkeys(["dW1", "db1"], "nonzero where the truth is 0")


def grads(X, Y, parameters):
    return backward(X, Y, parameters, apply_mask=False)  # BUG: no * D1


def check(max_examples=60, seed=None):
    return check_backprop(
        grads, layer_dims=LAYERS, cost_fn=cost, max_examples=max_examples, seed=seed
    )
