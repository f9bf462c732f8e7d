"""The Tensor: a numpy array plus the record of the primitive op that made it.

A tensor made by an op while grad mode is on and some input requires grad is a *node*.
It stores the op's primitive (`_prim`: its name, numpy forward and vjp rule, see
`autodiff.ops`), its inputs (`_parents`), the values of the op's per-call facts (axis,
shape, a Python-number operand...: `_attr_values`, read by name as `_attrs`), its inputs'
versions when it was made (`_versions`, see `autodiff.versions`) and the innermost
`ad.scope` it was made in (`_scope`). Every other tensor is a *leaf*. So a recorded
graph can be replayed and drawn. Methods delegate to `autodiff.ops`; the backward pass
is in `autodiff.engine`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff import versions
from autodiff.arguments import to_array

ArrayLike = Any  # a Python number, nested list, numpy array or Tensor
Axis = int | tuple[int, ...] | None
NO_ATTRS: dict[str, Any] = {}  # the attributes of ops without any (apply's default): never mutated


class Tensor:
    """An n-dimensional array that records the operations made on it.

    `Tensor(data, requires_grad=False, *, dtype=None, name=None)`: `data` is a Python
    number, nested list, numpy array or Tensor. Ints and bools become float64; float32
    and float64 arrays keep their dtype; the tensor keeps its own copy of an array.

    >>> x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4.])
    """

    __slots__ = ("_data", "requires_grad", "grad", "name", "_prim", "_parents", "_attr_values",
                 "_versions", "_scope", "_version", "_retain", "__weakref__")  # fmt: skip

    def __init__(
        self, data: ArrayLike, requires_grad: bool = False, *, dtype: Any = None,
        name: str | None = None,
    ) -> None:  # fmt: skip
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Tensor name must be a str, got {type(name).__name__}")
        array = to_array(data, dtype)
        source = data._data if isinstance(data, Tensor) else data
        if isinstance(source, np.ndarray) and np.may_share_memory(array, source):
            array = array.copy()  # the tensor owns its data: no outside alias can change it
        _init(self, array, bool(requires_grad))
        self.name = name

    # ---- storage and properties ----

    @property
    def data(self) -> np.ndarray:
        """The values: a view of the array whose writes bump this tensor's version."""
        return versions.view(self)

    @data.setter
    def data(self, value: ArrayLike) -> None:
        if isinstance(value, versions.DataView) and value._owner is self:
            if value.base is self._data:
                return  # `t.data += x` already wrote (and counted) in place
        versions.bump(self)
        self._data = Tensor(value)._data

    shape = property(lambda self: self._data.shape, doc="The shape, as numpy's.")
    ndim = property(lambda self: self._data.ndim, doc="The number of dimensions.")
    size = property(lambda self: self._data.size, doc="The number of elements.")
    dtype = property(lambda self: self._data.dtype, doc="float32 or float64.")
    T = property(lambda self: ops.transpose(self), doc="Axes reversed (differentiable).")

    @property
    def op(self) -> str:
        """The name of the op that made this tensor ("" for a leaf)."""
        return "" if self._prim is None else self._prim.name

    @property
    def _attrs(self) -> dict[str, Any]:
        """The per-call facts of the op that made this tensor by name, e.g. {"axis": 0}."""
        return {} if self._prim is None else dict(zip(self._prim.attr_names, self._attr_values))

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (inputs, parameters, constants)."""
        return self._prim is None

    # ---- autodiff ----

    def backward(self, grad: ArrayLike = None, *, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad.

        `grad` is the gradient of some scalar with respect to this tensor; it defaults to
        1 for a single-element tensor. Without `retain_graph=True` the graph is released
        afterwards and a second backward through it raises `RuntimeError`.
        """
        engine.backward(self, grad, retain_graph=retain_graph)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (`grad` becomes None)."""
        self.grad = None

    def retain_grad(self) -> None:
        """Ask backward to store this non-leaf tensor's gradient in `.grad` too."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retain = True

    def detach(self) -> Tensor:
        """A leaf sharing this tensor's data (read-only), cut off from the graph."""
        data = self._data.view()
        data.flags.writeable = False
        detached = leaf(data)
        detached.name = self.name
        return detached

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (the same as `.data`)."""
        return self.data

    def item(self) -> float:
        """The value of a single-element tensor as a Python float."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element; shape is {self.shape}")
        return self._data.item()

    # ---- numpy functions on Tensors: the autodiff op (tables in autodiff.numpy_api) ----

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return numpy_api.ufunc(ufunc, method, inputs, kwargs)  # np.exp(t), array + t

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return numpy_api.function(func, types, args, kwargs)  # np.dot(W, t), np.sum(t)

    # ---- Python protocol ----

    def __repr__(self) -> str:
        return tensor_repr(self)  # numpy-like values when small, shape and dtype when large

    def __len__(self) -> int:
        if not self._data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Any:
        if not self._data.ndim:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._data)))

    # fmt: off
    def __bool__(self) -> bool: return bool(self._data)
    def __float__(self) -> float: return float(self._data)
    # fmt: on

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy or (dtype is not None and np.dtype(dtype) != self._data.dtype):
            return self._data.astype(dtype if dtype is not None else self._data.dtype)
        data = self._data.view()
        data.flags.writeable = False  # writes go through `.data`, which counts them
        return data

    __hash__ = object.__hash__

    # Comparisons give boolean numpy arrays; they are not differentiable.
    # fmt: off
    def __eq__(self, other: object) -> np.ndarray: return self._data == _value(other)  # type: ignore[override]
    def __ne__(self, other: object) -> np.ndarray: return self._data != _value(other)  # type: ignore[override]
    def __lt__(self, other: ArrayLike) -> np.ndarray: return self._data < _value(other)
    def __le__(self, other: ArrayLike) -> np.ndarray: return self._data <= _value(other)
    def __gt__(self, other: ArrayLike) -> np.ndarray: return self._data > _value(other)
    def __ge__(self, other: ArrayLike) -> np.ndarray: return self._data >= _value(other)
    # fmt: on

    # ---- differentiable operators and methods (each op's math is in autodiff.ops) ----
    # One line each, so the whole surface reads as a table.
    # fmt: off
    def __add__(self, other: ArrayLike) -> Tensor: return ops.add(self, other)
    def __radd__(self, other: ArrayLike) -> Tensor: return ops.add(other, self)
    def __sub__(self, other: ArrayLike) -> Tensor: return ops.sub(self, other)
    def __rsub__(self, other: ArrayLike) -> Tensor: return ops.sub(other, self)
    def __mul__(self, other: ArrayLike) -> Tensor: return ops.mul(self, other)
    def __rmul__(self, other: ArrayLike) -> Tensor: return ops.mul(other, self)
    def __truediv__(self, other: ArrayLike) -> Tensor: return ops.div(self, other)
    def __rtruediv__(self, other: ArrayLike) -> Tensor: return ops.div(other, self)
    def __pow__(self, other: ArrayLike) -> Tensor: return ops.pow(self, other)
    def __rpow__(self, other: ArrayLike) -> Tensor: return ops.pow(other, self)
    def __matmul__(self, other: ArrayLike) -> Tensor: return ops.matmul(self, other)
    def __rmatmul__(self, other: ArrayLike) -> Tensor: return ops.matmul(other, self)
    def __neg__(self) -> Tensor: return ops.neg(self)
    def __pos__(self) -> Tensor: return self
    def __abs__(self) -> Tensor: return ops.abs(self)
    def __getitem__(self, index: Any) -> Tensor: return ops.getitem(self, index)
    # In place as in PyTorch (see `autodiff.ops.inplace`).
    def __iadd__(self, other: ArrayLike) -> Tensor: return ops.inplace(ops.add, self, other)
    def __isub__(self, other: ArrayLike) -> Tensor: return ops.inplace(ops.sub, self, other)
    def __imul__(self, other: ArrayLike) -> Tensor: return ops.inplace(ops.mul, self, other)
    def __itruediv__(self, other: ArrayLike) -> Tensor: return ops.inplace(ops.div, self, other)
    def exp(self) -> Tensor: return ops.exp(self)
    def log(self) -> Tensor: return ops.log(self)
    def sqrt(self) -> Tensor: return ops.sqrt(self)
    def tanh(self) -> Tensor: return ops.tanh(self)
    def sigmoid(self) -> Tensor: return ops.sigmoid(self)
    def relu(self) -> Tensor: return ops.relu(self)
    def abs(self) -> Tensor: return ops.abs(self)
    def leaky_relu(self, slope: float = 0.01) -> Tensor: return ops.leaky_relu(self, slope)
    def clip(self, lo: float | None, hi: float | None) -> Tensor: return ops.clip(self, lo, hi)
    def astype(self, dtype: Any) -> Tensor: return ops.astype(self, dtype)
    def copy(self) -> Tensor: return ops.copy(self)
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.sum(self, axis, keepdims)
    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.mean(self, axis, keepdims)
    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.max(self, axis, keepdims)
    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.min(self, axis, keepdims)
    def logsumexp(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.logsumexp(self, axis, keepdims)
    def softmax(self, axis: int = -1) -> Tensor: return ops.softmax(self, axis)
    def log_softmax(self, axis: int = -1) -> Tensor: return ops.log_softmax(self, axis)
    def reshape(self, *shape: Any) -> Tensor: return ops.reshape(self, *shape)
    def transpose(self, *axes: Any) -> Tensor: return ops.transpose(self, *axes)
    def broadcast_to(self, shape: Any) -> Tensor: return ops.broadcast_to(self, shape)
    # fmt: on


def _init(t: Tensor, data: np.ndarray, requires_grad: bool) -> None:
    """Set every slot of a new tensor, as a leaf (`ops.apply` then records a node's)."""
    t._data, t.requires_grad, t.grad, t.name, t._prim = data, requires_grad, None, None, None
    t._parents, t._attr_values, t._versions, t._scope = (), (), None, None
    t._version, t._retain = 0, False


def leaf(data: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A leaf around an array that already follows the dtype rules (no checks: internal)."""
    t = object.__new__(Tensor)
    _init(t, data, requires_grad)
    return t


def _value(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def as_tensor(x: ArrayLike, like: Tensor | None = None) -> Tensor:
    """`x` itself if it is a Tensor, else a constant leaf holding a private copy of it.

    Python numbers take `like`'s dtype, and so do bool and int arrays (masks, counts).
    """
    if isinstance(x, Tensor):
        return x
    array = np.asarray(x)
    if like is not None and array.dtype.kind in "biu":
        return leaf(array.astype(like._data.dtype))
    if like is not None and not isinstance(x, np.ndarray) and array.dtype.kind == "f":
        return leaf(array.astype(like._data.dtype, copy=False))  # Python floats, lists
    array = to_array(array)
    return leaf(array.copy() if isinstance(x, np.ndarray) and array is x else array)


from autodiff import engine, numpy_api, ops  # noqa: E402 - they build on Tensor
from autodiff.reprs import tensor_repr  # noqa: E402
