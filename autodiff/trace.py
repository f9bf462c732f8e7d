"""The tracing hook: what `ad.compile` sees while it records a step.

The eager engine calls `op` from `ops.apply`, where every primitive is applied (one
attribute lookup per op when nothing records). While a `Recorder` is installed by
`recording()`, a few Tensor methods are wrapped as well: `backward` notes a backward
pass, `item()`/`float()`/`bool()`/`.data` note what Python reads, `zero_grad` the call,
and `ad.grad` what a plan cannot follow.
`autodiff.compile` turns what a `Recorder` saw into a plan of numpy kernels.

A step that draws random numbers outside the engine (a dropout mask) calls `fresh`, so
that a replay draws anew instead of reusing the recorded draw:

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> fresh(rng.random, (2,)).shape     # outside a recording: just the call
(2,)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class TraceError(RuntimeError):
    """The step did something `ad.compile` cannot record (the message says what)."""


class _State(threading.local):
    recorder: Recorder | None = None


STATE = _State()


@dataclass(eq=False)
class OpEvent:
    """One primitive application: the primitive, input tensors, per-call facts, result."""

    prim: Any
    parents: tuple[Any, ...]
    attrs: dict[str, Any]
    out: Any

    @property
    def op(self) -> str:
        return self.prim.name


@dataclass(eq=False)
class BackwardEvent:
    root: Any
    seed: Any


@dataclass(eq=False)
class CallEvent:
    """A method of a stateful object (an optimizer's `step`) that a replay calls again."""

    owner: Any
    method: str
    label: str


@dataclass(eq=False)
class FreshEvent:
    """A draw outside the engine (`fresh`): re-run on every replay."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    out: np.ndarray


@dataclass(eq=False)
class Guard:
    """A Python decision on a recorded value: `fn(value) == outcome` must hold on replay."""

    tensor: Any
    describe: str
    fn: Callable[[np.ndarray], Any]
    outcome: Any


@dataclass(eq=False)
class Recorder:
    """Everything one eager run of a step did, in order."""

    events: list[Any] = field(default_factory=list)
    guards: list[Guard] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why the run cannot be replayed
    keep: list[Any] = field(default_factory=list)  # keeps recorded arrays alive (stable ids)
    computed: set[int] = field(default_factory=set)  # ids of the tensors the ops made
    written: set[int] = field(default_factory=set)  # ids of the tensors written to

    def guard(self, guard: Guard) -> None:
        self.guards.append(guard)
        self.events.append(guard)

    def problem(self, what: str) -> None:
        if what not in self.problems:
            self.problems.append(what)


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Install `recorder` for this thread while the block runs."""
    if STATE.recorder is not None:
        raise TraceError("ad.compile: a compiled step cannot be called while another records")
    _install()
    STATE.recorder = recorder
    try:
        yield recorder
    finally:
        STATE.recorder = None
        _uninstall()


# ---- the hooks on Tensor's methods, installed while some thread records ----
# `ops.apply` calls `op` itself. The few Tensor methods through which Python reads values
# or starts a backward pass are wrapped only while a recording runs (in any thread):
# each wrapper checks this thread's recorder and otherwise is the method itself.

_LOCK = threading.Lock()
RECORDING = [0]  # recordings running in any thread; `ops.apply` reads it (a cheap global)
_SAVED: dict[str, Any] = {}


def _wrappers(T: Any, saved: dict[str, Any], engine: Any) -> dict[str, Any]:
    def backward_(self: Any, grad: Any = None, *, retain_graph: bool = False) -> None:
        backward(self, grad)
        with paused():  # the engine's own writes of `.grad`
            saved["backward"](self, grad, retain_graph=retain_graph)

    def item_(self: Any) -> float:
        value = saved["item"](self)
        traced = read(self, "item")
        return value if traced is None else traced

    def float_(self: Any) -> float:
        value = saved["__float__"](self)
        traced = read(self, "float")
        return value if traced is None else traced

    def bool_(self: Any) -> bool:
        read(self, "bool")
        return saved["__bool__"](self)

    def data_(self: Any) -> Any:
        read(self, "data")
        return saved["data"].fget(self)

    def array_(self: Any, *args: Any, **kwargs: Any) -> Any:
        looked_at(self, "the values (np.asarray, a numpy function) of")
        return saved["__array__"](self, *args, **kwargs)

    def zero_grad_(self: Any) -> None:
        if STATE.recorder is not None:
            call(self, "zero_grad")
        with paused():
            saved["zero_grad"](self)

    def grad_(*args: Any, **kwargs: Any) -> Any:
        grad_call(bool(kwargs.get("create_graph", False)))
        return saved["grad"](*args, **kwargs)

    return {"backward": backward_, "item": item_, "__float__": float_, "__bool__": bool_,
            "data": property(data_, saved["data"].fset, doc=saved["data"].__doc__),
            "zero_grad": zero_grad_, "grad": grad_, "__array__": array_,
            **{name: _comparison(name, saved) for name in COMPARISONS}}  # fmt: skip


# A comparison of a tensor gives numpy booleans (not a tensor): Python decides on them.
COMPARISONS = {"__lt__": (np.less, "<"), "__le__": (np.less_equal, "<="),
               "__gt__": (np.greater, ">"), "__ge__": (np.greater_equal, ">="),
               "__eq__": (np.equal, "=="), "__ne__": (np.not_equal, "!=")}  # fmt: skip


def _grad_get(self: Any) -> Any:
    """`t.grad` while a step records: Python code on gradients cannot be followed."""
    rec = STATE.recorder
    if rec is not None:
        rec.problem(
            f"reading .grad of {_label(self)} inside the step (a compiled step cannot follow "
            "Python code on gradients: change them in an optimizer, or read them after the "
            "call)"
        )
    return _SAVED["grad slot"].__get__(self, type(self))


def _grad_set(self: Any, value: Any) -> None:
    """Assigning an array to `t.grad` while a step records cannot be followed. (`None`,
    which every new tensor is given, passes: a reset by hand that the plan misses shows
    in the checked first replay.)"""
    if value is not None:
        rec = STATE.recorder
        if rec is not None:
            rec.problem(f"assigning .grad of {_label(self)} inside the step")
    _SAVED["grad slot"].__set__(self, value)


def _comparison(name: str, saved: dict[str, Any]) -> Callable[..., Any]:
    def compare(self: Any, other: Any) -> Any:
        result = saved[name](self, other)
        if STATE.recorder is not None:
            compared(self, name, other, result)
        return result

    return compare


def compared(tensor: Any, name: str, other: Any, result: Any) -> None:
    """A comparison while a step records: against a number, a one-element tensor's is a
    guard (`if loss > 1:` decides as `if loss.item() > 1:` does); any other comparison
    gives booleans the plan cannot follow."""
    rec = STATE.recorder
    fn, symbol = COMPARISONS[name]
    if np.size(result) == 1 and type(other) in (int, float, bool):
        describe = f"{_label(tensor)} {symbol} {other!r}"
        rec.guard(Guard(tensor, describe, lambda v: bool(fn(v, other)), bool(result)))
        return
    rec.problem(
        f"comparing {_label(tensor)} ({symbol}) inside the step: the booleans it gives "
        "cannot be followed (for a decision on one value, compare with a number or use "
        ".item())"
    )


def _install() -> None:
    import autodiff
    from autodiff import engine, versions
    from autodiff.tensor import Tensor

    with _LOCK:
        RECORDING[0] += 1
        if RECORDING[0] > 1:
            return
        for name in ("backward", "item", "__float__", "__bool__", "data", "zero_grad",
                     "__array__", *COMPARISONS):  # fmt: skip
            _SAVED[name] = Tensor.__dict__[name]
        _SAVED["grad"] = engine.grad
        _SAVED["bump"] = versions.bump
        versions.bump = _bumped
        _SAVED["grad slot"] = Tensor.__dict__["grad"]
        Tensor.grad = property(_grad_get, _grad_set, doc=Tensor.__dict__["grad"].__doc__)
        wrappers = _wrappers(Tensor, _SAVED, engine)
        for name, fn in wrappers.items():
            if name == "grad":
                engine.grad = autodiff.grad = fn
            else:
                setattr(Tensor, name, fn)


def _uninstall() -> None:
    import autodiff
    from autodiff import engine, versions
    from autodiff.tensor import Tensor

    with _LOCK:
        RECORDING[0] -= 1
        if RECORDING[0]:
            return
        for name, fn in _SAVED.items():
            if name == "grad":
                engine.grad = autodiff.grad = fn
            elif name == "bump":
                versions.bump = fn
            elif name == "grad slot":
                Tensor.grad = fn
            else:
                setattr(Tensor, name, fn)
        _SAVED.clear()


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with no recorder (the engine's own bookkeeping, checks)."""
    saved, STATE.recorder = STATE.recorder, None
    try:
        yield
    finally:
        STATE.recorder = saved


# ---- the hooks the engine calls ----


def op(prim: Any, parents: tuple[Any, ...], attrs: dict[str, Any] | None, out: Any) -> None:
    """Called by `apply` for every primitive applied, with grad mode on or off."""
    rec = STATE.recorder
    if rec is not None:
        if type(parents) is not tuple:
            parents = tuple(parents)
        rec.events.append(OpEvent(prim, parents, dict(attrs) if attrs else {}, out))
        rec.computed.add(id(out))  # the event keeps `out` alive: its id stays its own


def write(prim: Any, tensor: Any) -> None:
    """Called by `apply` for an in-place operator (`t += v`)."""
    rec = STATE.recorder
    if rec is not None:
        rec.written.add(id(tensor))
        rec.problem(f"an in-place {prim.name} into {_label(tensor)} inside the step")


def _bumped(tensor: Any) -> None:
    """Any other write to a tensor's data while a step records (`p.data -= ...`,
    `p.data = ...`): a plan follows parameters that change in an optimizer's `step()`
    (which runs unrecorded), not writes by hand."""
    rec = STATE.recorder
    if rec is not None and id(tensor) not in rec.written:
        rec.written.add(id(tensor))
        rec.problem(
            f"a write to the data of {_label(tensor)} inside the step (update parameters "
            "with an optimizer's step(), or by hand outside the compiled step)"
        )
    _SAVED["bump"](tensor)


def backward(root: Any, seed: Any, create_graph: bool = False) -> None:
    """Called by `Tensor.backward` (and `ad.grad`) before the pass runs."""
    rec = STATE.recorder
    if rec is None:
        return
    if create_graph:
        rec.problem("ad.grad(..., create_graph=True) (higher-order gradients)")
    elif seed is not None and not hasattr(seed, "shape"):
        rec.events.append(BackwardEvent(root, np.asarray(seed)))
    else:
        rec.events.append(BackwardEvent(root, seed))


def call(owner: Any, method: str) -> None:
    """Called by `Tensor.zero_grad`: a replay makes the same call."""
    rec = STATE.recorder
    if rec is not None:
        rec.events.append(CallEvent(owner, method, getattr(owner, "name", None) or "tensor"))


def grad_call(create_graph: bool) -> None:
    """Called by `ad.grad`: its results are returned to Python, which a plan cannot follow."""
    rec = STATE.recorder
    if rec is not None:
        if create_graph:
            rec.problem("ad.grad(..., create_graph=True) (higher-order gradients)")
        else:
            rec.problem("ad.grad() (use loss.backward() inside a compiled step)")


def read(tensor: Any, how: str) -> Any:
    """Called when Python reads a tensor's value (`item()`, `float()`, `bool()`, `.data`).

    Returns what the read should give: a `TracedFloat` for `item()`/`float()`, whose
    comparisons become guards; None to let the engine return the plain value.
    """
    rec = STATE.recorder
    if rec is None:
        return None
    data = tensor._data
    # A decision may be on any tensor, a leaf too: a parameter's value changes between
    # calls (`if w.item() > 0:`) and so does an input's.
    if how in ("item", "float"):
        return TracedFloat(float(data.item()), tensor)  # the saved method ran: one element
    if how == "bool":
        outcome = bool(data)
        rec.guard(Guard(tensor, f"bool({_label(tensor)})", bool, outcome))
        return outcome
    looked_at(tensor, f"reading .{how} of")
    return None


def looked_at(tensor: Any, how: str) -> None:
    """Python code sees a tensor's values (`.data`, `np.asarray(t)`, numpy's read-only
    functions such as `np.isnan(t)`): while a step records, a problem unless the tensor
    is an input (a layer may check that its input is finite). What the step computes,
    and parameters, change from call to call: code looking at them cannot be followed."""
    rec = STATE.recorder
    if rec is None:
        return
    # A value computed under no_grad has no `op` but was recorded all the same.
    computed = getattr(tensor, "op", "") or id(tensor) in rec.computed
    if computed or tensor.requires_grad:
        rec.problem(
            f"{how} {_label(tensor)} inside the step (a compiled step cannot follow "
            "Python code that looks at arrays; use .item() for a scalar decision, or "
            "read the value after the call)"
        )


def fresh(fn: Callable[..., np.ndarray], *args: Any) -> np.ndarray:
    """`fn(*args)`, an array drawn outside the engine (random numbers).

    Inside a compiled step the call is a kernel of the plan: every replay calls `fn`
    again, so the draws are fresh and come from the same stream as eagerly.
    """
    out = fn(*args)
    rec = STATE.recorder
    if rec is not None:
        rec.events.append(FreshEvent(fn, args, out))
        rec.keep.append(out)
    return out


def _label(tensor: Any) -> str:
    name = getattr(tensor, "name", None)
    if name:
        return repr(name)
    op = getattr(tensor, "op", "")
    return f"the result of {op} {tuple(tensor.shape)}" if op else f"a tensor {tuple(tensor.shape)}"


class TracedFloat(float):
    """A float read from a recorded tensor: comparing it records a guard.

    `if loss.item() > 1:` inside a compiled step records "loss > 1 was True"; a replay
    where it is False runs eagerly and records the other side. Arithmetic gives plain
    floats that remember where they came from, so a later comparison guards as well.
    """

    __slots__ = ("_tensor", "_fn")

    def __new__(cls, value: float, tensor: Any, fn: Callable[[float], float] | None = None):
        self = super().__new__(cls, value)
        self._tensor = tensor
        self._fn = fn or (lambda v: v)
        return self

    def _compare(self, other: Any, name: str, test: Callable[[float, Any], bool]) -> bool:
        outcome = test(float(self), other)
        rec = STATE.recorder
        if rec is not None:
            fn = self._fn
            rec.guard(
                Guard(
                    self._tensor,
                    f"{_label(self._tensor)} {name} {other!r}",
                    lambda a, fn=fn, other=other, test=test: test(fn(float(a.item())), other),
                    outcome,
                )
            )
        return outcome

    def __lt__(self, o: Any) -> bool:
        return self._compare(o, "<", float.__lt__)

    def __le__(self, o: Any) -> bool:
        return self._compare(o, "<=", float.__le__)

    def __gt__(self, o: Any) -> bool:
        return self._compare(o, ">", float.__gt__)

    def __ge__(self, o: Any) -> bool:
        return self._compare(o, ">=", float.__ge__)

    def __eq__(self, o: Any) -> bool:  # type: ignore[override]
        return self._compare(o, "==", float.__eq__)

    def __ne__(self, o: Any) -> bool:  # type: ignore[override]
        return self._compare(o, "!=", float.__ne__)

    def __bool__(self) -> bool:
        return self._compare(0.0, "!=", float.__ne__)

    __hash__ = float.__hash__

    def _derive(self, f: Callable[[float], float]) -> TracedFloat:
        fn = self._fn
        return TracedFloat(f(float(self)), self._tensor, lambda v: f(fn(v)))

    def _with(self, o: Any, f: Callable[[float, Any], float]) -> Any:
        """`f(self, o)` for a number `o`, remembered; with another traced value (two
        tensors in one decision) the recording cannot follow it."""
        if isinstance(o, TracedFloat):
            _unfollowed(self, "combining")
            return f(float(self), float(o))
        if isinstance(o, (int, float)):
            return self._derive(lambda v: f(v, o))
        return NotImplemented

    def __add__(self, o: Any) -> Any:
        return self._with(o, lambda v, o: v + o)

    __radd__ = __add__

    def __mul__(self, o: Any) -> Any:
        return self._with(o, lambda v, o: v * o)

    __rmul__ = __mul__

    def __sub__(self, o: Any) -> Any:
        return self._with(o, lambda v, o: v - o)

    def __rsub__(self, o: Any) -> Any:
        return self._with(o, lambda v, o: o - v)

    def __truediv__(self, o: Any) -> Any:
        return self._with(o, lambda v, o: v / o)

    def __rtruediv__(self, o: Any) -> Any:
        return self._with(o, lambda v, o: o / v)

    def __pow__(self, o: Any) -> Any:
        return self._with(o, lambda v, o: v**o)

    def __rpow__(self, o: Any) -> Any:
        return self._with(o, lambda v, o: o**v)

    def __neg__(self) -> Any:
        return self._derive(lambda v: -v)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return self._derive(abs)

    # To an integer: a plain int, which no guard follows (`range(int(loss.item()))`).
    def __int__(self) -> int:
        _unfollowed(self, "int() of")
        return int(float(self))

    def __round__(self, ndigits: Any = None) -> Any:
        _unfollowed(self, "round() of")
        return round(float(self), ndigits)

    def __floor__(self) -> int:
        _unfollowed(self, "math.floor() of")
        return math.floor(float(self))

    def __ceil__(self) -> int:
        _unfollowed(self, "math.ceil() of")
        return math.ceil(float(self))

    def __trunc__(self) -> int:
        _unfollowed(self, "math.trunc() of")
        return math.trunc(float(self))

    def __floordiv__(self, o: Any) -> Any:
        _unfollowed(self, "// of")
        return float(self) // o

    def __mod__(self, o: Any) -> Any:
        _unfollowed(self, "% of")
        return float(self) % o


def _unfollowed(value: TracedFloat, how: str) -> None:
    rec = STATE.recorder
    if rec is not None:
        other = " with another" if how == "combining" else ""
        rec.problem(
            f"{how} a value read with .item() from {_label(value._tensor)}{other} inside "
            "the step (a decision on it cannot be followed; compare the value itself, or "
            "arithmetic of it with numbers, with a number)"
        )
