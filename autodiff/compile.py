"""`ad.compile`: record a training step once, then replay it as straight numpy code.

>>> import numpy as np
>>> import autodiff as ad
>>> w = ad.Tensor([1.0, -2.0], requires_grad=True, name="w")
>>> @ad.compile
... def step(x):
...     w.zero_grad()
...     loss = (w * x).tanh().sum()
...     loss.backward()
...     return loss
>>> float(step(np.array([0.5, 0.25]))) == float(step(np.array([0.5, 0.25])))
True
>>> "np.tanh" in step.source
True

How it works. The first call with a new *signature* runs the function eagerly while a
recorder (`autodiff.trace`) notes every op, every `backward()`, every call of a
stateful object's methods (`opt.step()`) and every Python decision on a computed value
(`if loss.item() > 1:`). `autodiff.planner` turns that into a `Plan` of numpy kernels
(forward, backward with the engine's rules, update), `autodiff.plan.prune` drops the
pure kernels nothing reads (the loss of a step that does not return it, once a fused
rule gives its gradient), `autodiff.plan.preallocate` gives each kernel a buffer made
once, and the plan is compiled to a Python function. Before it is used, its first
replay (the next call on the same path) runs beside the eager step, from the same state,
and is compared with it, so a plan that does not reproduce the step is never used (one
whose fused loss rule is off by rounding is planned again with the engine's rules). Later
calls with the same signature run the generated function: no Tensors, no graph.

The signature is the shapes and dtypes of array and Tensor arguments, the values of
number, string and None arguments, and the `__compile_key__()` of every object the
function can reach (its arguments, closure cells, the globals it names and the
attributes of its `self`). A name it reads that comes to hold another object (a new
optimizer, a new number) drops the recordings made with the old one; names that hold
new objects on every call make the step run eagerly, with a warning. A decision
on data (`if loss.item() > 1:`, `if loss > 1:`, on a parameter's value too) is a guard,
checked on every replay; when one fails, the call runs eagerly and records that path
too. What a plan cannot follow (`create_graph=True`, `ad.grad`, Python code looking at
the values of a computed tensor, a parameter or a gradient: `.data`, `.grad`,
`np.asarray`, the booleans of comparing an array; a write to a tensor's data or `.grad`
other than by an effect such as `opt.step()`; an array made outside the engine) makes
the call run eagerly, with a warning naming it. Python side effects other than these
(appending to a list, printing) happen when recording only, as with any tracing
compiler, and so does a decision on a value passed through `math` or numpy functions
(`math.log(loss.item()) > 0`), which no recording can see.

The protocol objects implement (autodiff never names them; `nn` modules and optimizers do):

- `__compile_key__() -> hashable`: part of the signature (a module's train/eval modes,
  an optimizer's hyper-parameters; a new learning rate records anew).
- `__compile_state__() -> dict[str, Tensor | ndarray | list | numpy Generator]`: what a
  call may change, by name; used to check a plan against the eager run and named in
  `check=True` errors.
- `__compile_effects__: tuple[str, ...]`: methods a replay calls again (an optimizer's
  `"step"`, `"zero_grad"`); `zero_grad` must be idempotent.
- optionally, on an object with a `step` effect and a `params` list,
  `__compile_update__(data, grad, params_data, grads) -> callable | None`: the plan has
  made the parameters' data views of the flat array `data` and their gradients views of
  `grad`; the callable does `step()` for all of them at once (see `autodiff.fuse`).

Random draws outside the engine go through `autodiff.trace.fresh(fn, *args)`, so that a
replay calls `fn` again (nn's Dropout does). Arrays the function reads from its closure
or globals are inputs like its arguments.

An array that reaches an op without being computed by one (a target a loss converts,
`1 - y`, the zeros a loss stacks) is identified by its values: the argument it equals,
an array made from one, or a constant. A single value, or one value repeated, may be
either (a batch of one label 0 equals those zeros): such a recording is not used, and
a later call on other values tells them apart (after `MAX_RETRIES` undecided recordings
the step runs eagerly, with a warning).
"""

