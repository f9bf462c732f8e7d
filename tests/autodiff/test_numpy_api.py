"""numpy functions on Tensors (`autodiff.numpy_api`): parity with the autodiff ops.

One table holds every numpy ufunc and function that API.md lists as differentiable,
next to the autodiff op it stands for and a hypothesis strategy for its domain (the
conventions of `test_ops.py`: small shapes, values away from kinks and ties where a
central difference would straddle one). The table drives:

- the numpy call on Tensors against numpy on plain arrays (values) and against the
  autodiff op (values and gradients), with each operand drawn as a Tensor or as a plain
  array, so mixed operands on either side are covered;
- central differences of the numpy call (`ad.gradcheck` through dispatch).

Then: the operators with an ndarray on the left, comparisons and the read-only
functions, the TypeError for everything else, `np.asarray`, `Tensor.copy`, and learners'
unchanged numpy forward passes against `nn.reference`'s hand formulas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff as ad
from autodiff import Tensor, numpy_api
from autodiff import strategies as ads
from nn import reference as ref
from tests.autodiff.test_ops import values, where_args  # the op table's own strategies

MAX_SIDE = 3
SEEDS = st.integers(0, 2**32 - 1)


# ---- domains ----


def away_from(points: list[float], margin: float = 0.1) -> st.SearchStrategy[float]:
    edges = [-2.0] + sorted(points) + [2.0]
    return st.one_of(
        *[
            ads.floats(a + margin * (i > 0), b - margin * (i < len(edges) - 2))
            for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))
        ]
    )


def small_shapes(min_dims: int = 0, min_side: int = 0) -> st.SearchStrategy[tuple[int, ...]]:
    return ads.shapes(min_dims=min_dims, max_dims=3, min_side=min_side, max_side=MAX_SIDE)


def unary(elements: Any = None) -> st.SearchStrategy:
    elements = values() if elements is None else elements
    return ads.arrays(small_shapes(), elements=elements).map(lambda x: ([x], {}))


@st.composite
def binary(draw: Any, ea: Any = None, eb: Any = None) -> tuple[list[np.ndarray], dict]:
    sa, sb = draw(ads.broadcastable_shapes(max_dims=3, min_side=0, max_side=MAX_SIDE))
    return [draw(ads.arrays(sa, elements=values() if ea is None else ea)),
            draw(ads.arrays(sb, elements=values() if eb is None else eb))], {}  # fmt: skip


@st.composite
def binary_distinct(draw: Any) -> tuple[list[np.ndarray], dict]:
    """Two arrays whose values all differ by at least 1/8: no ties for maximum/minimum."""
    sa, sb = draw(ads.broadcastable_shapes(max_dims=3, min_side=0, max_side=MAX_SIDE))
    n = int(np.prod(sa)) + int(np.prod(sb))
    flat = draw(hnp.arrays(np.int64, n, elements=st.integers(-40, 40), unique=True)) / 8.0
    return [flat[: int(np.prod(sa))].reshape(sa), flat[int(np.prod(sa)) :].reshape(sb)], {}


@st.composite
def reduction(draw: Any, distinct: bool = False, min_side: int = 0):
    shape = draw(small_shapes(min_side=min_side))
    if distinct:
        size = int(np.prod(shape))
        x = draw(hnp.arrays(np.int64, size, elements=st.integers(-40, 40), unique=True))
        x = x.reshape(shape) / 8.0
    else:
        x = draw(ads.arrays(shape))
    ndim = x.ndim
    axes = [st.none()]
    if ndim:
        axes.append(st.integers(-ndim, ndim - 1))
        axes.append(st.lists(st.integers(0, ndim - 1), unique=True).map(tuple))
    return [x], {"axis": draw(st.one_of(*axes)), "keepdims": draw(st.booleans())}


@st.composite
def dot_operands(draw: Any):
    m, n, p = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    pairs = [((n,), (n,)), ((m, n), (n,)), ((n,), (n, p)), ((m, n), (n, p)), ((), (m, n))]
    a_shape, b_shape = draw(st.sampled_from(pairs + [((m,), ())]))
    return [draw(ads.arrays(a_shape)), draw(ads.arrays(b_shape))], {}


@st.composite
def matmul_operands(draw: Any):
    m, n, p = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    lead = draw(st.sampled_from([(), (2,)]))
    a_shape = draw(st.sampled_from([(n,), (m, n), lead + (m, n)]))
    b_shape = draw(st.sampled_from([(n,), (n, p), lead + (n, p)]))
    return [draw(ads.arrays(a_shape)), draw(ads.arrays(b_shape))], {}


@st.composite
def reshape_args(draw: Any):
    x = draw(ads.arrays(small_shapes()))
    targets = [(-1,), x.shape[::-1], (1,) + x.shape, (x.size, 1), x.size]
    return [x], {"shape": draw(st.sampled_from(targets))}


@st.composite
def transpose_args(draw: Any):
    x = draw(ads.arrays(small_shapes(min_dims=1)))
    return [x], {"axes": draw(st.one_of(st.none(), st.permutations(range(x.ndim)).map(tuple)))}


@st.composite
def squeeze_args(draw: Any):
    x = draw(ads.arrays(st.lists(st.sampled_from([1, 1, 2, 3]), max_size=4).map(tuple)))
    ones = [i for i, n in enumerate(x.shape) if n == 1]
    axis = draw(st.one_of(st.none(), st.sampled_from(ones) if ones else st.none()))
    return [x], {"axis": axis}


@st.composite
def expand_dims_args(draw: Any):
    x = draw(ads.arrays(small_shapes()))
    axis = draw(st.one_of(st.integers(-x.ndim - 1, x.ndim), st.just((0, -1))))
    return [x], {"axis": axis}


@st.composite
def join_args(draw: Any, new_axis: bool):
    shape = draw(small_shapes(min_dims=0 if new_axis else 1))
    k = draw(st.integers(1, 3))
    if new_axis:
        axis, shapes = draw(st.integers(-len(shape) - 1, len(shape))), [shape] * k
    else:
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        a = axis % len(shape)
        shapes = [shape[:a] + (draw(st.integers(0, MAX_SIDE)),) + shape[a + 1 :] for _ in range(k)]
    return [draw(ads.arrays(s)) for s in shapes], {"axis": axis}


@st.composite
def clip_args(draw: Any):
    lo, hi = draw(st.sampled_from([(-0.5, 0.5), (None, 0.3), (-1.0, None), (0.0, 1.0)]))
    x = draw(ads.arrays(small_shapes(), elements=away_from([b for b in (lo, hi) if b is not None])))
    return [x], {"lo": lo, "hi": hi}


# ---- the table ----


@dataclass(frozen=True)
class Case:
    name: str
    numpy_call: Callable[..., Any]  # the learner's numpy code: (*operands, **kwargs)
    op_call: Callable[..., Tensor]  # the autodiff op it stands for
    draw: st.SearchStrategy[tuple[list[np.ndarray], dict[str, Any]]]

    def __repr__(self) -> str:
        return self.name


def _reduction(np_fn: Any, op: Any) -> tuple[Callable, Callable]:
    return (lambda x, axis, keepdims: np_fn(x, axis=axis, keepdims=keepdims),
            lambda x, axis, keepdims: op(x, axis=axis, keepdims=keepdims))  # fmt: skip


def _dot_op(a: Any, b: Any) -> Tensor:
    return ad.mul(a, b) if np.ndim(np.asarray(a)) == 0 or np.ndim(np.asarray(b)) == 0 else (
        ad.matmul(a, b))  # fmt: skip


POSITIVE = values(0.2, 3.0)
CASES = [
    # ufuncs
    Case("add", np.add, ad.add, binary()),
    Case("subtract", np.subtract, ad.sub, binary()),
    Case("multiply", np.multiply, ad.mul, binary()),
    Case("divide", np.divide, ad.div, binary(eb=away_from([0.0], 0.5))),
    Case("true_divide", np.true_divide, ad.div, binary(eb=away_from([0.0], 0.5))),
    Case("power", np.power, ad.pow, binary(ea=values(0.5, 2.0))),
    Case("maximum", np.maximum, ad.maximum, binary_distinct()),
    Case("minimum", np.minimum, ad.minimum, binary_distinct()),
    Case("matmul", np.matmul, ad.matmul, matmul_operands()),
    Case("negative", np.negative, ad.neg, unary()),
    Case("positive", np.positive, lambda x: x.copy(), unary()),
    Case("square", np.square, lambda x: x**2, unary()),
    Case("sqrt", np.sqrt, ad.sqrt, unary(POSITIVE)),
    Case("exp", np.exp, ad.exp, unary()),
    Case("log", np.log, ad.log, unary(POSITIVE)),
    Case("log1p", np.log1p, ad.ops.log1p, unary(values(-0.8, 3.0))),
    Case("expm1", np.expm1, ad.ops.expm1, unary()),
    Case("tanh", np.tanh, ad.tanh, unary()),
    Case("logaddexp", np.logaddexp,
         lambda a, b: ad.maximum(a, b) + ad.ops.log1p(ad.exp(-ad.abs(a - b))), binary_distinct()),
    Case("abs", np.abs, ad.abs, unary(away_from([0.0]))),
    Case("absolute", np.absolute, ad.abs, unary(away_from([0.0]))),
    # functions
    Case("dot", np.dot, _dot_op, dot_operands()),
    Case("sum", *_reduction(np.sum, ad.sum), reduction()),
    Case("nansum", *_reduction(np.nansum, ad.sum), reduction()),
    Case("mean", *_reduction(np.mean, ad.mean), reduction(min_side=1)),
    Case("max", *_reduction(np.max, ad.max), reduction(distinct=True, min_side=1)),
    Case("amax", *_reduction(np.amax, ad.max), reduction(distinct=True, min_side=1)),
    Case("min", *_reduction(np.min, ad.min), reduction(distinct=True, min_side=1)),
    Case("amin", *_reduction(np.amin, ad.min), reduction(distinct=True, min_side=1)),
    Case("reshape", lambda x, shape: np.reshape(x, shape), lambda x, shape: ad.reshape(x, shape),
         reshape_args()),
    Case("transpose", lambda x, axes: np.transpose(x, axes),
         lambda x, axes: ad.transpose(x) if axes is None else ad.transpose(x, axes),
         transpose_args()),
    Case("squeeze", lambda x, axis: np.squeeze(x, axis=axis),
         lambda x, axis: ad.reshape(x, np.squeeze(x.data, axis=axis).shape), squeeze_args()),
    Case("expand_dims", lambda x, axis: np.expand_dims(x, axis),
         lambda x, axis: ad.reshape(x, np.expand_dims(x.data, axis).shape), expand_dims_args()),
    Case("concatenate", lambda *xs, axis: np.concatenate(list(xs), axis=axis),
         lambda *xs, axis: ad.concatenate(xs, axis=axis), join_args(new_axis=False)),
    Case("stack", lambda *xs, axis: np.stack(xs, axis=axis),
         lambda *xs, axis: ad.stack(xs, axis=axis), join_args(new_axis=True)),
    Case("where", lambda a, b, cond: np.where(cond, a, b), lambda a, b, cond: ad.where(cond, a, b),
         where_args()),
    Case("clip", lambda x, lo, hi: np.clip(x, lo, hi), ad.clip, clip_args()),
]  # fmt: skip


def test_table_covers_every_function_api_md_lists_and_every_one_numpy_api_maps():
    listed = (
        "add subtract multiply divide true_divide negative positive power square sqrt exp log "
        "log1p expm1 tanh abs absolute maximum minimum dot matmul sum mean max min amax amin "
        "reshape transpose squeeze expand_dims concatenate stack where clip"
    ).split()
    names = {case.name for case in CASES}
    assert set(listed) <= names
    mapped = {f.__name__ for f in (*numpy_api.UFUNCS, *numpy_api.FUNCTIONS)}
    mapped -= {"ravel", "broadcast_to", "copy"}  # covered by their own tests below
    assert mapped <= names, mapped - names


def _operands(arrays: list[np.ndarray], as_tensor: list[bool]) -> list[Any]:
    return [Tensor(a, requires_grad=True) if t else a.copy() for a, t in zip(arrays, as_tensor)]


def _upstream(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _grads(out: Tensor, G: np.ndarray, operands: list[Any]) -> list[np.ndarray]:
    tensors = [x for x in operands if isinstance(x, Tensor)]
    return [g.data for g in ad.grad((out * G).sum(), tensors)]


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(data=st.data(), seed=SEEDS)
def test_numpy_call_on_tensors_matches_numpy_and_the_autodiff_op(case: Case, data: Any, seed: int):
    arrays, kwargs = data.draw(case.draw)
    n = len(arrays)
    as_tensor = data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))

    ours = _operands(arrays, as_tensor)
    out = case.numpy_call(*ours, **kwargs)
    assert isinstance(out, Tensor), type(out)
    np.testing.assert_allclose(out.data, case.numpy_call(*arrays, **kwargs), rtol=1e-12)

    theirs = _operands(arrays, as_tensor)
    expected = case.op_call(*theirs, **kwargs)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-15)

    G = _upstream(out.shape, seed)
    for got, want in zip(_grads(out, G, ours), _grads(expected, G, theirs)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(data=st.data(), seed=SEEDS)
def test_numpy_call_on_tensors_matches_central_differences(case: Case, data: Any, seed: int):
    arrays, kwargs = data.draw(case.draw)
    G = _upstream(np.shape(case.numpy_call(*arrays, **kwargs)), seed)
    assert ad.gradcheck(lambda *ts: np.sum(case.numpy_call(*ts, **kwargs) * G), arrays)


# ---- operators with an ndarray on the left, and what stays plain numpy ----


def test_ndarray_operators_with_a_tensor_on_the_right_give_tensors():
    a = np.array([[1.0, 2.0, 4.0], [0.5, 1.5, 3.0]])
    x = Tensor([2.0, 0.5, 1.0], requires_grad=True)
    for symbol, fn in {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "**": lambda a, b: a**b,
    }.items():
        out = fn(a, x)
        assert isinstance(out, Tensor), symbol
        np.testing.assert_allclose(out.data, fn(a, x.data))
        [g] = ad.grad(out.sum(), [x])
        [expected] = ad.numerical_grad(lambda t, fn=fn: fn(a, t).sum(), [x.data])
        np.testing.assert_allclose(g.data, expected, rtol=1e-6, atol=1e-8)
    out = a @ x
    assert isinstance(out, Tensor)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, a.sum(axis=0))


def test_read_only_data_of_a_tensor_in_a_live_graph_combines_with_tensors():
    w = Tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()  # w's data is now read-only, seen through a guarded view
    x = Tensor([3.0, 4.0], requires_grad=True)
    out = w.data * x + np.where(w > 1, x, 0.0)
    assert isinstance(out, Tensor)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 3.0])
    y.backward()
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])


class OtherArray:
    """Another array library's type: numpy must be able to ask it once Tensor declines."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> str:
        return f"other {ufunc.__name__}"

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> str:
        return f"other {func.__name__}"


