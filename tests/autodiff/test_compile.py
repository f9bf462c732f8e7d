"""ad.compile: a replayed step equals the eager step, call after call."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
import nn
from autodiff import Tensor, fuse, lower, ops
from autodiff.plan import Plan, build, preallocate, source
from tests.autodiff.test_ops import OP_IDS, OPS

LOSSES = {
    "bce": lambda out, y: nn.binary_cross_entropy(out, y),
    "bce_with_logits": nn.binary_cross_entropy_with_logits,
    "mse": nn.mse_loss,
    "callable": lambda out, y: ((out - y.reshape(out.shape)) ** 2).sum() * 0.5 + out.mean(),
}
OPTIMIZERS = {
    "sgd": lambda ps: nn.optim.SGD(ps, lr=0.05),
    "momentum": lambda ps: nn.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "adam": lambda ps: nn.optim.Adam(ps, lr=0.01),
    "rmsprop": lambda ps: nn.optim.RMSProp(ps, lr=0.01, alpha=0.9, weight_decay=1e-4),
}


def make_step(model: nn.Module, opt: object, loss_fn: object, l2: float = 0.0):
    def step(X, y):
        opt.zero_grad()
        out = model(X)
        loss = loss_fn(out, y)
        if l2:
            loss = loss + nn.l2_penalty(model, l2, len(X))
        loss.backward()
        opt.step()
        return loss, out

    return step


def twins(sizes, activation, output, dtype, opt_name, dropout=0.0, seed=0):
    """Two equal models and optimizers: one for the compiled step, one for eager."""
    pairs = []
    for _ in range(2):
        model = nn.MLP(sizes, activation=activation, output=output, dropout=dropout, seed=seed)
        for p in model.parameters():
            p.data = p.data.astype(dtype)
        pairs.append((model, OPTIMIZERS[opt_name](model.parameters())))
    return pairs


def assert_same(a, b, dtype, what=""):
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, what
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(np.abs(b).max(initial=0), 1e-30),
                               err_msg=what)  # fmt: skip


def assert_models_equal(m1, m2, o1, o2, dtype):
    for (name, p), (_, q) in zip(m1.named_parameters(), m2.named_parameters()):
        assert_same(p.data, q.data, dtype, name)
        assert (p.grad is None) == (q.grad is None), name
        if q.grad is not None:
            assert_same(p.grad, q.grad, dtype, name + ".grad")
    for key, value in vars(o2).items():
        if isinstance(value, list) and key not in ("params", "_scratch"):
            for i, (a, b) in enumerate(zip(vars(o1)[key], value)):
                if isinstance(b, np.ndarray):
                    assert_same(a, b, dtype, f"optimizer {key}[{i}]")
                else:
                    assert a == b


def data(n, n_in, n_out, loss, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if loss in ("bce", "bce_with_logits"):
        y = (rng.random((n, n_out)) > 0.5).astype(dtype)
    else:
        y = rng.normal(size=(n, n_out)).astype(dtype)
    return X, y


def run_lockstep(sizes, activation, output, loss, opt_name, dtype, *, steps=6, batches=(16,),
                 dropout=0.0, l2=0.0, check=False):  # fmt: skip
    (m1, o1), (m2, o2) = twins(sizes, activation, output, dtype, opt_name, dropout)
    compiled = ad.compile(check=check)(make_step(m1, o1, LOSSES[loss], l2))
    eager = make_step(m2, o2, LOSSES[loss], l2)
    for i in range(steps):
        n = batches[i % len(batches)]
        X, y = data(n, sizes[0], sizes[-1], loss, dtype, seed=i)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a fallback to eager is a failure here
            l1, out1 = compiled(X, y)
        l2_, out2 = eager(X, y)
        assert_same(l1.data, l2_.data, dtype, f"loss at step {i}")
        assert_same(out1.data, out2.data, dtype, f"output at step {i}")
        assert_models_equal(m1, m2, o1, o2, dtype)
    return compiled


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "sizes,activation,output,loss,opt_name",
    [
        ([2, 16, 16, 1], "relu", None, "bce_with_logits", "sgd"),
        ([3, 8, 1], "tanh", "sigmoid", "bce", "adam"),
        ([4, 8, 8, 8, 2], "leaky_relu", None, "mse", "momentum"),
        ([2, 5, 3], "sigmoid", "tanh", "callable", "rmsprop"),
        ([3, 6, 1], "relu", "sigmoid", "bce", "momentum"),
    ],
)
def test_compiled_step_equals_eager(sizes, activation, output, loss, opt_name, dtype):
    step = run_lockstep(sizes, activation, output, loss, opt_name, dtype, batches=(16, 16, 7))
    assert step.recordings == 2  # one per batch size: the partial batch is its own signature


@pytest.mark.parametrize("fuse", [True, False])
def test_fused_and_unfused_plans_equal_eager(fuse, monkeypatch):
    from autodiff import planner

    monkeypatch.setattr(planner, "FUSE", fuse)
    for output, loss in (("sigmoid", "bce"), (None, "bce_with_logits")):
        step = run_lockstep([3, 8, 8, 1], "relu", output, loss, "momentum", np.float64)
        assert ("on flat arrays" in step.source) == fuse
        assert ("sigmoid + BCE fused" in step.source) == (fuse and loss == "bce")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fuse", [True, False])
def test_saturated_sigmoid_bce_equals_eager(fuse, dtype, monkeypatch):
    """Where p is clipped (0 or 1 in floating point) the fused rule's mask gives 0 too."""
    from autodiff import planner

    monkeypatch.setattr(planner, "FUSE", fuse)
    w, twin = (Tensor(np.array([[30.0], [-30.0]], dtype), requires_grad=True) for _ in range(2))

    def make(w):
        def step(x, y):
            w.zero_grad()
            loss = nn.binary_cross_entropy((x @ w).sigmoid(), y)
            loss.backward()
            return loss

        return step

    compiled, eager = ad.compile(make(w)), make(twin)
    rng = np.random.default_rng(0)
    for _ in range(4):  # about half of the rows saturate, in both directions
        x = (rng.normal(size=(16, 2)) * 2).astype(dtype)
        y = (rng.random((16, 1)) > 0.5).astype(dtype)
        assert_same(compiled(x, y).data, eager(x, y).data, dtype, "loss")
        assert_same(w.grad, twin.grad, dtype, "w.grad")
    assert compiled.recordings == 1
    assert ("sigmoid + BCE fused" in compiled.source) == fuse


