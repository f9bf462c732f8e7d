"""Hypothesis strategies for property tests of code built on autodiff.

The only module of the package that imports hypothesis at import time (hypothesis is a
dependency, yet `import autodiff` stays quick and works without it; `ad.check_grads`
imports it when handed one of these strategies). Every strategy draws well-conditioned
values: finite, no subnormals, magnitudes around 1, so that central differences and float
comparisons stay meaningful.

- `shapes(...)`: array shapes, 0-d and empty axes included on request.
- `arrays(shape=None, dtype=np.float64, elements=None)`: numpy arrays of a given or drawn
  shape.
- `broadcastable_pairs(...)`: pairs of arrays `(a, b)` whose shapes broadcast together.
- `broadcastable_shapes(...)`: the pairs of shapes alone.
- `mlp_parameters(layer_dims)`: parameter dicts in the course layout
  (`W1` of shape `(n1, n0)`, `b1` of shape `(n1, 1)`, ...).
- `private_storage()`: a context in which hypothesis writes nothing into the working
  directory (what `ad.check_grads` and `nn.verify` run their searches in).

Example, a property test of a user's own function::

    from hypothesis import given
    import autodiff as ad
    from autodiff import strategies as ads

    @given(ads.arrays())
    def test_my_loss_gradient(x):
        assert ad.gradcheck(lambda t: (t.tanh() ** 2).sum(), [x])
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from hypothesis import configuration
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "arrays",
    "broadcastable_pairs",
    "broadcastable_shapes",
    "floats",
    "mlp_parameters",
    "private_storage",
    "shapes",
]


@contextlib.contextmanager
def private_storage() -> Iterator[None]:
    """Run hypothesis with its storage in a temporary directory, removed afterwards.

    Even without an example database hypothesis caches files under `./.hypothesis` (the
    constants it collects from loaded modules); a check of the user's code must not
    write into the user's directory. Whatever was set before (a pytest run's own
    directory, or hypothesis's default) is restored afterwards. Not thread-safe: the
    setting is hypothesis's, global to the process.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, database=None)
    ... @given(arrays((2, 3)))
    ... def check(x):
    ...     assert x.shape == (2, 3)
    >>> with private_storage():
    ...     check()
    """
    previous = getattr(configuration, "__hypothesis_home_directory", None)
    with tempfile.TemporaryDirectory(prefix="autodiff-hypothesis-") as scratch:
        configuration.set_hypothesis_home_dir(scratch)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(previous)


def floats(
    min_value: float = -2.0, max_value: float = 2.0, *, dtype: Any = np.float64
) -> st.SearchStrategy[float]:
    """Finite floats in `[min_value, max_value]`, no subnormals, exact in `dtype`."""
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.floats(
        min_value,
        max_value,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
        width=width,
    )


def shapes(
    *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes; `min_dims=0` allows 0-d, `min_side=0` allows empty axes."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def arrays(
    shape: Sequence[int] | int | st.SearchStrategy[tuple[int, ...]] | None = None,
    dtype: Any = np.float64,
    elements: st.SearchStrategy[float] | None = None,
) -> st.SearchStrategy[np.ndarray]:
    """Arrays of `dtype` with the given shape (or shape strategy; drawn when None).

    Values come from `elements`, by default `floats(-2, 2)`: finite and of moderate size,
    so gradients are well-conditioned.
    """
    if shape is None:
        shape = shapes()
    elif isinstance(shape, int):
        shape = (shape,)
    elif not isinstance(shape, st.SearchStrategy):
        shape = tuple(int(n) for n in shape)
    if elements is None:
        elements = floats(dtype=dtype)
    return hnp.arrays(np.dtype(dtype), shape, elements=elements)


def broadcastable_shapes(
    *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Pairs of shapes `(a, b)` that broadcast together under numpy's rules.

    Either may have fewer dimensions or size-1 axes where the other has more.
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda drawn: tuple(drawn.input_shapes))


def broadcastable_pairs(
    *,
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 4,
    dtype: Any = np.float64,
    elements: st.SearchStrategy[float] | None = None,
) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Pairs of arrays `(a, b)` whose shapes broadcast together (`a + b` works).

    The shapes come from `broadcastable_shapes` with the same options, the values from
    `arrays(shape, dtype, elements)`.

    >>> from hypothesis import given
    >>> @given(broadcastable_pairs(max_dims=2))
    ... def test_add_commutes(pair):
    ...     a, b = pair
    ...     assert np.array_equal(a + b, b + a)
    >>> test_add_commutes()
    """
    return broadcastable_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).flatmap(
        lambda shapes: st.tuples(
            arrays(shapes[0], dtype, elements), arrays(shapes[1], dtype, elements)
        )
    )


@st.composite
def _mlp_parameters(
    draw: Any, layer_dims: tuple[int, ...], dtype: np.dtype
) -> dict[str, np.ndarray]:
    params: dict[str, np.ndarray] = {}
    unit = floats(-1.0, 1.0, dtype=dtype)
    for layer in range(1, len(layer_dims)):
        fan_out, fan_in = layer_dims[layer], layer_dims[layer - 1]
        W = draw(hnp.arrays(dtype, (fan_out, fan_in), elements=unit))
        # Weights scaled by 1/sqrt(fan_in) keep the activations out of saturation.
        params[f"W{layer}"] = (W / np.sqrt(fan_in)).astype(dtype)
        params[f"b{layer}"] = draw(hnp.arrays(dtype, (fan_out, 1), elements=unit)) * dtype.type(0.5)
    return params


def mlp_parameters(
    layer_dims: Sequence[int], dtype: Any = np.float64
) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Parameter dicts of a fully connected network in the course layout.

    For `layer_dims = [n0, n1, ..., nL]`: `W{l}` has shape `(n_l, n_{l-1})` with values in
    `[-1, 1] / sqrt(n_{l-1})`, `b{l}` has shape `(n_l, 1)` with values in `[-0.5, 0.5]`.
    """
    dims = tuple(int(n) for n in layer_dims)
    if len(dims) < 2 or any(n < 1 for n in dims):
        raise ValueError(
            f"mlp_parameters needs at least two positive layer sizes, got {list(layer_dims)}"
        )
    return _mlp_parameters(dims, np.dtype(dtype))
