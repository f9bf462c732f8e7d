"""A recorded step as a plan: named values, numpy kernels in order, and their Python source.

A `Plan` is straight-line code. Each `Kernel` is one numpy call (`np.tanh(z1)`), one
expression (`x.T`) or one statement (`opt.step()`); each `Value` is an array with a
name, a shape and a dtype: a step argument, a live array (a parameter's data, read
afresh on every call), a constant, or the result of a kernel. `source(plan)` writes the
plan as a Python function and `build(plan)` compiles it. The rewrites live in
`autodiff.rewrite`; `preallocate` here gives every kernel result a buffer made once,
reusing the buffers of values that are dead by then.

>>> import numpy as np
>>> p = Plan("f")
>>> x = p.arg("x", (2,), np.float64)
>>> y = p.call("np.tanh", x, name="y", elementwise=True)
>>> p.returns = y
>>> print(source(p))
def f(x):
    # forward
    y = np.tanh(x)
    return y
>>> build(p)(np.zeros(2))
array([0., 0.])
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(eq=False)
class Value:
    """An array of the plan: `kind` is "arg", "live", "const" or "tmp"."""

    name: str
    shape: tuple[int, ...]
    dtype: Any
    kind: str
    source: Any = None  # arg: its position; live: the object holding it; const: the value
    base: Value | None = None  # a view of another value (reshape, transpose)

    def root(self) -> Value:
        v = self
        while v.base is not None:
            v = v.base
        return v

    def __repr__(self) -> str:
        return f"Value({self.name}, {self.shape}, {np.dtype(self.dtype).name}, {self.kind})"


@dataclass(eq=False)
class Kernel:
    """One line of the plan.

    `form` is "call" (`fn(*args, **kwargs)`, a numpy function that accepts `out=`), "expr"
    (`fn` is a template such as "{0}.T" that returns a view or a new array) or "stmt" (a
    statement template with no result, such as "{0}.step()"). `elementwise` kernels may
    write their result over a dead input of the same shape.
    """

    fn: str
    args: tuple[Any, ...]
    out: Value | None
    form: str = "call"
    kwargs: dict[str, Any] = field(default_factory=dict)
    section: str = "forward"
    elementwise: bool = False
    effect: bool = False  # a statement that changes state outside the plan
    rebinds: bool = False  # a call that may give parameters new arrays: read them again
    comment: str = ""
    buffer: Value | None = None  # set by `preallocate`: where the result is written

    def values(self) -> list[Value]:
        found = [a for a in self.args if isinstance(a, Value)]
        if self.kwargs:
            found += [a for a in self.kwargs.values() if isinstance(a, Value)]
        return found


@dataclass(eq=False)
class GuardCheck:
    """After `after` kernels: `test(value) == outcome`, else the call runs eagerly."""

    after: int
    value: Value
    test: Callable[[np.ndarray], Any]
    outcome: Any
    describe: str


class Plan:
    """Values and kernels of one recorded step, and what it returns."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.args: list[Value] = []
        self.kernels: list[Kernel] = []
        self.guards: list[GuardCheck] = []
        self.returns: Any = None  # a Value, a tuple/list/dict of them, or a constant
        self.env: dict[str, Any] = {"np": np}
        self.section = "forward"
        self.producers: dict[int, Kernel] = {}  # id(value) -> the kernel computing it
        self.updates: list[tuple[str, Any]] = []  # (name, optimizer) of fused updates
        self.fold = True  # compute calls on constants while planning
        self.handed: list[tuple[str, Value]] = []  # (tensor's name, value given to its .grad)
        self.header: list[str] = []  # comments written at the top of the source
        self.fused_rule = False  # a fused loss rule (same numbers up to rounding) is used
        self._names: dict[str, int] = {}
        self._used: set[str] = set()

    # ---- making values ----

    def fresh_name(self, hint: str) -> str:
        """A name not used yet: `hint`, else `hint_1`, `hint_2`... (never one taken by
        another value: two values with one name would share a buffer)."""
        if hint.isidentifier():  # most hints: what the substitution would give
            base = hint
        else:
            base = re.sub(r"\W", "_", hint) or "t"
            if base[0].isdigit():
                base = "t" + base
        n = self._names.get(base, 0)
        name = base if n == 0 else f"{base}_{n}"
        while name in self._used or name in self.env:
            n += 1
            name = f"{base}_{n}"
        self._names[base] = n + 1
        self._used.add(name)
        return name

    def arg(self, name: str, shape: tuple[int, ...], dtype: Any) -> Value:
        v = Value(self.fresh_name(name), tuple(shape), np.dtype(dtype), "arg", len(self.args))
        self.args.append(v)
        return v

    def live(self, name: str, holder: Any, shape: tuple[int, ...], dtype: Any) -> Value:
        """The `_data` of `holder`, read at the start of every call (and after effects)."""
        v = Value(self.fresh_name(name), tuple(shape), np.dtype(dtype), "live", holder)
        self.env[v.name + "_tensor"] = holder
        return v

    def const(self, name: str, value: Any) -> Value:
        array = np.asarray(value)
        v = Value(self.fresh_name(name), array.shape, array.dtype, "const", value)
        self.env[v.name] = value
        return v

    def add(self, kernel: Kernel) -> Value | None:
        kernel.section = self.section
        self.kernels.append(kernel)
        if kernel.out is not None:
            self.producers[id(kernel.out)] = kernel
        return kernel.out

    def call(
        self,
        fn: str,
        *args: Any,
        name: str = "t",
        shape: tuple[int, ...] | None = None,
        dtype: Any = None,
        elementwise: bool = False,
        **kwargs: Any,
    ) -> Value:
        """A numpy call; the result's shape and dtype default to the first value's.

        A call on constants alone is computed now and becomes a constant (folding).
        """
        values = [a for a in args if isinstance(a, Value)]
        first = values[0]
        if kwargs:
            values += [v for v in kwargs.values() if isinstance(v, Value)]
        if self.fold and all(v.kind == "const" for v in values):
            actual = [self.env[a.name] if isinstance(a, Value) else a for a in args]
            named = {k: self.env[v.name] if isinstance(v, Value) else v for k, v in kwargs.items()}
            result = np.asarray(eval(fn, self.env)(*actual, **named))  # noqa: S307 (our own code)
            return self.const(name, result)
        out = Value(
            self.fresh_name(name),
            first.shape if shape is None else tuple(shape),
            np.dtype(first.dtype if dtype is None else dtype),
            "tmp",
        )
        self.add(Kernel(fn, args, out, "call", kwargs, elementwise=elementwise))
        return out

    def expr(
        self,
        template: str,
        *args: Any,
        name: str,
        shape: tuple[int, ...],
        dtype: Any,
        view_of: Value | None = None,
        **kwargs: Any,
    ) -> Value:
        out = Value(self.fresh_name(name), tuple(shape), np.dtype(dtype), "tmp", base=view_of)
        self.add(Kernel(template, args, out, "expr", kwargs))
        return out

    def stmt(
        self,
        template: str,
        *args: Any,
        effect: bool = True,
        rebinds: bool = False,
        comment: str = "",
    ) -> None:
        self.add(Kernel(template, args, None, "stmt", effect=effect, rebinds=rebinds,
                        comment=comment))  # fmt: skip

    def obj(self, name: str, thing: Any) -> str:
        """A name in the generated code for a Python object (an optimizer, a tensor)."""
        for key, value in self.env.items():
            if value is thing and not key.startswith("_h_"):
                return key
        key = self.fresh_name(name)
        self.env[key] = thing
        return key