def test_max_and_min_reductions_equal_eager():
    w, twin = (Tensor(np.array([[1.0, 2.0, 2.0], [0.5, -1.0, 3.0]]), requires_grad=True)
               for _ in range(2))  # fmt: skip

    def make(w):
        def step(x):
            w.zero_grad()
            z = w * x
            loss = z.max(axis=1, keepdims=True).sum() + z.min() * 2.0 + z.max(axis=0).sum()
            loss.backward()
            return loss

        return step

    compiled, eager = ad.compile(make(w)), make(twin)
    for i in range(4):  # ties among the maxima on the first and last calls
        x = np.ones((2, 3)) if i in (0, 3) else np.random.default_rng(i).normal(size=(2, 3))
        assert float(compiled(x).data) == float(eager(x).data)
        np.testing.assert_array_equal(w.grad, twin.grad)
    assert "np.maximum.reduce" in compiled.source and "np.minimum.reduce" in compiled.source


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("loss", ["bce", "ce"])
def test_a_step_that_returns_nothing_drops_its_unread_kernels_only(loss, fuse, monkeypatch):
    """The loss value is not returned: with the fused rule nothing reads it, so its kernels
    go; the dropout draws, the update and every gradient stay as eager."""
    from autodiff import planner

    monkeypatch.setattr(planner, "FUSE", fuse)
    output = "sigmoid" if loss == "bce" else None
    loss_fn = nn.binary_cross_entropy if loss == "bce" else nn.cross_entropy
    sizes = [3, 8, 8, 1 if loss == "bce" else 3]
    (m1, o1), (m2, o2) = twins(sizes, "relu", output, np.float64, "adam", dropout=0.25)

    def make(model, opt):
        def step(X, y):
            opt.zero_grad()
            loss_fn(model(X), y).backward()
            opt.step()

        return step

    compiled, eager = ad.compile(make(m1, o1)), make(m2, o2)
    for i in range(5):
        X, y = data(16, 3, 1, "bce", np.float64, seed=i)
        y = y if loss == "bce" else np.random.default_rng(i).integers(0, 3, 16)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert compiled(X, y) is None
        eager(X, y)
        assert_models_equal(m1, m2, o1, o2, np.float64)
    assert compiled.recordings == 1
    if fuse:  # the fused rules read no value of the loss itself
        assert "np.add.reduce(t_3" not in compiled.source
        assert "np.negative(mean" not in compiled.source
    assert "_draw" in compiled.source


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_the_update_runs_on_flat_arrays(opt_name):
    (m1, o1), (m2, o2) = twins([3, 5, 2], "tanh", None, np.float64, opt_name)
    compiled = ad.compile(make_step(m1, o1, nn.mse_loss))
    eager = make_step(m2, o2, nn.mse_loss)
    X, y = data(6, 3, 2, "mse", np.float64)
    for _ in range(3):
        compiled(X, y), eager(X, y)

    def refuse() -> None:
        raise AssertionError("the replay fell back to the per-parameter step()")

    o1.step = refuse
    for _ in range(3):
        compiled(X, y), eager(X, y)
        assert_models_equal(m1, m2, o1, o2, np.float64)
    p = next(m1.parameters())
    assert p.data.base is not None  # a view of the flat parameter buffer
    p.data = p.data.copy()  # no longer a view: the flat update must step aside
    with pytest.raises(AssertionError, match="fell back"):
        compiled(X, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_the_flat_update_chunk_by_chunk_equals_eager(opt_name, dtype, monkeypatch):
    # 56 bytes: chunks of 7 (float64) or 14 (float32) numbers, straddling every
    # parameter's edges; Adam's step count must still advance once per step.
    monkeypatch.setattr(nn.optim, "_CHUNK_BYTES", 56)
    (m1, o1), (m2, o2) = twins([3, 5, 2], "tanh", None, dtype, opt_name)
    compiled = ad.compile(make_step(m1, o1, nn.mse_loss))
    eager = make_step(m2, o2, nn.mse_loss)
    X, y = data(6, 3, 2, "mse", dtype)
    for _ in range(3):  # recorded, then checked against eager
        compiled(X, y), eager(X, y)
    o1.step = lambda: pytest.fail("the replay fell back to the per-parameter step()")
    for _ in range(4):
        compiled(X, y), eager(X, y)
        assert_models_equal(m1, m2, o1, o2, dtype)


def test_random_mlps_equal_eager():
    rng = np.random.default_rng(1)
    for _ in range(6):
        depth = int(rng.integers(1, 4))
        sizes = [int(rng.integers(1, 6))] + [int(rng.integers(1, 9)) for _ in range(depth)] + [1]
        activation = str(rng.choice(["relu", "tanh", "sigmoid", "leaky_relu"]))
        loss = str(rng.choice(list(LOSSES)))
        output = "sigmoid" if loss == "bce" else None
        opt_name = str(rng.choice(list(OPTIMIZERS)))
        run_lockstep(sizes, activation, output, loss, opt_name, np.float64, steps=4,
                     batches=(int(rng.integers(1, 20)),))  # fmt: skip


def test_l2_and_dropout_equal_eager():
    run_lockstep([3, 12, 12, 1], "relu", None, "bce_with_logits", "adam", np.float64, l2=0.1,
                 dropout=0.3, steps=8)  # fmt: skip


def test_dropout_draws_fresh_masks_from_the_eager_stream():
    model = nn.Sequential(nn.Dropout(0.5, seed=3))
    twin = nn.Sequential(nn.Dropout(0.5, seed=3))
    compiled = ad.compile(lambda x: model(x) * 1.0)
    x = Tensor(np.ones((4, 5)), requires_grad=True)
    masks = [compiled(x).data for _ in range(4)]
    eager = [(twin(x) * 1.0).data for _ in range(4)]
    for a, b in zip(masks, eager):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(masks[1], masks[2])  # a new mask on every replay


@pytest.mark.parametrize("fuse", [True, False])
def test_cross_entropy_equals_eager(fuse, monkeypatch):
    from autodiff import planner

    monkeypatch.setattr(planner, "FUSE", fuse)
    sizes = [4, 8, 3]
    (m1, o1), (m2, o2) = twins(sizes, "relu", None, np.float64, "adam")

    def make(model, opt):
        def step(X, y):
            opt.zero_grad()
            loss = nn.cross_entropy(model(X), y)
            loss.backward()
            opt.step()
            return loss

        return step

    compiled, eager = ad.compile(make(m1, o1)), make(m2, o2)
    rng = np.random.default_rng(0)
    for _ in range(4):
        X, y = rng.normal(size=(10, 4)), rng.integers(0, 3, size=10)
        y[:3] = [0, 1, 2]  # every class: a one-hot table, never a uniform one
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # compiled: log_softmax and the one-hot labels
            a = compiled(X, y)
        assert_same(a.data, eager(X, y).data, np.float64)
        assert_models_equal(m1, m2, o1, o2, np.float64)
    assert ("log-softmax + NLL fused" in compiled.source) == fuse


def test_train_eval_switch_and_learning_rate_change_record_anew():
    (m1, o1), (m2, o2) = twins([2, 6, 1], "tanh", None, np.float64, "momentum", dropout=0.2)
    compiled = ad.compile(make_step(m1, o1, nn.mse_loss))
    eager = make_step(m2, o2, nn.mse_loss)
    X, y = data(8, 2, 1, "mse", np.float64)
    for phase in range(4):
        for m in (m1, m2):
            m.train(phase % 2 == 0)
        if phase == 2:
            o1.lr = o2.lr = 0.001
        for _ in range(2):
            l1, _ = compiled(X, y)
            l2_, _ = eager(X, y)
            assert_same(l1.data, l2_.data, np.float64)
            assert_models_equal(m1, m2, o1, o2, np.float64)
    assert compiled.recordings == 4  # train, eval, then both again with the new lr


def test_an_evaluation_under_no_grad_compiles():
    # Under no_grad the hidden layers' inputs have no op: each Dense checks them as
    # outside inputs, which must not make the step run eagerly.
    model = nn.MLP([3, 6, 5, 2], activation="relu", dropout=0.2, seed=0).eval()

    @ad.compile
    def evaluate(X, y):
        with ad.no_grad():
            return nn.cross_entropy(model(X), y)

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, size=10)
            with ad.no_grad():
                want = nn.cross_entropy(model(X), y)
            assert_same(evaluate(X, y).data, want.data, np.float64)
    assert evaluate.recordings == 1 and "np.matmul" in evaluate.source