def test_tensor_defers_to_other_array_libraries():
    t = Tensor([1.0, 2.0], requires_grad=True)
    assert np.add(t, OtherArray()) == "other add"
    assert np.concatenate([t, OtherArray()]) == "other concatenate"


def test_numpy_scalars_on_the_left_keep_the_tensor_dtype():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    out = np.float64(2.0) * x - np.float32(1.0)
    assert isinstance(out, Tensor) and out.dtype == np.float32
    np.testing.assert_array_equal(out.data, [1.0, 3.0])


@pytest.mark.parametrize(
    "fn",
    [lambda a, t: a < t, lambda a, t: a <= t, lambda a, t: a > t, lambda a, t: a >= t,
     lambda a, t: a == t, lambda a, t: a != t, np.less, np.greater_equal, np.equal],
)  # fmt: skip
def test_comparisons_with_an_ndarray_give_plain_boolean_arrays(fn):
    a = np.array([1.0, 2.0, 3.0])
    t = Tensor([2.0, 2.0, 2.0], requires_grad=True)
    for result, expected in [(fn(a, t), fn(a, t.data)), (fn(t, a), fn(t.data, a))]:
        assert type(result) is np.ndarray and result.dtype == bool
        np.testing.assert_array_equal(result, expected)


def test_signs_and_finiteness_give_plain_arrays():
    t = Tensor([-2.0, 0.0, 3.0], requires_grad=True)
    for fn in (np.sign, np.isfinite, np.isnan, np.isinf):
        result = fn(t)
        assert type(result) is np.ndarray
        np.testing.assert_array_equal(result, fn(t.data))


