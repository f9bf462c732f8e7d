"""The backward pass and the Tensor around it: accumulation, release of the graph,
retain_grad, detach, grad mode (also across threads), ad.grad, dtypes, repr, deep graphs
and random expression graphs with shared subexpressions."""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad
from autodiff import Tensor
from autodiff import strategies as ads


def test_micrograd_readme_example_gives_micrograd_numbers():
    a = Tensor(-4.0, requires_grad=True)
    b = Tensor(2.0, requires_grad=True)
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    # The numbers micrograd's README prints for this expression.
    assert f"{g.item():.4f}" == "24.7041"
    assert f"{a.grad.item():.4f}" == "138.8338"
    assert f"{b.grad.item():.4f}" == "645.5773"


def test_scalar_tensor_is_zero_dimensional():
    s = Tensor(-4.0, requires_grad=True)
    assert s.shape == () and s.ndim == 0 and s.size == 1
    (s * s).backward()
    assert s.grad.shape == () and s.grad == -8.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_dimensional_results_look_like_arrays_everywhere(dtype):
    """0-d op results may hold a numpy scalar inside; every way out is a 0-d array."""
    a = Tensor(np.array(3.0, dtype=dtype), requires_grad=True)
    y = a * a + 1.0
    assert isinstance(y.data, np.ndarray)  # read-only while the graph needs it
    assert y.data.shape == () and y.dtype == dtype and y.shape == () and y.item() == 10.0
    with pytest.raises(ad.InplaceModificationError):  # the graph still needs it
        y.data[()] = 0.0
    assert type(np.asarray(y)) is not np.float64 and np.asarray(y).shape == ()
    d = y.detach()
    assert type(d._data) is np.ndarray and d.item() == 10.0
    copied = Tensor(y)
    assert type(copied._data) is np.ndarray and copied.dtype == dtype and copied.item() == 10.0
    y.backward()
    assert type(a.grad) is np.ndarray and a.grad.dtype == dtype and a.grad == 6.0
    y.data[()] = 5.0  # released: its data is its own again, and a write sticks
    assert y.item() == 5.0
    with ad.no_grad():
        z = a * 2.0
    assert type(z._data) is np.ndarray  # a leaf always holds an array
    w = Tensor(z, requires_grad=True) * a
    assert w.item() == 18.0


def test_attributes():
    x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True, name="x")
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    assert x.dtype == np.float64 and x.name == "x" and x.op == "" and x.is_leaf
    assert x.grad is None and x.requires_grad
    assert isinstance(x.data, np.ndarray) and isinstance(x.numpy(), np.ndarray)
    np.testing.assert_array_equal(x.T.data, x.data.T)
    y = x * 2
    assert y.op == "mul" and not y.is_leaf and y.requires_grad and y.name is None
    assert Tensor(3.5).item() == 3.5 and isinstance(Tensor([[2.0]]).item(), float)
    with pytest.raises(ValueError, match="one element"):
        x.item()


# ---- accumulation, retain_grad, detach ----


def test_gradients_accumulate_across_backward_calls_and_zero_grad_resets():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 7.0])
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_fan_out_accumulates_within_one_backward():
    x = Tensor(3.0, requires_grad=True)
    y = x * x + x  # x used three times
    y.backward()
    assert x.grad == 2 * 3.0 + 1


def test_grads_never_share_memory():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = Tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()  # add hands the same upstream array to both inputs
    x.grad += 10
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])


def test_intermediate_tensors_keep_grad_none_unless_retain_grad():
    x = Tensor([1.0, -2.0], requires_grad=True)
    h = x * 3
    k = h.tanh()
    k.retain_grad()
    (k * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad, 2 * np.tanh([3.0, -6.0]))
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(1.0).retain_grad()


def test_retain_grad_accumulates_too():
    x = Tensor(2.0, requires_grad=True)
    h = x * x
    h.retain_grad()
    (h * 3).backward(retain_graph=True)
    (h * 3).backward()
    assert h.grad == 6.0 and x.grad == 2 * 3 * 4.0


def test_detach_cuts_the_graph_and_shares_data():
    x = Tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.data, x.data)
    y = (x * d).sum()  # d is a constant: dy/dx = d
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])
    assert d.grad is None