# ---- writing the plan as Python ----


class Name(str):
    """A name of the generated code's environment, written as it is."""


def _literal(x: Any) -> str:
    if isinstance(x, (Value)):
        return x.name
    if isinstance(x, Name):
        return str(x)
    if isinstance(x, tuple):
        return "(" + "".join(_literal(i) + ", " for i in x) + ")"
    if isinstance(x, np.generic):
        return f"np.{type(x).__name__}({x.item()!r})"
    if isinstance(x, np.dtype):
        return f"np.{x.name}"
    if isinstance(x, float) and not np.isfinite(x):
        return f"float({str(x)!r})"
    return repr(x)


def _line(k: Kernel) -> str:
    args = [_literal(a) for a in k.args]
    if k.form == "call":
        parts = args + [f"{key}={_literal(v)}" for key, v in k.kwargs.items()]
        if k.buffer is not None:
            return f"{k.fn}({', '.join(parts + ['out=' + k.buffer.name])})"
        return f"{k.out.name} = {k.fn}({', '.join(parts)})"
    kwargs = {key: _literal(v) for key, v in k.kwargs.items()}
    text = k.fn.format(*args, **kwargs)
    return text if k.form == "stmt" else f"{k.out.name} = {text}"


def source(plan: Plan) -> str:
    """The plan as the source of a Python function, one line per kernel."""
    lines = [f"def {plan.name}({', '.join(a.name for a in plan.args)}):"]
    lines += [f"    # {note}" for note in plan.header]
    roots = _roots(plan)
    lives = _live_values(plan, roots)
    section = None
    guards: dict[int, list[tuple[int, GuardCheck]]] = {}
    for index, g in enumerate(plan.guards):
        guards.setdefault(g.after, []).append((index, g))
    used_after = _last_uses(plan, roots)
    lines += [f"    {v.name} = {v.name}_tensor._data"
              for v in _read_before_rebinding(plan, lives, roots)]  # fmt: skip
    for i, k in enumerate(plan.kernels):
        if k.section != section:
            section = k.section
            lines.append(f"    # {section}")
        text = _line(k)
        if k.comment:
            text += f"  # {k.comment}"
        lines.append("    " + text)
        if k.rebinds:  # the call may have given a parameter a new array
            lines += [f"    {v.name} = {v.name}_tensor._data" for v in lives
                      if used_after.get(id(v), -1) > i]  # fmt: skip
        for index, g in guards.get(i + 1, ()):
            lines.append(f"    if _guard_{index}({g.value.name}) != {g.outcome!r}:  # {g.describe}")
            lines.append(f"        raise _GuardFailed({index})")
    lines.append(f"    return {_returns(plan.returns)}")
    return "\n".join(lines)