def test_freezing_a_parameter_records_anew():
    (m1, o1), (m2, o2) = twins([3, 4, 1], "tanh", None, np.float64, "momentum")
    compiled = ad.compile(make_step(m1, o1, nn.mse_loss))
    eager = make_step(m2, o2, nn.mse_loss)
    for i in range(8):
        if i in (3, 6):  # frozen, then trained again
            for m in (m1, m2):
                m.layers[0].W.requires_grad = i == 6
        X, y = data(8, 3, 1, "mse", np.float64, seed=i)
        assert_same(compiled(X, y)[0].data, eager(X, y)[0].data, np.float64)
        assert_models_equal(m1, m2, o1, o2, np.float64)
    assert compiled.recordings == 2  # the first recording serves again once unfrozen


def test_a_step_recorded_again_reuses_its_compiled_source():
    from autodiff.plan import _code

    _code.cache_clear()
    (m1, o1), (m2, o2) = twins([3, 6, 2], "relu", None, np.float64, "momentum")
    compiled = ad.compile(make_step(m1, o1, nn.mse_loss))
    eager = make_step(m2, o2, nn.mse_loss)
    X, y = data(8, 3, 2, "mse", np.float64)
    runs = []
    for lr in (0.05, 0.01, 0.05):  # a new learning rate records anew: the same source
        o1.lr = o2.lr = lr
        for _ in range(3):
            l1, _ = compiled(X, y)
            assert_same(l1.data, eager(X, y)[0].data, np.float64)
            assert_models_equal(m1, m2, o1, o2, np.float64)
        runs += [v.run for e in compiled.entries.values() for v in e.variants]
    assert compiled.recordings == 2  # the first learning rate's recording is kept
    assert len({id(r) for r in runs}) == 2 and len({id(r.__code__) for r in runs}) == 1
    assert _code.cache_info().misses == 1
    other = ad.compile(make_step(m2, o2, nn.mse_loss))  # another model, the same sizes
    other(X, y)
    other(X, y)
    assert _code.cache_info().misses == 1


@pytest.mark.parametrize(
    "output,loss,labels",
    [
        (None, "bce_with_logits", [0, 0, 1, 0, 1, 1, 0, 1]),  # zeros stacked beside z
        ("sigmoid", "bce", [1, 1, 0, 1, 0, 0, 1, 0]),  # y and 1 - y, both single values
    ],
)
def test_a_batch_of_one_is_never_taken_for_a_constant(output, loss, labels):
    # A batch of one label: the loss's own constants (the zeros it stacks beside the
    # logits, 1 - y) are single values that the first label may equal. The recording
    # must not tie a constant to the label (nor the label to a constant).
    (m1, o1), (m2, o2) = twins([2, 6, 1], "tanh", output, np.float64, "sgd")
    compiled = ad.compile(make_step(m1, o1, LOSSES[loss]))
    eager = make_step(m2, o2, LOSSES[loss])
    rng = np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # never runs eagerly for good
        for label in labels:
            X, y = rng.normal(size=(1, 2)), np.array([[float(label)]])
            l1, _ = compiled(X, y)
            l2_, _ = eager(X, y)
            assert_same(l1.data, l2_.data, np.float64, f"label {label}")
            assert_models_equal(m1, m2, o1, o2, np.float64)
    assert [v for e in compiled.entries.values() for v in e.variants]  # it did compile


def test_arguments_of_equal_values_are_told_apart_by_a_later_call():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")

    @ad.compile
    def step(a, b):
        w.zero_grad()
        loss = (w * Tensor(a) - Tensor(b)).sum()
        loss.backward()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for a, b in [(1.0, 1.0), (2.0, 1.0), (3.0, -1.0), (0.5, 0.5)]:
            got = step(np.array([a]), np.array([b])).item()
            assert got == pytest.approx(3 * a - 2 * b) and w.grad.tolist() == [a, a]
    assert step.recordings >= 2  # the first could not tell a from b


def test_data_dependent_branch_takes_both_sides():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    twin = Tensor([1.0, 2.0], requires_grad=True, name="w")

    def make(w):
        def step(x):
            w.zero_grad()
            loss = (w * x).sum()
            if loss.item() > 1:
                loss = loss * 3.0
            else:
                loss = loss - 1.0
            loss.backward()
            return loss

        return step

    compiled, eager = ad.compile(make(w)), make(twin)
    for x in [0.3, 0.6, -1.0, -2.0, 0.7, -0.1, 3.0]:
        a, b = compiled(np.array([x, 0.5 * x])), eager(np.array([x, 0.5 * x]))
        assert float(a.data) == float(b.data)
        np.testing.assert_array_equal(w.grad, twin.grad)
    assert compiled.recordings == 2
    assert "> 1" in compiled.source


def _step_deciding(w, opt, decide):
    """A step whose loss is ten times larger where `decide(loss, w)` holds."""

    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        if decide(loss, w):
            loss = loss * 10
        loss.backward()
        opt.step()
        return loss

    return step