from __future__ import annotations

import copy
import functools
import inspect
import operator
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autodiff import fuse, trace
from autodiff.lower import Unsupported
from autodiff.plan import GuardFailed, Plan, build, preallocate, prune, source
from autodiff.planner import Ambiguous, make_plan
from autodiff.tensor import Tensor

CHECKED_REPLAYS = 3  # replays that check=True runs beside eager
# Without check=True the first replay still runs beside eager. That one check is the
# stronger of the two a plan could get: a replay of the recorded call itself, on the
# recorded state and values, would cost as much (a replay, copies of the state, a
# comparison) and could not show effects that only the next call reveals (a `.grad`
# reset by assignment) nor a value the plan took for a constant. So the recorded call
# only records; the next call on its path (the guard outcomes eager takes) checks it,
# and a call that takes a path not recorded yet is recorded instead.
FIRST_REPLAYS_CHECKED = 1
MAX_VARIANTS = 8  # recorded paths (guard outcomes) kept per signature
MAX_RETRIES = 8  # ambiguous recordings (a batch of one label, say) before running eagerly


def compile(fn: Callable[..., Any] | None = None, *, check: bool = False) -> Any:  # noqa: A001
    """Compile `fn` (a training step): record it on the first call, replay it afterwards.

    Use as `@ad.compile` or `@ad.compile(check=True)`; `check=True` runs the first
    replays beside the eager function and raises `RuntimeError` naming the first array
    that differs. `step.source` is the generated code of the last recording.
    """
    if fn is None:
        return lambda f: Compiled(f, check=check)
    if not callable(fn):
        raise TypeError(f"ad.compile expects a function, got {type(fn).__name__}")
    return Compiled(fn, check=check)


@dataclass(eq=False)
class Variant:
    """One recorded path of a signature."""

    plan: Plan
    run: Callable[..., Any]
    checks_left: int


@dataclass(eq=False)
class Entry:
    variants: list[Variant] = field(default_factory=list)
    eager_reason: str | None = None  # set when the step cannot be compiled
    retries: int = 0  # recordings that could not tell a constant from an argument
    seen: dict[Any, np.ndarray] = field(default_factory=dict)  # what they read (planner)
    exact: bool = False  # a fused loss rule's rounding was not close enough: plan without