def _returns(r: Any) -> str:
    if isinstance(r, Value):
        return r.name
    if isinstance(r, tuple):
        return "(" + "".join(_returns(x) + ", " for x in r) + ")"
    if isinstance(r, list):
        return "[" + ", ".join(_returns(x) for x in r) + "]"
    if isinstance(r, dict):
        return "{" + ", ".join(f"{k!r}: {_returns(v)}" for k, v in r.items()) + "}"
    if isinstance(r, _Wrap):
        return f"{r.fn}({_returns(r.inner)})"
    return _literal(r)


@dataclass(eq=False)
class _Wrap:
    """A returned value passed through a helper of the environment (`_tensor(loss)`)."""

    fn: str
    inner: Any


def wrap(fn: str, inner: Any) -> _Wrap:
    return _Wrap(fn, inner)


def _roots(plan: Plan) -> list[list[Value]]:
    """For each kernel, the root of every value it reads (one walk for the passes below)."""
    return [[v.root() for v in k.values()] for k in plan.kernels]


def _last_reads(roots: list[list[Value]]) -> dict[int, int]:
    """id of a root value -> the index of the last kernel reading it."""
    return {id(r): i for i, rs in enumerate(roots) for r in rs}


def _last_uses(plan: Plan, roots: list[list[Value]]) -> dict[int, int]:
    last = _last_reads(roots)
    for g in plan.guards:
        last[id(g.value.root())] = max(last.get(id(g.value.root()), -1), g.after)
    return last


def _read_before_rebinding(plan: Plan, lives: list[Value], roots: list[list[Value]]) -> list[Value]:
    """The live values a kernel (or guard) reads before the first call that rebinds them
    (`opt.zero_grad()` usually comes first: then every parameter is read after it)."""
    first = next((i for i, k in enumerate(plan.kernels) if k.rebinds), len(plan.kernels))
    wanted: set[int] = set()
    for rs in roots[: first + 1]:
        wanted.update(id(r) for r in rs)
    wanted.update(id(g.value.root()) for g in plan.guards if g.after <= first)
    return [v for v in lives if id(v) in wanted]


def _live_values(plan: Plan, roots: list[list[Value]]) -> list[Value]:
    seen: dict[int, Value] = {}
    for rs in roots:
        for r in rs:
            if r.kind == "live":
                seen[id(r)] = r
    for g in plan.guards:
        if g.value.root().kind == "live":
            seen[id(g.value.root())] = g.value.root()
    return list(seen.values())


class GuardFailed(Exception):  # noqa: N818 (control flow: the call runs eagerly)
    """Raised by a generated step when a recorded Python decision would go the other way."""


def build(plan: Plan) -> Callable[..., Any]:
    """Compile the plan's source into a function."""
    env = dict(plan.env)
    env["_GuardFailed"] = GuardFailed
    for i, g in enumerate(plan.guards):
        env[f"_guard_{i}"] = g.test
    exec(_code(source(plan), f"<compiled {plan.name}>"), env)
    return env[plan.name]


@functools.lru_cache(maxsize=64)
def _code(text: str, filename: str) -> types.CodeType:
    """The compiled source, kept: a step recorded again with the same structure (a new
    learning rate, a fresh model of the same sizes) writes the same source, and Python's
    `compile` is the largest part of building a plan (about 0.4 ms for a small MLP)."""
    return compile(text, filename, "exec")


# ---- dead kernels ----

PURE_HELPERS = frozenset(
    {"_clip", "_inside", "_relu", "_filled", "_sum_to", "_finite_or_zero", "_log_quietly"}
)


def _pure(k: Kernel) -> bool:
    """A kernel whose only effect is its result: numpy calls, views, the pure helpers
    (never a fresh draw, an optimizer call or a `.grad` statement)."""
    if k.effect or k.out is None or k.form == "stmt":
        return False
    if k.form == "expr":
        return k.fn.startswith(("{0}.", "np."))
    return k.fn.startswith("np.") or k.fn in PURE_HELPERS


