"""Protection of the arrays a live graph still needs for its backward pass.

A backward rule reads the forward values of its op (the inputs, the result). If the user
changes one of them in place before backward (`A.data[A.data > 0] = 1` in a hand-written
relu derivative is the classic), the gradients would be silently wrong. So while a
live graph needs a tensor, `Tensor.data` hands out a read-only view whose writes raise an
error that names the tensor.

- The result of a recorded op is protected from its creation until `backward()` releases
  its node (a consumer of it can only backpropagate through that node anyway). Its own
  array is never handed out meanwhile, so it needs no flag of its own: the op stays cheap.
- A leaf (an input or a parameter) may have been handed out before it was used, so its
  array itself is *pinned* (made read-only) while a live, unreleased op uses it; this is
  checked lazily, through weak references, when its data is asked for. So optimizer
  updates after `backward()` work as usual, and so do they after a graph was dropped.

`Tensor(array)` copies the array, so every way to the data goes through `Tensor.data`.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np


class InplaceModificationError(RuntimeError):
    """Raised on a write to the data of a tensor that a live graph still needs."""


def describe(tensor: Any) -> str:
    """How error messages name a tensor: its name, else its op and shape."""
    if tensor.name:
        return f"tensor {tensor.name!r}"
    what = f"output of {tensor.op}" if tensor.op else "leaf tensor"
    return f"{what} with shape {tensor.shape}"


def _refuse(description: str) -> InplaceModificationError:
    return InplaceModificationError(
        f"in-place write to the data of {description}, which a live graph still needs for "
        "its backward pass; writing would make the gradients wrong. Compute on a copy "
        "(`t.data.copy()`, or `np.where(...)` instead of item assignment), or call "
        "backward() first (or drop the graph, e.g. with `.detach()` / `.item()`)."
    )


class GuardedArray(np.ndarray):
    """A read-only view of a pinned tensor's data whose writes name the tensor.

    Arithmetic on it returns plain numpy arrays; a `.copy()` is writable as usual.
    """

    _description: str

    def __array_finalize__(self, obj: Any) -> None:
        self._description = getattr(obj, "_description", "a tensor")

    def __setitem__(self, index: Any, value: Any) -> None:
        if not self.flags.writeable:
            raise _refuse(self._description)
        super().__setitem__(index, value)

    def _check_writeable(self) -> None:
        if not self.flags.writeable:
            raise _refuse(self._description)

    # In-place methods that would otherwise fail with numpy's anonymous read-only error.
    def fill(self, *args: Any, **kwargs: Any) -> None:
        self._check_writeable()
        super().fill(*args, **kwargs)

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._check_writeable()
        super().sort(*args, **kwargs)

    def partition(self, *args: Any, **kwargs: Any) -> None:
        self._check_writeable()
        super().partition(*args, **kwargs)

    def put(self, *args: Any, **kwargs: Any) -> None:
        self._check_writeable()
        super().put(*args, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _WRITES_FIRST_ARGUMENT and args and isinstance(args[0], GuardedArray):
            args[0]._check_writeable()
        return super().__array_function__(func, types, args, kwargs)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "at" and isinstance(inputs[0], GuardedArray):
            inputs[0]._check_writeable()  # numpy's ufunc.at ignores the read-only flag
        outs = kwargs.get("out")
        if outs:
            for out in outs:
                if isinstance(out, GuardedArray) and not out.flags.writeable:
                    raise _refuse(out._description)
            kwargs["out"] = tuple(
                o.view(np.ndarray) if isinstance(o, GuardedArray) else o for o in outs
            )
        plain = [x.view(np.ndarray) if isinstance(x, GuardedArray) else x for x in inputs]
        return getattr(ufunc, method)(*plain, **kwargs)


_WRITES_FIRST_ARGUMENT = {np.copyto, np.putmask, np.place, np.put, np.put_along_axis}


def guarded_view(tensor: Any) -> np.ndarray:
    """A read-only view of `tensor`'s data whose writes raise an error naming it."""
    view = tensor._data.view(GuardedArray)
    view.setflags(write=False)
    view._description = describe(tensor)
    return view


# `Tensor._pins` of a constant the engine made itself from an operand (a private copy that
# nobody else can reach, so never pinned or watched).
CONSTANT = -1


def thaw(tensor: Any) -> None:
    """Make writable again what pinning made read-only (`Tensor._pins` says it did)."""
    if tensor._pins > 0:
        tensor._pins = 0
        try:
            tensor._data.setflags(write=True)
        except ValueError:
            pass  # a view whose base is still read-only stays read-only


_ref = weakref.ref


def watch_leaf(leaf: Any, consumer: Any) -> None:
    """Record that the op producing `consumer` needs `leaf`'s data for its backward.

    A leaf has no release of its own: it stays read-only while some consumer is alive
    and not yet released. Consumers are held by weak reference, and checked lazily when
    the leaf's data is asked for (`leaf_in_use`), so a graph that is simply dropped
    without backward frees its leaves too.
    """
    users = leaf._users
    if users is None:
        leaf._users = [_ref(consumer)]
    else:
        if len(users) >= 16 and len(users) >= getattr(leaf, "_users_limit", 16):
            users[:] = [u for u in users if _live(u())]
            # The next sweep waits until the list doubles: a leaf feeding a million live
            # ops (one weight in a long chain) costs O(1) per op, not O(live ops).
            leaf._users_limit = max(16, 2 * len(users))
        users.append(_ref(consumer))
    if not leaf._pins and leaf._data.flags.writeable:
        leaf._data.setflags(write=False)
        leaf._pins = 1


def _live(node: Any) -> bool:
    return node is not None and bool(node._parents)  # released nodes drop their parents


def leaf_in_use(leaf: Any) -> bool:
    """True while a live, unreleased op still needs `leaf`'s data; else thaw it."""
    users = leaf._users
    if users:
        # `_live` inlined (this runs for every parameter on every optimizer step), and
        # the list rebuilt only when some user is still live
        for user in users:
            node = user()
            if node is not None and node._parents:  # released nodes drop their parents
                users[:] = [u for u in users if _live(u())]
                return True
        users.clear()
    thaw(leaf)
    return False


def in_use(tensor: Any) -> bool:
    """True while a live graph needs `tensor`'s data (its own node, or a consumer)."""
    if tensor._parents:  # an op result, until backward releases its node
        return True
    return tensor._pins > 0 and leaf_in_use(tensor)
