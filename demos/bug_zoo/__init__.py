"""A zoo of hand-written backward passes, each with one classic bug (and one correct).

Every module exposes `grads(X, Y, parameters) -> {"dW1": ..., "db1": ...}` in the
course layout (samples are columns), plus `LAYERS`, `ACTIVATIONS`, `TITLE` and `BUG`
(where the bug is and how it shows). `demos/06_bug_zoo.py` checks and trains them all.
"""

MODULES = [
    "correct",
    "tanh_derivative_at_z",
    "tanh_derivative_for_sigmoid_output",
    "dal_bracket",
    "seed_000_as_posted",
    "relu_derivative_in_place",
    "derivative_of_upstream",
    "db_from_upstream",
    "mean_over_features",
    "missing_one_over_m",
    "transposed_dw",
    "missing_db",
    "update_inside_backward",
]
