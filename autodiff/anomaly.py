"""Pointing at the user's line: library frames, numpy warnings and anomaly detection.

Library frames. Messages about a user's computation (an op's NaN, a numpy warning
raised inside an op's forward) name the first frame outside the library folders. This
package registers its own folder; a package built on it registers its own with
`register_library(path)`.

Anomaly detection. Inside `detect_anomaly()` every op remembers where it was created
and a copy of what its backward rule will read; its result, and later every gradient
flowing through it, is checked for NaN and inf, and backward also checks that the
saved inputs still hold what the forward saw (a write through a numpy view taken before
the graph existed slips past the version counters, not past this). The engine asks
for these checks once per pass (`backward_hook`), so they cost nothing when off.
"""

from __future__ import annotations

import os
import sys
import warnings
import weakref
from contextvars import ContextVar, Token
from types import FrameType
from typing import Any

import numpy as np

from autodiff.versions import InplaceModificationError, describe

_LIBRARIES: list[str] = [os.path.dirname(os.path.abspath(__file__)) + os.sep]


def register_library(path: str) -> None:
    """Treat frames from files under `path` (a folder or a file in it) as library code.

    >>> import os
    >>> register_library(os.path.dirname(__file__))  # already registered: no change
    """
    folder = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path)) + os.sep
    if folder not in _LIBRARIES:
        _LIBRARIES.append(folder)


def _is_library(frame: FrameType) -> bool:
    return frame.f_code.co_filename.startswith(tuple(_LIBRARIES))


def user_frame() -> tuple[FrameType | None, int]:
    """The first frame outside the library and how many frames above the caller it is."""
    frame: FrameType | None = sys._getframe(1)
    depth = 0
    while frame is not None and _is_library(frame):
        frame, depth = frame.f_back, depth + 1
    return frame, depth


def user_site() -> str:
    """`file:line` of the first frame outside the library."""
    frame, _ = user_frame()
    return "<unknown>" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def warn(message: Warning) -> None:
    """Issue `message` as a warning located at the user's line (not inside an op)."""
    _, depth = user_frame()
    warnings.warn(message, stacklevel=depth + 1)


# ---- detect_anomaly ----

ENABLED: ContextVar[bool] = ContextVar("autodiff_detect_anomaly", default=False)
# Keyed by id, not a WeakKeyDictionary (that compares keys with ==, elementwise on
# Tensors); a finalizer drops the entry when the node dies, before its id is reused.
_records: dict[int, tuple[str, list[Any]]] = {}


class detect_anomaly:  # noqa: N801 - named like the PyTorch context manager
    """Context manager: the first op whose result or gradient holds NaN or inf raises.

    The `FloatingPointError` names the op and the file and line of the user code that
    created it, also when the anomaly only shows up during `backward`. Recording where
    each op was created and copying what it saved costs time: use it to debug.

    >>> import autodiff as ad
    >>> x = ad.Tensor([float("inf")], requires_grad=True)
    >>> with ad.detect_anomaly():
    ...     x * 2
    Traceback (most recent call last):
    FloatingPointError: forward result of the 'mul' op holds inf; ...
    """

    def __init__(self) -> None:
        self._tokens: list[Token[bool]] = []

    def __enter__(self) -> detect_anomaly:
        self._tokens.append(ENABLED.set(True))
        return self

    def __exit__(self, *exc_info: object) -> None:
        ENABLED.reset(self._tokens.pop())


def _check_finite(values: Any, op: str, site: str, what: str) -> None:
    array = getattr(values, "_data", values)
    if not np.all(np.isfinite(array)):
        bad = "NaN" if np.isnan(array).any() else "inf"
        raise FloatingPointError(
            f"{what} of the {op!r} op holds {bad}; the op was created at {site}"
        )


def on_result(out: Any, inputs: tuple[Any, ...]) -> None:
    """Called by `apply` under detect_anomaly: check `out`, remember its site and inputs."""
    site = user_site()
    _check_finite(out._data, out.op, site, "forward result")
    if out._parents:
        _records[id(out)] = (site, [t._data.copy() for t in inputs])
        weakref.finalize(out, _records.pop, id(out), None)


def _check_node(node: Any, grads: list[Any]) -> None:
    site, saved = _records.get(id(node), ("<a line run outside detect_anomaly>", None))
    for parent, before in zip(node._parents, saved or ()):
        if not np.array_equal(parent._data, before, equal_nan=True):
            raise InplaceModificationError(
                f"{describe(parent)}, an input of the {node.op!r} op created at {site}, "
                "was changed in place after the op used it (through a numpy view taken "
                "before the graph was built); its gradient would be wrong"
            )
    for g in grads:
        if g is not None:
            _check_finite(g, node.op, site, "backward gradient")


def backward_hook() -> Any:
    """The per-node check for this backward pass: None unless detect_anomaly is on."""
    return _check_node if ENABLED.get() else None
