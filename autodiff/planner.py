"""From what a `Recorder` saw to a `Plan`: values for every array, kernels for every op.

Every array an op reads must be accounted for, or the recording is refused (never a
stale constant): the result of an earlier op; a step argument (also after a dtype
conversion or a reshape, found by value: layers and losses make private copies); a
live array (a parameter, or a tensor the step's objects hold), read afresh on every
call; a draw made through `autodiff.trace.fresh`, re-drawn on every call; or a single
number. Backward passes are written out from the recorded graph with the rules of
`autodiff.lower`, in the eager engine's order, and end with the accumulation into
`.grad`; calls of stateful objects (`opt.step()`) are replayed as calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff import fuse, lower, trace
from autodiff.lower import Unsupported
from autodiff.plan import GuardCheck, Name, Plan, Value, wrap
from autodiff.tensor import Tensor, leaf


class Ambiguous(Unsupported):
    """This recording cannot tell a constant from an argument's values: record again."""


IDEMPOTENT = frozenset({"zero_grad"})  # calls a failed guard may safely repeat eagerly
FUSE = True  # the rewrites of autodiff.fuse (tests compare against FUSE = False)


class Planner:
    """Builds the plan of one recording."""

    def __init__(
        self,
        name: str,
        arg_names: list[str],
        arg_arrays: list[np.ndarray],
        known: dict[int, str],
        seen: dict[tuple[Any, ...], np.ndarray] | None = None,
        fuse_rules: bool = True,
    ) -> None:
        self.plan = Plan(name)
        self.fuse_rules = FUSE and fuse_rules  # the loss rules of autodiff.fuse
        self.plan.env.update(lower.HELPERS)
        self.plan.env["_tensor"] = _tensor
        self.plan.env["_onehot"] = _onehot
        self.plan.env["_inside"] = _inside
        self.args = [self.plan.arg(n, a.shape, a.dtype) for n, a in zip(arg_names, arg_arrays)]
        self.arg_arrays = arg_arrays
        self.known = known  # id(tensor) -> readable name, for the objects' tensors
        self.values: dict[int, Value] = {}  # id(tensor) -> its value
        self.arrays: dict[int, Value] = {}  # id(array) -> its value
        self.nodes: dict[int, tuple[int, trace.OpEvent, list[Value]]] = {}
        self.fresh: list[tuple[Value, np.ndarray]] = []
        self.effects: list[str] = []
        self.node_attrs: dict[int, dict[str, Any]] = {}  # id(tensor) -> its attrs as values
        # What earlier recordings of this signature read at each matched array (by the
        # order of matching): a value that changed is not a constant.
        self.seen = {} if seen is None else seen
        self.matched = 0
        self.ambiguous = ""  # why this recording cannot tell a constant from an argument
        for v, a in zip(self.args, arg_arrays):
            self.arrays.setdefault(id(a), v)

    # ---- values ----

    def value_of(self, t: Any, op: str) -> Value:
        if not isinstance(t, Tensor):
            raise Unsupported(f"{op} got a {type(t).__name__} input")
        v = self.values.get(id(t))
        if v is not None:
            return v
        if t.op and t.requires_grad:
            raise Unsupported(
                f"{op} uses a tensor computed before the step ({t.op} {t.shape}); "
                "a compiled step must compute its graph itself"
            )
        data = t._data
        v = self.arrays.get(id(data))
        if v is None:
            if t.requires_grad or id(t) in self.known:
                v = self._live(t)
            else:
                v = self._match(data, op)
        self.values[id(t)] = v
        return v

    def _live(self, t: Tensor) -> Value:
        name = self.known.get(id(t)) or t.name or "p"
        return self.plan.live(name, t, t.shape, t.dtype)

    def _arg_hits(self, data: np.ndarray, op: str) -> list[tuple[Value, np.ndarray]]:
        """The arguments and draws whose values `data` holds (maybe converted)."""
        hits = []
        for v, a in list(zip(self.args, self.arg_arrays)) + self.fresh:
            if a.size != data.size:
                continue
            if a.dtype == data.dtype and a.shape == data.shape:
                same = np.array_equal(a, data, equal_nan=a.dtype.kind == "f")
            else:
                with np.errstate(all="ignore"):
                    same = np.array_equal(a.astype(data.dtype).reshape(data.shape), data)
            if same:
                hits.append((v, a))
        if len({id(a) for _, a in hits}) > 1:  # another call's values may tell them apart
            raise Ambiguous(
                f"{op} reads an array of shape {data.shape} that equals several arguments"
            )
        return hits

    def _converted(self, v: Value, data: np.ndarray) -> Value:
        """`v` as `data`'s dtype and shape."""
        if np.dtype(v.dtype) != data.dtype:
            v = self.plan.expr("{0}.astype({1})", v, data.dtype, name=v.name + "_" +
                               data.dtype.name, shape=v.shape, dtype=data.dtype)  # fmt: skip
        if v.shape != data.shape:
            v = self.plan.expr("{0}.reshape({1})", v, data.shape, name=v.name + "_r",
                               shape=data.shape, dtype=data.dtype, view_of=v)  # fmt: skip
        return v

    def _match(self, data: np.ndarray, op: str) -> Value:
        """The argument or fresh draw `data` equals (maybe converted) or is made from,
        else a number or an array of one repeated value."""
        data = np.asarray(data)
        hits = self._arg_hits(data, op)
        uniform = data.size > 1 and _filled(data)
        site = (self.matched, op, data.shape, data.dtype.str)
        self.matched += 1
        how, source = ("equals", hits[0]) if hits else self._derivation(data)
        why = f"{op} reads {{}} that {how} an argument"
        if source is not None and not self._constant(site, data, uniform, source[1], why):
            v = (self._converted(source[0], data) if how == "equals"
                 else self._derive(how, source[0], data))  # fmt: skip
            self.arrays[id(data)] = v
            return v
        if data.size <= 1 or (data.dtype.kind in "fb" and uniform):
            # A number, or an array of one repeated value (zeros for a stack): made from
            # shapes alone, as the losses do. A mask computed from data that happens to be
            # uniform at recording would be taken for one too; the first replay is checked.
            return self.plan.const("c" if data.size <= 1 else "filled", data.copy())
        raise Unsupported(
            f"{op} reads an array of shape {data.shape} made outside autodiff ops in the step "
            "(not an argument, a parameter or a draw through autodiff.trace.fresh)"
        )

    def _constant(
        self, site: tuple[Any, ...], data: np.ndarray, uniform: bool, arg: np.ndarray, why: str
    ) -> bool:
        """Whether `data`, which equals the argument `arg` or is made from it, is a
        constant after all.

        One value, or one value repeated, may be a constant made from shapes (the zeros
        a loss stacks beside its logits) that this call's arguments happen to match (a
        batch of one label 0). An earlier recording of the signature settles it: if what
        was read here changed, it follows the arguments; if it stayed while `arg`
        changed, it is a constant. Otherwise the recording is ambiguous (`make_plan`
        raises `Ambiguous` at its end, having noted every such array, so that one later
        recording on other values can settle them all).
        """
        if not (uniform or data.size == 1):
            return False
        before = self.seen.get(site)
        if before is not None:
            if not np.array_equal(before[0], data, equal_nan=True):
                return False
            if not np.array_equal(before[1], arg, equal_nan=True):
                return True
        self.seen[site] = (data.copy(), np.array(arg, copy=True))
        self.ambiguous = self.ambiguous or why.format(
            "a single value" if data.size == 1 else "an array of one repeated value"
        )
        return False

    def _derivation(self, data: np.ndarray) -> tuple[str, tuple[Value, np.ndarray] | None]:
        """How `data` is made from an argument `y`: "is 1 minus" (`1 - y`) or "is the
        one-hot table of" (integer labels `y`), with y's value and array; else no source."""
        for v, a in zip(self.args, self.arg_arrays):
            if a.size == data.size and a.dtype.kind in "fiub" and data.dtype.kind == "f":
                with np.errstate(all="ignore"):
                    complement = 1 - a.astype(data.dtype).reshape(data.shape)
                if np.array_equal(complement, data):
                    return "is 1 minus", (v, a)
            if (data.ndim == 2 and data.shape[1] > 1 and a.size == data.shape[0]
                    and a.dtype.kind in "iu"
                    and data.dtype.kind == "f" and np.array_equal(
                        _onehot(a.reshape(-1), data.shape[1], data.dtype), data)):  # fmt: skip
                return "is the one-hot table of", (v, a)
        return "", None

    def _derive(self, how: str, v: Value, data: np.ndarray) -> Value:
        if how == "is 1 minus":
            return self.plan.call("np.subtract", 1, self._converted(v, data),
                                  name="one_minus_" + v.name, elementwise=True)  # fmt: skip
        return self.plan.call("_onehot", v, data.shape[1], data.dtype, name="onehot",
                              shape=data.shape, dtype=data.dtype)  # fmt: skip

    # ---- events ----

    def attrs(self, ev: trace.OpEvent) -> dict[str, Any]:
        """The per-call facts, arrays among them as values (an index may come from data)."""
        return {key: self._attr(val, ev.op, key) for key, val in ev.attrs.items()}

    def _attr(self, val: Any, op: str, key: str) -> Any:
        if isinstance(val, trace.TracedFloat):
            raise Unsupported(f"{op} uses a value read with item() ({key})")
        if isinstance(val, np.ndarray):
            return self._match(val, op) if val.dtype.kind != "O" else self._opaque(op, key)
        if isinstance(val, (list, tuple)):
            items = [self._attr(v, op, key) for v in val]
            if not any(isinstance(v, Value) for v in items):
                return type(val)(items) if isinstance(val, tuple) else Name(self.plan.obj(
                    "attr", val))  # fmt: skip
            template = "(" + "".join(f"{{{i}}}, " for i in range(len(items))) + ")"
            return self.plan.expr(template, *items, name=key, shape=(), dtype=np.float64)
        if val is None or isinstance(val, (bool, int, float, str, np.generic, np.dtype, slice)):
            return val if not isinstance(val, slice) else Name(self.plan.obj("s", val))
        return self._opaque(op, key, val)

    def _opaque(self, op: str, key: str, val: Any = None) -> Any:
        if val is not None and not isinstance(val, np.ndarray):
            return Name(self.plan.obj(key, val))  # an object the step always passes alike
        raise Unsupported(f"{op}: its {key} is an object array")

    def op(self, index: int, ev: trace.OpEvent) -> None:
        if self.effects and self.plan.section == "backward":
            self.plan.section = "forward"
        ins = [self.value_of(t, ev.op) for t in ev.parents]
        attrs = self.attrs(ev)
        self.node_attrs[id(ev.out)] = attrs
        v = lower.forward(self.plan, ev.prim, ins, attrs, ev.out)
        if tuple(v.shape) != tuple(ev.out.shape):
            raise Unsupported(f"{ev.op}: lowering gave shape {v.shape}, eager {ev.out.shape}")
        self.values[id(ev.out)] = v
        self.nodes[id(ev.out)] = (index, ev, ins)

    def fresh_draw(self, ev: trace.FreshEvent) -> None:
        fn = self.plan.fresh_name("_draw")
        self.plan.env[fn] = ev.fn
        args = self.plan.fresh_name("_draw_args")
        self.plan.env[args] = ev.args
        out = np.asarray(ev.out)
        v = self.plan.expr(f"{fn}(*{args})", name="drawn", shape=out.shape, dtype=out.dtype)
        self.plan.kernels[-1].comment = "fresh random numbers on every call"
        self.fresh.append((v, out))
        self.arrays[id(ev.out)] = v

    def call(self, ev: trace.CallEvent) -> None:
        name = self.plan.obj(ev.label, ev.owner)
        if ev.method == "step":
            self.plan.section = "update"
            if FUSE and callable(getattr(ev.owner, "__compile_update__", None)):
                # bound by autodiff.fuse.flat_updates: every parameter in one go
                update = self.plan.fresh_name(f"{name}_update")
                self.plan.env[update] = ev.owner.step
                self.plan.updates.append((update, ev.owner))
                comment = f"{name}.step() on flat arrays: every parameter at once"
                self.plan.stmt(f"{update}()", effect=True, rebinds=True, comment=comment)
                self.effects.append(ev.method)
                return
        self.plan.stmt(f"{name}.{ev.method}()", effect=True, rebinds=True)
        self.effects.append(ev.method)

    def guard(self, g: trace.Guard) -> None:
        if id(g.tensor) not in self.values:  # a leaf: a parameter, an input
            self.value_of(g.tensor, f"a decision ({g.describe})")
        if any(e not in IDEMPOTENT for e in self.effects):
            raise Unsupported(
                f"a decision ({g.describe}) after the step changed state ({self.effects[-1]})"
            )
        self.plan.guards.append(
            GuardCheck(
                len(self.plan.kernels), self.values[id(g.tensor)], g.fn, g.outcome, g.describe
            )  # fmt: skip
        )

    def backward(self, ev: trace.BackwardEvent) -> None:
        """The backward pass from `ev.root`, written out, then the `.grad` accumulation."""
        if id(ev.root) not in self.nodes:
            raise Unsupported("backward() from a tensor the step did not compute")
        self.plan.section = "backward"
        grads: dict[int, Value] = {id(ev.root): self._seed(ev)}
        fused = None
        if self.fuse_rules:
            seed = grads[id(ev.root)]
            fused = fuse.sigmoid_bce(self, ev.root, seed) or fuse.log_softmax_nll(
                self, ev.root, seed
            )
        if fused is not None:  # the loss's nodes get no gradient: their rules are skipped
            grads = {id(fused[0]): fused[1]}
            self.plan.fused_rule = True
        leaves: dict[int, Tensor] = {}
        for key in self._reachable(ev.root):
            g = grads.pop(key, None)
            if g is not None:
                self._propagate(key, g, grads, leaves)
        self._hand_out(grads, leaves)

    def _seed(self, ev: trace.BackwardEvent) -> Value:
        if ev.seed is None:
            return self.plan.const("ones", np.ones(ev.root.shape, ev.root.dtype))
        if isinstance(ev.seed, Tensor):
            return self.value_of(ev.seed, "backward")
        return self._match(np.asarray(ev.seed, dtype=ev.root.dtype), "backward")

    def _propagate(
        self, key: int, g: Value, grads: dict[int, Value], leaves: dict[int, Tensor]
    ) -> None:
        """The node's rules, their gradients summed into `grads` in the eager order."""
        _, node, ins = self.nodes[key]
        if getattr(node.out, "_retain", False):
            raise Unsupported("retain_grad() on a tensor of the step")
        need = [bool(t.requires_grad) for t in node.parents]
        attrs = self.node_attrs[key]
        input_grads = lower.vjp(self.plan, node.prim, g, self.values[key], ins, attrs, need)
        for t, pg in zip(node.parents, input_grads):
            if pg is None or not t.requires_grad:
                continue
            if tuple(pg.shape) != tuple(t.shape):
                raise Unsupported(f"{node.op}: gradient of shape {pg.shape} for {t.shape}")
            pg = self._converted(pg, t._data)  # in the input's dtype, as the engine gives it
            if id(t) in grads:
                pg = self.plan.call("np.add", grads[id(t)], pg, name="d_sum", elementwise=True)
            grads[id(t)] = pg
            if id(t) not in self.nodes:
                leaves[id(t)] = t

    def _hand_out(self, grads: dict[int, Value], leaves: dict[int, Tensor]) -> None:
        """Accumulate into each leaf's `.grad` an array of its own."""
        p = self.plan
        pairs = []
        handed: set[int] = set()
        for key, t in leaves.items():
            gv = grads[key]
            made = p.producers.get(id(gv))
            if made is None or made.form != "call" or gv.base is not None or id(gv) in handed:
                gv = p.call("np.positive", gv, name=gv.name, elementwise=True)  # a copy
            handed.add(id(gv))
            pairs.append((self._holder(t), gv))
        p.handed.extend(pairs)
        for h, gv in pairs:  # written out: a loop in a helper costs more than the lines
            p.stmt(f"{h}.grad = {{0}} if {h}.grad is None else {h}.grad + {{0}}", gv,
                   comment=f"{h.removesuffix('_tensor')}.grad += its gradient")  # fmt: skip
        if pairs:
            self.effects.append("backward")

    def _holder(self, t: Tensor) -> str:
        v = self.values.get(id(t))
        if v is not None and v.kind == "live":
            return v.name + "_tensor"
        name = self.known.get(id(t)) or t.name or "param"
        return self.plan.obj(name.replace(".", "_") + "_tensor", t)

    def _reachable(self, root: Any) -> list[int]:
        """Recorded nodes `root` depends on, in the order the engine's backward visits them.

        The same depth-first order as `autodiff.engine.toposort` (reversed), so gradients
        that meet are summed in the eager order.
        """
        order: list[int] = []
        visited: set[int] = set()
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            t, expanded = stack.pop()
            if expanded:
                order.append(id(t))
            elif id(t) not in visited and id(t) in self.nodes:
                visited.add(id(t))
                stack.append((t, True))
                for q in reversed(self.nodes[id(t)][1].parents):
                    if id(q) not in visited and q.requires_grad:
                        stack.append((q, False))
        return order[::-1]

    # ---- the result ----

    def returns(self, result: Any) -> Any:
        if isinstance(result, Tensor):
            v = self.values.get(id(result))
            if v is None:
                if id(result) in self.known:
                    return wrap("", self.plan.obj("returned", result))
                v = self.value_of(result, "return")
            return wrap("_tensor", v)
        if isinstance(result, trace.TracedFloat):
            v = self.values.get(id(result._tensor))
            if v is None or result._fn(float(result)) != float(result):
                raise Unsupported("returning a number computed from item() in Python")
            return wrap("float", v)
        if isinstance(result, (tuple, list)):
            return type(result)(self.returns(x) for x in result)
        if isinstance(result, dict):
            return {k: self.returns(x) for k, x in result.items()}
        if result is None or isinstance(result, (bool, int, float, str)):
            return result
        raise Unsupported(f"returning an object of type {type(result).__name__}")


