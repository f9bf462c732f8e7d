"""`ad.scope(label)`: name the part of a computation that the nodes made inside belong to.

Every node records the innermost open scope (`node._scope`), a `Scope` with a `label`
and its enclosing `parent`, so a drawing can box the nodes made inside each scope, and
nested scopes nest boxes. A model library opens one per module call. A scope may
also carry `names`, a callable returning `(name, tensor)` pairs: how a drawing names
tensors used inside it (a model passes its `named_parameters`, so its weights are drawn
as "layers.0.W" without being renamed). The stack of open scopes is per thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from typing import Any

NamesFn = Callable[[], Iterable[tuple[str, Any]]]


class Scope:
    """One entered scope: its `label`, its enclosing `parent` (or None) and `names`."""

    __slots__ = ("label", "parent", "names")

    def __init__(self, label: str, parent: Scope | None, names: NamesFn | None) -> None:
        self.label = label
        self.parent = parent
        self.names = names

    def __repr__(self) -> str:
        return f"Scope({self.label!r})"


CURRENT: ContextVar[Scope | None] = ContextVar("autodiff_scope", default=None)


def current() -> Scope | None:
    """The innermost open scope of this thread, or None."""
    return CURRENT.get()


class scope:  # noqa: N801 - a context manager named like a function, as no_grad
    """Context manager: nodes made inside record this scope (see the module docstring).

    >>> import autodiff as ad
    >>> x = ad.Tensor([1.0, 2.0], requires_grad=True)
    >>> with ad.scope("double"):
    ...     y = x * 2
    >>> y._scope.label
    'double'
    """

    def __init__(self, label: str, *, names: NamesFn | None = None) -> None:
        if not isinstance(label, str):
            raise TypeError(f"scope label must be a str, got {type(label).__name__}")
        self.label = label
        self.names = names
        self._tokens: list[Token[Scope | None]] = []

    def __enter__(self) -> Scope:
        entered = Scope(self.label, CURRENT.get(), self.names)
        self._tokens.append(CURRENT.set(entered))
        return entered

    def __exit__(self, *exc_info: object) -> None:
        CURRENT.reset(self._tokens.pop())


def name_in(tensor: Any, inner: Scope | None) -> str | None:
    """The name the outermost scope enclosing `inner` with `names` gives `tensor`, if any."""
    named = None
    while inner is not None:
        named = inner if inner.names is not None else named
        inner = inner.parent
    if named is not None:
        for name, t in named.names():
            if t is tensor:
                return name
    return None