class Compiled:
    """A compiled step: call it like the function. See `autodiff.compile`."""

    def __init__(self, fn: Callable[..., Any], *, check: bool = False) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.check = check
        self.entries: dict[Any, Entry] = {}
        self.recordings = 0
        self._last: Plan | None = None
        self._objects: list[Any] | None = None
        self._captured = _captured_arrays(fn)  # (name, getter) of arrays fn reads by name
        self._param_names = _parameter_names(fn)
        # What fn finds under the names it reads, taken on every call (see `_sources`);
        # listed at the first call, when the globals a step names have been defined.
        self._names: list[str] = []
        self._sources: Callable[[], tuple[Any, ...]] = tuple
        self._found: tuple[Any, ...] = ()
        self._rebound = 0  # how many times a name came to hold another object

    # ---- calling ----

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        objects = self._objects
        found = self._sources()
        if objects is None or not all(map(operator.is_, found, self._found)):
            if objects is not None and self._rebind(found):
                return self.fn(*args, **kwargs)
            self._names, self._sources = _sources(self.fn)
            self._found = self._sources()
            objects = self._objects = _reachable(self.fn, self._found)
        key, flat = _signature(args, kwargs, objects)
        if self._captured:  # arrays of the closure and globals: inputs, like arguments
            arrays = [get() for _, get in self._captured]
            for a in arrays:
                if not isinstance(a, np.ndarray):  # the name now holds something else
                    self._captured = _captured_arrays(self.fn)
                    return self(*args, **kwargs)
                key.append((id(a), a.shape, a.dtype))
            flat += arrays
        key = tuple(key)
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = Entry()
        elif entry.eager_reason is not None:
            return self.fn(*args, **kwargs)
        else:
            for variant in entry.variants:
                if variant.checks_left:
                    return self._checked(entry, variant, args, kwargs, flat, objects)
                try:
                    return variant.run(*flat)
                except GuardFailed:
                    continue
        return self._record(entry, args, kwargs, flat, objects)

    def _rebind(self, found: tuple[Any, ...]) -> bool:
        """A name now holds another object (`opt = Adam(...)` in a notebook): the plans
        made with the old ones are dropped (they would step the old optimizer, or use
        an old number). Names that change on every call make the step eager (True):
        the snapshot is then kept as it was, so every such call comes here."""
        self._rebound += 1
        if self._rebound <= MAX_RETRIES:
            self.entries.clear()
            return False
        if self._rebound == MAX_RETRIES + 1:
            changed = [n for n, a, b in zip(self._names, found, self._found) if a is not b]
            warnings.warn(
                f"ad.compile: {self.__name__} runs eagerly: names it reads keep holding new "
                f"objects ({', '.join(changed)}); pass what changes as an argument",
                RuntimeWarning,
                stacklevel=3,
            )
        return True

    @property
    def source(self) -> str:
        """The generated Python of the last recording (one numpy line per kernel)."""
        if self._last is None:
            raise RuntimeError(f"{self.__name__}.source: the step has not been called yet")
        return source(self._last)

    def __repr__(self) -> str:
        return f"<compiled {self.__name__}: {self.recordings} recording(s)>"

    # ---- recording ----

    def _record(self, entry: Entry, args: tuple, kwargs: dict, flat: list, objects: list) -> Any:
        everything = objects + _protocol_objects(list(args) + list(kwargs.values()))
        recorder = trace.Recorder()
        with trace.recording(recorder), _Intercepted(everything, recorder):
            result = self.fn(*args, **kwargs)
        self._adopt(entry, recorder, result, args, kwargs, flat, everything)
        return result

    def _adopt(
        self,
        entry: Entry,
        recorder: trace.Recorder,
        result: Any,
        args: tuple,
        kwargs: dict,
        flat: list,
        everything: list,
    ) -> None:
        """Plan and build what `recorder` saw; a new variant, to be checked before use.

        The plan is not replayed here: its first replay (the next call on this path)
        runs beside the eager step and is compared with it (see `FIRST_REPLAYS_CHECKED`).
        """
        self.recordings += 1
        try:
            plan = make_plan(
                getattr(self.fn, "__name__", "step").replace("<", "_").replace(">", "_"),
                self._arg_names(args, kwargs, len(flat)),
                flat,
                _known_names(everything),
                recorder,
                result,
                entry.seen,
                fuse_rules=not entry.exact,
            )
            prune(plan)
            preallocate(plan)
            fuse.flat_updates(plan)
            fuse.typed_constants(plan)
            run = build(plan)
        except Ambiguous as why:
            entry.retries += 1
            if entry.retries > MAX_RETRIES:
                self._eager(entry, f"{why}")
            return  # the next call records again, on other values
        except Unsupported as why:
            self._eager(entry, f"{why}")
            return
        except Exception as why:  # a plan that fails to build costs no result
            self._eager(entry, f"it could not be planned ({type(why).__name__}: {why})")
            return
        self._last = plan
        checks = CHECKED_REPLAYS if self.check else FIRST_REPLAYS_CHECKED
        entry.variants.insert(0, Variant(plan, run, checks))
        del entry.variants[MAX_VARIANTS:]

    def _eager(self, entry: Entry, reason: str, stacklevel: int = 5) -> None:
        entry.eager_reason = reason
        warnings.warn(
            f"ad.compile: {self.__name__} runs eagerly: {reason}",
            RuntimeWarning,
            stacklevel=stacklevel,  # the caller of the compiled step
        )

    def _checked(
        self, entry: Entry, variant: Variant, args: tuple, kwargs: dict, flat: list, objects: list
    ) -> Any:
        """Run eagerly, then the replay from the same state; raise if they differ.

        The replay checked is that of a variant whose recorded decisions (guard
        outcomes) the eager run took. When no variant decided alike, the run took a path
        not recorded yet and is recorded as a new variant; when only one already checked
        did, that one is tried first from now on (and the unchecked one keeps its check).
        """
        everything = objects + _protocol_objects(list(args) + list(kwargs.values()))
        state = _state(everything, args, kwargs)
        before = _snapshot(state)
        recorder = trace.Recorder()
        with trace.recording(recorder), _Intercepted(everything, recorder):
            result = self.fn(*args, **kwargs)
        variant = _same_path(entry, variant, recorder)
        if variant is None:  # a new path: this run is its recording
            self._adopt(entry, recorder, result, args, kwargs, flat, everything)
            return result
        if not variant.checks_left:  # a checked path: tried first from now on
            entry.variants.remove(variant)
            entry.variants.insert(0, variant)
            return result
        after = _snapshot(state, lend=False)
        _restore(state, before)
        try:
            replayed = _with_draws(variant.run, recorder, flat)
            problem = _difference(_current(state), after, replayed, result)
        except GuardFailed as why:
            problem = _left_path(variant, why)
        except Exception as why:  # the eager run's state is put back below
            problem = f"the replay raised {type(why).__name__}: {why}"
        _restore(state, after)
        variant.checks_left -= 1
        if problem is not None and variant.plan.fused_rule and not entry.exact:
            # A fused loss rule gives the eager numbers up to rounding, and rounding that
            # cancellation magnifies (gradients that vanish) can exceed the tolerance:
            # the next call records this path again with the engine's own rules.
            entry.exact = True
            entry.variants = [v for v in entry.variants if v is not variant]
            return result
        if problem is not None:
            if self.check:
                raise RuntimeError(
                    f"ad.compile(check=True): the replay differs from eager: {problem}"
                )
            self._eager(
                entry, f"its replay did not reproduce the eager step ({problem})", stacklevel=4
            )
        return result

    def _arg_names(self, args: tuple, kwargs: dict, n: int) -> list[str]:
        names = []
        for i, a in enumerate(args):
            if _is_array(a):
                names.append(self._param_names[i] if i < len(self._param_names) else f"arg{i}")
        names += [k for k, v in sorted(kwargs.items()) if _is_array(v)]
        names += [name for name, _ in self._captured]
        return names[:n] + [f"arg{i}" for i in range(len(names), n)]


