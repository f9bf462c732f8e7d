"""In-place safety by version counters: a write bumps a version, backward compares.

A backward rule reads the forward values of its op. If they were changed in place in
between (`A.data[A.data > 0] = 1` in a hand-written relu derivative is the classic),
the gradients would be silently wrong. So:

- Every tensor has a version, bumped by every write to its data: `t.data[...] = v`, an
  in-place numpy call on `t.data` (`np.multiply(d, 2, out=d)`, `d.sort()`...), `t += v`
  under no_grad, or `t.data = new`. `Tensor.data` hands out a `DataView`, a view of the
  tensor's array that bumps the version on a write: O(1), however many graphs use it.
- Every node saves its inputs' versions; backward compares and raises, naming the
  tensor, if one changed. So an optimizer may step while a stale graph is alive (the
  update succeeds), and backward through the stale graph then raises.
- The result of a live node (recorded and not yet released) is refused at the write
  itself: only its own graph can use it, and that graph would be wrong.

Results that are views of their input (reshape, transpose, basic indexing) are
read-only arrays, so writing into one never changes its input. `Tensor(array)` copies
the array, so there is no other way in; a numpy view taken before a graph existed
(`np.asarray(t.data)`) is outside the counters, and `detect_anomaly()` catches it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff.scope import name_in


class InplaceModificationError(RuntimeError):
    """Raised when data a graph needs for its backward pass was changed in place."""


def describe(tensor: Any, user: Any = None) -> str:
    """How messages name a tensor: its name, else the name a scope of `user` (a node
    using it) gives it (a model's parameter path), else its op and shape."""
    name = tensor.name or (user is not None and name_in(tensor, user._scope))
    if name:
        return f"tensor {name!r}"
    what = f"output of {tensor.op}" if tensor.op else "leaf tensor"
    return f"{what} with shape {tensor.shape}"


def refused(tensor: Any) -> InplaceModificationError:
    return InplaceModificationError(
        f"in-place write to the data of {describe(tensor)}, which a live graph still needs "
        "for its backward pass; writing would make the gradients wrong. Compute on a copy "
        "(`t.data.copy()`, or `np.where(...)` instead of item assignment), or call "
        "backward() first (or drop the graph, e.g. with `.detach()` / `.item()`)."
    )


def stale(tensor: Any, node: Any) -> InplaceModificationError:
    return InplaceModificationError(
        f"{describe(tensor, node)} was changed in place after the {node.op!r} op used it "
        "(an optimizer step or a write to its data), so the gradients of this graph "
        "would be wrong. Run the forward pass again after the update, or call "
        "backward() before changing the tensor."
    )


def bump(tensor: Any) -> None:
    """Record a write to `tensor`'s data (refused while its own node is live)."""
    if tensor._parents:
        raise refused(tensor)
    tensor._version += 1


def saved_versions(inputs: tuple[Any, ...]) -> tuple[int, ...] | None:
    """What a node saves: its inputs' versions, or None when all are 0 (the usual case)."""
    for t in inputs:
        if t._version:
            return tuple([t._version for t in inputs])
    return None


def check(node: Any) -> None:
    """Raise if an input of `node` was written to since the node was recorded."""
    saved = node._versions
    if saved is None:  # every input was at version 0
        for t in node._parents:
            if t._version:
                raise stale(t, node)
    else:
        for t, version in zip(node._parents, saved):
            if t._version != version:
                raise stale(t, node)


class DataView(np.ndarray):
    """The array `Tensor.data` returns: a view whose writes bump the tensor's version.

    Arithmetic on it returns plain numpy arrays; views of it (`d[0]`, `d.T`) are
    DataViews of the same tensor; a `.copy()` is the user's own.
    """

    _owner: Any = None

    def __array_finalize__(self, obj: Any) -> None:
        # Views of the data write to the tensor; copies (which own their memory) do not.
        self._owner = getattr(obj, "_owner", None) if self.base is not None else None

    def __repr__(self) -> str:  # reads as the array it is
        return repr(self.view(np.ndarray))

    def _wrote(self) -> None:
        if self._owner is not None:
            bump(self._owner)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._wrote()
        super().__setitem__(index, value)

    def fill(self, value: Any) -> None:
        self._wrote()
        super().fill(value)

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._wrote()
        super().sort(*args, **kwargs)

    def partition(self, *args: Any, **kwargs: Any) -> None:
        self._wrote()
        super().partition(*args, **kwargs)

    def put(self, *args: Any, **kwargs: Any) -> None:
        self._wrote()
        super().put(*args, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _WRITES_FIRST_ARGUMENT and args and isinstance(args[0], DataView):
            args[0]._wrote()
        return super().__array_function__(func, types, args, kwargs)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        written = list(kwargs.get("out") or ()) + ([inputs[0]] if method == "at" else [])
        for target in written:
            if isinstance(target, DataView):
                target._wrote()
        outs = kwargs.get("out")
        if outs:
            kwargs["out"] = tuple(_plain(o) for o in outs)
        result = getattr(ufunc, method)(*[_plain(x) for x in inputs], **kwargs)
        if outs:  # numpy's convention: an in-place ufunc returns its `out` array itself
            return outs[0] if len(outs) == 1 else outs
        return result


def _plain(x: Any) -> Any:
    return x.view(np.ndarray) if isinstance(x, DataView) else x


_WRITES_FIRST_ARGUMENT = {np.copyto, np.putmask, np.place, np.put, np.put_along_axis}


def view(tensor: Any) -> np.ndarray:
    """A DataView of `tensor`'s array."""
    data = tensor._data.view(DataView)
    data._owner = tensor
    return data
