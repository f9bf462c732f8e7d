"""The Tensor: a numpy array plus the record of the operation that made it.

A tensor made by an op while grad mode is on and some input requires grad is a *node*:
it keeps its inputs (`_parents`) and a vector-Jacobian product (`_vjp`) that maps the
gradient of its result to gradients of its inputs. Everything else is a *leaf*. The
differentiable operators and methods are the functions of `autodiff.ops`, where every
op's forward and backward rule live side by side; the backward pass is in
`autodiff.engine`, and `apply` below is how an op records itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from autodiff import inplace
from autodiff import trace as _trace
from autodiff.inplace import CONSTANT, guarded_view, in_use, watch_leaf
from autodiff.mode import ANOMALY, GRAD, MODE

ArrayLike = Any  # a Python number, nested list, numpy array or Tensor


def _released_vjp(*args: Any) -> Any:  # placeholder left behind by backward()
    raise AssertionError("unreachable: the engine checks for a released graph first")


def to_array(data: ArrayLike, dtype: Any = None) -> np.ndarray:
    """`data` as a float32 or float64 array, following the contract's dtype rules."""
    if isinstance(data, Tensor):
        data = data._data
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Tensor dtype must be a floating type such as float32; got {dtype}")
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype.type is not np.float64 and array.dtype.type is not np.float32:
            array = array.astype(np.float64)
        return array
    if kind in "biu":
        return array.astype(np.float64)
    raise TypeError(
        f"Tensor data must be real numbers (bool, int or float); got dtype {array.dtype}"
        + (" (complex numbers are not supported)" if kind == "c" else "")
    )