def test_backward_accepts_tensor_array_or_number_as_grad():
    for seed in (Tensor([1.0, 2.0]), np.array([1.0, 2.0]), [1.0, 2.0]):
        x = Tensor([3.0, 4.0], requires_grad=True)
        (x * x).backward(seed)
        np.testing.assert_array_equal(x.grad, [6.0, 16.0])
    x = Tensor(3.0, requires_grad=True)
    (x * x).backward(2.0)
    assert x.grad == 12.0


# ---- release of the graph ----


def test_graph_is_released_after_backward_and_intermediates_are_collectable():
    x = Tensor(np.ones(3), requires_grad=True)
    mid = x * 2
    ref = weakref.ref(mid)
    y = mid.tanh().sum()
    del mid
    assert ref() is not None  # the graph holds it
    y.backward()
    assert ref() is None  # freed by reference counting alone, no cycle to collect
    assert x.grad is not None


def test_graph_without_backward_is_collectable_once_dropped():
    x = Tensor(np.ones(3), requires_grad=True)
    mid = x.exp()
    ref = weakref.ref(mid)
    y = (mid * mid).sum()
    del mid, y
    gc.collect()
    assert ref() is None
    x.data[0] = 5.0  # no live graph needs x any more: writable again


def test_second_backward_without_retain_graph_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x.tanh() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()
    z = (x * x).sum()
    w = z * 2
    w.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (z + 1).backward()  # a new op on top of a released graph


def test_retain_graph_allows_a_second_backward():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_a_backward_stopped_half_way_leaves_no_partial_sums():
    """h's gradient is half summed when the sqrt rule's inf stops the pass; later passes
    through h must not see that half sum."""
    x = Tensor([0.0, 1.0], requires_grad=True)
    h = x * 1.0
    loss = h.sqrt().sum() + (h * 2.0).sum()  # h * 2 runs first and feeds h
    with pytest.raises(FloatingPointError), ad.detect_anomaly(), np.errstate(divide="ignore"):
        loss.backward(retain_graph=True)
    x.grad = None
    (h * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])


def test_backward_on_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(1.0).backward()


# ---- deep graphs: no recursion ----