def test_a_decision_on_a_parameter_is_guarded():
    # The parameter's value changes from call to call (its sign flips below): a
    # decision on it is data-dependent like any other.
    w = Tensor([1.0], requires_grad=True, name="w")
    opt = nn.optim.SGD([w], lr=0.1)
    step = ad.compile(_step_deciding(w, opt, lambda loss, w: w.item() > 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x in [0.3, 0.4, 0.5, 0.6, -3.0, -3.0, -3.0, 0.5, 0.5]:
            before = w.item()
            expected = before * x * 10 if before > 0 else before * x
            assert step(np.array([x])).item() == pytest.approx(expected, rel=1e-12)


def test_comparing_a_tensor_with_a_number_is_a_guard():
    w = Tensor([1.0], requires_grad=True, name="w")

    @ad.compile
    def step(x):
        w.zero_grad()
        loss = (w * x).sum()
        if loss > 1:  # a numpy boolean: Python decides on it, as on loss.item() > 1
            loss = loss * 10
        loss.backward()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x in [2.0, 0.5, 0.5, 3.0, 0.1, 4.0]:
            assert step(np.array([x])).item() == pytest.approx(x * 10 if x > 1 else x)
            assert w.grad.tolist() == [10 * x if x > 1 else x]


@pytest.mark.parametrize(
    "decide,followed",
    [
        (lambda loss, w: loss.item() ** 2 > 1, True),  # arithmetic with numbers: a guard
        (lambda loss, w: 1 / loss.item() < 1, True),
        (lambda loss, w: int(loss.item()) >= 1, False),  # an int: no guard follows it
        (lambda loss, w: round(loss.item()) >= 1, False),
        (lambda loss, w: loss.item() + (w * 2).sum().item() > 3, False),  # two values
    ],
    ids=["power", "reciprocal", "int", "round", "two values"],
)
def test_decisions_on_item_values_are_guarded_or_run_eagerly(decide, followed):
    w, twin = Tensor([1.0], requires_grad=True, name="w"), Tensor([1.0], requires_grad=True)
    step = ad.compile(_step_deciding(w, nn.optim.SGD([w], lr=0.0), decide))
    eager = _step_deciding(twin, nn.optim.SGD([twin], lr=0.0), decide)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for x in [2.0, 0.5, 0.5, 3.0, 0.3, 4.0]:
            assert step(np.array([x])).item() == eager(np.array([x])).item()
    eagerly = [w for w in caught if "runs eagerly" in str(w.message)]
    assert not eagerly if followed else "read with .item()" in str(eagerly[0].message)


def test_booleans_from_comparing_arrays_run_the_step_eagerly():
    w = Tensor([1.0, -2.0], requires_grad=True, name="w")

    @ad.compile
    def step(x):
        w.zero_grad()
        h = w * x
        if (h > 0).all():  # Python looking at booleans of an array: cannot be followed
            h = h * 2
        loss = h.sum()
        loss.backward()
        return loss

    with pytest.warns(RuntimeWarning, match=r"comparing .* \(>\) inside the step"):
        assert step(np.array([1.0, -1.0])).item() == 6.0
    assert step(np.array([1.0, 1.0])).item() == -1.0


@pytest.mark.parametrize(
    "looks",
    [
        lambda loss, w: np.asarray(loss) > 1,
        lambda loss, w: np.greater(loss, 1),
        lambda loss, w: bool(np.isfinite(loss)) and float(np.asarray(loss)) > 1,
        lambda loss, w: w.data.sum() > 0,  # a parameter's values change between calls
    ],
    ids=["asarray", "np.greater", "np.isfinite", "parameter .data"],
)
def test_python_looking_at_values_runs_the_step_eagerly(looks):
    w, twin = Tensor([1.0], requires_grad=True, name="w"), Tensor([1.0], requires_grad=True)
    step = ad.compile(_step_deciding(w, nn.optim.SGD([w], lr=1.0), looks))
    eager = _step_deciding(twin, nn.optim.SGD([twin], lr=1.0), looks)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for x in [2.0, 0.5, 3.0, -1.0, 4.0]:
            assert step(np.array([x])).item() == eager(np.array([x])).item()
    assert any("inside the step" in str(w.message) for w in caught)


def test_a_decision_on_a_value_computed_under_no_grad_is_guarded():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")

    @ad.compile
    def step(x):
        w.zero_grad()
        out = w * x
        with ad.no_grad():
            if out.max().item() > 1:  # a range check, as binary_cross_entropy's
                raise ValueError("out of range")
        loss = out.sum()
        loss.backward()
        return loss

    for x in [0.1, 0.2, 0.3]:
        step(np.array([x, 0.5 * x]))
    assert "> 1" in step.source
    with pytest.raises(ValueError, match="out of range"):
        step(np.array([0.9, 0.8]))


def test_the_bce_range_check_holds_on_every_replay():
    model = nn.MLP([2, 4, 1], activation="relu", seed=0)  # no sigmoid: outputs may leave [0, 1]
    opt = nn.optim.SGD(model.parameters(), lr=0.0)
    step = ad.compile(make_step(model, opt, nn.binary_cross_entropy))
    X = np.random.default_rng(0).normal(size=(8, 2)) * 1e-3
    y = (np.arange(8) % 2).reshape(8, 1).astype(float)
    model.layers[-1].b.data[...] = 0.5
    for _ in range(3):
        step(X, y)
    assert step.recordings == 1 and "> 1" in step.source
    model.layers[-1].b.data[...] = 5.0
    with pytest.raises(ValueError, match="probabilities must lie in"):
        step(X, y)


def test_check_catches_a_broken_plan(monkeypatch):
    run_lockstep([2, 4, 1], "tanh", None, "mse", "sgd", np.float64, steps=2, check=True)

    def broken(p, g, out, ins, attrs, need):  # a tanh rule missing its 1 - out**2 factor
        return [p.call("np.multiply", g, 1.0, name="dz")]

    monkeypatch.setitem(lower.VJP, ops.TANH, broken)
    with pytest.raises(RuntimeError, match=r"MLP\.layers\.0\.W\.grad differs"):
        run_lockstep([2, 4, 1], "tanh", None, "mse", "sgd", np.float64, steps=2, check=True)


def test_broken_plan_without_check_runs_eagerly_with_a_warning(monkeypatch):
    monkeypatch.setitem(lower.VJP, ops.TANH, lambda p, g, out, ins, attrs, need: [g])
    (m1, o1), (m2, o2) = twins([2, 4, 1], "tanh", None, np.float64, "sgd")
    compiled = ad.compile(make_step(m1, o1, nn.mse_loss))
    X, y = data(8, 2, 1, "mse", np.float64)
    compiled(X, y)  # recorded
    with pytest.warns(RuntimeWarning, match="did not reproduce"):
        compiled(X, y)  # the first replay runs beside the eager step and differs
    compiled(X, y)
    for _ in range(3):
        make_step(m2, o2, nn.mse_loss)(X, y)
    assert_models_equal(m1, m2, o1, o2, np.float64)


def test_a_plan_that_fails_to_build_runs_eagerly_naming_the_error(monkeypatch):
    def fails(plan):
        raise IndexError("a bug in a rewrite")

    monkeypatch.setattr(fuse, "typed_constants", fails)
    (m1, o1), (m2, o2) = twins([2, 4, 1], "tanh", None, np.float64, "sgd")
    compiled = ad.compile(make_step(m1, o1, nn.mse_loss))
    X, y = data(8, 2, 1, "mse", np.float64)
    with pytest.warns(RuntimeWarning, match=r"could not be planned \(IndexError: a bug"):
        loss, _ = compiled(X, y)  # the eager run's result is kept
    compiled(X, y)
    eager = make_step(m2, o2, nn.mse_loss)
    assert_same(loss.data, eager(X, y)[0].data, np.float64)
    eager(X, y)
    assert_models_equal(m1, m2, o1, o2, np.float64)


@pytest.mark.parametrize("check", [False, True])
def test_a_replay_that_raises_is_caught_by_its_check(check, monkeypatch):
    def raising(plan):
        def run(*args):
            raise ZeroDivisionError("a bug in the generated code")

        return run

    monkeypatch.setattr(importlib.import_module("autodiff.compile"), "build", raising)
    (m1, o1), (m2, o2) = twins([2, 4, 1], "tanh", None, np.float64, "sgd")
    compiled = ad.compile(check=check)(make_step(m1, o1, nn.mse_loss))
    X, y = data(8, 2, 1, "mse", np.float64)
    compiled(X, y)  # recorded
    if check:
        with pytest.raises(RuntimeError, match="the replay raised ZeroDivisionError"):
            compiled(X, y)
    else:
        with pytest.warns(RuntimeWarning, match="the replay raised ZeroDivisionError"):
            compiled(X, y)
    eager = make_step(m2, o2, nn.mse_loss)
    eager(X, y), eager(X, y)
    assert_models_equal(m1, m2, o1, o2, np.float64)  # the eager run's state, kept


@pytest.mark.parametrize("check", [False, True])
def test_a_fused_rule_off_by_rounding_gives_way_to_the_engines_rules(check, monkeypatch):
    fused = fuse.sigmoid_bce

    def off_by_rounding(planner_, root, g):  # a few ulps, as cancellation magnifies them
        made = fused(planner_, root, g)
        if made is None:
            return None
        return made[0], planner_.plan.call("np.multiply", made[1], 1 + 1e-9, name="off")

    monkeypatch.setattr(fuse, "sigmoid_bce", off_by_rounding)
    step = run_lockstep([3, 6, 1], "relu", "sigmoid", "bce", "momentum", np.float64,
                        steps=6, check=check)  # fmt: skip
    assert step.recordings == 2  # fused, then with the engine's rules
    assert "fused" not in step.source and "np.log" in step.source


def test_what_cannot_be_recorded_runs_eagerly_with_a_warning():
    x = Tensor([1.0, 2.0], requires_grad=True)

    @ad.compile
    def hessian_diag(v):
        (g,) = ad.grad((x**3 * v).sum(), x, create_graph=True)
        return g.sum()

    with pytest.warns(RuntimeWarning, match="create_graph=True"):
        first = hessian_diag(np.ones(2))
    assert float(first.data) == float(hessian_diag(np.ones(2)).data) == 15.0

    @ad.compile
    def peeks(v):
        y = x * v
        return y.data.sum()  # Python looking at an array: cannot be followed

    with pytest.warns(RuntimeWarning, match=r"\.data"):
        assert peeks(np.ones(2)) == 3.0
    assert peeks(np.full(2, 2.0)) == 6.0


@pytest.mark.parametrize(
    "update,message",
    [
        ("isub", r"an in-place sub into 'W'"),
        ("data_isub", r"a write to the data of 'W' inside the step"),
        ("data_assign", r"a write to the data of 'W' inside the step"),
    ],
)
def test_an_update_by_hand_inside_the_step_runs_eagerly_naming_it(update, message):
    def make():
        return Tensor(np.arange(6.0).reshape(3, 2) / 10, requires_grad=True, name="W")

    def step_of(W):
        def step(X):
            W.zero_grad()
            loss = ((X @ W) ** 2).mean()
            loss.backward()
            if update == "isub":
                with ad.no_grad():
                    W.__isub__(0.1 * W.grad)
            elif update == "data_isub":
                W.data -= 0.1 * W.grad
            else:
                W.data = W.data - 0.1 * W.grad
            return loss

        return step

    W1, W2 = make(), make()
    compiled, eager = ad.compile(step_of(W1)), step_of(W2)
    X = np.ones((4, 3))
    with pytest.warns(RuntimeWarning, match=message):
        compiled(X)
    for _ in range(3):
        compiled(X)
    for _ in range(4):
        eager(X)
    np.testing.assert_array_equal(W1.data, W2.data)


def test_wrong_shapes_and_dtypes_give_the_eager_errors():
    model = nn.MLP([3, 4, 1], seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    step = ad.compile(make_step(model, opt, nn.mse_loss))
    X, y = data(5, 3, 1, "mse", np.float64)
    step(X, y)
    with pytest.raises(ValueError) as compiled_error:
        step(np.ones((5, 2)), y)
    with pytest.raises(ValueError) as eager_error:
        make_step(model, opt, nn.mse_loss)(np.ones((5, 2)), y)
    assert str(compiled_error.value) == str(eager_error.value)
    with pytest.raises(ValueError, match="target"):
        step(X, np.ones((5, 3)))


def test_a_grad_reset_by_assignment_is_caught_by_the_first_replay():
    w, twin = Tensor([1.0, 2.0], requires_grad=True), Tensor([1.0, 2.0], requires_grad=True)

    def make(w):
        def step(x):
            w.grad = None  # not a recorded call: the plan alone would accumulate
            (w * x).sum().backward()

        return step

    compiled, eager = ad.compile(make(w)), make(twin)
    with pytest.warns(RuntimeWarning, match="did not reproduce"):
        for i in range(3):
            compiled(np.array([1.0, float(i)]))
            eager(np.array([1.0, float(i)]))
            np.testing.assert_array_equal(w.grad, twin.grad)
    compiled(np.array([1.0, 5.0]))
    eager(np.array([1.0, 5.0]))
    np.testing.assert_array_equal(w.grad, twin.grad)


def test_python_code_on_gradients_runs_the_step_eagerly():
    def make():
        w = Tensor([1.0, 2.0], requires_grad=True, name="w")
        opt = nn.optim.SGD([w], lr=0.1)

        def step(x):
            opt.zero_grad()
            ((w * x) ** 2).sum().backward()
            norm = np.sqrt((w.grad**2).sum())  # clipping by hand
            if norm > 1.0:
                w.grad = w.grad / norm
            opt.step()

        return w, step

    (w, step), (twin, eager) = make(), make()
    compiled = ad.compile(step)
    with pytest.warns(RuntimeWarning, match=r"reading \.grad of 'w' inside the step"):
        for x in [0.1, 0.1, 2.0, 2.0, 0.05]:
            X = np.array([x, 1.1 * x])
            compiled(X)
            eager(X)
            np.testing.assert_array_equal(w.data, twin.data)


def _branchy(w):
    def step(x):
        w.zero_grad()
        loss = (w * x).sum()
        loss = loss.tanh() if loss.item() > 1 else loss * 2.0
        loss.backward()
        return loss

    return step


@pytest.mark.parametrize("check", [False, True])
def test_a_path_first_met_at_a_checked_call_replays_beside_eager_before_use(check, monkeypatch):
    # The second path (tanh) is recorded by the call that was to check the first path;
    # its plan, with a broken tanh rule, must be caught by its own first replay.
    monkeypatch.setitem(lower.VJP, ops.TANH, lambda p, g, out, ins, attrs, need: [g])
    w, twin = Tensor([1.0, 2.0], requires_grad=True), Tensor([1.0, 2.0], requires_grad=True)
    compiled, eager = ad.compile(check=check)(_branchy(w)), _branchy(twin)
    xs = [0.1, 1.0, 2.0, 3.0, 0.2]  # paths: multiply, tanh, tanh, tanh, multiply
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, x in enumerate(xs):
            if check and i == 2:
                with pytest.raises(RuntimeError, match=r"tensor0\.grad differs"):
                    compiled(np.array([x, 0.5 * x]))
                return
            a, b = compiled(np.array([x, 0.5 * x])), eager(np.array([x, 0.5 * x]))
            assert float(a.data) == float(b.data)
            np.testing.assert_array_equal(w.grad, twin.grad)
            assert compiled.recordings == min(i + 1, 2)
    assert [str(c.message) for c in caught if "did not reproduce" in str(c.message)]


@pytest.mark.parametrize("check", [False, True])
def test_a_replay_leaving_the_path_eager_took_is_caught(check, monkeypatch):
    from autodiff import planner
    from autodiff.plan import GuardCheck

    def inverted(after, value, test, outcome, describe):  # a guard lowered wrongly
        return GuardCheck(after, value, lambda a: not test(a), outcome, describe)

    monkeypatch.setattr(planner, "GuardCheck", inverted)
    w, twin = Tensor([1.0, 2.0], requires_grad=True), Tensor([1.0, 2.0], requires_grad=True)
    compiled, eager = ad.compile(check=check)(_branchy(w)), _branchy(twin)
    compiled(np.array([2.0, 1.0]))
    eager(np.array([2.0, 1.0]))
    if check:
        with pytest.raises(RuntimeError, match="left the recorded path.*> 1"):
            compiled(np.array([3.0, 1.5]))
        return
    with pytest.warns(RuntimeWarning, match="left the recorded path"):
        compiled(np.array([3.0, 1.5]))
    eager(np.array([3.0, 1.5]))
    for x in (3.0, 0.5):  # eager from now on
        a, b = compiled(np.array([x, 0.5 * x])), eager(np.array([x, 0.5 * x]))
        assert float(a.data) == float(b.data)
        np.testing.assert_array_equal(w.grad, twin.grad)
    assert compiled.recordings == 1


def test_returned_tensors_are_not_overwritten_by_later_calls():
    w = Tensor([1.0], requires_grad=True)
    step = ad.compile(lambda x: (w * x).sum())
    values = [step(np.array([float(i)])) for i in range(4)]
    assert [float(v.data) for v in values] == [0.0, 1.0, 2.0, 3.0]


def test_gradients_accumulate_without_zero_grad():
    w, twin = Tensor([1.0, -1.0], requires_grad=True), Tensor([1.0, -1.0], requires_grad=True)

    def make(w):
        def step(x):
            (w * x).tanh().sum().backward()

        return step

    compiled, eager = ad.compile(make(w)), make(twin)
    for i in range(4):
        compiled(np.array([0.1 * i, 0.2]))
        eager(np.array([0.1 * i, 0.2]))
        np.testing.assert_allclose(w.grad, twin.grad, rtol=1e-12)


def test_source_reads_as_backprop_written_out():
    model = nn.MLP([2, 16, 16, 1], activation="relu", seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.01)
    step = ad.compile(make_step(model, opt, nn.binary_cross_entropy_with_logits))
    step(*data(32, 2, 1, "bce", np.float64))
    text = step.source
    assert text.startswith("def step(X, y):")
    forward, rest = text.split("# backward")
    backward, update = rest.split("# update")
    assert "np.matmul(X, layers_0_W_T" in forward
    # read once, after opt.zero_grad() (which may rebind them), not also before it
    assert text.count("layers_0_W = layers_0_W_tensor._data") == 1
    assert forward.index("sgd.zero_grad()") < forward.index("layers_0_W = layers_0_W_tensor")
    assert "layers_0_W_tensor.grad = d_layers_0_W if layers_0_W_tensor.grad is None" in backward
    assert "sgd.step()" in update
    # relu against a whole array of zeros; a one-unit layer's product as a multiply
    assert "np.maximum(layers_0_z, zero_32x16, out=layers_0_a)" in forward
    assert "np.multiply(d_sum, layers_2_W, out=d_layers_1_a)" in backward
    with pytest.raises(RuntimeError, match="not been called"):
        _ = ad.compile(lambda: None).source


# ---- the plan on its own ----


def test_preallocated_plan_equals_the_allocating_plan():
    def make() -> Plan:
        p = Plan("f")
        x = p.arg("x", (3, 4), np.float64)
        w = p.arg("w", (4, 2), np.float64)
        z = p.call("np.matmul", x, w, name="z", shape=(3, 2))
        a = p.call("np.tanh", z, name="a", elementwise=True)
        b = p.call("np.multiply", a, a, name="b", elementwise=True)
        c = p.call("np.subtract", 1, b, name="c", elementwise=True)
        t = p.expr("{0}.T", c, name="cT", shape=(2, 3), dtype=np.float64, view_of=c)
        d = p.call("np.matmul", t, x, name="d", shape=(2, 4))
        e = p.call("np.exp", z, name="e", elementwise=True)  # z's buffer is not reused before
        p.returns = (d, e)
        return p

    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    plain = build(make())(x, w)
    planned = make()
    preallocate(planned)
    assert "out=" in source(planned)
    for _ in range(2):  # the buffers are reused from call to call
        got = build(planned)(x, w)
        for a, b in zip(got, plain):
            np.testing.assert_array_equal(a, b)


def test_preallocate_reuses_dead_buffers():
    p = Plan("f")
    x = p.arg("x", (5,), np.float64)
    a = p.call("np.exp", x, name="a", elementwise=True)
    b = p.call("np.tanh", a, name="b", elementwise=True)  # a dies here: b may take its buffer
    c = p.call("np.negative", b, name="c", elementwise=True)
    p.returns = c
    preallocate(p)
    arrays = {id(p.env[k]) for k in ("a", "b")}
    assert len(arrays) == 1
    np.testing.assert_array_equal(build(p)(np.arange(5.0)), -np.tanh(np.exp(np.arange(5.0))))


def test_a_guard_in_a_plan():
    p = Plan("f")
    x = p.arg("x", (), np.float64)
    y = p.call("np.negative", x, name="y", elementwise=True)
    from autodiff.plan import GuardCheck, GuardFailed

    p.guards.append(GuardCheck(1, y, lambda v: float(v) > 0, True, "y > 0"))
    p.returns = y
    f = build(p)
    assert f(np.array(-2.0)) == 2.0
    with pytest.raises(GuardFailed):
        f(np.array(2.0))


def test_arrays_of_the_closure_are_inputs_read_on_every_call():
    w = Tensor([1.0, 2.0], requires_grad=True)
    x = np.array([1.0, 3.0])

    @ad.compile
    def step():
        w.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        return loss

    assert float(step().data) == 7.0
    x[0] = 2.0  # changed in place: the replay reads it
    assert float(step().data) == 8.0
    np.testing.assert_array_equal(w.grad, x)
    x = np.array([0.0, 1.0])  # rebound: a new signature
    assert float(step().data) == 2.0
    assert step.recordings == 2


def test_fresh_names_never_collide():
    p = Plan("f")
    names = [p.fresh_name(h) for h in ("t", "t", "t", "t_1", "t_2", "d_t", "d_t_1", "d_t")]
    assert len(set(names)) == len(names)


def test_a_scalar_network_with_shared_activations_equals_eager():
    rng = np.random.default_rng(0)
    sizes = [2, 3, 3, 1]
    values = [[([float(w) for w in rng.normal(size=n_in)], float(rng.normal()))
               for _ in range(n_out)] for n_in, n_out in zip(sizes, sizes[1:])]  # fmt: skip
    X, Y = rng.normal(size=(2, 2)).tolist(), [0.5, -1.0]

    def scalar_mlp_loss(layers, X, Y):  # micrograd-style: every number a 0-d tensor
        total = None
        for x, y in zip(X, Y):
            acts = x
            for depth, layer in enumerate(layers):
                outs = [sum((w * a for w, a in zip(ws, acts)), b) for ws, b in layer]
                acts = [o.relu() for o in outs] if depth < len(layers) - 1 else outs
            err = (acts[0] - y) ** 2
            total = err if total is None else total + err
        return total

    nets = [[[([Tensor(w, requires_grad=True) for w in ws], Tensor(b, requires_grad=True))
               for ws, b in layer] for layer in values] for _ in range(2)]  # fmt: skip
    params = [[p for layer in net for ws, b in layer for p in (*ws, b)] for net in nets]

    def make(net, ps):
        def step():
            for p in ps:
                p.zero_grad()
            scalar_mlp_loss(net, X, Y).backward()

        return step

    compiled, eager = ad.compile(make(nets[0], params[0])), make(nets[1], params[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            compiled(), eager()
    for a, b in zip(*params):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numbers_become_typed_constants_with_the_same_results(dtype):
    """Python numbers in ufunc kernels become arrays of the kernel's dtype, made once (0-d,
    or filled out for maximum and minimum): bit for bit the numbers numpy gives for the
    Python number (NEP 50)."""
    from autodiff import fuse

    p = Plan("f")
    x = p.arg("x", (4, 3), dtype)
    a = p.call("np.multiply", x, 1e-12, name="a", elementwise=True)  # rounds in float32
    b = p.call("np.subtract", 1, a, name="b", elementwise=True)
    c = p.call("np.maximum", b, 0, name="c", elementwise=True)
    d = p.call("np.add.reduce", c, 0, name="d", shape=(3,))  # 0 is an axis: left alone
    e = p.call("np.divide", d, 1e300, name="e", elementwise=True)  # float32 cannot hold it
    p.returns = (c, d, e)
    rng = np.random.default_rng(0)
    x_value = rng.normal(size=(4, 3)).astype(dtype) * 1e12
    with np.errstate(over="ignore"):
        plain = build(p)(x_value)
        assert fuse.typed_constants(p) == (4 if dtype == np.float64 else 3)
        text = source(p)
        typed = build(p)(x_value)
    assert "np.subtract(one, a)" in text and "np.maximum(b, zero_4x3)" in text
    assert "np.add.reduce(c, 0)" in text
    assert ("np.divide(d, 1e+300)" in text) == (dtype == np.float32)
    assert "# numbers as arrays, made once: c_1e_minus_12 = " in text
    assert p.env["one"].dtype == dtype and p.env["one"].shape == ()
    assert p.env["zero_4x3"].shape == (4, 3) and not p.env["zero_4x3"].flags.writeable
    for got, want in zip(typed, plain):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_integer_and_mixed_kernels_keep_their_numbers():
    from autodiff import fuse

    p = Plan("f")
    i = p.arg("i", (3,), np.int64)
    x = p.arg("x", (3,), np.float64)
    a = p.call("np.multiply", i, 2, name="a", elementwise=True)  # integer: stays 2
    b = p.call("np.add", i, 0.5, name="b", dtype=np.float64)  # int array, float number
    c = p.call("np.multiply", x, i, name="c")  # no number
    p.returns = (a, b, c)
    assert fuse.typed_constants(p) == 0
    got = build(p)(np.arange(3), np.ones(3))
    np.testing.assert_array_equal(got[1], np.arange(3) + 0.5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_products_over_an_inner_dimension_of_one_equal_eager_exactly(dtype):
    rng = np.random.default_rng(3)
    values = [rng.normal(size=shape).astype(dtype) for shape in ((5, 1), (1, 4), (3, 1))]
    x = rng.normal(size=(5, 4)).astype(dtype)
    results = []
    for compiled in (True, False):
        a, b, w = (Tensor(v, requires_grad=True) for v in values)

        def step(x, a=a, b=b, w=w):  # (5,1)x(1,4) and (5,1)x(1,3): inner dimension 1
            out = ((a @ b) * x).sum() + ad.linear(a, w).sum()
            out.backward()  # gradients accumulate over the calls
            return out

        run = ad.compile(step) if compiled else step
        outs = [run(x).data for _ in range(3)]
        if compiled:
            assert "np.multiply(p, p_1, out=mm)" in run.source  # a @ b
            assert "np.multiply(p, p_2_T, out=z)" in run.source  # linear(a, w)
        results.append(outs + [t.grad for t in (a, b, w)])
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)


def test_objects_given_as_default_arguments_are_state_of_the_step():
    """`def step(X, y, model=model, opt=opt)`: the model and optimizer are found, so the
    checked replay restores them and the signature follows their modes."""
    X, y = data(16, 3, 1, "bce", np.float64)
    (m1, o1), (m2, o2) = twins([3, 8, 1], "tanh", "sigmoid", np.float64, "momentum")
    w1, w2 = (Tensor(np.ones((16, 1)), requires_grad=True) for _ in range(2))

    def make(model, opt, w):
        def step(X, y, model=model, opt=opt, *, w=w):
            opt.zero_grad()
            loss = nn.binary_cross_entropy(model(X), y) + (w * w).sum()
            loss.backward()  # w.grad accumulates: no optimizer clears it
            opt.step()
            return loss

        return step

    compiled, eager = ad.compile(make(m1, o1, w1)), make(m2, o2, w2)
    for _ in range(4):
        assert_same(compiled(X, y).data, eager(X, y).data, np.float64)
    assert_models_equal(m1, m2, o1, o2, np.float64)
    np.testing.assert_array_equal(w1.grad, w2.grad)
    m1.eval()
    m2.eval()
    assert_same(compiled(X, y).data, eager(X, y).data, np.float64)
    assert compiled.recordings == 2  # eval mode is another signature


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_written_out_equals_eager_exactly(dtype):
    """The kernels of log_softmax are the engine's formula: shifted by a finite max (0
    where a row's max is -inf), bit for bit, huge and infinite logits included."""
    x = np.array(
        [[1.0, 2.0, 3.0], [1e17, 1e17, -1e17], [-np.inf, -np.inf, -np.inf], [0.5, -np.inf, 2]],
        dtype=dtype,
    )
    c = np.arange(12, dtype=dtype).reshape(4, 3) / 7
    results = []
    for compiled in (True, False):
        w = Tensor(np.ones((4, 3), dtype), requires_grad=True)

        def step(x, c, w=w):
            y = (w * x).log_softmax(axis=1)
            (y * c).sum().backward()
            return y

        run = ad.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # log(0) of the -inf row is silent, as eagerly
            warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)  # inf - inf
            outs = [run(x, c).data for _ in range(3)]
        if compiled:
            assert "_finite_or_zero(row_max, out=shift)" in run.source
        results.append(outs + [w.grad])
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)


def test_the_replay_check_sees_a_difference_beside_an_infinity():
    import importlib

    close = importlib.import_module("autodiff.compile")._close
    assert not close(np.array([np.inf, 1.0]), np.array([np.inf, 2.0]))
    assert not close(np.array([np.nan, 1.0]), np.array([np.nan, 2.0]))
    assert close(np.array([np.inf, np.nan, 1.0]), np.array([np.inf, np.nan, 1.0]))
    assert not close(np.array([np.inf]), np.array([-np.inf]))


_SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-300, 1e300, np.inf, -np.inf, np.nan]
# (a wanted value, how the replay's value differs from it: relatively and absolutely
# by d, or None for a special value instead)
_PAIRS = st.lists(
    st.tuples(st.floats(width=32), st.sampled_from([0.0, 1e-13, -1e-13, 1e-6, 1e-3, None])),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([np.float64, np.float32]), _PAIRS)
def test_the_replay_comparison_is_the_api_tolerance(dtype, pairs):
    close = importlib.import_module("autodiff.compile")._close
    with np.errstate(all="ignore"):
        want = np.array([w for w, _ in pairs], dtype=dtype)
        got = np.array([w * (1 + d) + d if d is not None else _SPECIAL[i % len(_SPECIAL)]
                        for i, (w, d) in enumerate(pairs)], dtype=dtype)  # fmt: skip
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0))  # finite ones
        expected = bool(np.allclose(got, want, rtol=rtol, atol=rtol * scale, equal_nan=True))
        assert close(got, want) == expected
        assert close(want, want)
        assert not close(got.astype(np.float16), want)  # dtypes differ