def prune(plan: Plan) -> int:
    """Drop the pure kernels whose results nothing reads (a loss the step does not
    return, when its gradient comes from a fused rule); returns how many.

    What leaves the plan (returned, handed to `.grad`, read by a guard or a statement)
    is read, and so is everything it is computed from.
    """
    read = _escaping(plan) | {id(g.value.root()) for g in plan.guards}
    read |= {id(g.value) for g in plan.guards}
    dead: list[int] = []
    for i in range(len(plan.kernels) - 1, -1, -1):
        k = plan.kernels[i]
        if _pure(k) and id(k.out) not in read and id(k.out.root()) not in read:
            dead.append(i)
            continue
        for v in k.values():
            read.add(id(v))
            read.add(id(v.root()))
    for i in dead:  # from the last: earlier indices stay valid
        k = plan.kernels.pop(i)
        plan.producers.pop(id(k.out), None)
        for g in plan.guards:
            if g.after > i:
                g.after -= 1
    return len(dead)


# ---- buffers ----


def preallocate(plan: Plan) -> None:
    """Give each "call" kernel a buffer made once; reuse buffers of dead values.

    A buffer is reused once the last kernel reading its value (directly or through a
    view) has run; an elementwise kernel may also write over its own dead input. Values
    that leave the plan (returned, handed to `.grad`, or read by a guard) keep their
    buffer for themselves.
    """
    pool = _Pool(plan)
    for i, k in enumerate(plan.kernels):
        if k.form == "call" and k.out is not None:
            pool.place(i, k)
        pool.release(i)
    if plan.handed:
        _release_handed(plan)


class _Pool:
    """The buffers of a plan: who owns which, which are free, when each value dies."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.last = _last_reads(_roots(plan))
        self.pinned = _escaping(plan) | {id(g.value.root()) for g in plan.guards}
        self.free: dict[tuple[Any, ...], list[Value]] = {}
        self.owner: dict[int, Value] = {}  # value id -> its buffer
        self.dying: list[list[Value]] = [[] for _ in plan.kernels]

    def _reusable(self, i: int, k: Kernel, key: tuple[Any, ...]) -> Value | None:
        if k.elementwise:  # may overwrite an input that dies here
            for v in k.values():
                r = v.root()
                if (v is r and id(r) in self.owner and self.last.get(id(r)) == i
                        and _key(r) == key and id(r) not in self.pinned):  # fmt: skip
                    self.dying[i] = [d for d in self.dying[i] if d is not r]
                    return self.owner.pop(id(r))
        if self.free.get(key):
            return self.free[key].pop()
        return None

    def place(self, i: int, k: Kernel) -> None:
        out = k.out
        buf = None
        if id(out) not in self.pinned and self.last.get(id(out), -1) > i:
            buf = self._reusable(i, k, _key(out))
        if buf is None:
            buf = k.buffer = Value(out.name, out.shape, out.dtype, "buffer")
            self.plan.env[buf.name] = np.empty(out.shape, out.dtype)
        else:
            self.plan.env[out.name] = self.plan.env[buf.name]  # one array, two readable names
            k.buffer = Value(out.name, out.shape, out.dtype, "buffer")
        self.owner[id(out)] = buf
        if id(out) not in self.pinned:
            self.dying[max(self.last.get(id(out), i), i)].append(out)

    def release(self, i: int) -> None:
        for v in self.dying[i]:
            buf = self.owner.pop(id(v), None)
            if buf is not None:
                self.free.setdefault(_key(v), []).append(buf)


def _key(v: Value) -> tuple[Any, ...]:
    d = v.dtype
    return (v.shape, d.str if isinstance(d, np.dtype) else np.dtype(d).str)


def _release_handed(plan: Plan) -> None:
    """The arrays handed to `.grad` are written again by the next call: if a tensor still
    holds one (no zero_grad in between), it gets a copy first."""
    first = next(i for i, k in enumerate(plan.kernels) if k.section == "backward")
    releases = [
        Kernel(
            f"if {h}.grad is {{0}}: {h}.grad = {{0}}.copy()",
            (v,),
            None,
            "stmt",
            section="backward",
            comment="keep last call's .grad array intact",
        )
        for h, v in plan.handed
    ]
    plan.kernels[first:first] = releases
    for g in plan.guards:
        if g.after > first:
            g.after += len(releases)


def _escaping(plan: Plan) -> set[int]:
    ids: set[int] = set()

    def walk(r: Any) -> None:
        if isinstance(r, Value):
            ids.add(id(r.root()))
        elif isinstance(r, (tuple, list)):
            for x in r:
                walk(x)
        elif isinstance(r, dict):
            for x in r.values():
                walk(x)
        elif isinstance(r, _Wrap):
            walk(r.inner)

    walk(plan.returns)
    for k in plan.kernels:
        if k.effect:
            for v in k.values():
                ids.add(id(v.root()))
    return ids
