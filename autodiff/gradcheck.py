"""Numerical gradient checks: central differences, and comparisons with autodiff.

`numerical_grad` estimates gradients by central differences; `gradcheck` compares them
with the engine's; `check_grads` compares a hand-derived gradient function (plain numpy,
as in course notes) with the engine's, on given inputs or on inputs drawn from
hypothesis strategies (property-based, shrunk to the simplest failing case). Both raise
`GradcheckError` naming the input, the worst element and both values.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autodiff.engine import grad
from autodiff.mode import no_grad
from autodiff.tensor import Tensor

# float32 has ~7 significant digits: a larger step and looser tolerances than float64.
_FLOAT32_DEFAULTS = {"eps": 1e-3, "atol": 1e-2, "rtol": 1e-2}


class GradcheckError(RuntimeError):
    """A gradient differs from its reference by more than the tolerances allow.

    After a check on drawn inputs, `case` holds the simplest failing inputs (arrays, in
    the order given); otherwise it is None.
    """

    case: tuple[np.ndarray, ...] | None = None


def _as_inputs(inputs: Tensor | Sequence[Any]) -> list[Tensor]:
    items = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    return [t if isinstance(t, Tensor) else Tensor(t) for t in items]


def _scalar(value: Any, what: str) -> float:
    data = value._data if isinstance(value, Tensor) else np.asarray(value)
    if data.size != 1:
        raise ValueError(f"{what} must return a single-element Tensor, got shape {data.shape}")
    return float(data.reshape(()))


def numerical_grad(
    fn: Callable[..., Tensor], inputs: Tensor | Sequence[Any], eps: float = 1e-6
) -> list[np.ndarray]:
    """Central-difference estimates of d fn / d input, one array per input.

    `fn` takes the inputs as Tensors and returns a single-element Tensor. Each element is
    nudged by +-eps in turn (computed in float64 when the input is float32).

    >>> import autodiff as ad
    >>> [g] = ad.numerical_grad(lambda x: (x * x).sum(), [ad.Tensor([1.0, 3.0])])
    >>> np.round(g, 6)
    array([2., 6.])
    """
    tensors = _as_inputs(inputs)
    probes = [Tensor(t._data.astype(np.float64)) for t in tensors]
    estimates = []
    with no_grad():
        for probe in probes:
            values = probe._data
            estimate = np.zeros_like(values)
            for i in np.ndindex(values.shape):
                original = values[i]
                values[i] = original + eps
                up = _scalar(fn(*probes), "fn")
                values[i] = original - eps
                down = _scalar(fn(*probes), "fn")
                values[i] = original
                estimate[i] = (up - down) / (2 * eps)
            estimates.append(estimate)
    return [e.astype(t.dtype) for e, t in zip(estimates, tensors)]


def _compare(
    name: str, actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float, label: str
) -> None:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise GradcheckError(
            f"{name}: {label} gradient has shape {expected.shape} but autodiff's has "
            f"shape {actual.shape}"
        )
    if actual.size == 0:
        return
    excess = np.abs(actual - expected) - (atol + rtol * np.abs(expected))
    excess = np.where(np.isnan(actual) != np.isnan(expected), np.inf, excess)
    worst = np.unravel_index(int(np.nanargmax(excess)), excess.shape) if excess.ndim else ()
    if excess[worst] > 0:
        where = f"element {tuple(int(i) for i in worst)}" if worst else "its value"
        raise GradcheckError(
            f"{name}: gradient mismatch at {where}: autodiff gives {float(actual[worst]):.8g}, "
            f"{label} gives {float(expected[worst]):.8g} (atol={atol}, rtol={rtol})"
        )


def _autodiff_grads(fn: Callable[..., Tensor], tensors: list[Tensor]) -> list[np.ndarray]:
    leaves = [Tensor(t._data, requires_grad=True, name=t.name) for t in tensors]
    out = fn(*leaves)
    if not isinstance(out, Tensor):
        raise TypeError(f"fn must return a Tensor, got {type(out).__name__}")
    _scalar(out, "fn")
    if not out.requires_grad:
        return [np.zeros_like(t._data) for t in tensors]
    return [g._data for g in grad(out.reshape(()), leaves)]


def _input_name(i: int, t: Tensor) -> str:
    return f"input {i}" + (f" ({t.name!r})" if t.name else "")


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Tensor | Sequence[Any],
    *,
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
) -> bool:
    """Compare autodiff's gradients of `fn` with central differences.

    Returns True, or raises `GradcheckError` naming the input, the worst element and
    both values. Defaults are eps=1e-6, atol=1e-5, rtol=1e-3 for float64; when any input
    is float32 they are eps=1e-3, atol=1e-2, rtol=1e-2 (float32 carries ~7 digits).

    >>> import autodiff as ad
    >>> ad.gradcheck(lambda x: x.tanh().sum(), [ad.Tensor([0.5, -1.0])])
    True
    """
    tensors = _as_inputs(inputs)
    single = any(t.dtype == np.float32 for t in tensors)
    eps = eps if eps is not None else (_FLOAT32_DEFAULTS["eps"] if single else 1e-6)
    atol = atol if atol is not None else (_FLOAT32_DEFAULTS["atol"] if single else 1e-5)
    rtol = rtol if rtol is not None else (_FLOAT32_DEFAULTS["rtol"] if single else 1e-3)
    analytic = _autodiff_grads(fn, tensors)
    numeric = numerical_grad(fn, tensors, eps=eps)
    for i, (t, a, n) in enumerate(zip(tensors, analytic, numeric)):
        _compare(_input_name(i, t), a, n, atol, rtol, "central differences")
    return True


def check_grads(
    fn: Callable[..., Tensor],
    manual_grad_fn: Callable[..., Sequence[np.ndarray]],
    inputs: Tensor | Sequence[Any],
    *,
    atol: float = 1e-7,
    rtol: float = 1e-5,
    max_examples: int = 100,
    seed: int | None = None,
) -> bool:
    """Compare a hand-derived gradient function with autodiff's gradients of `fn`.

    `fn` maps Tensors to a single-element Tensor; it may be plain numpy code, which runs
    on Tensors through numpy dispatch. `manual_grad_fn` takes the same inputs as numpy
    arrays (copies) and returns one gradient array per input. Returns True, or raises
    `GradcheckError` naming the input and the worst element.

    >>> import autodiff as ad
    >>> ad.check_grads(lambda x: x.tanh().sum(), lambda x: [1 - np.tanh(x) ** 2],
    ...                [ad.Tensor([0.5, -1.0])])
    True

    An input may also be a hypothesis strategy (see `autodiff.strategies`), mixed with
    fixed arrays: the gradients are then compared on up to `max_examples` drawn inputs
    (`seed` makes the draws repeatable), and a failure is shrunk to the simplest failing
    case, which the error shows. Nothing is written to disk (no example database).

    >>> from autodiff import strategies as ads
    >>> W = np.array([[1.0, -2.0], [0.5, 3.0]])
    >>> ad.check_grads(lambda x, W: np.sum(np.tanh(np.dot(W, x))),   # numpy code on Tensors
    ...                lambda x, W: [W.T @ (1 - np.tanh(W @ x) ** 2),
    ...                              (1 - np.tanh(W @ x) ** 2) @ x.T],
    ...                [ads.arrays((2, 3)), W])
    True
    >>> ad.check_grads(lambda x: np.sum(x ** 3), lambda x: [3 * x],   # should be 3 x**2
    ...                [ads.arrays((2, 2))], seed=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    autodiff.gradcheck.GradcheckError: input 0: gradient mismatch at element (0, 0): ...
    simplest failing case (drawn, then shrunk):
      input 0 (drawn) = array([[...]])
    """
    items = [inputs] if isinstance(inputs, Tensor) or _is_strategy(inputs) else list(inputs)
    if any(_is_strategy(x) for x in items):
        return _check_grads_on_draws(
            fn, manual_grad_fn, items, atol, rtol, max_examples=max_examples, seed=seed
        )
    return _check_grads_once(fn, manual_grad_fn, items, atol, rtol)


def _check_grads_once(
    fn: Callable[..., Tensor],
    manual_grad_fn: Callable[..., Sequence[np.ndarray]],
    inputs: Sequence[Any],
    atol: float,
    rtol: float,
) -> bool:
    tensors = _as_inputs(inputs)
    analytic = _autodiff_grads(fn, tensors)
    manual = manual_grad_fn(*[t._data.copy() for t in tensors])
    if isinstance(manual, np.ndarray) or len(manual) != len(tensors):
        count = 1 if isinstance(manual, np.ndarray) else len(manual)
        raise GradcheckError(
            f"manual_grad_fn returned {count} gradient(s) for {len(tensors)} input(s); "
            "return a sequence with one array per input"
        )
    for i, (t, a, m) in enumerate(zip(tensors, analytic, manual)):
        _compare(_input_name(i, t), a, np.asarray(m), atol, rtol, "the hand-derived")
    return True


def _is_strategy(x: Any) -> bool:
    # A strategy can only exist once hypothesis is imported, so looking in sys.modules
    # answers without importing it: `import autodiff` stays free of hypothesis.
    strategies = sys.modules.get("hypothesis.strategies")
    return strategies is not None and isinstance(x, strategies.SearchStrategy)


class _MismatchError(Exception):
    """Raised from one place for every mismatch, so hypothesis shrinks them as one bug."""


def _check_grads_on_draws(
    fn: Callable[..., Tensor],
    manual_grad_fn: Callable[..., Sequence[np.ndarray]],
    items: list[Any],
    atol: float,
    rtol: float,
    *,
    max_examples: int,
    seed: int | None,
) -> bool:
    import hypothesis
    from hypothesis import strategies as st

    from autodiff.strategies import private_storage

    drawn = st.tuples(*[x if _is_strategy(x) else st.just(x) for x in items])
    failure: list[Any] = []  # the latest failing case: hypothesis replays the simplest last

    def check(values: tuple[Any, ...]) -> None:
        try:
            _check_grads_once(fn, manual_grad_fn, values, atol, rtol)
        except GradcheckError as error:
            failure[:] = [values, error]
            raise _MismatchError from None

    quiet = [hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large]
    run = hypothesis.settings(
        database=None,  # never write an example database into the user's directory
        max_examples=max_examples,
        deadline=None,
        verbosity=hypothesis.Verbosity.quiet,
        suppress_health_check=quiet,
    )(hypothesis.given(drawn)(check))
    if seed is not None:
        run = hypothesis.seed(seed)(run)
    try:
        with private_storage():
            run()
    except _MismatchError:
        raise _shrunk_error(items, *failure) from None
    except BaseExceptionGroup as group:  # a mismatch, and other inputs on which fn raised
        mismatches, others = group.split(_MismatchError)
        if mismatches is None:
            raise
        raise _shrunk_error(items, *failure, also=others) from others
    return True


def _shrunk_error(
    items: list[Any], values: tuple[Any, ...], error: GradcheckError, also: Any = None
) -> GradcheckError:
    case = tuple(np.array(v._data if isinstance(v, Tensor) else v) for v in values)
    lines = [str(error), "simplest failing case (drawn, then shrunk):"]
    with np.printoptions(threshold=64, precision=8):
        for i, (item, value) in enumerate(zip(items, case)):
            kind = "drawn" if _is_strategy(item) else "fixed"
            lines.append(f"  input {i} ({kind}) = {' '.join(repr(value).split())}")
    if also is not None:
        lines.append(f"(fn or manual_grad_fn also raised on other drawn inputs: {also!r})")
    shrunk = GradcheckError("\n".join(lines))
    shrunk.case = case
    return shrunk