def test_zero_and_minus_zero_are_two_constants():
    from autodiff import fuse

    p = Plan("f")
    x = p.arg("x", (3,), np.float64)
    a = p.call("np.multiply", x, 0.0, name="a", elementwise=True)
    b = p.call("np.multiply", x, -0.0, name="b", elementwise=True)
    p.returns = (a, b)
    x_value = np.array([1.0, -2.0, 0.0])
    plain = build(p)(x_value)
    assert fuse.typed_constants(p) == 2
    assert "np.multiply(x, zero)" in source(p) and "np.multiply(x, c_minus_0_0)" in source(p)
    for got, want in zip(build(p)(x_value), plain):
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


# ---- every op of the table, compiled ----


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@settings(max_examples=10)
@given(data=st.data())
def test_every_op_compiled_equals_eager(op, dtype, data):
    """Each op of the op table inside a compiled step (its forward, its rule, the sum
    against an upstream gradient), called again on new values of its inputs, against
    the eager step on twin tensors. Where the plan cannot follow an op's inputs (a mask
    or index array made with numpy) the step may run eagerly, and then says why."""
    arrays, kwargs = data.draw(op.draw)
    shape = np.shape(op.ref(*arrays, **kwargs))
    G = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    arrays = [a.astype(dtype) for a in arrays]
    ts = [Tensor(a, requires_grad=True, name=f"x{i}") for i, a in enumerate(arrays)]
    twins = [Tensor(a, requires_grad=True) for a in arrays]

    def step(xs, G):
        for t in xs:
            t.zero_grad()
        loss = (op.fn(*xs, **kwargs) * G).sum()
        loss.backward()
        return loss

    compiled = ad.compile(lambda G: step(ts, G))
    rng = np.random.default_rng(1)
    for call in range(5):
        if call >= 2:  # new values, the same signs: off the kinks the draws avoid
            for t, twin in zip(ts, twins):
                scale = 1 + 1e-6 * rng.standard_normal(t.shape)
                t.data = twin.data = (t.data * scale).astype(dtype)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = compiled(G)
        eager = [str(w.message) for w in caught if "ad.compile" in str(w.message)]
        if eager:
            assert "made outside autodiff ops" in eager[0], eager[0]
            return
        want = step(twins, G)
        assert_same(got.data, want.data, dtype, f"loss at call {call}")
        for t, twin in zip(ts, twins):
            assert_same(t.grad, twin.grad, dtype, f"{t.name}.grad at call {call}")