class Tensor:
    """An n-dimensional array that records the operations made on it.

    `Tensor(data, requires_grad=False, *, dtype=None, name=None)`: `data` is a Python
    number, nested list, numpy array or Tensor. Ints and bools become float64; float32
    and float64 arrays keep their dtype; the tensor keeps its own copy of an array. A
    Python number gives a 0-d tensor, so micrograd-style scalar graphs work as well.

    >>> x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4.])
    """

    # The attributes every tensor sets are slots; the rarely set ones are class defaults
    # that an instance overrides in its lazily created __dict__, so making a tensor is cheap.
    __slots__ = (
        "_data",
        "requires_grad",
        "op",
        "_parents",
        "_vjp",
        "_pins",
        "_meta",
        "_seq",
        "_grad_sum",
        "__dict__",
        "__weakref__",
    )
    grad: np.ndarray | None = None
    name: str | None = None
    _retain = False  # set by retain_grad()
    _users: list[Any] | None = None  # weak references to the live ops using a leaf
    __array_ufunc__ = None  # numpy defers to our reflected operators: array + tensor works

    def __init__(
        self,
        data: ArrayLike,
        requires_grad: bool = False,
        *,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        array = to_array(data, dtype)
        source = data._data if isinstance(data, Tensor) else data
        if isinstance(source, np.ndarray) and np.may_share_memory(array, source):
            array = array.copy()  # the tensor owns its data: no outside alias can change it
        self._data = array
        self.requires_grad = bool(requires_grad)
        self.op = ""
        self._parents: tuple[Tensor, ...] = ()
        self._vjp: Callable[..., Any] | None = None
        self._pins = 0  # 1 while a leaf's array is pinned read-only; see autodiff.inplace
        self._meta: dict[str, Any] | None = None  # the op's arguments worth drawing
        if name is not None:
            self.name = name

    # ---- storage and properties ----

    @property
    def data(self) -> np.ndarray:
        """The values as a numpy array (read-only while a live graph needs them)."""
        if type(self._data) is not np.ndarray:
            _own_array(self)
        if _trace.STATE.recorder is not None:  # ad.compile is recording
            _trace.read(self, "data")
        return guarded_view(self) if in_use(self) else self._data

    @data.setter
    def data(self, value: ArrayLike) -> None:
        if in_use(self):
            if value is self._data or (
                isinstance(value, inplace.GuardedArray) and value.base is self._data
            ):
                return  # `t.data += x` on a pinned tensor already raised; this is a no-op
            raise inplace._refuse(inplace.describe(self))
        self._data = to_array(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def T(self) -> Tensor:
        """The tensor with its axes reversed (differentiable)."""
        return ops.transpose(self)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (inputs, parameters, constants)."""
        return not self.op

    # ---- autodiff ----

    def backward(self, grad: ArrayLike = None, *, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad.

        `grad` is the gradient of some scalar with respect to this tensor; it defaults to
        1 for a single-element tensor. Without `retain_graph=True` the graph is released
        afterwards and a second backward through it raises `RuntimeError`.
        """
        if _trace.STATE.recorder is not None:  # ad.compile is recording
            _trace.backward(self, grad)
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
        """A leaf sharing this tensor's data, cut off from the graph.

        While a live graph still needs the data, the detached leaf sees it read-only.
        """
        data = self._data if type(self._data) is np.ndarray else _own_array(self)
        if in_use(self):
            data = data.view()
            data.setflags(write=False)
        detached = leaf(data)
        if self.name is not None:
            detached.name = self.name
        return detached

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (the same as `.data`)."""
        return self.data

    def item(self) -> float:
        """The value of a single-element tensor as a Python float."""
        if self._data.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element; this one has shape {self.shape}"
            )
        if _trace.STATE.recorder is not None and (traced := _trace.read(self, "item")) is not None:
            return traced
        return self._data.item()

    def astype(self, dtype: Any) -> Tensor:
        """The tensor converted to a floating `dtype` (differentiable)."""
        return ops.astype(self, dtype)

    # ---- Python protocol ----

    def __repr__(self) -> str:
        if self._data.size <= 12:
            body = np.array2string(self._data, separator=", ", precision=4)
            body = " ".join(body.split())  # one line, also for 2-D values
        else:  # a summary, never a wall of numbers
            body = f"shape={self.shape}"
        extras = []
        if self.name:
            extras.append(f"name={self.name!r}")
        if self.op:
            extras.append(f"op={self.op!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self._data.dtype != np.float64:
            extras.append(f"dtype={self._data.dtype}")
        return f"Tensor({body}{''.join(', ' + e for e in extras)})"

    def __len__(self) -> int:
        if not self._data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __bool__(self) -> bool:
        if _trace.STATE.recorder is not None:  # ad.compile is recording
            _trace.read(self, "bool")
        return bool(self._data)

    def __float__(self) -> float:
        if _trace.STATE.recorder is not None and (traced := _trace.read(self, "float")) is not None:
            return traced
        return float(self._data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self.data  # read-only while a live graph needs it, as `.data` is
        if dtype is not None and np.dtype(dtype) != data.dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    __hash__ = object.__hash__

    # Comparisons give boolean numpy arrays; they are not differentiable.
    def __eq__(self, other: object) -> np.ndarray:  # type: ignore[override]
        return self._data == _value(other)

    def __ne__(self, other: object) -> np.ndarray:  # type: ignore[override]
        return self._data != _value(other)

    def __lt__(self, other: ArrayLike) -> np.ndarray:
        return self._data < _value(other)

    def __le__(self, other: ArrayLike) -> np.ndarray:
        return self._data <= _value(other)

    def __gt__(self, other: ArrayLike) -> np.ndarray:
        return self._data > _value(other)

    def __ge__(self, other: ArrayLike) -> np.ndarray:
        return self._data >= _value(other)

    # ---- differentiable operators and methods (rules in autodiff.ops) ----
    # `+ * - / ** @`, unary `-`, indexing and the math methods (exp ... logsumexp) are
    # the functions of autodiff.ops themselves, bound at the end of this module.

    def __rsub__(self, other: ArrayLike) -> Tensor:
        return ops.sub(other, self)

    def __rtruediv__(self, other: ArrayLike) -> Tensor:
        return ops.div(other, self)

    def __rpow__(self, other: ArrayLike) -> Tensor:
        return ops.pow(other, self)

    def __rmatmul__(self, other: ArrayLike) -> Tensor:
        return ops.matmul(other, self)

    def __pos__(self) -> Tensor:
        return self


def _own_array(t: Tensor) -> np.ndarray:
    """Give `t` a 0-d array in place of the numpy scalar a recorded op left (see `apply`)."""
    t._data = np.asarray(t._data)
    return t._data


def _value(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def as_tensor(x: ArrayLike, like: Tensor | None = None) -> Tensor:
    """`x` itself if it is a Tensor, else a constant leaf holding a private copy of it.

    Python numbers take `like`'s dtype, and so do bool and int arrays (masks, counts).
    No one else can write to the copy, so the in-place guard never needs to watch it.
    """
    if isinstance(x, Tensor):
        return x
    if type(x) is np.ndarray and (x.dtype.type is np.float64 or x.dtype.type is np.float32):
        t = leaf(x.copy())  # the common case: a float batch, copied once
        t._pins = CONSTANT
        return t
    if like is not None and isinstance(x, (int, float)):
        array = np.asarray(x, dtype=like._data.dtype)
    else:
        array = np.asarray(x)
        if like is not None and array.dtype.kind in "biu":
            array = array.astype(like._data.dtype)
        else:
            array = to_array(array)
        if isinstance(x, np.ndarray) and np.may_share_memory(array, x):
            array = array.copy()
    t = leaf(array)
    t._pins = CONSTANT
    return t


_new = object.__new__


def leaf(data: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A leaf around an array that already follows the dtype rules (no checks: internal)."""
    t = _new(Tensor)
    t._data = data
    t.requires_grad = requires_grad
    t.op = ""
    t._parents = ()
    t._vjp = None
    t._pins = 0
    t._meta = None
    return t


# numpy hands back the result of arithmetic on 0-d arrays as a scalar (np.float64), whose
# arithmetic is several times cheaper than a 0-d array's. A recorded op keeps it as is, so
# scalar graphs (micrograd style, a million-op chain) stay cheap; `Tensor.data` and every
# leaf see a 0-d array.
_F64, _F32 = np.float64, np.float32
# Every recorded op gets the next number: an op's inputs always have smaller ones, so
# the backward pass can visit nodes in decreasing number without sorting the graph.
_next_seq = itertools.count().__next__


def apply(
    op: str,
    data: Any,
    parents: tuple[Tensor, ...],
    vjp: Callable[..., Any],
    meta: dict[str, Any] | None = None,
) -> Tensor:
    """Wrap the forward result `data` of `op`, recording the op when a gradient is wanted.

    `vjp(g, out, *inputs)` receives the gradient `g` of the result, the result `out` and the
    op's inputs, and returns one gradient per input (None where there is none). Under a
    first-order backward they are numpy arrays; under `create_graph=True` they are Tensors,
    so the same formula builds a differentiable graph. `meta` holds the op's arguments
    worth showing in a drawing (axis, exponent, slope).
    """
    kind = type(data)
    if kind is not np.ndarray and kind is not _F64 and kind is not _F32:
        data = np.asarray(data)
    out = _new(Tensor)
    out._data = data
    mode = MODE.get()
    if mode & GRAD:
        for p in parents:
            if p.requires_grad:
                out.requires_grad = True
                out.op = op
                out._parents = parents
                out._vjp = vjp
                out._meta = meta
                out._seq = _next_seq()
                out._grad_sum = None  # the backward pass sums the node's gradient here
                for q in parents:
                    if q._vjp is None and q._pins != CONSTANT:
                        watch_leaf(q, out)
                out._pins = 0
                if mode & ANOMALY:
                    engine.note_creation(out, op)
                if _trace.STATE.recorder is not None:  # ad.compile is recording
                    _trace.op(op, parents, meta, out)
                return out
    if type(data) is not np.ndarray:
        out._data = np.asarray(data)  # a leaf always holds an array
    out.requires_grad = False
    out.op = ""
    out._parents = ()
    out._vjp = None
    out._pins = 0
    out._meta = None
    if mode & ANOMALY:
        engine.note_creation(out, op)
    if _trace.STATE.recorder is not None:  # ad.compile is recording
        _trace.op(op, parents, meta, out)
    return out


from autodiff import engine, ops  # noqa: E402  (circular: ops and engine use Tensor)

# Operators and methods are the op functions themselves: one Python call fewer per op.
# (`a + b` and `b + a`, `a * b` and `b * a` give the same numbers, so the reflected forms
# of add and mul reuse them; the other reflected operators above swap their operands.)
Tensor.__add__ = Tensor.__radd__ = ops.add  # type: ignore[assignment]
Tensor.__mul__ = Tensor.__rmul__ = ops.mul  # type: ignore[assignment]
Tensor.__sub__ = ops.sub  # type: ignore[assignment]
Tensor.__truediv__ = ops.div  # type: ignore[assignment]
Tensor.__pow__ = ops.pow  # type: ignore[assignment]
Tensor.__matmul__ = ops.matmul  # type: ignore[assignment]
Tensor.__neg__ = ops.neg  # type: ignore[assignment]
Tensor.__getitem__ = ops.getitem  # type: ignore[assignment]
Tensor.exp = ops.exp  # type: ignore[attr-defined]
Tensor.log = ops.log  # type: ignore[attr-defined]
Tensor.sqrt = ops.sqrt  # type: ignore[attr-defined]
Tensor.tanh = ops.tanh  # type: ignore[attr-defined]
Tensor.sigmoid = ops.sigmoid  # type: ignore[attr-defined]
Tensor.relu = ops.relu  # type: ignore[attr-defined]
Tensor.abs = ops.abs  # type: ignore[attr-defined]
Tensor.leaky_relu = ops.leaky_relu  # type: ignore[attr-defined]
Tensor.clip = ops.clip  # type: ignore[attr-defined]
Tensor.sum = ops.sum  # type: ignore[attr-defined]
Tensor.mean = ops.mean  # type: ignore[attr-defined]
Tensor.max = ops.max  # type: ignore[attr-defined]
Tensor.min = ops.min  # type: ignore[attr-defined]
Tensor.reshape = ops.reshape  # type: ignore[attr-defined]
Tensor.transpose = ops.transpose  # type: ignore[attr-defined]
Tensor.broadcast_to = ops.broadcast_to  # type: ignore[attr-defined]
Tensor.softmax = ops.softmax  # type: ignore[attr-defined]
Tensor.log_softmax = ops.log_softmax  # type: ignore[attr-defined]
Tensor.logsumexp = ops.logsumexp  # type: ignore[attr-defined]
