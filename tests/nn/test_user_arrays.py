"""A user's numpy arrays are never left read-only or modified, and parameters can be
updated in place whenever no live graph needs them.

Operands that are not Tensors become private copies (`as_tensor`), so the user's `X`,
`y`, masks, labels and index arrays stay writable and unchanged: after backward, after a
graph is dropped, and even while a graph is alive (writing to them then does not change
the gradients). Parameters can always be updated in place (`p.data -= ...`, an
optimizer step); a backward through a graph that used the old values then raises
`InplaceModificationError` naming the parameter by its path in the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autodiff as ad
import nn
from autodiff import InplaceModificationError, Tensor

# ---- the user's arrays ----


def user_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "X": rng.standard_normal((4, 3)),
        "X32": rng.standard_normal((4, 3)).astype(np.float32),
        "y": np.array([0.0, 1.0, 1.0, 0.0]),
        "Y": rng.uniform(0.1, 0.9, (4, 3)),
        "labels": np.array([2, 0, 1, 2]),
        "mask": np.array([True, False, True]),
        "idx": np.array([3, 0, 0, 2, 1]),
    }


def scribble(arrays: dict[str, np.ndarray]) -> None:
    """Overwrite every array in place with other valid values."""
    for key, a in arrays.items():
        if a.dtype == bool:
            a[...] = ~a
        elif key == "labels":
            a[...] = (a + 1) % 3
        elif key == "idx":
            a[...] = (a + 2) % 5
        elif key in ("y", "Y"):
            a[...] = 1 - a
        else:
            a[...] = -3 * a + 1


def assert_writable_and_equal(arrays: dict[str, np.ndarray], copies: dict[str, np.ndarray]):
    for key, a in arrays.items():
        assert a.flags.writeable, f"{key} was left read-only"
        a.flat[0] = a.flat[0]  # really writable, not just flagged so
        np.testing.assert_array_equal(a, copies[key], err_msg=f"{key} was modified")


def _params(seed: int = 1) -> dict[str, Tensor]:
    rng = np.random.default_rng(seed)
    return {
        "W": Tensor(rng.standard_normal((4, 3)), requires_grad=True, name="W"),
        "V": Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="V"),
        "L": Tensor(rng.standard_normal((5, 3)), requires_grad=True, name="L"),
        "w": Tensor(rng.standard_normal(3), requires_grad=True, name="w"),
        "b": Tensor(rng.standard_normal(5), requires_grad=True, name="b"),
        "Z": Tensor(rng.standard_normal((4, 3)), requires_grad=True, name="Z"),
    }


# Each builds a scalar from parameters P and user arrays U, so that its gradient depends
# on the arrays' values (a graph that kept a reference to them would see a scribble).
Builder = Callable[[dict[str, Tensor], dict[str, np.ndarray]], Tensor]
BUILDERS: dict[str, Builder] = {
    "tensor * X": lambda P, U: (P["W"] * U["X"]).sum(),
    "X * tensor": lambda P, U: (U["X"] * P["W"]).sum(),
    "X - tensor, squared": lambda P, U: ((U["X"] - P["W"]) ** 2).sum(),
    "X / tensor": lambda P, U: (U["X"] / (P["W"] ** 2 + 1)).sum(),
    "tensor + float32 X": lambda P, U: ((P["W"] + U["X32"]) ** 2).sum(),
    "X @ tensor": lambda P, U: ((U["X"] @ P["V"]) ** 2).sum(),
    "where(mask, tensor, X)": lambda P, U: (ad.where(U["mask"], P["W"], U["X"]) ** 2).sum(),
    "where(mask, X, tensor)": lambda P, U: (ad.where(U["mask"], U["X"], P["w"]) ** 2).sum(),
    "maximum(tensor, X)": lambda P, U: ad.maximum(P["W"], U["X"]).sum(),
    "concatenate": lambda P, U: (ad.concatenate([P["W"], U["X"]]) ** 2).sum(),
    "linear(X, W, b)": lambda P, U: (ad.linear(U["X"], P["L"], P["b"]) ** 2).sum(),
    "tensor[idx]": lambda P, U: (P["L"][U["idx"]] * np.arange(15.0).reshape(5, 3)).sum(),
    "bce(p, y)": lambda P, U: nn.binary_cross_entropy(P["Z"].sigmoid(), U["Y"]),
    "bce_with_logits(z, y)": lambda P, U: nn.binary_cross_entropy_with_logits(P["Z"], U["Y"]),
    "cross_entropy(z, labels)": lambda P, U: nn.cross_entropy(P["Z"], U["labels"]),
    "nn.binary_cross_entropy": lambda P, U: nn.binary_cross_entropy(
        P["Z"][:, :1].sigmoid(), U["y"]
    ),
    "nn.cross_entropy": lambda P, U: nn.cross_entropy(P["Z"], U["labels"]),
    "nn.mse_loss": lambda P, U: nn.mse_loss(P["Z"], U["X"]),
}


def _gradients(build: Builder, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    P = _params()
    build(P, arrays).backward()
    return {k: p.grad for k, p in P.items() if p.grad is not None}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_raw_ops_leave_user_arrays_writable_and_unchanged_after_backward(name: str):
    U = user_arrays()
    copies = {k: a.copy() for k, a in U.items()}
    expected = _gradients(BUILDERS[name], copies)
    assert expected  # every builder reaches some parameter
    assert _gradients(BUILDERS[name], U).keys() == expected.keys()
    assert_writable_and_equal(U, copies)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_raw_ops_leave_user_arrays_writable_and_unchanged_when_the_graph_is_dropped(name: str):
    U = user_arrays()
    copies = {k: a.copy() for k, a in U.items()}
    P = _params()
    loss = BUILDERS[name](P, U)
    assert loss.requires_grad
    assert_writable_and_equal(U, copies)  # writable while the graph is alive, too
    del loss
    assert_writable_and_equal(U, copies)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_writing_to_user_arrays_under_a_live_graph_does_not_change_its_gradients(name: str):
    U = user_arrays()
    expected = _gradients(BUILDERS[name], {k: a.copy() for k, a in U.items()})
    P = _params()
    loss = BUILDERS[name](P, U)
    scribble(U)  # the graph must have kept its own copies
    loss.backward()
    for key, g in expected.items():
        np.testing.assert_allclose(P[key].grad, g, rtol=1e-12, err_msg=f"{name}: {key}")


# ---- nn: fit, and a model call ----


def _data(loss: str, dtype: Any) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2)).astype(dtype)
    if loss == "cross_entropy":
        return X, rng.integers(0, 3, 10), 3
    if loss == "mse":
        return X, rng.standard_normal((10, 1)).astype(dtype), 1
    return X, (X[:, 0] > 0).astype(dtype), 1


@pytest.mark.parametrize("batch_size", [None, 4])
@pytest.mark.parametrize("loss", ["bce", "bce_with_logits", "cross_entropy", "mse"])
@pytest.mark.parametrize(
    "data_dtype, model_dtype",
    [(np.float64, np.float64), (np.float32, np.float32), (np.float64, np.float32)],
)
def test_fit_leaves_X_and_y_writable_and_unchanged(loss, batch_size, data_dtype, model_dtype):
    X, y, outputs = _data(loss, data_dtype)
    copies = {"X": X.copy(), "y": y.copy()}
    output = "sigmoid" if loss == "bce" else None
    model = nn.MLP([2, 4, outputs], activation="tanh", output=output, seed=0, dtype=model_dtype)
    before = model.state_dict()
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    nn.fit(model, X, y, loss=loss, optimizer=optimizer, epochs=2, batch_size=batch_size,
           progress=False, seed=0)  # fmt: skip
    assert_writable_and_equal({"X": X, "y": y}, copies)
    assert any(not np.array_equal(before[k], v) for k, v in model.state_dict().items())


def _model() -> nn.MLP:
    return nn.MLP([3, 5, 1], activation="tanh", output="sigmoid", seed=0)


def _model_grads(X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    model = _model()
    nn.binary_cross_entropy(model(X), y).backward()
    return {k: p.grad for k, p in model.named_parameters()}


def test_model_call_and_backward_leave_X_and_y_writable_and_unchanged():
    U = user_arrays()
    X, y = U["X"], U["y"]
    copies = {"X": X.copy(), "y": y.copy()}
    model = _model()
    loss = nn.binary_cross_entropy(model(X), y)
    assert_writable_and_equal({"X": X, "y": y}, copies)  # while the graph is alive
    loss.backward()
    assert_writable_and_equal({"X": X, "y": y}, copies)


def test_model_call_with_a_dropped_graph_leaves_X_and_y_writable_and_unchanged():
    U = user_arrays()
    X, y = U["X"], U["y"]
    copies = {"X": X.copy(), "y": y.copy()}
    model = _model()
    out = model(X)
    loss = nn.binary_cross_entropy(out, y)
    del out, loss
    assert_writable_and_equal({"X": X, "y": y}, copies)


def test_writing_to_X_and_y_under_a_live_model_graph_does_not_change_the_gradients():
    U = user_arrays()
    X, y = U["X"], U["y"]
    expected = _model_grads(X.copy(), y.copy())
    model = _model()
    loss = nn.binary_cross_entropy(model(X), y)
    scribble({"X": X, "y": y})
    loss.backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, expected[name], rtol=1e-12, err_msg=name)


# ---- parameters: in-place updates when no live graph needs them ----


def test_parameter_update_in_place_after_backward():
    U = user_arrays()
    model = _model()
    nn.binary_cross_entropy(model(U["X"]), U["y"]).backward()
    for _, p in model.named_parameters():
        expected = p.data - 0.1 * p.grad
        p.data -= 0.1 * p.grad
        np.testing.assert_allclose(p.data, expected)
        assert p.data.flags.writeable


def test_parameter_update_in_place_after_a_dropped_graph():
    U = user_arrays()
    model = _model()
    out = model(U["X"])
    loss = nn.binary_cross_entropy(out, U["y"])
    del out, loss  # no backward: the graph is simply dropped
    W = model.layers[0].W
    before = W.data.copy()
    W.data -= 0.5
    np.testing.assert_allclose(W.data, before - 0.5)
    W.data[0, 0] = 7.0
    assert W.data[0, 0] == 7.0


@pytest.mark.parametrize(
    "write",
    [
        lambda p: p.data.__isub__(0.1),
        lambda p: p.data.__setitem__((0, 0), 7.0),
        lambda p: p.data.fill(0.0),
        lambda p: np.copyto(p.data, 0.0),
        lambda p: np.subtract(p.data, 0.1, out=p.data),
    ],
    ids=["-=", "setitem", "fill", "copyto", "ufunc out"],
)
def test_parameter_update_under_a_live_graph_raises_at_backward_naming_it(
    write: Callable[[Tensor], Any],
):
    U = user_arrays()
    expected = _model_grads(U["X"], U["y"])
    model = _model()
    loss = nn.binary_cross_entropy(model(U["X"]), U["y"])
    W = model.layers[0].W
    before = W.data.copy()
    write(W)  # the update succeeds, as in PyTorch
    assert not np.array_equal(W.data, before)
    with pytest.raises(InplaceModificationError, match=r"'layers\.0\.W'"):
        loss.backward()  # the stale graph would give wrong gradients
    W.data = before  # restored: a fresh forward gives the right gradients
    nn.binary_cross_entropy(model(U["X"]), U["y"]).backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, expected[name], rtol=1e-12, err_msg=name)


def test_optimizer_step_under_a_live_graph_makes_that_graph_raise_naming_the_parameter():
    U = user_arrays()
    model = _model()
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    nn.binary_cross_entropy(model(U["X"]), U["y"]).backward()
    loss = nn.binary_cross_entropy(model(U["X"]), U["y"])  # a second forward, still alive
    before = model.layers[0].W.data.copy()
    optimizer.step()  # the update goes through
    assert not np.array_equal(model.layers[0].W.data, before)
    with pytest.raises(InplaceModificationError, match=r"'layers\.\d\.[Wb]'"):
        loss.backward()  # the last layer's parameters are met first