# ---- signatures ----


def _is_array(x: Any) -> bool:
    return isinstance(x, (Tensor, np.ndarray))


def _arg_key(x: Any, flat: list[np.ndarray]) -> Any:
    if isinstance(x, Tensor):
        flat.append(x._data)
        return ("T", x._data.shape, x._data.dtype, x.requires_grad)
    if isinstance(x, np.ndarray):
        flat.append(x)
        return ("A", x.shape, x.dtype)
    if x is None or isinstance(x, (bool, int, float, str, np.generic)):
        return (type(x).__name__, x)
    key = getattr(x, "__compile_key__", None)
    if key is not None and not isinstance(x, type):
        return ("O", id(x), key())
    return ("id", id(x))


def _signature(args: tuple, kwargs: dict, objects: list) -> tuple[list[Any], list[np.ndarray]]:
    """The parts of a call's signature (a list, to extend), and its arrays in order."""
    flat: list[np.ndarray] = []
    key = [_arg_key(a, flat) for a in args]
    if kwargs:
        key += [(k, _arg_key(v, flat)) for k, v in sorted(kwargs.items())]
    for o in objects:
        if isinstance(o, Tensor):
            key.append((o._data.shape, o._data.dtype, o.requires_grad))
        else:
            key.append(o.__compile_key__())
    return key, flat