def test_functions_of_shapes_and_indices_give_plain_numpy_results():
    t = Tensor([[1.0, 5.0], [4.0, 2.0]], requires_grad=True)
    assert np.shape(t) == (2, 2) and np.ndim(t) == 2 and np.size(t) == 4
    np.testing.assert_array_equal(np.argmax(t, axis=1), [1, 0])
    assert np.allclose(t, t.data) and np.array_equal(t, t.data)
    assert type(np.zeros_like(t)) is np.ndarray
    assert np.where(t > 3)[1].tolist() == [1, 0]  # the condition alone: indices


def test_ndarray_in_place_operator_with_a_tensor_raises():
    a = np.ones(3)
    with pytest.raises(TypeError, match=r"np\.add\(\.\.\., out=\.\.\.\)"):
        a += Tensor([1.0, 2.0, 3.0], requires_grad=True)
    np.testing.assert_array_equal(a, np.ones(3))


# ---- anything else is a TypeError, never a silent detach ----


@pytest.mark.parametrize(
    ("call", "name", "nearest"),
    [
        (lambda t: np.cumsum(t), "np.cumsum", "np.sum"),
        (lambda t: np.prod(t), "np.prod", "np.log"),
        (lambda t: np.linalg.norm(t), "np.linalg.norm", "np.sqrt(np.sum(x ** 2))"),
        (lambda t: np.var(t), "np.var", "np.mean"),
        (lambda t: np.sin(t), "np.sin", "trigonometric"),
        (lambda t: np.floor(t), "np.floor", "t.data"),
        (lambda t: np.log2(t), "np.log2", "np.log(x) / np.log(2)"),
        (lambda t: np.add.reduce(t), "np.add.reduce", "np.sum"),
        (lambda t: np.maximum.accumulate(t), "np.maximum.accumulate", "t.data"),
        (lambda t: np.tensordot(t, t, 1), "np.tensordot", "np.matmul"),
        (lambda t: np.dot(np.ones((2, 2, 2)), t), "np.dot", "np.matmul"),
        (lambda t: np.fft.fft(t), "np.fft.fft", "add, "),  # no hint: the supported list
    ],
)
def test_unsupported_numpy_function_raises_type_error_naming_it(call, name, nearest):
    t = Tensor([0.5, 1.0], requires_grad=True)
    with pytest.raises(TypeError) as info:
        call(t)
    message = str(info.value)
    assert message.startswith(name) and "autodiff" in message, message
    assert nearest in message, message


