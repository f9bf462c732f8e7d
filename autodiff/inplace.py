"""Protection of the arrays a live graph still needs for its backward pass.

A backward rule reads the forward values of its op (the inputs, the result). If the user
changes one of them in place before backward (`A.data[A.data > 0] = 1` in a hand-written
relu derivative is the classic), the gradients would be silently wrong. So while any
recorded op still needs a tensor, its array is *pinned*: made read-only, and `Tensor.data`
hands out a guarded view whose writes raise an error that names the tensor. When the last
op that needs it is released (by `backward()` or when the graph is garbage collected) the
array becomes writable again, so optimizer updates after `backward()` work as usual.
"""

from __future__ import annotations

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
    view = tensor._data.view(GuardedArray)
    view._description = describe(tensor)
    return view


def pin(tensor: Any) -> None:
    """One more live op needs `tensor`'s data."""
    if tensor._pins == 0:
        flags = tensor._data.flags
        if flags.writeable:
            flags.writeable = False
            tensor._frozen = True
    tensor._pins += 1


def unpin(tensor: Any) -> None:
    """One live op fewer needs `tensor`'s data; the last one makes it writable again."""
    tensor._pins -= 1
    if tensor._pins == 0 and tensor._frozen:
        tensor._frozen = False
        try:
            tensor._data.flags.writeable = True
        except ValueError:
            pass  # a view whose base is still pinned elsewhere stays read-only
