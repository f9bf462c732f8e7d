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
from autodiff.plan import GuardCheck, Plan, Value, wrap
from autodiff.tensor import Tensor

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
    ) -> None:
        self.plan = Plan(name)
        self.plan.env.update(lower.HELPERS)
        self.plan.env["_accumulate"] = _accumulate
        self.plan.env["_release"] = _release
        self.plan.env["_tensor"] = _tensor
        self.args = [self.plan.arg(n, a.shape, a.dtype) for n, a in zip(arg_names, arg_arrays)]
        self.arg_arrays = arg_arrays
        self.known = known  # id(tensor) -> readable name, for the objects' tensors
        self.values: dict[int, Value] = {}  # id(tensor) -> its value
        self.arrays: dict[int, Value] = {}  # id(array) -> its value
        self.nodes: dict[int, tuple[int, trace.OpEvent, list[Value]]] = {}
        self.fresh: list[tuple[Value, np.ndarray]] = []
        self.effects: list[str] = []
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

    def _match(self, data: np.ndarray, op: str) -> Value:
        """The argument or fresh draw `data` equals (maybe converted), else a number."""
        data = np.asarray(data)
        candidates = list(zip(self.args, self.arg_arrays)) + self.fresh
        hits = []
        for v, a in candidates:
            if a.size != data.size:
                continue
            if a.dtype == data.dtype and a.shape == data.shape:
                same = np.array_equal(a, data, equal_nan=a.dtype.kind == "f")
            else:
                with np.errstate(all="ignore"):
                    converted = a.astype(data.dtype).reshape(data.shape)
                same = np.array_equal(converted, data)
            if same:
                hits.append((v, a))
        if len({id(a) for _, a in hits}) > 1:
            raise Unsupported(
                f"{op} reads an array of shape {data.shape} that equals several arguments"
            )
        if hits:
            v = hits[0][0]
            if np.dtype(v.dtype) != data.dtype:
                v = self.plan.expr("{0}.astype({1})", v, data.dtype, name=v.name + "_" +
                                   data.dtype.name, shape=v.shape, dtype=data.dtype)  # fmt: skip
            if v.shape != data.shape:
                v = self.plan.expr("{0}.reshape({1})", v, data.shape, name=v.name + "_r",
                                   shape=data.shape, dtype=data.dtype, view_of=v)  # fmt: skip
            self.arrays[id(data)] = v
            return v
        if data.size <= 1:
            return self.plan.const("c", data.copy())
        raise Unsupported(
            f"{op} reads an array of shape {data.shape} made outside autodiff ops in the step "
            "(not an argument, a parameter or a draw through autodiff.trace.fresh)"
        )

    # ---- events ----

    def op(self, index: int, ev: trace.OpEvent) -> None:
        for key, val in ev.attrs.items():
            if isinstance(val, trace.TracedFloat):
                raise Unsupported(f"{ev.op} uses a value read with item() ({key})")
        if ev.op not in lower.FORWARD:
            raise Unsupported(f"the op {ev.op!r} (no lowering in autodiff.lower)")
        if self.effects and self.plan.section == "backward":
            self.plan.section = "forward"
        ins = [self.value_of(t, ev.op) for t in ev.parents]
        v = lower.FORWARD[ev.op](self.plan, ins, ev.attrs, ev.out)
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
        if id(g.tensor) not in self.values:
            raise Unsupported(f"a decision on a value the step did not compute ({g.describe})")
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
        p = self.plan
        root = self.values.get(id(ev.root))
        if root is None or id(ev.root) not in self.nodes:
            raise Unsupported("backward() from a tensor the step did not compute")
        p.section = "backward"
        if ev.seed is None:
            g = p.const("ones", np.ones(ev.root.shape, ev.root.dtype))
        elif isinstance(ev.seed, Tensor):
            g = self.value_of(ev.seed, "backward")
        else:
            g = self._match(np.asarray(ev.seed, dtype=ev.root.dtype), "backward")
        order = self._reachable(ev.root)
        users: dict[int, int] = {}  # how many nodes on the way to the root use a tensor
        for key in order:
            for t in self.nodes[key][1].parents:
                users[id(t)] = users.get(id(t), 0) + 1
        grads: dict[int, Value] = {id(ev.root): g}
        leaves: dict[int, Tensor] = {}
        preactivated: set[int] = set()  # nodes whose gradient is already dL/dZ (fused)
        for key in order:
            _, node, ins = self.nodes[key]
            g = grads.pop(key, None)
            if g is None:
                continue
            if getattr(node.out, "_retain", False):
                raise Unsupported("retain_grad() on a tensor of the step")
            need = [bool(t.requires_grad) for t in node.parents]
            if FUSE:
                fused = fuse.activation_loss(self, node, ins, g, need, users)
                if fused is not None:  # dL/dZ of the sigmoid's node, its own rule skipped
                    probs, dz = fused
                    grads[id(probs)] = dz
                    preactivated.add(id(probs))
                    continue
            attrs = node.attrs
            if key in preactivated:
                attrs = fuse.without_activation(node.op, attrs)
            if attrs is None:  # a plain activation: the fused gradient is its input's
                parent_grads = [g]
            else:
                parent_grads = lower.VJP[node.op](p, g, self.values[key], ins, attrs, need)
            for t, pg in zip(node.parents, parent_grads):
                if pg is None or not t.requires_grad:
                    continue
                if tuple(pg.shape) != tuple(t.shape):
                    raise Unsupported(f"{node.op}: gradient of shape {pg.shape} for {t.shape}")
                if id(t) in grads:
                    grads[id(t)] = p.call("np.add", grads[id(t)], pg, name="d_sum",
                                          elementwise=True)  # fmt: skip
                else:
                    grads[id(t)] = pg
                if id(t) not in self.nodes:
                    leaves[id(t)] = t
        pairs = []
        handed: set[int] = set()
        for key, t in leaves.items():
            gv = grads[key]
            if gv.kind != "tmp" or gv.base is not None or id(gv) in handed:
                gv = p.call("np.positive", gv, name=gv.name, elementwise=True)  # a copy
            handed.add(id(gv))
            pairs.append((self._holder(t), gv))
        p.handed.extend(pairs)
        if pairs:
            for h, gv in pairs:
                p.stmt(f"_accumulate({h}, {{0}})", gv, comment=f"{h}.grad += {gv.name}")
            self.effects.append("backward")

    def _holder(self, t: Tensor) -> str:
        v = self.values.get(id(t))
        if v is not None and v.kind == "live":
            return v.name + "_tensor"
        name = self.known.get(id(t)) or t.name or "param"
        return self.plan.obj(name.replace(".", "_") + "_tensor", t)

    def _reachable(self, root: Any) -> list[int]:
        """Recorded nodes `root` depends on through inputs that require grad, newest first."""
        seen: set[int] = set()
        stack = [root]
        while stack:
            t = stack.pop()
            if id(t) in seen or id(t) not in self.nodes:
                continue
            seen.add(id(t))
            stack.extend(q for q in self.nodes[id(t)][1].parents if q.requires_grad)
        return sorted(seen, key=lambda k: -self.nodes[k][0])

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
) -> Plan:
    """The plan of one recorded run; raises `Unsupported` naming what it cannot follow."""
    if recorder.problems:
        raise Unsupported("; ".join(recorder.problems))
    planner = Planner(name, arg_names, arg_arrays, known)
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
    planner.plan.returns = planner.returns(result)
    return planner.plan


# ---- helpers of the generated code ----


def _accumulate(t: Tensor, g: np.ndarray) -> None:
    """t.grad += g, as the eager backward does (a fresh sum; `g` itself when None)."""
    if t.grad is None:
        t.grad = g
    else:
        t.grad = t.grad + g


def _release(*pairs: tuple[Tensor, np.ndarray]) -> None:
    for t, buffer in pairs:
        if t.grad is buffer:
            t.grad = buffer.copy()


def _tensor(a: np.ndarray) -> Tensor:
    return Tensor(a.copy())