# ---- names the step reads: rebound to other objects ----

_STEP_OF_GLOBALS = """
def step(X, y):
    opt.zero_grad()
    loss = nn.mse_loss(model(X), y) * scale
    loss.backward()
    opt.step()
    return loss
"""


def _step_of_globals(model, opt, scale=1.0):
    """A step reading its model, optimizer and a number from module globals."""
    namespace = {"nn": nn, "model": model, "opt": opt, "scale": scale}
    exec(_STEP_OF_GLOBALS, namespace)  # noqa: S102 (our own source)
    return namespace


def test_a_global_rebound_to_another_optimizer_or_number_records_anew():
    (m1, _), (m2, _) = twins([3, 5, 1], "tanh", None, np.float64, "sgd")
    ours = _step_of_globals(m1, nn.optim.SGD(m1.parameters(), lr=0.01))
    theirs = _step_of_globals(m2, nn.optim.SGD(m2.parameters(), lr=0.01))
    compiled = ad.compile(ours["step"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(8):
            if i == 3:  # a new optimizer, as a notebook cell run again would make
                ours["opt"] = nn.optim.Adam(m1.parameters(), lr=0.01)
                theirs["opt"] = nn.optim.Adam(m2.parameters(), lr=0.01)
            if i == 5:
                ours["scale"] = theirs["scale"] = 2.0
            X, y = data(8, 3, 1, "mse", np.float64, seed=i)
            assert_same(compiled(X, y).data, theirs["step"](X, y).data, np.float64)
            assert_models_equal(m1, m2, ours["opt"], theirs["opt"], np.float64)
    assert compiled.recordings == 3


def test_names_that_change_on_every_call_run_the_step_eagerly():
    (m1, o1), (m2, o2) = twins([3, 5, 1], "tanh", None, np.float64, "sgd")
    ours, theirs = _step_of_globals(m1, o1), _step_of_globals(m2, o2)
    compiled = ad.compile(ours["step"])
    with pytest.warns(RuntimeWarning, match=r"names it reads keep holding new objects \(scale\)"):
        for i in range(14):
            ours["scale"] = theirs["scale"] = 1.0 + i / 10  # a schedule kept in a global
            X, y = data(8, 3, 1, "mse", np.float64, seed=i)
            assert_same(compiled(X, y).data, theirs["step"](X, y).data, np.float64)
    assert_models_equal(m1, m2, o1, o2, np.float64)


def test_a_method_of_a_trainer_finds_the_trainers_model_and_optimizer():
    class Trainer:
        def __init__(self, model, opt):
            self.model, self.opt, self.seen = model, opt, 0

        def step(self, X, y):
            self.opt.zero_grad()
            loss = nn.mse_loss(self.model(X), y)
            loss.backward()
            self.opt.step()
            return loss

    (m1, o1), (m2, o2) = twins([3, 5, 1], "tanh", None, np.float64, "adam")
    ours, theirs = Trainer(m1, o1), Trainer(m2, o2)
    compiled = ad.compile(ours.step)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the optimizer's step is followed, not traced
        for i in range(6):
            if i == 3:
                ours.opt = nn.optim.SGD(m1.parameters(), lr=0.1)
                theirs.opt = nn.optim.SGD(m2.parameters(), lr=0.1)
            X, y = data(8, 3, 1, "mse", np.float64, seed=i)
            assert_same(compiled(X, y).data, theirs.step(X, y).data, np.float64)
            assert_models_equal(m1, m2, ours.opt, theirs.opt, np.float64)
    assert compiled.recordings == 2


def test_globals_defined_after_compiling_are_found_at_the_first_call():
    (m1, o1), (m2, o2) = twins([3, 5, 1], "tanh", None, np.float64, "sgd")
    ours, theirs = _step_of_globals(m1, None), _step_of_globals(m2, o2)
    del ours["opt"]
    compiled = ad.compile(ours["step"])
    ours["opt"] = o1  # as `opt = ...` written below the decorated step
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(5):
            if i == 3:
                ours["opt"] = nn.optim.Adam(m1.parameters(), lr=0.01)
                theirs["opt"] = nn.optim.Adam(m2.parameters(), lr=0.01)
            X, y = data(8, 3, 1, "mse", np.float64, seed=i)
            assert_same(compiled(X, y).data, theirs["step"](X, y).data, np.float64)
            assert_models_equal(m1, m2, ours["opt"], theirs["opt"], np.float64)
    assert compiled.recordings == 2
