"""Two properties behind the speed numbers: no reference cycles, no graph built in backward.

`cycles_after_step` runs a training step with the garbage collector disabled, then asks
`gc.collect()` (with `DEBUG_SAVEALL`, so the garbage stays inspectable) what only the
cycle collector could free: anything of ours there means a step leaks into the slow,
non-deterministic path. `tensors_made_in_backward` counts every Tensor constructed while
`backward()` runs, by temporarily wrapping the engine's tensor constructors; a
first-order backward should hand numpy arrays to the rules and construct none. As a
control it also counts the Tensors of a `create_graph=True` pass, which must be more
than zero.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from benchmarks.numpy_mlp import init_weights, make_batch

OURS = ("autodiff", "nn")


@dataclass
class Workload:
    """A loss to differentiate, the parameters it depends on, and a full training step."""

    name: str
    loss: Callable[[], Any]
    params: list[Any]
    step: Callable[[], None]


def workloads() -> list[Workload]:
    """nn MLP steps (BCE and 10-class cross-entropy), or the bare engine while nn is missing."""
    from benchmarks.mlp import nn_available

    specs = [([2, 16, 16, 1], 32, "bce"), ([20, 16, 10], 16, "ce")]
    make = _nn_workload if nn_available() else _engine_workload
    return [make(sizes, batch, loss) for sizes, batch, loss in specs]


def _nn_workload(sizes: list[int], batch: int, loss: str) -> Workload:
    import nn
    import nn.optim

    model = nn.MLP(sizes, activation="relu", output="sigmoid" if loss == "bce" else None, seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.01)
    X, y = make_batch(sizes, batch, loss)  # type: ignore[arg-type]
    loss_fn = nn.binary_cross_entropy if loss == "bce" else nn.cross_entropy

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(X), y).backward()
        opt.step()

    return Workload(f"nn {sizes} {loss}", lambda: loss_fn(model(X), y), model.parameters(), step)


def _engine_workload(sizes: list[int], batch: int, loss: str) -> Workload:
    import autodiff as ad

    params = [ad.Tensor(a, requires_grad=True) for pair in init_weights(sizes) for a in pair]
    X, y = make_batch(sizes, batch, loss)  # type: ignore[arg-type]

    def loss_fn() -> Any:
        a = X
        for i in range(0, len(params), 2):
            a = ad.linear(a, params[i], params[i + 1])
            a = a.relu() if i + 2 < len(params) else a
        if loss == "bce":
            p = a.sigmoid()
            return (p.log() * (-y) + (1 - p).log() * (y - 1)).mean()
        return -a.log_softmax(axis=-1)[np.arange(batch), y].mean()

    def step() -> None:
        for p in params:
            p.grad = None
        loss_fn().backward()
        for p in params:
            p.data -= 0.01 * p.grad

    return Workload(f"engine {sizes} {loss}", loss_fn, params, step)


def _is_ours(obj: Any) -> bool:
    if isinstance(obj, (types.FunctionType, types.MethodType)):
        module = getattr(obj, "__module__", None) or ""
    else:
        module = type(obj).__module__
    return module.split(".")[0] in OURS


@dataclass
class CycleReport:
    collected: int  # everything gc.collect() found unreachable after the step
    ours: int  # how many of those are our objects (Tensors, rule closures...)
    examples: list[str]
    tensors_before: int
    tensors_after: int

    @property
    def ok(self) -> bool:
        return self.ours == 0 and self.tensors_after == self.tensors_before


def _count_tensors() -> int:
    from autodiff import Tensor

    return sum(1 for o in gc.get_objects() if type(o) is Tensor)


def cycles_after_step(step: Callable[[], None]) -> CycleReport:
    """Run `step` once with gc off and report what only the cycle collector could free."""
    step()  # warm-up: lazy imports, caches and optimizer state are not leaks
    gc.collect()
    before = _count_tensors()
    enabled = gc.isenabled()
    gc.disable()
    try:
        step()
        gc.set_debug(gc.DEBUG_SAVEALL)
        collected = gc.collect()
        garbage = list(gc.garbage)
        gc.garbage.clear()
    finally:
        gc.set_debug(0)
        if enabled:
            gc.enable()
    ours = [o for o in garbage if _is_ours(o)]
    examples = sorted({f"{type(o).__module__}.{type(o).__qualname__}" for o in ours})[:5]
    del garbage, ours[5:]
    return CycleReport(collected, len(ours), examples, before, _count_tensors())


@dataclass
class BackwardReport:
    first_order: int  # Tensors constructed during loss.backward()
    first_order_nodes: int  # ... of which were recorded graph nodes (op != "")
    create_graph: int  # Tensors constructed during ad.grad(..., create_graph=True): control

    @property
    def ok(self) -> bool:
        return self.first_order == 0 and self.create_graph > 0


def _count_new_tensors(fn: Callable[[], None]) -> list[Any]:
    """The Tensors constructed while `fn` runs.

    Every Tensor, an op result, an internal leaf or one made by `Tensor(...)`, is set up
    by `autodiff.tensor._init`, which is wrapped while `fn` runs and put back afterwards.
    """
    import autodiff.tensor as tensor_module

    made: list[Any] = []
    original_init = tensor_module._init

    def counting_init(t: Any, *args: Any) -> None:
        made.append(t)
        original_init(t, *args)

    tensor_module._init = counting_init
    try:
        fn()
    finally:
        tensor_module._init = original_init
    return made


def tensors_made_in_backward(workload: Workload) -> BackwardReport:
    """Count the Tensors a first-order backward builds (should be 0) and a create_graph one."""
    import autodiff as ad

    loss = workload.loss()
    made = _count_new_tensors(loss.backward)
    loss = workload.loss()
    control = _count_new_tensors(lambda: ad.grad(loss, workload.params, create_graph=True))
    for p in workload.params:
        p.grad = None
    return BackwardReport(len(made), sum(1 for t in made if t.op), len(control))


def check_all() -> list[dict[str, Any]]:
    """Both checks on every workload, as plain dicts (what `measure()` reads back)."""
    results = []
    for w in workloads():
        cycles = cycles_after_step(w.step)
        made = tensors_made_in_backward(w)  # last: it slows Tensor construction afterwards
        results.append(
            {"workload": w.name, "cycles": asdict(cycles), "cycles_ok": cycles.ok,
             "backward": asdict(made), "backward_ok": made.ok}
        )  # fmt: skip
    return results


def measure(timeout: float = 120) -> list[dict[str, Any]]:
    """`check_all()` run in a fresh interpreter, so the timing process stays untouched."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.hygiene"], capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"hygiene checks failed to run:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(check_all()))
