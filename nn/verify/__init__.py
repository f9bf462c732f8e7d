"""nn.verify: find what is wrong in a hand-written backward pass, and say why.

`check_backprop(grads_fn, layer_dims=..., activations=...)` runs your course-style
forward and backward pass on hypothesis-drawn cases, compares every `dW`/`db` with
autodiff's, and returns a `Report` whose `str` is a diagnosis. `assert_backprop` does
the same inside a pytest suite. From a shell: `python -m nn.verify FILE:FUNCTION
--layers 2,10,10,1 --activations relu,relu,sigmoid`.

Modules: `cases` (drawing well-conditioned inputs), `truth` (the network through
autodiff), `variants` (well-known wrong formulas), `diagnose` (naming causes),
`report` (Report, Mismatch), `check` (the driver), `cli` (the command line).
"""

from nn.verify.check import assert_backprop, check_backprop
from nn.verify.report import CallError, Mismatch, Report

__all__ = ["CallError", "Mismatch", "Report", "assert_backprop", "check_backprop"]
