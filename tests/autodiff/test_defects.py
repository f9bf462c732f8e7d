"""Regression tests for the engine defects found by testing against PyTorch and numpy,
and for the behaviours of the eager core that came with them (scalar ops as attributes,
numpy warnings at the user's line, in-place operators, scopes, concurrent passes)."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff import Tensor

# ---- transpose with negative axes ----


@pytest.mark.parametrize("shape, axes", [((3, 3), (-1, -2)), ((2, 3, 4), (-1, 0, -2)),
                                         ((2, 3), (1, -2))])  # fmt: skip
def test_transpose_with_negative_axes_has_the_right_gradient(shape, axes):
    data = np.arange(np.prod(shape), dtype=float).reshape(shape)
    x = Tensor(data, requires_grad=True)
    G = np.random.default_rng(0).standard_normal(np.transpose(data, axes).shape)
    out = x.transpose(*axes)
    np.testing.assert_array_equal(out.data, np.transpose(data, axes))
    (out * G).sum().backward()
    inverse = np.argsort([a % len(shape) for a in axes])
    np.testing.assert_array_equal(x.grad, np.transpose(G, inverse))


# ---- division by zero, and numpy's warnings at the user's line ----


def test_division_by_zero_gives_inf_with_numpys_warning_at_the_callers_line():
    with pytest.warns(RuntimeWarning, match="divide by zero") as caught:
        out = Tensor([1.0, -2.0]) / 0
    np.testing.assert_array_equal(out.data, [np.inf, -np.inf])
    assert caught[0].filename == __file__


@pytest.mark.parametrize(
    "fn, match",
    [(lambda: ad.log(Tensor([0.0, 1.0])), "divide by zero"),
     (lambda: ad.exp(Tensor([1000.0])), "overflow"),
     (lambda: Tensor([0.0]) / Tensor([0.0]), "invalid")],
)  # fmt: skip
def test_numpy_warnings_of_an_op_point_at_the_users_line(fn, match):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    ours = [w for w in caught if match in str(w.message)]
    assert ours and all(w.filename == __file__ for w in ours), [w.filename for w in caught]


def test_numpy_errstate_of_the_user_is_respected():
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf((Tensor([1.0]) / 0).data).all()
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        Tensor([1.0]) / 0


# ---- no_grad on generator functions ----


def test_no_grad_decorator_on_a_generator_records_nothing_inside_it():
    x = Tensor([1.0, 2.0], requires_grad=True)

    @ad.no_grad()
    def doubled(n: int):
        for _ in range(n):
            assert not ad.is_grad_enabled()
            yield x * 2

    items = []
    for y in doubled(3):
        assert ad.is_grad_enabled()  # the caller's own code keeps its mode
        items.append(y)
    assert [y.requires_grad for y in items] == [False] * 3


def test_no_grad_generator_passes_sent_values_and_return_value():
    @ad.no_grad()
    def echo():
        got = yield "first"
        yield (got, ad.is_grad_enabled())
        return "done"

    gen = echo()
    assert next(gen) == "first"
    assert gen.send(5) == (5, False)
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"


# ---- module functions without a Tensor operand ----


@pytest.mark.parametrize(
    "call, expected",
    [(lambda: ad.add(np.ones(2), np.ones(2)), [2.0, 2.0]),
     (lambda: ad.mul(2.0, 3.0), 6.0),
     (lambda: ad.sub(5.0, np.array([1.0, 2.0])), [4.0, 3.0]),
     (lambda: ad.div(1.0, 4.0), 0.25),
     (lambda: ad.pow(2.0, 3.0), 8.0),
     (lambda: ad.where(np.array([True, False]), 1.0, 2.0), [1.0, 2.0]),
     (lambda: ad.maximum(1.0, np.array([0.0, 3.0])), [1.0, 3.0]),
     (lambda: ad.minimum([1.0, 5.0], 2.0), [1.0, 2.0]),
     (lambda: ad.matmul(np.eye(2), [1.0, 2.0]), [1.0, 2.0])],
)  # fmt: skip
def test_module_functions_without_a_tensor_operand_return_a_tensor(call, expected):
    out = call()
    assert isinstance(out, Tensor) and not out.requires_grad
    np.testing.assert_array_equal(out.data, expected)


# ---- grad_outputs as numpy scalars ----


@pytest.mark.parametrize("seed", [np.float32(2), np.float64(2), np.int64(2), np.array(2.0)])
def test_grad_outputs_may_be_a_numpy_scalar(seed):
    x = Tensor(3.0, requires_grad=True)
    (g,) = ad.grad(x * x, x, grad_outputs=seed)
    assert g.item() == 12.0


# ---- 0-d tensors are not sequences ----


def test_a_0d_tensor_has_no_len_and_cannot_be_iterated():
    t = Tensor(3.0)
    with pytest.raises(TypeError, match="0-d"):
        list(t)
    with pytest.raises(TypeError, match="0-d"):
        len(t)
    rows = list(Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True))
    assert len(rows) == 2 and rows[1].op == "getitem"
    np.testing.assert_array_equal(rows[1].data, [3.0, 4.0])


# ---- log_softmax at huge equal logits ----


def test_log_softmax_of_huge_equal_logits_is_minus_log_two():
    out = ad.log_softmax(Tensor([1e17, 1e17]))
    np.testing.assert_allclose(out.data, [-np.log(2), -np.log(2)], rtol=1e-15)
    np.testing.assert_allclose(ad.softmax(Tensor([1e17, 1e17])).data, [0.5, 0.5])


# ---- bad values are refused, naming what was given ----


@pytest.mark.parametrize(
    "value, named",
    [(None, "NoneType"), ("1.5", "str"), (1 + 2j, "complex"), ([1.0, "a"], "dtype <U"),
     (np.array([1 + 1j]), "complex128"), (np.array([object()]), "dtype object")],
)  # fmt: skip
def test_tensor_refuses_values_that_are_not_real_numbers(value, named):
    with pytest.raises(TypeError, match="real numbers") as info:
        Tensor(value)
    assert named in str(info.value)


@pytest.mark.parametrize("bad", [np.array(["1.0"]), np.array([None], dtype=object)])
def test_backward_grad_and_grad_outputs_refuse_object_and_string_arrays(bad):
    x = Tensor([2.0], requires_grad=True)
    with pytest.raises(TypeError, match="real numbers"):
        (x * 3).backward(bad)
    with pytest.raises(TypeError, match="real numbers"):
        ad.grad(x * 3, x, grad_outputs=bad)


def test_complex_op_parameters_are_refused_naming_the_parameter():
    x = Tensor([1.0, -1.0])
    with pytest.raises(TypeError, match="clip bound lo must be a real number, got 1j"):
        x.clip(1j, 2.0)
    with pytest.raises(TypeError, match="clip bound hi"):
        x.clip(0.0, 1 + 0j)
    with pytest.raises(TypeError, match="leaky_relu slope must be a real number"):
        x.leaky_relu(0.1j)
    with pytest.raises(TypeError, match="real numbers"):
        x * 1j


# ---- pow at 0, as PyTorch ----


def test_pow_gradients_at_zero_match_pytorch():
    x = Tensor([0.0, 2.0], requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])  # d(x**0)/dx = 0, also at 0
    a, b = Tensor([0.0, 0.0, 2.0], requires_grad=True), Tensor([0.0, 2.0, 3.0], requires_grad=True)
    (a**b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.0, 12.0])  # b a**(b-1); 0 at a = b = 0
    np.testing.assert_allclose(b.grad, [0.0, 0.0, 8 * np.log(2)])  # a**b log a; 0 at a = 0
    c = Tensor([0.0], requires_grad=True)
    (2.0**c).sum().backward()
    np.testing.assert_allclose(c.grad, [np.log(2)])
    z = Tensor([0.0, 1.0], requires_grad=True)
    (0.0**z).sum().backward()  # d(0**z)/dz = 0**z log 0, taken as 0 (PyTorch)
    np.testing.assert_array_equal(z.grad, [0.0, 0.0])


# ---- grad_outputs that require grad stay in the graph ----


def test_jacobian_vector_product_by_double_vjp():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 2))
    x = Tensor(rng.standard_normal(2), requires_grad=True)
    v = rng.standard_normal(2)
    y = (Tensor(A) @ x).tanh()
    u = Tensor(np.zeros(3), requires_grad=True)  # a dummy cotangent
    (vjp,) = ad.grad(y, x, grad_outputs=u, create_graph=True)  # J^T u, linear in u
    (jvp,) = ad.grad(vjp, u, grad_outputs=v)  # d(J^T u . v)/du = J v
    J = (1 - np.tanh(A @ x.data) ** 2)[:, None] * A
    np.testing.assert_allclose(jvp.data, J @ v, rtol=1e-12)


# ---- abs ----


def test_abs_builtin_is_the_differentiable_abs():
    x = Tensor([-2.0, 0.0, 3.0], requires_grad=True)
    y = abs(x)
    assert y.op == "abs"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])


# ---- Python numbers are attributes of scalar ops ----


def test_python_and_numpy_numbers_build_the_same_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    a, b = x * 2.0, x * np.float64(2.0)
    assert a._prim is b._prim and a._parents == b._parents == (x,)
    assert a._attrs == b._attrs == {"scalar": 2.0} and type(b._attrs["scalar"]) is float
    r = 3 - x
    assert r.op == "sub" and r._attrs == {"scalar": 3, "left": True}
    f32 = Tensor([1.0], dtype=np.float32) * np.float64(2.0)
    assert f32.dtype == np.float32  # a number never changes the tensor's dtype


def test_a_recorded_node_replays_from_its_inputs_and_attributes():
    x = Tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    for out in (x.sum(axis=0, keepdims=True), x.leaky_relu(0.2), x.clip(-1, 1), x[1], x * 3,
                x.transpose(1, 0), 2.0**x, ad.where(x > 0, x, 0.0)):  # fmt: skip
        replay = out._prim.forward(*[p._data for p in out._parents], **out._attrs)
        np.testing.assert_array_equal(replay, out.data)


def test_every_op_lists_its_attributes_in_the_order_its_rules_take_them(monkeypatch):
    # A node keeps the attribute values alone, and the engine hands them to the rules
    # positionally: the dict each op passes to apply must follow `attr_names`.
    from autodiff import ops

    seen, apply = set(), ops.apply

    def checked(prim, inputs, attrs=ops.NO_ATTRS, **kwargs):
        assert tuple(attrs) == prim.attr_names, (prim.name, tuple(attrs), prim.attr_names)
        seen.add(prim)
        out = apply(prim, inputs, attrs, **kwargs)
        assert out.is_leaf or out._attrs == attrs
        return out

    monkeypatch.setattr(ops, "apply", checked)
    x = Tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    outs = [x + 1, x - 1, 1 - x, x * 2, x / 2, 2 / x, x**2, 2**x, ad.where(x > 0, x, 0.0),
            x.leaky_relu(0.2), x.clip(-1, 1), x.astype(np.float32), x.reshape(4),
            x.transpose(1, 0), x.broadcast_to((3, 2, 2)), x.softmax(0), x.log_softmax(1),
            ad.concatenate([x, x]), ad.stack([x, x], axis=1), x[[0, 1, 1]]]  # fmt: skip
    outs += [f(x, axis=0, keepdims=True) for f in (ad.sum, ad.mean, ad.max, ad.min, ad.logsumexp)]
    (gx,) = ad.grad(sum(o.sum() for o in outs), x, create_graph=True)  # scatter_add
    gx.sum().backward()
    with_attrs = {p for p in vars(ops).values() if isinstance(p, ops.Primitive) and p.attr_names}
    assert with_attrs <= seen, sorted(p.name for p in with_attrs - seen)


# ---- in-place operators ----


def test_in_place_operators_under_no_grad_write_the_same_array():
    p = Tensor([1.0, 2.0], requires_grad=True)
    array = np.asarray(p)
    with ad.no_grad():
        p -= 0.5 * np.ones(2)
        p *= 2
        p /= Tensor([2.0, 4.0])
        p += 1
    assert np.shares_memory(np.asarray(p), array) and p.requires_grad and p.is_leaf
    np.testing.assert_array_equal(p.data, [1.5, 1.75])
    assert p._version == 4


def test_in_place_operator_on_a_leaf_requiring_grad_in_grad_mode_points_to_no_grad():
    p = Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"ad\.no_grad\(\)"):
        p -= 1.0
    np.testing.assert_array_equal(p.data, [1.0])


def test_in_place_operator_on_a_non_leaf_records_and_rebinds():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    before = y
    y += x
    assert y is not before and y.op == "add"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_in_place_operator_on_a_constant_writes_in_place():
    c = Tensor([1.0, 2.0])
    same = c
    c *= 3
    assert c is same
    np.testing.assert_array_equal(c.data, [3.0, 6.0])


def test_in_place_operator_refuses_a_live_node_and_a_shape_change():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with ad.no_grad(), pytest.raises(ad.InplaceModificationError):
        y += 1
    c = Tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="in-place add"):
        c += np.ones((3, 2))


# ---- scopes ----


def test_scopes_nest_and_are_per_thread():
    x = Tensor([1.0], requires_grad=True)
    with ad.scope("outer"):
        with ad.scope("inner"):
            y = x * 2
        z = y + 1
    w = z * 3
    assert (y._scope.label, y._scope.parent.label, z._scope.label) == ("inner", "outer", "outer")
    assert w._scope is None and y._scope.parent is z._scope
    seen = []
    with ad.scope("main thread"):
        thread = threading.Thread(target=lambda: seen.append((x * 1)._scope))
        thread.start()
        thread.join()
    assert seen == [None]


def test_scope_label_must_be_text():
    with pytest.raises(TypeError, match="str"):
        ad.scope(3)  # type: ignore[arg-type]


# ---- concurrent passes through a shared intermediate ----


def test_threads_taking_gradients_through_a_shared_intermediate_never_mix():
    x = Tensor(np.linspace(0.1, 1.0, 50), requires_grad=True)
    shared = x.tanh() * 2  # one node, used by both graphs
    results: dict[int, list[np.ndarray]] = {1: [], 3: []}

    def work(k: int) -> None:
        for _ in range(30):
            (g,) = ad.grad((shared**k).sum(), x, retain_graph=True)
            results[k].append(g.data)

    threads = [threading.Thread(target=work, args=(k,)) for k in (1, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_ = np.tanh(x.data)
    expected = {1: 2 * (1 - t_**2), 3: 3 * (2 * t_) ** 2 * 2 * (1 - t_**2)}
    for k in (1, 3):
        for g in results[k]:
            np.testing.assert_allclose(g, expected[k], rtol=1e-12)


# ---- the library-frame registry ----


def test_anomaly_sites_skip_registered_library_frames(tmp_path):
    helper = tmp_path / "mylib" / "helper.py"
    helper.parent.mkdir()
    helper.write_text("def bad(x):\n    return x.log()\n")
    import importlib.util

    spec = importlib.util.spec_from_file_location("mylib_helper", helper)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = Tensor([-1.0], requires_grad=True)
    with ad.detect_anomaly(), pytest.raises(FloatingPointError, match="helper.py"):
        with np.errstate(invalid="ignore"):
            module.bad(x)
    ad.anomaly.register_library(str(helper.parent))
    with ad.detect_anomaly(), pytest.raises(FloatingPointError, match=__file__.split("/")[-1]):
        with np.errstate(invalid="ignore"):
            module.bad(x)
