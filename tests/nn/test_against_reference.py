"""The gradients autodiff computes for nn models equal the course notes' hand-derived ones.

For random architectures, activations, batch sizes and parameters, the same weights go
into an `nn.MLP` (samples as rows, W (out, in), b (out,)) and into `nn.reference`
(samples as columns: X is our X.T, b is our b[:, None]), and every dW, db must agree, for
bce, mse and softmax cross-entropy, with L2 and with dropout under the same masks.
"""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import nn
from nn import reference as ref

HIDDEN = ["relu", "tanh", "sigmoid", "leaky_relu", "identity"]
OUTPUT_FOR_MSE = ["identity", "tanh", "sigmoid", "relu", "leaky_relu"]


@st.composite
def problems(draw, loss=None):
    """A network, its parameters (course layout), a batch and targets."""
    loss = loss or draw(st.sampled_from(["bce", "mse", "cross_entropy"]))
    n_layers = draw(st.integers(1, 5))
    widths = draw(st.lists(st.integers(1, 16), min_size=n_layers, max_size=n_layers))
    n_x = draw(st.integers(1, 16))
    m = draw(st.integers(1, 32))
    if loss == "bce":
        widths[-1], output = 1, "sigmoid"
    elif loss == "cross_entropy":
        widths[-1], output = max(widths[-1], 2), "softmax"
    else:
        output = draw(st.sampled_from(OUTPUT_FOR_MSE))
    hidden = draw(st.sampled_from(HIDDEN))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dims = [n_x, *widths]
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = rng.normal(size=(dims[l], dims[l - 1])) / np.sqrt(dims[l - 1])
        params[f"b{l}"] = rng.normal(scale=0.5, size=(dims[l], 1))
    X = rng.normal(size=(m, n_x))
    if loss == "bce":
        y = rng.integers(0, 2, size=m).astype(float)
        Y = y[None, :]
    elif loss == "cross_entropy":
        y = rng.integers(0, dims[-1], size=m)
        Y = np.eye(dims[-1])[y].T
    else:
        y = rng.normal(size=(m, dims[-1]))
        Y = y.T
    acts = [hidden] * (len(dims) - 2) + [output]
    return dict(loss=loss, dims=dims, acts=acts, params=params, X=X, y=y, Y=Y)


def _model(problem, dropout=0.0):
    """An nn.MLP holding the problem's parameters (cross-entropy: logits out)."""
    acts = problem["acts"]
    output = None if problem["loss"] == "cross_entropy" else acts[-1]
    hidden = acts[0] if len(acts) > 1 else "relu"
    model = nn.MLP(problem["dims"], activation=hidden, output=output, dropout=dropout)
    for l, layer in enumerate(model.layers, start=1):
        layer.W.data = problem["params"][f"W{l}"].copy()
        layer.b.data = problem["params"][f"b{l}"][:, 0].copy()
    return model


def _our_grads(model, problem, lambd=0.0):
    losses = {"bce": nn.binary_cross_entropy, "mse": nn.mse_loss, "cross_entropy": nn.cross_entropy}
    cost = losses[problem["loss"]](model(problem["X"]), problem["y"])
    if lambd:
        cost = cost + nn.l2_penalty(model, lambd, len(problem["X"]))
    cost.backward()
    return cost.item()


def _off_saturation(AL, loss):
    """Keep examples where the course's sigmoid output is not saturated.

    Its dAL = -(Y / AL - (1 - Y) / (1 - AL)) divides by 1 - AL, which loses every digit
    once AL rounds near 1 (identity layers and dropout's 1/keep_prob make such logits):
    the formula, not the engine, is then off (central differences side with autodiff).
    """
    if loss == "bce":
        assume(np.min(np.minimum(AL, 1 - AL)) > 1e-6)


def _compare(model, grads):
    for l, layer in enumerate(model.layers, start=1):
        for ours, theirs, name in (
            (layer.W.grad, grads[f"dW{l}"], f"dW{l}"),
            (layer.b.grad, grads[f"db{l}"][:, 0], f"db{l}"),
        ):
            scale = 1.0 + np.abs(theirs).max()
            np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-10 * scale, err_msg=name)


@given(problems(), st.sampled_from([0.0, 0.7]))
def test_gradients_equal_the_course_formulas(problem, lambd):
    model = _model(problem)
    cost = _our_grads(model, problem, lambd)
    AL, caches = ref.L_model_forward(problem["X"].T, problem["params"], problem["acts"])
    _off_saturation(AL, problem["loss"])
    expected_cost = ref.compute_cost_with_regularization(
        AL, problem["Y"], problem["params"], lambd, loss=problem["loss"]
    )
    np.testing.assert_allclose(cost, expected_cost, rtol=1e-9, atol=1e-12)
    grads = ref.L_model_backward(
        AL, problem["Y"], caches, problem["acts"], lambd=lambd, loss=problem["loss"]
    )
    _compare(model, grads)


@given(problems(), st.sampled_from([0.5, 0.8]), st.integers(0, 1000))
def test_gradients_with_dropout_under_the_same_masks(problem, keep_prob, seed):
    AL, caches = ref.L_model_forward(
        problem["X"].T, problem["params"], problem["acts"], keep_prob=keep_prob, seed=seed
    )
    model = _model(problem, dropout=1 - keep_prob)
    masks = iter([cache[2].T for cache in caches[:-1]])  # the course's D, samples as rows

    def draw_mask(shape):
        mask = next(masks)
        assert mask.shape == shape
        return mask

    _off_saturation(AL, problem["loss"])
    if model.dropout is not None:
        model.dropout._draw_mask = draw_mask
    _our_grads(model, problem)
    grads = ref.L_model_backward(
        AL, problem["Y"], caches, problem["acts"], keep_prob=keep_prob, loss=problem["loss"]
    )
    _compare(model, grads)


@given(problems(loss="mse"))
def test_sequential_with_mixed_activations_matches(problem):
    rng = np.random.default_rng(len(problem["X"]))
    acts = [str(rng.choice(HIDDEN)) for _ in problem["acts"]]
    dims, params = problem["dims"], problem["params"]
    layers = []
    for l, act in enumerate(acts, start=1):
        layer = nn.Dense(dims[l - 1], dims[l], act)
        layer.W.data, layer.b.data = params[f"W{l}"].copy(), params[f"b{l}"][:, 0].copy()
        layers.append(layer)
    model = nn.Sequential(*layers)
    nn.mse_loss(model(problem["X"]), problem["y"]).backward()
    AL, caches = ref.L_model_forward(problem["X"].T, params, acts)
    grads = ref.L_model_backward(AL, problem["Y"], caches, acts, loss="mse")
    _compare(model, grads)
