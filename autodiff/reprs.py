"""Short, one-line, ASCII text for a Tensor, as `repr` and Jupyter show it.

A small tensor shows its values the way numpy prints them (on one line); a large one
shows its shape and dtype instead of a wall of numbers. Then come the name, and the op
that made the tensor or `requires_grad=True` for a leaf that requires grad. Everything
here uses only the Tensor's public attributes, so it reads like any user code would.

>>> from autodiff import Tensor
>>> Tensor([1.0, 2.0], requires_grad=True)
Tensor([1., 2.], requires_grad=True)
>>> Tensor(np.zeros((100, 100)))
Tensor(shape=(100, 100), dtype=float64)
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_VALUES = 20  # more elements than this are summarised by shape and dtype
MAX_BODY = 100  # ... and so are values whose one-line text would be longer than this


def tensor_repr(t: Any) -> str:
    """`Tensor(values or shape/dtype, name=..., op=... or requires_grad=True)`, ASCII only.

    >>> import numpy as np
    >>> from autodiff import Tensor
    >>> tensor_repr(Tensor(np.eye(2, dtype=np.float32), name="I"))
    "Tensor([[1., 0.], [0., 1.]], name='I', dtype=float32)"
    >>> tensor_repr(Tensor([3.0], requires_grad=True) * 2)
    "Tensor([6.], op='mul')"
    """
    data = np.asarray(t.data)
    body = _values(data)
    parts = [body] if body is not None else [f"shape={t.shape}", f"dtype={t.dtype}"]
    if t.name:
        parts.append(f"name={ascii(t.name)}")  # ascii(): a cp1252 console can print it
    if t.op:
        parts.append(f"op={ascii(t.op)}")
    elif t.requires_grad:
        parts.append("requires_grad=True")
    if body is not None and t.dtype != np.float64:
        parts.append(f"dtype={t.dtype}")  # as numpy does: float64 goes without saying
    return f"Tensor({', '.join(parts)})"


def _values(data: np.ndarray) -> str | None:
    """numpy's text of the values on one line, or None when it would be too long."""
    if data.size > MAX_VALUES:
        return None
    text = np.array2string(data, separator=", ", precision=4)
    text = " ".join(text.split())  # one line, also for 2-D values
    return text if len(text) <= MAX_BODY else None