def _parameter_names(fn: Callable[..., Any]) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _reachable(fn: Callable[..., Any], found: tuple[Any, ...]) -> list[Any]:
    """Protocol objects among what `fn`'s names hold (`found`, see `_sources`), its
    default arguments and its `self`."""
    candidates = list(found)
    target = getattr(fn, "__func__", fn)
    if hasattr(fn, "__self__"):
        candidates.append(fn.__self__)
    if isinstance(target, types.FunctionType):
        candidates += target.__defaults__ or ()  # `def step(x, model=model)`
        candidates += (target.__kwdefaults__ or {}).values()
    elif callable(fn) and not isinstance(fn, types.BuiltinFunctionType):
        candidates.append(fn)
    return _protocol_objects(candidates)


def _sources(fn: Callable[..., Any]) -> tuple[list[str], Callable[[], tuple[Any, ...]]]:
    """The names `fn` reads objects from (the globals it names, its closure cells, the
    attributes of its `self`; not arrays, which are inputs), and a function giving what
    they hold now, as one tuple. Cheap (C-level getters): it runs on every call."""
    target = getattr(fn, "__func__", fn)
    owner = getattr(fn, "__self__", None)
    names: list[str] = []
    parts: list[Callable[[], tuple[Any, ...]]] = []
    if isinstance(target, types.FunctionType):
        g = target.__globals__
        held = sorted(n for n in _global_names(target.__code__)
                      if n in g and not isinstance(g[n], np.ndarray))  # fmt: skip
        if held:
            get = operator.itemgetter(*held)
            parts.append((lambda: get(g)) if len(held) > 1 else (lambda: (get(g),)))
            names += held
        cells = [(n, c) for n, c in zip(target.__code__.co_freevars, target.__closure__ or ())
                 if not isinstance(_content(c), np.ndarray)]  # fmt: skip
        if cells:
            contents = operator.attrgetter("cell_contents")
            kept = [c for _, c in cells]
            parts.append(lambda: tuple(map(contents, kept)))
            names += [n for n, _ in cells]
    if owner is not None and hasattr(owner, "__dict__"):
        attrs = [k for k, v in vars(owner).items() if not isinstance(v, np.ndarray)]
        if attrs:
            get_attrs = operator.itemgetter(*attrs)
            parts.append((lambda: get_attrs(vars(owner))) if len(attrs) > 1
                         else (lambda: (get_attrs(vars(owner)),)))  # fmt: skip
            names += [f"self.{k}" for k in attrs]

    def sources() -> tuple[Any, ...]:
        found: tuple[Any, ...] = ()
        try:
            for part in parts:
                found += part()
        except (KeyError, ValueError):  # a name deleted, a cell emptied: not the same
            return (object(),) * len(names)
        return found

    return names, sources


