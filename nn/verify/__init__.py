"""nn.verify: find what is wrong in a hand-written backward pass, and say why.

`check_backprop(grads_fn, layer_dims=..., activations=...)` runs your course-style
forward and backward pass on hypothesis-drawn cases, compares every `dW`/`db` with
autodiff's, and returns a `Report` whose `str` is a diagnosis. The truth is the built-in
network (bce, mse or cross_entropy, L2, leaky_relu's slope, either layout, float64 or
float32) or your own numpy cost (`cost_fn=`). `check_layer` checks one layer's backward
(`linear_activation_backward` and friends), `check_cost` a `compute_cost`.
`assert_backprop` raises inside a pytest suite. From a shell: `python -m nn.verify
FILE:FUNCTION --layers 2,10,10,1 --activations relu,relu,sigmoid`, `python -m nn.verify
layer FILE:FUNCTION --kind linear_activation --activation relu`, `python -m nn.verify
cost FILE:FUNCTION --loss bce`.

Modules: `cases` (what is checked, and drawing well-conditioned inputs), `truth` (the
network or your cost through autodiff), `variants` (well-known wrong formulas),
`diagnose` (naming causes), `search` (the hypothesis runs), `report` (Report, Mismatch),
`check` (check_backprop), `layer` (check_layer), `cost` (check_cost), `cli`.
"""

from nn.verify.check import assert_backprop, check_backprop
from nn.verify.cost import check_cost
from nn.verify.layer import check_layer
from nn.verify.report import CallError, Mismatch, Report

__all__ = [
    "CallError",
    "Mismatch",
    "Report",
    "assert_backprop",
    "check_backprop",
    "check_cost",
    "check_layer",
]
