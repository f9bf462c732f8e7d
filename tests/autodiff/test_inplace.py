"""In-place writes to data a live graph still needs: never silently wrong gradients.

The classic: a hand-written derivative helper that overwrites the cached activations,
`def relu_deriv(z): z[z > 0] = 1; z[z <= 0] = 0; return z`, called on a tensor's `.data`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import autodiff as ad
from autodiff import Tensor


def relu_deriv(z: np.ndarray) -> np.ndarray:
    z[z > 0] = 1
    z[z <= 0] = 0
    return z


def _layer() -> tuple[Tensor, Tensor, Tensor]:
    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W")
    x = Tensor(rng.standard_normal((4, 2)))
    Z = x @ W.T
    return W, Z, Z.tanh().sum()


def _raises_at_write_or_backward(write: Callable[[], object], loss: Tensor, label: str) -> str:
    """Run `write`; if it did not raise, backward must. Returns the error message."""
    with pytest.raises(RuntimeError) as info:
        write()
        loss.backward()
    message = str(info.value)
    assert label in message, message
    return message


def test_relu_deriv_on_cached_activations_raises_naming_the_tensor():
    W, Z, loss = _layer()
    Z.name = "Z1"
    message = _raises_at_write_or_backward(lambda: relu_deriv(Z.data), loss, "'Z1'")
    assert "in-place" in message
    assert isinstance(_error_of(lambda: relu_deriv(Z.data)), ad.InplaceModificationError)


def _error_of(fn: Callable[[], object]) -> BaseException | None:
    try:
        fn()
    except BaseException as error:  # noqa: BLE001 - returned to the caller
        return error
    return None


def test_arrays_from_numpy_conversions_are_protected_too():
    W, Z, loss = _layer()
    for convert in (np.asarray, np.array, Tensor.numpy):
        before = Z.data.copy()
        with pytest.raises((ValueError, RuntimeError)):
            relu_deriv(convert(Z) if convert is not np.array else np.array(Z, copy=False))
        np.testing.assert_array_equal(Z.data, before)
    copied = np.array(Z)  # an explicit copy is the user's own
    copied[...] = 0
    loss.backward()
    assert np.any(Z.data != 0)
    assert not np.asarray(Z).flags.writeable  # numpy's view is read-only: writes go via .data
    Z.data[...] = 1  # the graph is released: writes are allowed again


def test_unnamed_tensor_is_named_by_op_and_shape():
    W, Z, loss = _layer()
    _raises_at_write_or_backward(lambda: Z.data.fill(0.0), loss, "matmul with shape (4, 3)")


@pytest.mark.parametrize(
    "write",
    [
        lambda d: d.__setitem__((0, 0), 5.0),
        lambda d: d.__setitem__(Ellipsis, 0.0),
        lambda d: np.multiply(d, 2.0, out=d),
        lambda d: np.add.at(d, (0, 0), 1.0),
        lambda d: d.__imul__(2.0),
        lambda d: d.sort(axis=0),
        lambda d: d.fill(1.0),
        lambda d: d.put([0], [3.0]),
        lambda d: np.copyto(d, 0.0),
        lambda d: np.putmask(d, d > 0, 0.0),
        lambda d: np.place(d, d > 0, [0.0]),
        lambda d: d[0].__setitem__(0, 9.0),
        lambda d: d.T.__setitem__((0, 0), 9.0),
        lambda d: d.reshape(-1).__setitem__(0, 9.0),
    ],
    ids=[
        "item",
        "ellipsis",
        "ufunc-out",
        "ufunc-at",
        "imul",
        "sort",
        "fill",
        "put",
        "copyto",
        "putmask",
        "place",
        "row-view",
        "transposed-view",
        "reshaped-view",
    ],  # fmt: skip
)
def test_every_kind_of_in_place_write_is_caught(write):
    W, Z, loss = _layer()
    _raises_at_write_or_backward(lambda: write(Z.data), loss, "shape (4, 3)")
    _raises_at_write_or_backward(lambda: write(W.data), loss, "'W'")


def test_augmented_assignment_on_data_attribute_is_caught():
    W, Z, loss = _layer()

    def scale() -> None:
        W.data *= 0.5

    _raises_at_write_or_backward(scale, loss, "'W'")


def test_replacing_data_of_a_needed_tensor_is_caught():
    W, Z, loss = _layer()

    def replace() -> None:
        W.data = np.zeros((3, 2))

    _raises_at_write_or_backward(replace, loss, "'W'")


def test_write_through_the_original_array_is_caught_or_harmless():
    data = np.array([1.0, 2.0])
    x = Tensor(data, requires_grad=True)
    loss = (x * x).sum()
    try:
        data[0] = 10.0
        loss.backward()
    except (RuntimeError, ValueError):
        return  # refused: fine
    # Not refused: then the tensor kept its own copy and the gradient is the right one.
    np.testing.assert_array_equal(x.grad, 2 * x.data)
    assert loss.item() == (x.data**2).sum()


def test_a_copy_of_data_is_free_to_change():
    W, Z, loss = _layer()
    expected_before = Z.data.copy()
    dZ = relu_deriv(Z.data.copy())  # the fix the error message suggests
    assert set(np.unique(dZ)) <= {0.0, 1.0}
    np.testing.assert_array_equal(Z.data, expected_before)
    loss.backward()
    assert W.grad is not None


def test_data_reads_behave_like_arrays():
    W, Z, loss = _layer()
    d = Z.data
    np.testing.assert_allclose(d * 2, Z.data * 2)
    assert type(d + 1) is not type(None) and float((d * 0).sum()) == 0.0
    assert np.tanh(d).shape == (4, 3)


def test_parameter_updates_after_backward_keep_working():
    rng = np.random.default_rng(1)
    W = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W")
    b = Tensor(np.zeros(3), requires_grad=True, name="b")
    x = rng.standard_normal((5, 2))
    losses = []
    for _ in range(20):
        loss = (ad.linear(x, W, b).tanh() ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        W.data -= 0.5 * W.grad  # the optimizer step, in place
        b.data[...] -= 0.5 * b.grad
        W.zero_grad()
        b.zero_grad()
    assert losses[-1] < losses[0]


def test_writes_allowed_once_the_graph_is_dropped_without_backward():
    W, Z, loss = _layer()
    del Z, loss
    W.data[0, 0] = 1.0  # nothing needs W any more
    assert W.data[0, 0] == 1.0


def test_retained_graph_raises_after_its_input_changed():
    W, Z, loss = _layer()
    loss.backward(retain_graph=True)
    g_first = W.grad.copy()
    W.zero_grad()
    loss.backward(retain_graph=True)  # nothing changed: the same gradients again
    np.testing.assert_array_equal(W.grad, g_first)
    W.data[0, 0] = 1.0  # an update while the retained graph is alive succeeds...
    assert W.data[0, 0] == 1.0
    with pytest.raises(ad.InplaceModificationError, match="'W'"):
        loss.backward()  # ...and the stale graph refuses to give wrong gradients


def test_gradients_are_right_after_a_refused_backward():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True, name="x")
    loss = (x.relu() * x.relu()).sum()
    x.data[x.data < 0] = 7.0
    with pytest.raises(ad.InplaceModificationError, match="'x'"):
        loss.backward()
    assert x.grad is None  # nothing was accumulated
    (x.relu() * x.relu()).sum().backward()  # a fresh forward sees the new values
    np.testing.assert_array_equal(x.grad, [2.0, 14.0, 6.0])


def test_leaf_writes_bump_its_version_and_reads_do_not():
    x = Tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        x.data.sum()  # reading costs nothing and changes nothing
    assert x._version == 0
    x.data[0] = 5.0
    x.data *= 2
    x.data = np.zeros(2)
    assert x._version == 3


def test_optimizer_style_update_under_a_stale_graph_then_fresh_graph_works():
    W, Z, stale = _layer()
    with ad.no_grad():
        W -= 0.1  # an update while an evaluation graph is still alive
    with pytest.raises(ad.InplaceModificationError, match="'W'"):
        stale.backward()
    _, _, fresh = _layer()
    fresh.backward()


def test_write_through_a_view_taken_before_the_graph_is_caught_under_detect_anomaly():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    raw = np.asarray(x.data)  # a plain numpy view: outside the version counter
    raw.flags.writeable = True
    with ad.detect_anomaly():
        loss = (x * x).sum()
        raw[0] = 10.0
        with pytest.raises(ad.InplaceModificationError, match="'x'"):
            loss.backward()
    loss = (x * x).sum()
    raw[0] = 1.0
    loss.backward()  # without detect_anomaly such a write slips through: documented


@pytest.mark.parametrize(
    "view", [lambda W: W[0], lambda W: W.reshape(6), lambda W: W.T, lambda W: W[:, 1:]]
)
def test_writing_into_a_view_result_never_changes_its_input(view):
    W = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True, name="W")
    v = view(W)
    (v * 2).sum().backward()
    with pytest.raises(ValueError):  # the view is read-only, even after backward
        v.data[...] = 0
    np.testing.assert_array_equal(W.data, np.arange(6.0).reshape(3, 2))
    W.data -= 1.0  # the parameter itself stays updatable
    np.testing.assert_array_equal(W.data, np.arange(6.0).reshape(3, 2) - 1)
