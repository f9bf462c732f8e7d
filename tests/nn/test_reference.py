"""nn.reference against formulas computed here, independently of autodiff: central differences
of the cost for every gradient, numpy's RandomState stream for initialization and dropout, and
the optimizer rules written out step by step."""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nn import reference as ref

HIDDEN = ("relu", "tanh", "sigmoid", "leaky_relu", "identity")
# Output activations under which each loss is defined (bce needs outputs in (0, 1)).
OUTPUTS = {
    "bce": ("sigmoid", "softmax"),
    "cross_entropy": ("softmax", "sigmoid"),
    "mse": ref.ACTIVATIONS,
}
KINKED = ("relu", "leaky_relu")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=0))
    return e / e.sum(axis=0)


FORWARD = {
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "softmax": softmax,
    "identity": lambda z: z,
}


def central_diff(f, x, eps=1e-6):
    """Gradient of the scalar f at the array x, entry by entry."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


def assert_close(actual, expected, name):
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6 * scale, err_msg=name)


@dataclass
class Net:
    dims: list
    activations: list
    loss: str
    m: int
    seed: int
    soft_labels: bool
    lambd: float = 0.0
    keep_prob: float = 1.0

    def data(self):
        rng = np.random.default_rng(self.seed)
        X = rng.normal(size=(self.dims[0], self.m))
        params = {}
        for l in range(1, len(self.dims)):
            params[f"W{l}"] = rng.normal(size=(self.dims[l], self.dims[l - 1])) * 0.9
            params[f"b{l}"] = rng.normal(size=(self.dims[l], 1)) * 0.5
        n_out = self.dims[-1]
        if self.loss == "mse":
            Y = rng.normal(size=(n_out, self.m))
        elif self.loss == "bce":
            Y = rng.uniform(size=(n_out, self.m))
            if not self.soft_labels:
                Y = (Y < 0.5).astype(float)
        elif self.soft_labels:  # columns need not sum to 1 (weighted or smoothed labels)
            Y = rng.uniform(size=(n_out, self.m))
        else:
            Y = np.eye(n_out)[rng.integers(0, n_out, self.m)].T
        return X, Y, params

    def cost(self, X, Y, params):
        AL, _ = ref.L_model_forward(
            X, params, self.activations, keep_prob=self.keep_prob, seed=self.seed
        )
        return ref.compute_cost_with_regularization(AL, Y, params, self.lambd, loss=self.loss)


@st.composite
def nets(draw, l2=False, dropout=False):
    loss = draw(st.sampled_from(ref.LOSSES))
    output = draw(st.sampled_from(OUTPUTS[loss]))
    n_layers = draw(st.integers(1, 3))
    dims = draw(st.lists(st.integers(1, 5), min_size=n_layers, max_size=n_layers))
    dims.append(draw(st.integers(2 if output == "softmax" else 1, 5)))
    hidden = draw(st.lists(st.sampled_from(HIDDEN), min_size=n_layers - 1, max_size=n_layers - 1))
    return Net(
        dims=dims,
        activations=[*hidden, output],
        loss=loss,
        m=draw(st.integers(1, 6)),
        seed=draw(st.integers(0, 2**32 - 1)),
        soft_labels=draw(st.booleans()),
        lambd=draw(st.sampled_from([0.0, 0.3, 2.0])) if l2 else 0.0,
        keep_prob=draw(st.sampled_from([0.5, 0.8])) if dropout else 1.0,
    )


def check_gradients(net):
    X, Y, params = net.data()
    AL, caches = ref.L_model_forward(X, params, net.activations, net.keep_prob, seed=net.seed)
    # Central differences across a relu kink are meaningless; such draws are vanishingly rare.
    for cache, act in zip(caches, net.activations, strict=True):
        assume(act not in KINKED or np.min(np.abs(cache[1])) > 1e-4)
    # log(1 - AL) of a saturated AL keeps few digits, which the difference quotient amplifies.
    assume(net.loss != "bce" or np.max(AL) < 1 - 1e-3)
    grads = ref.L_model_backward(
        AL, Y, caches, net.activations, lambd=net.lambd, keep_prob=net.keep_prob, loss=net.loss
    )
    for key in params:
        numeric = central_diff(lambda w, key=key: net.cost(X, Y, {**params, key: w}), params[key])
        assert grads[f"d{key}"].shape == params[key].shape
        assert_close(grads[f"d{key}"], numeric, f"d{key} of {net}")
    # dA0 is the gradient of the summed losses: m times that of the mean cost (L2 has no X).
    numeric_X = central_diff(lambda x: net.cost(x, Y, params), X)
    assert_close(grads["dA0"], net.m * numeric_X, f"dA0 of {net}")
    assert set(grads) == {f"d{p}{l}" for l in range(1, len(net.dims)) for p in "Wb"} | {
        f"dA{l}" for l in range(len(net.dims) - 1)
    }


# ---- gradients against central differences ----


@given(nets())
def test_gradients_match_central_differences(net):
    check_gradients(net)


@given(nets(l2=True))
def test_gradients_with_l2_match_central_differences(net):
    check_gradients(net)


@given(nets(l2=True, dropout=True))
def test_gradients_with_dropout_match_central_differences_under_fixed_masks(net):
    check_gradients(net)


def test_default_loss_follows_the_number_of_output_rows():
    for output, n_out, loss in [("sigmoid", 1, "bce"), ("softmax", 3, "cross_entropy")]:
        net = Net([3, 4, n_out], ["tanh", output], loss, m=5, seed=1, soft_labels=False)
        X, Y, params = net.data()
        AL, caches = ref.L_model_forward(X, params, net.activations)
        assert ref.compute_cost(AL, Y) == ref.compute_cost(AL, Y, loss=loss)
        default = ref.L_model_backward(AL, Y, caches, net.activations)
        explicit = ref.L_model_backward(AL, Y, caches, net.activations, loss=loss)
        for key in explicit:
            np.testing.assert_array_equal(default[key], explicit[key])


def test_output_shortcuts_equal_the_chain_rule_through_the_helpers():
    # dZ = AL - Y for sigmoid + bce equals dAL * sigmoid'(Z) with the course's dAL.
    rng = np.random.default_rng(0)
    X, W, b = rng.normal(size=(3, 4)), rng.normal(size=(1, 3)), rng.normal(size=(1, 1))
    Y = np.array([[1.0, 0.0, 1.0, 0.0]])
    AL, cache = ref.linear_activation_forward(X, W, b, "sigmoid")
    dAL = -(Y / AL - (1 - Y) / (1 - AL))
    dA0, dW, db = ref.linear_activation_backward(dAL, cache, "sigmoid")
    grads = ref.L_model_backward(AL, Y, [cache], ["sigmoid"])
    np.testing.assert_allclose(grads["dW1"], dW, rtol=1e-12)
    np.testing.assert_allclose(grads["db1"], db, rtol=1e-12)
    np.testing.assert_allclose(grads["dA0"], dA0, rtol=1e-12)


def test_reproduces_the_course_L_model_backward_test_case():
    # The inputs of the course's L_model_backward_test_case, drawn by the same calls: AL comes
    # from randn, so it is not sigmoid(Z2). Expected values as the course publishes them.
    np.random.seed(3)
    AL = np.random.randn(1, 2)
    Y = np.array([[1, 0]])
    A1, W1, b1, Z1 = (np.random.randn(*s) for s in [(4, 2), (3, 4), (3, 1), (3, 2)])
    A2, W2, b2, Z2 = (np.random.randn(*s) for s in [(3, 2), (1, 3), (1, 1), (1, 2)])
    caches = (((A1, W1, b1), Z1), ((A2, W2, b2), Z2))
    grads = ref.L_model_backward(AL, Y, caches, ["relu", "sigmoid"])
    expected = {
        "dW1": [
            [0.41010002, 0.07807203, 0.13798444, 0.10502167],
            [0.0, 0.0, 0.0, 0.0],
            [0.05283652, 0.01005865, 0.01777766, 0.0135308],
        ],
        "db1": [[-0.22007063], [0.0], [-0.02835349]],
        "dA1": [[0.12913162, -0.44014127], [-0.14175655, 0.48317296], [0.01663708, -0.05670698]],
    }
    for key, value in expected.items():
        np.testing.assert_allclose(grads[key], value, rtol=0, atol=1e-8, err_msg=key)


# ---- forward pass ----


@given(st.sampled_from(HIDDEN), st.sampled_from(ref.ACTIVATIONS), st.integers(0, 1000))
def test_forward_matches_the_layer_formulas(hidden, output, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3, 5))
    p = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1))}
    p |= {"W2": rng.normal(size=(2, 4)), "b2": rng.normal(size=(2, 1))}
    AL, caches = ref.L_model_forward(X, p, [hidden, output])
    Z1 = p["W1"] @ X + p["b1"]
    A1 = FORWARD[hidden](Z1)
    Z2 = p["W2"] @ A1 + p["b2"]
    np.testing.assert_allclose(AL, FORWARD[output](Z2), rtol=1e-12, atol=1e-15)
    (A0, W1, b1), cZ1 = caches[0]
    np.testing.assert_array_equal(A0, X)
    np.testing.assert_array_equal(W1, p["W1"])
    np.testing.assert_array_equal(b1, p["b1"])
    np.testing.assert_allclose(cZ1, Z1, rtol=1e-12)
    np.testing.assert_allclose(caches[1][0][0], A1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(caches[1][1], Z2, rtol=1e-12)


def test_forward_is_stable_for_large_pre_activations():
    X = np.array([[1000.0, -1000.0]])
    p = {"W1": np.array([[1.0], [-1.0]]), "b1": np.zeros((2, 1))}
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        AL, _ = ref.L_model_forward(X, p, ["softmax"])
        np.testing.assert_allclose(AL, [[1.0, 0.0], [0.0, 1.0]])
        AL, _ = ref.L_model_forward(X, p, ["sigmoid"])
        np.testing.assert_allclose(AL, [[1.0, 0.0], [0.0, 1.0]])


def test_dropout_masks_are_the_randomstate_stream_on_hidden_layers_only():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3, 6))
    p = {
        "W1": rng.normal(size=(4, 3)),
        "b1": rng.normal(size=(4, 1)),
        "W2": rng.normal(size=(5, 4)),
        "b2": rng.normal(size=(5, 1)),
        "W3": rng.normal(size=(1, 5)),
        "b3": rng.normal(size=(1, 1)),
    }
    acts, kp = ["tanh", "relu", "sigmoid"], 0.7
    AL, caches = ref.L_model_forward(X, p, acts, keep_prob=kp, seed=5)
    stream = np.random.RandomState(5)
    D1, D2 = stream.rand(4, 6) < kp, stream.rand(5, 6) < kp
    assert [len(c) for c in caches] == [3, 3, 3]
    np.testing.assert_array_equal(caches[0][2], D1)
    np.testing.assert_array_equal(caches[1][2], D2)
    assert caches[2][2] is None
    A1 = np.tanh(p["W1"] @ X + p["b1"]) * D1 / kp
    A2 = np.maximum(p["W2"] @ A1 + p["b2"], 0) * D2 / kp
    np.testing.assert_allclose(caches[1][0][0], A1, rtol=1e-12)
    np.testing.assert_allclose(AL, sigmoid(p["W3"] @ A2 + p["b3"]), rtol=1e-12)
    again, _ = ref.L_model_forward(X, p, acts, keep_prob=kp, seed=5)
    np.testing.assert_array_equal(again, AL)


def test_dropout_keeps_about_keep_prob_of_the_units():
    p = ref.initialize_parameters([10, 400, 1], seed=0)
    _, caches = ref.L_model_forward(np.ones((10, 50)), p, ["relu", "sigmoid"], 0.8, seed=1)
    assert abs(caches[0][2].mean() - 0.8) < 0.01  # 20000 Bernoulli(0.8): sd 0.003


# ---- cost ----


def test_compute_cost_course_value():
    cost = ref.compute_cost(np.array([[0.8, 0.9, 0.4]]), np.array([[1, 1, 0]]))
    assert isinstance(cost, float)
    assert cost == pytest.approx(-(np.log(0.8) + np.log(0.9) + np.log(0.6)) / 3, rel=1e-14)
    assert cost == pytest.approx(0.2797765635793422, rel=1e-14)


@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 10_000))
def test_compute_cost_formulas(n_out, m, seed):
    rng = np.random.default_rng(seed)
    AL = rng.uniform(0.01, 0.99, size=(n_out, m))
    Y = rng.uniform(size=(n_out, m))
    bce = -np.mean(np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL), axis=0))
    ce = -np.mean(np.sum(Y * np.log(AL), axis=0))
    assert ref.compute_cost(AL, Y, loss="bce") == pytest.approx(bce, rel=1e-12)
    assert ref.compute_cost(AL, Y, loss="cross_entropy") == pytest.approx(ce, rel=1e-12)
    assert ref.compute_cost(AL, Y, loss="mse") == pytest.approx(np.mean((AL - Y) ** 2), rel=1e-12)
    W1, W2 = rng.normal(size=(3, 2)), rng.normal(size=(n_out, 3))
    params = {"W1": W1, "b1": np.ones((3, 1)), "W2": W2, "b2": np.ones((n_out, 1))}
    reg = ref.compute_cost_with_regularization(AL, Y, params, 0.7, loss="mse")
    penalty = 0.7 / (2 * m) * (np.sum(W1**2) + np.sum(W2**2))
    assert reg == pytest.approx(np.mean((AL - Y) ** 2) + penalty, rel=1e-12)


def test_saturated_output_with_matching_label_costs_zero():
    assert ref.compute_cost(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]])) == 0.0
    one_hot = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert ref.compute_cost(one_hot, one_hot) == 0.0


def test_a_one_dimensional_label_row_is_accepted():
    AL = np.array([[0.8, 0.9, 0.4]])
    assert ref.compute_cost(AL, np.array([1, 1, 0])) == ref.compute_cost(AL, [[1, 1, 0]])


# ---- activation helpers ----

HELPERS = {
    "relu": ref.relu_backward,
    "leaky_relu": ref.leaky_relu_backward,
    "tanh": ref.tanh_backward,
    "sigmoid": ref.sigmoid_backward,
    "softmax": ref.softmax_backward,
    "identity": ref.identity_backward,
}


@given(st.sampled_from(sorted(HELPERS)), st.integers(1, 4), st.integers(1, 5), st.integers(0, 999))
def test_activation_helpers_match_central_differences_and_keep_inputs(name, n, m, seed):
    rng = np.random.default_rng(seed)
    dA, Z = rng.normal(size=(n, m)), rng.normal(size=(n, m)) * 2
    assume(name not in KINKED or np.min(np.abs(Z)) > 1e-4)
    dA0, Z0 = dA.copy(), Z.copy()
    dZ = HELPERS[name](dA, Z)
    # dZ is the gradient of sum(dA * g(Z)) with respect to Z.
    numeric = central_diff(lambda z: np.sum(dA * FORWARD[name](z)), Z)
    np.testing.assert_allclose(dZ, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(dA, dA0)
    np.testing.assert_array_equal(Z, Z0)
    assert dZ is not dA and not np.shares_memory(dZ, dA)


def test_kinks_follow_pytorch():
    dA, Z = np.array([[2.0, 2.0, 2.0]]), np.array([[-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(ref.relu_backward(dA, Z), [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(ref.leaky_relu_backward(dA, Z), [[0.02, 0.02, 2.0]])
    np.testing.assert_array_equal(ref.leaky_relu_backward(dA, Z, slope=0.2), [[0.4, 0.4, 2.0]])


@pytest.mark.parametrize("name", sorted(HELPERS))
def test_activation_helpers_reject_mismatched_shapes(name):
    with pytest.raises(ValueError, match=r"dA of shape \(2, 3\).*Z of shape \(3, 2\)"):
        HELPERS[name](np.ones((2, 3)), np.ones((3, 2)))


# ---- no argument is modified ----


def test_forward_backward_and_update_leave_their_arguments_alone():
    net = Net([3, 4, 2, 1], ["relu", "tanh", "sigmoid"], "bce", m=5, seed=2, soft_labels=False)
    X, Y, params = net.data()
    snapshot = {k: v.copy() for k, v in params.items()}
    X0, Y0 = X.copy(), Y.copy()
    AL, caches = ref.L_model_forward(X, params, net.activations, keep_prob=0.6, seed=0)
    AL0 = AL.copy()
    cache_copies = [[np.copy(a) for a in c[0]] + [c[1].copy()] for c in caches]
    grads = ref.L_model_backward(AL, Y, caches, net.activations, lambd=0.5, keep_prob=0.6)
    grads0 = {k: v.copy() for k, v in grads.items()}
    new = ref.update_parameters(params, grads, lr=0.1)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    np.testing.assert_array_equal(AL, AL0)
    for k in params:
        np.testing.assert_array_equal(params[k], snapshot[k])
        np.testing.assert_array_equal(new[k], params[k] - 0.1 * grads[f"d{k}"])
        np.testing.assert_array_equal(grads[f"d{k}"], grads0[f"d{k}"])
    for c, saved in zip(caches, cache_copies, strict=True):
        for a, b in zip([*c[0], c[1]], saved, strict=True):
            np.testing.assert_array_equal(a, b)
    assert new is not params


# ---- initialization ----


def test_seed_gives_the_course_stream():
    # The deep-learning course's expected W1 row for np.random.seed(3) and randn * 0.01.
    p = ref.initialize_parameters([5, 4, 3], init="small", seed=3)
    course = [0.01788628, 0.0043651, 0.00096497, -0.01863493, -0.00277388]
    np.testing.assert_allclose(p["W1"][0], course, atol=5e-9)


@given(
    st.lists(st.integers(1, 6), min_size=2, max_size=4),
    st.sampled_from(["he", "xavier", "small"]),
    st.integers(0, 2**32 - 1),
)
def test_init_is_the_randomstate_stream_scaled(dims, init, seed):
    state = np.random.get_state()
    p = ref.initialize_parameters(dims, init=init, seed=seed)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
    stream = np.random.RandomState(seed)
    for l in range(1, len(dims)):
        fan_in = dims[l - 1]
        scale = {"he": np.sqrt(2 / fan_in), "xavier": np.sqrt(1 / fan_in), "small": 0.01}[init]
        np.testing.assert_allclose(p[f"W{l}"], stream.randn(dims[l], fan_in) * scale, rtol=1e-15)
        np.testing.assert_array_equal(p[f"b{l}"], np.zeros((dims[l], 1)))
    assert len(p) == 2 * (len(dims) - 1)


def test_glorot_uniform_and_zeros():
    p = ref.initialize_parameters([4, 6, 2], init="glorot_uniform", seed=7)
    stream = np.random.RandomState(7)
    for l, (fan_out, fan_in) in enumerate([(6, 4), (2, 6)], start=1):
        limit = np.sqrt(6 / (fan_in + fan_out))
        expected = stream.uniform(-limit, limit, size=(fan_out, fan_in))
        np.testing.assert_allclose(p[f"W{l}"], expected, rtol=1e-15)
        assert np.all(np.abs(p[f"W{l}"]) <= limit)
    z = ref.initialize_parameters([4, 6, 2], init="zeros")
    assert all(np.count_nonzero(v) == 0 for v in z.values())
    assert z["W2"].shape == (2, 6) and z["b2"].shape == (2, 1)


def test_init_scales_on_wide_layers():
    for init, var in [("he", 2 / 500), ("xavier", 1 / 500), ("small", 1e-4)]:
        W = ref.initialize_parameters([500, 400], init=init, seed=0)["W1"]
        assert W.var() == pytest.approx(var, rel=0.03)  # 200000 draws: sd of var ~0.3 %


def test_unseeded_init_uses_fresh_draws():
    a = ref.initialize_parameters([3, 3])["W1"]
    b = ref.initialize_parameters([3, 3])["W1"]
    assert not np.array_equal(a, b)


@pytest.mark.parametrize(
    "dims, init, match",
    [
        ([3], "he", "at least one layer"),
        ([3, 0], "he", r"layer_dims\[1\]"),
        ([3, 2], "lecun", "unknown init 'lecun'"),
    ],
)
def test_init_rejects_bad_arguments(dims, init, match):
    with pytest.raises(ValueError, match=match):
        ref.initialize_parameters(dims, init=init)


# ---- optimizers ----


def two_layer():
    rng = np.random.default_rng(11)
    params = {
        "W1": rng.normal(size=(3, 2)),
        "b1": rng.normal(size=(3, 1)),
        "W2": rng.normal(size=(1, 3)),
        "b2": rng.normal(size=(1, 1)),
    }
    grad_steps = [{f"d{k}": rng.normal(size=v.shape) for k, v in params.items()} for _ in range(3)]
    return params, grad_steps


def test_momentum_step_by_step():
    params, grad_steps = two_layer()
    v = ref.initialize_velocity(params)
    assert sorted(v) == ["dW1", "dW2", "db1", "db2"]
    assert all(np.count_nonzero(x) == 0 and x.shape == params[k[1:]].shape for k, x in v.items())
    expected_p, expected_v = {k: x.copy() for k, x in params.items()}, {k: 0.0 for k in v}
    for grads in grad_steps:
        before = {k: x.copy() for k, x in params.items()}
        params, v = ref.update_parameters_with_momentum(params, grads, v, 0.9, 0.05)
        for k in expected_p:
            expected_v[f"d{k}"] = 0.9 * expected_v[f"d{k}"] + 0.1 * grads[f"d{k}"]
            expected_p[k] = expected_p[k] - 0.05 * expected_v[f"d{k}"]
            np.testing.assert_allclose(v[f"d{k}"], expected_v[f"d{k}"], rtol=1e-14)
            np.testing.assert_allclose(params[k], expected_p[k], rtol=1e-14)
            np.testing.assert_allclose(before[k] - params[k], 0.05 * v[f"d{k}"], rtol=1e-12)


def test_adam_step_by_step():
    params, grad_steps = two_layer()
    v, s = ref.initialize_adam(params)
    lr, b1, b2, eps = 0.02, 0.8, 0.99, 1e-7
    ev = {k: 0.0 for k in params}
    es = {k: 0.0 for k in params}
    ep = {k: x.copy() for k, x in params.items()}
    for t, grads in enumerate(grad_steps, start=1):
        v0 = {k: x.copy() for k, x in v.items()}
        params, v, s, v_corr, s_corr = ref.update_parameters_with_adam(
            params, grads, v, s, t, learning_rate=lr, beta1=b1, beta2=b2, epsilon=eps
        )
        for k in ep:
            g = grads[f"d{k}"]
            ev[k] = b1 * ev[k] + (1 - b1) * g
            es[k] = b2 * es[k] + (1 - b2) * g * g
            vc, sc = ev[k] / (1 - b1**t), es[k] / (1 - b2**t)
            ep[k] = ep[k] - lr * vc / (np.sqrt(sc) + eps)
            for got, want in [(v, ev), (s, es)]:
                np.testing.assert_allclose(got[f"d{k}"], want[k], rtol=1e-13)
            np.testing.assert_allclose(v_corr[f"d{k}"], vc, rtol=1e-13)
            np.testing.assert_allclose(s_corr[f"d{k}"], sc, rtol=1e-13)
            np.testing.assert_allclose(params[k], ep[k], rtol=1e-13)
        if t > 1:  # the arguments are not modified
            assert any(not np.array_equal(v0[k], v[k]) for k in v)


def test_adam_first_step_is_lr_times_the_sign_and_epsilon_follows_the_square_root():
    p = {"W1": np.zeros((1, 3)), "b1": np.zeros((1, 1))}
    g = {"dW1": np.array([[3.0, -1e-3, 1e-8]]), "db1": np.array([[0.0]])}
    v, s = ref.initialize_adam(p)
    new, *_ = ref.update_parameters_with_adam(p, g, v, s, 1, learning_rate=0.1)
    # t = 1: v_corr = g and s_corr = g^2, so the step is lr * g / (|g| + eps). For g = 1e-8 it is
    # lr / 2 with epsilon after the root; eps inside the root would give about lr * 1e-4.
    np.testing.assert_allclose(new["W1"], -0.1 * g["dW1"] / (np.abs(g["dW1"]) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(new["W1"], [[-0.1, 0.1, -0.05]], rtol=1e-4)
    np.testing.assert_array_equal(new["b1"], [[0.0]])
    assert np.count_nonzero(p["W1"]) == 0
    with pytest.raises(ValueError, match="t"):
        ref.update_parameters_with_adam(p, g, v, s, 0)


# ---- shape errors ----


def params_3_4_5():
    return ref.initialize_parameters([3, 4, 5, 1], seed=0)


def test_mismatched_weight_names_the_layer_and_both_shapes():
    p = params_3_4_5()
    p["W2"] = np.ones((3, 5))
    p["b2"] = np.ones((3, 1))
    with pytest.raises(ValueError, match=r"layer 2: W2 of shape \(3, 5\).*A1 with 4 rows"):
        ref.L_model_forward(np.ones((3, 2)), p, ["relu", "relu", "sigmoid"])


@pytest.mark.parametrize(
    "change, acts, X, match",
    [
        ({"b2": np.zeros((5,))}, None, None, r"layer 2: b2 of shape \(5,\).*W2 of shape \(5, 4\)"),
        ({"W3": None}, None, None, "no W3"),
        ({}, ["relu", "sigmoid"], None, "2 names for a network of 3 layers"),
        ({}, ["softmax", "relu", "sigmoid"], None, "layer 1: softmax"),
        ({}, ["relu", "swish", "sigmoid"], None, "layer 2: unknown activation 'swish'"),
        ({}, None, np.ones((2, 4)), r"layer 1: W1 of shape \(4, 3\).*A0 with 2 rows"),
        ({}, None, np.ones(3), r"X must be 2-D.*\(3,\)"),
    ],
)
def test_forward_rejects_bad_networks(change, acts, X, match):
    p = params_3_4_5()
    for k, v in change.items():
        if v is None:
            del p[k]
        else:
            p[k] = v
    X = np.ones((3, 2)) if X is None else X
    with pytest.raises(ValueError, match=match):
        ref.L_model_forward(X, p, acts or ["relu", "relu", "sigmoid"])


def test_forward_rejects_a_bad_keep_prob():
    for kp in (0.0, 1.5):
        with pytest.raises(ValueError, match="keep_prob"):
            ref.L_model_forward(np.ones((3, 2)), params_3_4_5(), ["relu"] * 2 + ["sigmoid"], kp)


def test_backward_rejects_mismatches():
    acts = ["relu", "relu", "sigmoid"]
    p = params_3_4_5()
    X, Y = np.ones((3, 2)), np.ones((1, 2))
    AL, caches = ref.L_model_forward(X, p, acts)
    with pytest.raises(
        ValueError, match=r"Y of shape \(1, 3\) does not match AL of shape \(1, 2\)"
    ):
        ref.L_model_backward(AL, np.ones((1, 3)), caches, acts)
    with pytest.raises(ValueError, match=r"AL of shape \(2, 2\).*Z3 of shape \(1, 2\)"):
        ref.L_model_backward(np.full((2, 2), 0.5), np.ones((2, 2)), caches, acts, loss="bce")
    with pytest.raises(ValueError, match="2 names for a network of 3 layers"):
        ref.L_model_backward(AL, Y, caches, acts[1:])
    with pytest.raises(ValueError, match="layer 1: keep_prob=0.5 needs the dropout mask D1"):
        ref.L_model_backward(AL, Y, caches, acts, keep_prob=0.5)
    bad = list(caches)
    (A1, W2, b2), Z2 = bad[1]
    bad[1] = ((A1[:3], W2, b2), Z2)
    with pytest.raises(ValueError, match=r"layer 2: W2 of shape \(5, 4\).*A1 with 3 rows"):
        ref.L_model_backward(AL, Y, bad, acts)
    AL, dropped = ref.L_model_forward(X, p, acts, keep_prob=0.5, seed=0)
    with pytest.raises(ValueError, match="layer 1: the cache holds a dropout mask but keep_prob"):
        ref.L_model_backward(AL, Y, dropped, acts)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        ref.L_model_backward(AL, Y, dropped, acts, keep_prob=0.5, loss="hinge")


def test_cost_rejects_mismatched_shapes():
    with pytest.raises(
        ValueError, match=r"Y of shape \(2, 3\) does not match AL of shape \(1, 3\)"
    ):
        ref.compute_cost(np.full((1, 3), 0.5), np.ones((2, 3)))
    with pytest.raises(ValueError, match="no b1"):
        ref.compute_cost_with_regularization(np.full((1, 3), 0.5), np.ones((1, 3)), {"W1": 1}, 1)


def test_updates_reject_missing_or_mismatched_gradients():
    p = params_3_4_5()
    grads = {f"d{k}": np.zeros_like(v) for k, v in p.items()}
    with pytest.raises(ValueError, match="grads has no db3"):
        ref.update_parameters(p, {k: g for k, g in grads.items() if k != "db3"}, 0.1)
    grads["dW2"] = np.zeros((4, 5))
    with pytest.raises(
        ValueError, match=r"dW2 of shape \(4, 5\) does not match W2 of shape \(5, 4\)"
    ):
        ref.update_parameters(p, grads, 0.1)
    grads["dW2"] = np.zeros((5, 4))
    v = ref.initialize_velocity(p)
    v["db1"] = np.zeros((1, 4))
    with pytest.raises(ValueError, match=r"v: db1 of shape \(1, 4\) does not match b1"):
        ref.update_parameters_with_momentum(p, grads, v, 0.9, 0.1)


def test_linear_building_blocks_check_shapes():
    with pytest.raises(ValueError, match=r"W of shape \(2, 3\) does not match A_prev with 4 rows"):
        ref.linear_forward(np.ones((4, 2)), np.ones((2, 3)), np.ones((2, 1)))
    cache = (np.ones((3, 5)), np.ones((2, 3)), np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"dZ of shape \(2, 4\).*expected \(2, 5\)"):
        ref.linear_backward(np.ones((2, 4)), cache)
    with pytest.raises(ValueError, match=r"cache must be \(A_prev, W, b\)"):
        ref.linear_backward(np.ones((2, 5)), cache[:2])
    with pytest.raises(ValueError, match=r"cache must be \(\(A_prev, W, b\), Z\)"):
        ref.linear_activation_backward(np.ones((2, 5)), cache, "relu")
    dA_prev, dW, db = ref.linear_backward(np.ones((2, 5)), cache)
    np.testing.assert_array_equal(dW, np.ones((2, 3)))  # dZ A_prev^T / m with all-ones
    np.testing.assert_array_equal(db, np.ones((2, 1)))
    np.testing.assert_array_equal(dA_prev, np.full((3, 5), 2.0))