def _content(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _captured_arrays(fn: Callable[..., Any]) -> list[tuple[str, Callable[[], np.ndarray]]]:
    """The numpy arrays `fn` reads from its closure or its globals, each with a getter
    (read on every call: a rebound name is a new signature, a changed array is read)."""
    target = getattr(fn, "__func__", fn)
    if not isinstance(target, types.FunctionType):
        return []
    found: list[tuple[str, Callable[[], np.ndarray]]] = []
    for name, cell in zip(target.__code__.co_freevars, target.__closure__ or ()):
        try:
            if isinstance(cell.cell_contents, np.ndarray):
                found.append((name, lambda cell=cell: cell.cell_contents))
        except ValueError:  # an empty cell
            pass
    g = target.__globals__
    for name in sorted(_global_names(target.__code__)):
        if isinstance(g.get(name), np.ndarray):
            found.append((name, lambda name=name: g[name]))
    return found


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _protocol_objects(
    candidates: list[Any], found: list[Any] | None = None, depth: int = 1
) -> list[Any]:
    """The protocol objects and Tensors among `candidates` (and in their lists and tuples),
    and, `depth` levels down, among the attributes of other objects: a trainer's
    `self.model` and `self.opt` when the step is its method."""
    found = [] if found is None else found
    for c in candidates:
        items = c if isinstance(c, (list, tuple)) else (c,)
        for x in items:
            if isinstance(x, (type, types.ModuleType)) or any(x is f for f in found):
                continue
            if callable(getattr(x, "__compile_key__", None)) or isinstance(x, Tensor):
                found.append(x)
            elif depth and hasattr(x, "__dict__") and not callable(x):
                _protocol_objects(list(vars(x).values()), found, depth - 1)
    return found


# ---- state: what a call may change ----


def _state(objects: list[Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    state: dict[str, Any] = {}
    seen: set[int] = set()
    for i, obj in enumerate(objects):
        if isinstance(obj, Tensor):
            items = {obj.name or f"tensor{i}": obj}
        else:
            getter = getattr(obj, "__compile_state__", None)
            items = getter() if getter is not None else {}
            prefix = type(obj).__name__
            items = {f"{prefix}.{k}": v for k, v in items.items()}
        for name, thing in items.items():
            if id(thing) not in seen:
                seen.add(id(thing))
                state[name] = thing
    for i, a in enumerate(list(args) + list(kwargs.values())):
        if isinstance(a, Tensor) and id(a) not in seen:
            seen.add(id(a))
            state[a.name or f"argument {i}"] = a
    return state


def _known_names(objects: list[Any]) -> dict[int, str]:
    """Readable names of the objects' tensors: a module's dotted path ("layers.0.W")
    before an optimizer's index ("params[0]")."""
    names: dict[int, str] = {}
    for obj in objects:
        items = obj.__compile_state__() if hasattr(obj, "__compile_state__") else {}
        for name, thing in items.items():
            if isinstance(thing, Tensor):
                name = thing.name or name
                if id(thing) not in names or ("[" in names[id(thing)] and "[" not in name):
                    names[id(thing)] = name
        if isinstance(obj, Tensor) and obj.name:
            names.setdefault(id(obj), obj.name)
    return names


def _snapshot(state: dict[str, Any], lend: bool = True) -> dict[str, Any]:
    """A copy of the state, to `_restore` once.

    A tensor's `.grad` array is kept itself rather than copied (it is a new array after
    every backward, not written in place): with `lend` (the state before a run) the tensor
    goes on with a copy of it; without (the state after a run, about to be restored over)
    the tensor will be given another array by `_restore`, so one copy serves.
    """
    snap: dict[str, Any] = {}
    for name, thing in state.items():
        if isinstance(thing, Tensor):
            g = thing.grad
            if lend and g is not None:
                thing.grad = np.array(g, copy=True)
            snap[name] = (thing._data.copy(), g)
        elif isinstance(thing, np.ndarray):
            snap[name] = thing.copy()
        elif isinstance(thing, np.random.Generator):
            snap[name] = copy.deepcopy(thing.bit_generator.state)
        elif isinstance(thing, list):  # an optimizer's state: arrays copied one by one
            snap[name] = [x.copy() if isinstance(x, np.ndarray) else copy.deepcopy(x)
                          for x in thing]  # fmt: skip
        else:
            snap[name] = copy.deepcopy(thing)
    return snap


def _restore(state: dict[str, Any], snap: dict[str, Any]) -> None:
    """Put the state back as `snap` holds it; the snapshot's `.grad` arrays are handed over."""
    for name, thing in state.items():
        saved = snap[name]
        if isinstance(thing, Tensor):
            data, g = saved
            if thing._data.flags.writeable and thing._data.shape == data.shape:
                np.copyto(thing._data, data)
            else:
                thing._data = data
            thing.grad = g
        elif isinstance(thing, np.ndarray):
            np.copyto(thing, saved)
        elif isinstance(thing, np.random.Generator):
            thing.bit_generator.state = copy.deepcopy(saved)
        elif isinstance(thing, list):
            for i, item in enumerate(saved):  # arrays in place: they may be views
                if (i < len(thing) and isinstance(item, np.ndarray)
                        and isinstance(thing[i], np.ndarray) and thing[i].shape == item.shape
                        and thing[i].flags.writeable):  # fmt: skip
                    np.copyto(thing[i], item)
                elif i < len(thing):
                    thing[i] = copy.deepcopy(item)
            del thing[len(saved) :]
        elif isinstance(thing, dict):
            thing.clear()
            thing.update(copy.deepcopy(saved))


def _same_path(entry: Entry, variant: Variant, recorder: trace.Recorder) -> Variant | None:
    """The variant that decided as the eager run did (one still to be checked first),
    else None."""
    decisions = [(g.describe, g.outcome) for g in recorder.guards]
    same = [v for v in [variant] + entry.variants
            if [(g.describe, g.outcome) for g in v.plan.guards] == decisions]  # fmt: skip
    return next((v for v in same if v.checks_left), same[0] if same else None)


def _left_path(variant: Variant, why: GuardFailed) -> str:
    """Why a replay failed where the eager run decided as recorded."""
    detail = why.args[0] if why.args else ""
    if isinstance(detail, int) and 0 <= detail < len(variant.plan.guards):
        detail = variant.plan.guards[detail].describe
    return f"the replay left the recorded path where the eager run did not ({detail})"


def _current(state: dict[str, Any]) -> dict[str, Any]:
    """What `_snapshot` gives, without copying: to compare the state as it is now."""
    now: dict[str, Any] = {}
    for name, thing in state.items():
        if isinstance(thing, Tensor):
            now[name] = (thing._data, thing.grad)
        elif isinstance(thing, np.random.Generator):
            now[name] = thing.bit_generator.state
        elif isinstance(thing, list):
            now[name] = list(thing)
        else:
            now[name] = thing
    return now


def _with_draws(run: Callable[..., Any], recorder: trace.Recorder, flat: list) -> Any:
    """Replay with every fresh draw giving the one `recorder` saw (to compare with eager)."""
    draws = [ev.out for ev in recorder.events if isinstance(ev, trace.FreshEvent)]
    env = run.__globals__
    keys = [k for k in env if k.startswith("_draw") and not k.startswith("_draw_args")]
    if len(draws) != len(keys):
        raise GuardFailed("the number of random draws changed")
    saved = {k: env[k] for k in keys}
    try:
        for k, d in zip(keys, draws):
            env[k] = lambda *a, d=d: d.copy()
        return run(*flat)
    finally:
        env.update(saved)


def _difference(got: dict, want: dict, replayed: Any, result: Any) -> str | None:
    """The first array that differs between the replayed and the eager run, or None.

    Gradients are compared first: a wrong gradient then shows as itself, not as the
    parameter the optimizer updated with it.
    """
    return (
        _grad_difference(got, want)
        or _returned_difference(replayed, result, "the returned value")
        or _state_difference(got, want)
    )


def _grad_difference(got: dict, want: dict) -> str | None:
    for name, w in want.items():
        if isinstance(w, tuple):  # a tensor: (data, grad)
            g = got[name]
            if (g[1] is None) != (w[1] is None):
                return f"{name}.grad is {'None' if g[1] is None else 'set'} in the replay, " \
                       f"{'None' if w[1] is None else 'set'} eagerly"  # fmt: skip
            if w[1] is not None and not _close(g[1], w[1]):
                return _describe(name + ".grad", g[1], w[1])
    return None


def _state_difference(got: dict, want: dict) -> str | None:
    for name, w in want.items():
        g = got[name]
        if isinstance(w, tuple) and not _close(g[0], w[0]):
            return _describe(name, g[0], w[0])
        if isinstance(w, np.ndarray) and not _close(g, w):
            return _describe(name, g, w)
        if isinstance(w, list):
            for i, (a, b) in enumerate(zip(g, w)):
                if isinstance(b, np.ndarray) and not _close(a, b):
                    return _describe(f"{name}[{i}]", a, b)
                if not isinstance(b, np.ndarray) and a != b:
                    return f"{name}[{i}] is {a!r} in the replay and {b!r} eagerly"
    return None


def _returned_difference(got: Any, want: Any, where: str) -> str | None:
    if isinstance(want, Tensor):
        if not isinstance(got, Tensor) or not _close(got._data, want._data):
            return _describe(where, getattr(got, "_data", got), want._data)
    elif isinstance(want, (tuple, list)):
        for i, (a, b) in enumerate(zip(got, want)):
            problem = _returned_difference(a, b, f"{where}[{i}]")
            if problem:
                return problem
    elif isinstance(want, dict):
        for k in want:
            problem = _returned_difference(got[k], want[k], f"{where}[{k!r}]")
            if problem:
                return problem
    elif isinstance(want, float) and not _close(np.asarray(got), np.asarray(want)):
        return f"{where} is {got!r} in the replay and {want!r} eagerly"
    return None


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """`a` equals `b` to the API's tolerance, elementwise: |a - b| <= atol + rtol * |b|,
    with atol = rtol * max|b| (NaN equal to NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    if not a.size or (a == b).all():  # often bit for bit: one pass, no temporaries kept
        return True
    rtol = 1e-5 if a.dtype == np.float32 else 1e-12
    scale = max(float(b.max()), -float(b.min()))  # max|b| without an |b| temporary
    if not np.isfinite(scale):  # the scale of the finite values: an inf would hide all
        scale = float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0))
    # The elementwise test holds wherever max|a - b| <= atol, which takes fewer passes
    # over the arrays than `allclose`; anything else (a real difference, NaN, inf) is
    # judged by `allclose` itself.
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, huge - -huge
        d = np.subtract(a, b)
    worst = max(float(d.max()), -float(d.min()))
    if worst <= rtol * scale:
        return True
    return bool(np.allclose(a, b, rtol=rtol, atol=rtol * scale, equal_nan=True))


def _describe(name: str, got: Any, want: Any) -> str:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"{name}: shape/dtype {got.shape} {got.dtype} in the replay, {want.shape} " \
               f"{want.dtype} eagerly"  # fmt: skip
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    i = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if diff.size else ()
    return f"{name} differs (worst element {tuple(int(j) for j in i)}: replay {got[i]!r}, " \
           f"eager {want[i]!r})"  # fmt: skip


def _effects(obj: Any) -> tuple[str, ...]:
    if isinstance(obj, Tensor):
        return ()  # Tensor.zero_grad tells the recorder itself
    return tuple(getattr(obj, "__compile_effects__", ()))


class _Intercepted:
    """While recording, calls of the objects' `__compile_effects__` methods are noted."""

    def __init__(self, objects: list[Any], recorder: trace.Recorder) -> None:
        self.objects = [o for o in objects if _effects(o)]
        self.recorder = recorder
        self.patched: list[tuple[Any, str]] = []

    def __enter__(self) -> _Intercepted:
        for obj in self.objects:
            if not hasattr(obj, "__dict__"):
                continue
            for method in _effects(obj):
                if method in vars(obj):
                    continue
                bound = getattr(obj, method)
                label = type(obj).__name__.lower()
                vars(obj)[method] = self._wrap(obj, method, bound, label)
                self.patched.append((obj, method))
        return self

    def _wrap(self, obj: Any, method: str, bound: Callable[..., Any], label: str) -> Any:
        recorder = self.recorder

        def recorded(*args: Any, **kwargs: Any) -> Any:
            if args or kwargs:
                recorder.problem(f"{label}.{method}() called with arguments")
            recorder.events.append(trace.CallEvent(obj, method, label))
            with trace.paused():
                return bound(*args, **kwargs)

        return recorded

    def __exit__(self, *exc: Any) -> None:
        for obj, method in self.patched:
            vars(obj).pop(method, None)