@pytest.mark.parametrize(
    "call",
    [
        lambda t: np.exp(t, out=np.empty(2)),
        lambda t: np.add(t, 1.0, out=t),
        lambda t: np.sum(t, out=np.empty(())),
        lambda t: np.sum(t, dtype=np.float32),
        lambda t: np.mean(t, where=np.array([True, False])),
        lambda t: np.multiply(t, 2.0, where=np.array([True, False])),
        lambda t: np.concatenate([t, t], out=np.empty(4)),
        lambda t: np.clip(t, Tensor(0.0, requires_grad=True), 1.0),
        lambda t: np.reshape(t, (2, 1), order="F"),
    ],
)
def test_keywords_a_recorded_op_cannot_honour_raise_type_error(call):
    t = Tensor([0.5, 1.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"^np\.[a-z]+"):
        call(t)


def test_np_dot_keeps_a_tensor_weight_in_the_graph():
    W = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    X = np.array([[1.0], [-1.0]])
    np.dot(W, X).sum().backward()
    np.testing.assert_array_equal(W.grad, [[1.0, -1.0], [1.0, -1.0]])


# ---- np.asarray and Tensor.copy ----


def test_asarray_returns_the_data_read_only_while_a_graph_needs_it():
    t = Tensor([1.0, 2.0], requires_grad=True)
    y = (t * t).sum()
    view = np.asarray(t)
    np.testing.assert_array_equal(view, [1.0, 2.0])
    assert isinstance(view, np.ndarray) and not isinstance(view, Tensor)
    assert not view.flags.writeable
    with pytest.raises((ValueError, ad.InplaceModificationError)):
        view[0] = 5.0
    y.backward()
    np.testing.assert_array_equal(t.grad, [2.0, 4.0])
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(t)[0] = 5.0  # always a read-only view: writes go through `t.data`,
    t.data[0] = 5.0  # which counts them (the graph was released, so this one is allowed)
    assert np.asarray(t)[0] == 5.0


def test_copy_is_a_differentiable_identity_with_its_own_memory():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    c = t.copy()
    assert c.op == "copy" and not np.shares_memory(c.data, t.data)
    np.testing.assert_array_equal(c.data, t.data)
    (c * np.array([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    np.testing.assert_array_equal(t.grad, [[1.0, 2.0], [3.0, 4.0]])
    assert isinstance(np.copy(t), Tensor)
    assert Tensor(3.0).copy().shape == ()


def test_nansum_skips_nans_and_gives_them_no_gradient():
    x = Tensor([1.0, np.nan, 2.0], requires_grad=True)
    total = np.nansum(x)
    assert total.item() == 3.0
    total.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])


def test_logaddexp_is_stable_and_exact_at_ties():
    a = Tensor([1000.0, 0.0, -3.0], requires_grad=True)
    b = Tensor([1000.0, 0.0, 2.0], requires_grad=True)
    out = np.logaddexp(a, b)
    np.testing.assert_allclose(out.data, np.logaddexp(a.data, b.data), rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(a.grad, [0.5, 0.5, 1 / (1 + np.exp(5.0))], rtol=1e-12)
    np.testing.assert_allclose(a.grad + b.grad, 1.0, rtol=1e-15)
    # nn.reference's stable sigmoid, copied into a learner's code, is differentiable
    z = Tensor([-40.0, 0.0, 3.0], requires_grad=True)
    s = np.exp(-np.logaddexp(0.0, -z))
    s.sum().backward()
    np.testing.assert_allclose(z.grad, s.data * (1 - s.data), rtol=1e-12)


def test_ravel_and_broadcast_to_follow_numpy():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(np.ravel(x).data, np.arange(6.0))
    wide = np.broadcast_to(x[0], (4, 3))
    assert isinstance(wide, Tensor) and wide.shape == (4, 3)
    wide.sum().backward()
    np.testing.assert_array_equal(x.grad, [[4.0, 4.0, 4.0], [0.0, 0.0, 0.0]])


def test_log1p_and_expm1_are_exact_for_tiny_inputs():
    x = Tensor([1e-12, -1e-15], requires_grad=True)
    np.testing.assert_allclose(np.log1p(x).data, [1e-12, -1e-15], rtol=1e-10)
    np.testing.assert_allclose(np.expm1(x).data, [1e-12, -1e-15], rtol=1e-10)
    np.log1p(x).sum().backward()
    np.testing.assert_allclose(x.grad, 1 / (1 + x.data), rtol=1e-15)


# ---- a learner's unchanged numpy code ----


def test_api_md_example_gives_the_hand_derived_gradients():
    rng = np.random.default_rng(0)
    X, Y, m = rng.standard_normal((3, 7)), (rng.random((1, 7)) > 0.5) * 1.0, 7
    W = Tensor(rng.standard_normal((1, 3)), requires_grad=True)
    b = Tensor(np.zeros((1, 1)), requires_grad=True)

    Z = np.dot(W, X) + b
    A = 1 / (1 + np.exp(-Z))
    cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    cost.backward()

    A_ = 1 / (1 + np.exp(-(W.data @ X + b.data)))
    np.testing.assert_allclose(cost.item(), ref.compute_cost(A_, Y), rtol=1e-12)
    np.testing.assert_allclose(W.grad, (A_ - Y) @ X.T / m, rtol=1e-12)
    np.testing.assert_allclose(b.grad, np.sum(A_ - Y, axis=1, keepdims=True) / m, rtol=1e-12)


def course_forward(X, parameters, keep_prob, softmax=False):
    """A learner's two-layer forward pass in the course's style, numpy calls unchanged."""
    W1, b1, W2, b2 = (parameters[k] for k in ("W1", "b1", "W2", "b2"))
    Z1 = np.dot(W1, X) + b1
    A1 = np.maximum(0, Z1)
    D1 = np.random.rand(A1.shape[0], A1.shape[1]) < keep_prob
    A1 = np.multiply(A1, D1)
    A1 = A1 / keep_prob
    Z2 = np.dot(W2, A1) + b2
    if softmax:
        E = np.exp(Z2 - np.max(Z2, axis=0, keepdims=True))
        A2 = E / np.sum(E, axis=0, keepdims=True)
    else:
        A2 = 1 / (1 + np.exp(-Z2))
    caches = [((X, W1, b1), Z1, D1), ((A1, W2, b2), Z2, None)]
    return A2, caches


def course_cost(A2, Y, softmax=False):
    m = Y.shape[1]
    if softmax:
        logprobs = np.sum(np.multiply(Y, np.log(A2)), axis=0, keepdims=True)
        return np.squeeze(-np.sum(logprobs, axis=1, keepdims=True) / m)
    logprobs = np.multiply(np.log(A2), Y) + np.multiply(np.log(1 - A2), 1 - Y)
    return np.squeeze(-1 / m * np.sum(logprobs, axis=1, keepdims=True))


def _plain(caches):
    """The caches as the arrays a hand-written backward pass would see."""
    return [
        tuple(tuple(np.asarray(v) for v in item) if isinstance(item, tuple)
              else (None if item is None else np.asarray(item)) for item in cache)
        for cache in caches
    ]  # fmt: skip


@pytest.mark.parametrize("softmax", [False, True], ids=["sigmoid_bce", "softmax_xent"])
@pytest.mark.parametrize("keep_prob", [1.0, 0.7])
@given(data=st.data(), seed=SEEDS, m=st.integers(1, 20))
def test_course_forward_and_cost_give_the_reference_gradients(softmax, keep_prob, data, seed, m):
    n_out = 3 if softmax else 1
    params = data.draw(ads.mlp_parameters([4, 5, n_out]))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4, m))
    if softmax:
        Y = np.eye(n_out)[:, rng.integers(0, n_out, m)]
    else:
        Y = (rng.random((1, m)) > 0.5) * 1.0
    # np.maximum splits a tie at Z1 == 0 evenly; the course's relu_backward takes 0 there
    assume(np.all(np.abs(params["W1"] @ X + params["b1"]) > 1e-9))
    tensors = {k: Tensor(v, requires_grad=True) for k, v in params.items()}
    np.random.seed(seed % 2**32)  # dropout masks from the global state, as in the course
    A2, caches = course_forward(X, tensors, keep_prob, softmax)
    cost = course_cost(A2, Y, softmax)
    assert isinstance(cost, Tensor) and cost.shape == ()
    cost.backward()

    loss = "cross_entropy" if softmax else "bce"
    acts = ["relu", "softmax" if softmax else "sigmoid"]
    np.testing.assert_allclose(cost.item(), ref.compute_cost(A2.data, Y, loss), rtol=1e-10)
    grads = ref.L_model_backward(
        A2.data, Y, _plain(caches) if keep_prob < 1 else [c[:2] for c in _plain(caches)],
        acts, keep_prob=keep_prob, loss=loss,
    )  # fmt: skip
    for name, t in tensors.items():
        np.testing.assert_allclose(t.grad, grads["d" + name], rtol=1e-9, atol=1e-12)


def test_course_forward_with_dropout_matches_central_differences():
    params = ref.initialize_parameters([4, 5, 1], init="he", seed=1)
    params = {k: v + 0.1 for k, v in params.items()}  # biases off zero: no kinks at 0
    X = np.random.default_rng(2).standard_normal((4, 6))
    Y = (np.random.default_rng(3).random((1, 6)) > 0.5) * 1.0

    def cost_of(W1, b1, W2, b2):
        np.random.seed(7)  # the same masks on every evaluation
        parameters = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
        return course_cost(course_forward(X, parameters, 0.6)[0], Y)

    assert ad.gradcheck(cost_of, [params[k] for k in ("W1", "b1", "W2", "b2")])
