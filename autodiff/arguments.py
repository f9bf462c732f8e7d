"""What users pass in, checked and converted: tensor data and the seeds of a backward pass.

`to_array` holds the dtype rules of the contract (ints and bools become float64,
float32 and float64 are kept, anything that is not real numbers is a TypeError);
`seed_gradient` is the gradient a backward pass starts from (1 for a single element,
else the given `grad`, checked against the tensor's shape).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_FLOATS = (np.float32, np.float64)


def to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """`data` as a float32 or float64 array following the contract's dtype rules.

    Anything that is not real numbers (None, strings, complex, objects) is a TypeError.
    """
    data = getattr(data, "_data", data)  # a Tensor's array
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        given = type(data).__name__ if array.ndim == 0 else f"an array of dtype {array.dtype}"
        why = " (complex numbers are not supported)" if array.dtype.kind == "c" else ""
        raise TypeError(f"Tensor data must be real numbers (bool, int or float); got {given}{why}")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.type not in _FLOATS:
            raise TypeError(
                f"Tensor dtype must be a floating type (float32 or float64); got {dtype}"
            )
        return array.astype(dtype, copy=False)
    return array if array.dtype.type in _FLOATS else array.astype(np.float64)


def seed_gradient(root: Any, grad: Any, create_graph: bool) -> Any:
    """The gradient a pass starts from at `root`: 1, or `grad` checked against it."""
    if grad is None:
        if root.size != 1:
            raise ValueError(
                f"backward() on a tensor of shape {root.shape} needs `grad`, the gradient "
                "of some scalar with respect to it (an array of the same shape); "
                "only a single-element tensor defaults to 1. Did you mean .sum().backward()?"
            )
        seed = np.ones(root.shape, dtype=root.dtype)
    elif isinstance(grad, Tensor) and create_graph:
        seed = grad  # kept in the graph: a double vjp differentiates through it
    else:
        seed = to_array(grad, root.dtype)
    if seed.shape != root.shape:
        if seed.size != 1 or root.size != 1:
            raise ValueError(
                f"grad of shape {seed.shape} does not match the tensor's shape {root.shape}"
            )
        seed = seed.reshape(root.shape)
    if create_graph and not isinstance(seed, Tensor):
        return leaf(seed)
    return seed


def tensor_list(x: Any, what: str) -> list[Tensor]:
    """`outputs` or `inputs` of `ad.grad` as a list of Tensors."""
    items = [x] if isinstance(x, Tensor) else list(x)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}[{i}] must be a Tensor, got {type(t).__name__}")
    return items


def tensor_grad_outputs(grad_outputs: Any, n: int) -> list[Any]:
    """`grad_outputs` of `ad.grad` as a list matching `n` outputs."""
    if grad_outputs is None:
        return [None] * n
    if isinstance(grad_outputs, (Tensor, np.ndarray, np.generic, int, float)) and n == 1:
        return [grad_outputs]
    listed = list(grad_outputs)
    if len(listed) != n:
        raise ValueError(f"grad_outputs has {len(listed)} entries for {n} outputs")
    return listed


from autodiff.tensor import Tensor, leaf  # noqa: E402 - tensor.py imports to_array from here
