"""A zoo of hand-written backward passes, each with one classic bug (and some correct).

Every module in `MODULES` exposes `grads(X, Y, parameters) -> {"dW1": ..., "db1": ...}`
in the course layout (samples are columns), plus `LAYERS`, `ACTIVATIONS`, `TITLE`, `BUG`
(where the bug is and how it shows) and `EXPECTED` (what nn.verify must report: wrong
name -> cause; empty for a correct one). `demos/06_bug_zoo.py` checks and trains them.

The modules in `CHECKED` use the second milestone's options, so each brings its own
`check(max_examples)` returning the Report: an L2 network, a dropout network through
the learner's own numpy cost (`cost_fn`), a softmax network, a row-major class-based
network (seed 003's style, `layout="rows"`), one layer and one cost checked alone.
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

CHECKED = [
    "l2_network",
    "l2_without_one_over_m",
    "dropout_network",
    "dropout_mask_missing",
    "softmax_network",
    "softmax_elementwise",
    "rows_class_network",
    "seed_003_as_posted",
    "layer_alone",
    "layer_db_without_one_over_m",
    "cost_alone",
    "cost_log_wrong_argument",
]