def test_long_chain_backpropagates_without_recursion():
    n = 50_000
    assert n > sys.getrecursionlimit()
    x = Tensor(0.5, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.00001
    y.backward()
    assert x.grad == pytest.approx(1.00001**n, rel=1e-9)


@pytest.mark.slow
def test_million_op_chain_backpropagates():
    # Its time and memory are measured by `python -m benchmarks --only deep`, not here.
    n = 1_000_000
    c = Tensor(1.0000001)
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * c
    y.backward()
    assert x.grad == pytest.approx(1.0000001**n, rel=1e-6)


# ---- grad mode ----


def test_no_grad_records_nothing_and_enable_grad_turns_it_back_on():
    x = Tensor(2.0, requires_grad=True)
    assert ad.is_grad_enabled()
    with ad.no_grad():
        assert not ad.is_grad_enabled()
        y = x * 3
        with ad.enable_grad():
            z = x * 3
        w = x * 3
    assert ad.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and z.op == "mul"
    assert not w.requires_grad


def test_no_grad_and_enable_grad_as_decorators():
    @ad.no_grad()
    def predict(t: Tensor) -> Tensor:
        return t * 2

    @ad.enable_grad()
    def train_step(t: Tensor) -> Tensor:
        return t * 2

    x = Tensor(1.0, requires_grad=True)
    assert not predict(x).requires_grad
    with ad.no_grad():
        assert train_step(x).requires_grad
    assert ad.is_grad_enabled()


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(KeyError), ad.no_grad():
        raise KeyError("boom")
    assert ad.is_grad_enabled()


def test_no_grad_is_thread_local():
    entered, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def worker() -> None:
        with ad.no_grad():
            entered.set()
            release.wait(5)
            seen["worker"] = (Tensor(1.0, requires_grad=True) * 2).requires_grad

    thread = threading.Thread(target=worker)
    thread.start()
    assert entered.wait(5)
    x = Tensor(1.0, requires_grad=True)
    seen["main"] = (x * 2).requires_grad  # recorded although another thread is in no_grad
    release.set()
    thread.join(5)
    assert seen == {"main": True, "worker": False}

    def fresh_thread() -> None:
        seen["fresh"] = ad.is_grad_enabled()

    with ad.no_grad():
        t = threading.Thread(target=fresh_thread)
        t.start()
        t.join(5)
    assert seen["fresh"] is True  # a new thread starts with grad mode on


def test_threads_backpropagate_graphs_that_share_parameters():
    """Each backward pass keeps its own sums: concurrent passes over shared leaves agree."""
    W = Tensor(np.linspace(-1.0, 1.0, 12).reshape(3, 4), requires_grad=True)
    errors: list[str] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(200):
            x = rng.standard_normal((5, 3))
            h = (Tensor(x) @ W).tanh()
            loss = (h * h).sum() + h.sum()
            (dW,) = ad.grad(loss, W)
            t = np.tanh(x @ W.data)
            expected = x.T @ ((2 * t + 1) * (1 - t * t))
            if not np.allclose(dW.data, expected, rtol=1e-12, atol=1e-12):
                errors.append(f"thread {seed}: wrong gradient")
                return

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []


# ---- ad.grad ----


def test_grad_returns_gradients_and_leaves_dot_grad_untouched():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = Tensor(3.0, requires_grad=True)
    unused = Tensor([[1.0]], requires_grad=True)
    out = (x * x * y).sum()
    gx, gy, gu = ad.grad(out, [x, y, unused])
    assert all(isinstance(g, Tensor) for g in (gx, gy, gu))
    np.testing.assert_array_equal(gx.data, [6.0, 12.0])
    assert gy.item() == 5.0
    np.testing.assert_array_equal(gu.data, [[0.0]])
    assert x.grad is None and y.grad is None
    with pytest.raises(RuntimeError, match="retain_graph"):
        ad.grad(out, x)  # retain_graph defaults to create_graph=False: released


def test_grad_with_several_outputs_and_grad_outputs():
    x = Tensor([1.0, 2.0], requires_grad=True)
    a, b = x * x, x.sum() * 3
    (g,) = ad.grad([a, b], x, [np.array([1.0, 10.0]), 2.0])
    np.testing.assert_array_equal(g.data, [2 * 1.0 + 6, 10 * 4.0 + 6])
    (g,) = ad.grad(x * 2, x, Tensor([1.0, 1.0]))
    np.testing.assert_array_equal(g.data, [2.0, 2.0])
    with pytest.raises(ValueError, match="grad_outputs has 1 entries for 2 outputs"):
        ad.grad([x * 1, x * 2], x, [np.ones(2)])


def test_grad_retain_graph_defaults_to_create_graph():
    x = Tensor(2.0, requires_grad=True)
    y = x**3
    (g,) = ad.grad(y, x, create_graph=True)
    (g_again,) = ad.grad(y, x)  # the graph was kept
    assert g.item() == g_again.item() == 12.0


# ---- dtypes ----


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        (3, np.float64),
        (True, np.float64),
        ([1, 2, 3], np.float64),
        (np.arange(3, dtype=np.int32), np.float64),
        (np.array([True, False]), np.float64),
        (np.ones(2, dtype=np.uint8), np.float64),
        (np.ones(2, dtype=np.float16), np.float64),
        (2.5, np.float64),
        (np.ones(2, dtype=np.float32), np.float32),
        (np.float32(1.5), np.float32),
        (np.ones(2), np.float64),
    ],
)
def test_dtype_rules(data: Any, dtype: Any):
    assert Tensor(data).dtype == dtype


def test_explicit_dtype_and_tensor_input():
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32
    src = Tensor([1.0, 2.0], requires_grad=True)
    copy = Tensor(src)
    assert not copy.requires_grad and not np.shares_memory(copy.data, src.data)
    with pytest.raises(TypeError, match="floating"):
        Tensor([1, 2], dtype=np.int64)


@pytest.mark.parametrize(
    ("data", "word"),
    [
        (np.array([1 + 2j]), "complex"),
        ([1.0, 2j], "complex"),
        (np.array([object()], dtype=object), "object"),
        (["a", "b"], "U"),
        (np.array([b"a"]), "S"),
    ],
)
def test_non_numeric_data_is_refused_with_type_error(data: Any, word: str):
    with pytest.raises(TypeError, match=f"real numbers.*{word}"):
        Tensor(data)


