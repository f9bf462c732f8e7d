"""Grad mode: whether ops record the graph, per thread.

`no_grad()` turns recording off and `enable_grad()` back on; each works as a context
manager and as a decorator (on plain functions and on generator functions, where the
mode holds while the generator's own code runs, not while its caller's does). The flag
is a context variable, so a `no_grad` block in one thread never changes what another
thread records.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator
from contextvars import ContextVar, Token
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

GRAD_ENABLED: ContextVar[bool] = ContextVar("autodiff_grad_enabled", default=True)


def is_grad_enabled() -> bool:
    """True when operations are being recorded for backward in this thread."""
    return GRAD_ENABLED.get()


class set_grad_enabled:  # noqa: N801 - named like the PyTorch context manager
    """Context manager and decorator that sets grad mode to `enabled` inside it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = bool(enabled)
        self._tokens: list[Token[bool]] = []

    def __enter__(self) -> None:
        self._tokens.append(GRAD_ENABLED.set(self.enabled))

    def __exit__(self, *exc_info: object) -> None:
        GRAD_ENABLED.reset(self._tokens.pop())

    def __call__(self, fn: F) -> F:
        enabled = self.enabled
        if inspect.isgeneratorfunction(fn):
            return functools.wraps(fn)(_generator_in_mode(fn, enabled))  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = GRAD_ENABLED.set(enabled)
            try:
                return fn(*args, **kwargs)
            finally:
                GRAD_ENABLED.reset(token)

        return wrapper  # type: ignore[return-value]


def _generator_in_mode(fn: Callable[..., Generator[Any, Any, Any]], enabled: bool) -> Any:
    """A generator function whose body runs in grad mode `enabled`, step by step."""

    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        gen = fn(*args, **kwargs)
        resume: Callable[[Any], Any] = gen.send
        value: Any = None
        while True:
            token = GRAD_ENABLED.set(enabled)
            try:
                item = resume(value)
            except StopIteration as stop:
                return stop.value
            finally:
                GRAD_ENABLED.reset(token)
            try:
                value, resume = (yield item), gen.send
            except GeneratorExit:
                gen.close()
                raise
            except BaseException as error:  # thrown in by the caller: pass it on
                value, resume = error, gen.throw

    return wrapper


class no_grad(set_grad_enabled):  # noqa: N801
    """Context manager and decorator: inside it no graph is recorded.

    >>> import autodiff as ad
    >>> x = ad.Tensor(2.0, requires_grad=True)
    >>> with ad.no_grad():
    ...     y = x * 3
    >>> y.requires_grad
    False
    """

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):  # noqa: N801
    """Context manager and decorator that turns recording back on inside `no_grad`."""

    def __init__(self) -> None:
        super().__init__(True)
