"""Thread-local switches of the engine: grad mode and anomaly detection.

`no_grad()` / `enable_grad()` turn recording of the graph off and on; `detect_anomaly()`
makes every op check its result and gradient for NaN and inf. Each works as a context
manager and `no_grad` / `enable_grad` also as decorators. The state is per thread, so a
`no_grad` block in one thread never changes what another thread records.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


# One context variable holds both switches as bits, so an op reads its mode in one
# lookup. Context variables are per thread (a new thread starts from the defaults) and
# also per asyncio task.
GRAD = 1
ANOMALY = 2
MODE: ContextVar[int] = ContextVar("autodiff_mode", default=GRAD)


def is_grad_enabled() -> bool:
    """True when operations are being recorded for backward in this thread."""
    return bool(MODE.get() & GRAD)


def _with_grad(enabled: bool) -> int:
    mode = MODE.get()
    return mode | GRAD if enabled else mode & ~GRAD


class _GradMode:
    """Sets grad mode for the duration of a block or of a decorated function."""

    enabled: bool

    def __enter__(self) -> None:
        self._token = MODE.set(_with_grad(self.enabled))

    def __exit__(self, *exc_info: object) -> None:
        MODE.reset(self._token)

    def __call__(self, fn: F) -> F:
        enabled = self.enabled

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = MODE.set(_with_grad(enabled))
            try:
                return fn(*args, **kwargs)
            finally:
                MODE.reset(token)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradMode):  # noqa: N801 - named like the PyTorch context manager
    """Context manager and decorator: inside it no graph is recorded.

    >>> import autodiff as ad
    >>> x = ad.Tensor(2.0, requires_grad=True)
    >>> with ad.no_grad():
    ...     y = x * 3
    >>> y.requires_grad
    False
    """

    enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Context manager and decorator that turns recording back on inside `no_grad`."""

    enabled = True


class detect_anomaly:  # noqa: N801
    """Context manager: the first op whose result or gradient holds NaN or inf raises.

    The `FloatingPointError` names the op and the file and line of the user code that
    created it, also when the anomaly only shows up during `backward`. Recording where
    each op was created costs time, so use it to debug, not to train.
    """

    def __enter__(self) -> detect_anomaly:
        self._token = MODE.set(MODE.get() | ANOMALY)
        return self

    def __exit__(self, *exc_info: object) -> None:
        MODE.reset(self._token)