def test_float32_mlp_stays_float32_end_to_end():
    rng = np.random.default_rng(0)
    f32 = np.float32
    X = Tensor(rng.standard_normal((5, 3)).astype(f32))
    W1 = Tensor(rng.standard_normal((4, 3)).astype(f32), requires_grad=True)
    b1 = Tensor(np.zeros(4, f32), requires_grad=True)
    W2 = Tensor(rng.standard_normal((1, 4)).astype(f32), requires_grad=True)
    y = Tensor(np.array([[1], [0], [1], [0], [1]], f32))
    h = ad.linear(X, W1, b1).relu()
    z = (h @ W2.T + 0.5).sigmoid()  # a Python float keeps float32
    loss = -(y * (z + 1e-7).log() + (1 - y) * (1 - z + 1e-7).log()).mean()
    for t in (h, z, loss):
        assert t.dtype == np.float32
    loss.backward()
    for p in (W1, b1, W2):
        assert p.grad.dtype == np.float32 and p.grad.shape == p.shape
    (gW1,) = ad.grad(ad.linear(X, W1, b1).tanh().sum(), W1)
    assert gW1.dtype == np.float32


def test_astype_converts_and_gradient_comes_back_in_the_input_dtype():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32 and y.op == "astype"
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [2.0, 4.0])
    with pytest.raises(TypeError, match="floating"):
        x.astype(np.int32)


# ---- repr ----


def test_repr_is_short_and_useful():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    assert repr(x) == "Tensor([1., 2.], name='x', requires_grad=True)"
    assert repr(Tensor(2.5)) == "Tensor(2.5)"
    assert "op='mul'" in repr(x * 2)
    assert "dtype=float32" in repr(Tensor(np.ones(2, np.float32)))
    small = repr(Tensor(np.eye(2)))
    assert "\n" not in small and "0." in small
    big = repr(Tensor(np.zeros((100, 200)), requires_grad=True))
    assert "\n" not in big and len(big) < 80 and "(100, 200)" in big


# ---- random expression graphs with shared subexpressions ----

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.0 + b * b),
}
UNARY = {
    "tanh": lambda a: a.tanh() if isinstance(a, Tensor) else np.tanh(a),
    "sigmoid": lambda a: a.sigmoid() if isinstance(a, Tensor) else 1 / (1 + np.exp(-a)),
    "square": lambda a: a * a,  # the same tensor on both sides of an op
    "neg": lambda a: -a,
    "exp_tanh": lambda a: a.tanh().exp() if isinstance(a, Tensor) else np.exp(np.tanh(a)),
}


@st.composite
def programs(draw: Any):
    """Steps `(op, i, j)` over earlier values; indices repeat, so values fan out."""
    steps = []
    for k in range(draw(st.integers(1, 12))):
        available = 3 + k
        if draw(st.booleans()):
            op = draw(st.sampled_from(sorted(BINARY)))
            i = draw(st.integers(0, available - 1))
            j = draw(st.one_of(st.just(i), st.integers(0, available - 1)))
            steps.append((op, i, j))
        else:
            steps.append(
                (draw(st.sampled_from(sorted(UNARY))), draw(st.integers(0, available - 1)), -1)
            )
    return steps


def run_program(steps: list[tuple[str, int, int]], inputs: list[Any]) -> Any:
    values = list(inputs)
    for op, i, j in steps:
        if op in BINARY:
            values.append(BINARY[op](values[i], values[j]))
        else:
            values.append(UNARY[op](values[i]))
    # Every value feeds the result, so unused branches are checked as well.
    total = values[-1] * 2.0
    for v in values[3:-1]:
        total = total + v * 0.5
    return total


@given(
    steps=programs(),
    shapes=st.sampled_from(
        [((), (), ()), ((3,), (3,), (3,)), ((2, 3), (3,), ()), ((2, 1), (1, 3), (2, 3))]
    ),
    data=st.data(),
)
def test_random_expression_graphs_match_numerical_gradients(steps, shapes, data):
    arrays = [data.draw(ads.arrays(s, elements=ads.floats(-1.5, 1.5))) for s in shapes]
    out = run_program(steps, [Tensor(a) for a in arrays])
    expected = run_program(steps, arrays)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert ad.gradcheck(lambda *ts: run_program(steps, list(ts)).sum(), arrays)