def make_plan(
    name: str,
    arg_names: list[str],
    arg_arrays: list[np.ndarray],
    known: dict[int, str],
    recorder: trace.Recorder,
    result: Any,
    seen: dict[tuple[Any, ...], np.ndarray] | None = None,
    fuse_rules: bool = True,
) -> Plan:
    """The plan of one recorded run; raises `Unsupported` naming what it cannot follow.

    `seen` carries what the matched arrays held in earlier recordings of the same
    signature (see `Planner._constant`); the planner adds to it. `fuse_rules=False`
    keeps the engine's own rules for the losses (the eager numbers, bit for bit).
    """
    if recorder.problems:
        raise Unsupported("; ".join(recorder.problems))
    planner = Planner(name, arg_names, arg_arrays, known, seen, fuse_rules)
    for index, ev in enumerate(recorder.events):
        if isinstance(ev, trace.OpEvent):
            planner.op(index, ev)
        elif isinstance(ev, trace.BackwardEvent):
            planner.backward(ev)
        elif isinstance(ev, trace.CallEvent):
            planner.call(ev)
        elif isinstance(ev, trace.FreshEvent):
            planner.fresh_draw(ev)
        elif isinstance(ev, trace.Guard):
            planner.guard(ev)
    if planner.ambiguous:
        raise Ambiguous(planner.ambiguous)
    planner.plan.returns = planner.returns(result)
    return planner.plan


# ---- helpers of the generated code ----


def _inside(x: np.ndarray, lo: Any, hi: Any, out: np.ndarray | None = None) -> np.ndarray:
    """lo <= x <= hi, where the clip op passes its gradient (written to `out`, if given)."""
    if out is None:
        out = np.empty(x.shape, bool)
    if lo is None:
        out.fill(True)
    else:
        np.greater_equal(x, lo, out=out)
    if hi is not None:
        out &= x <= hi
    return out


def _filled(a: np.ndarray) -> bool:
    flat = a.reshape(-1)
    return bool(flat.size) and bool(np.all(flat == flat[0]))


def _onehot(labels: np.ndarray, classes: int, dtype: Any, out: np.ndarray | None = None):
    """A (batch, classes) table with 1 at each row's label (what the losses build)."""
    labels = labels.reshape(-1)
    if out is None:
        out = np.zeros((labels.size, classes), dtype=dtype)
    else:
        out[...] = 0
    out[np.arange(labels.size), labels] = 1
    return out


def _tensor(a: np.ndarray) -> Tensor:
    return leaf(a.copy())  # the plan's own dtype and shape: nothing to check
