"""What compiling a step costs: `ad.compile`'s recording and checked replays, in eager steps.

The first call of a compiled step records it (an eager run, traced, planned and built);
the next `FIRST_REPLAYS_CHECKED` calls run eagerly and beside a replay compared with
them. Those first calls are timed against as many eager calls of the same step; their
difference is the cost of compiling, shown in milliseconds and in eager steps (divided
by the time of one eager step measured in the same round, just before). Every round
compiles the step anew with a fresh `ad.compile` and an empty cache of compiled sources:
nothing of an earlier round is reused.

The rows marked "again" time a recording that can reuse work: the step is compiled and
used at one learning rate (untimed), then its learning rate changes, so the next call
records anew and builds the same source, whose compiled code is kept (`autodiff.plan`).
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.harness import CLOCKS
from benchmarks.mlp import training_step
from benchmarks.numpy_mlp import Loss, init_weights, make_batch
from benchmarks.targets import Target, _judge

LR = 0.01
EAGER_CALLS = 10  # eager calls timed per round for the per-step time
LIMIT = 4.0  # eager steps: "recording costs no more than a few eager steps"


@dataclass(frozen=True)
class Config:
    layers: tuple[int, ...]
    batch: int
    loss: Loss
    optimizer: str  # "SGD" or "Adam"
    rounds: int
    judged: bool = True
    again: bool = False  # recorded again after a learning-rate change

    @property
    def name(self) -> str:
        sizes = ",".join(map(str, self.layers))
        again = ", again (new lr)" if self.again else ""
        return f"[{sizes}] b{self.batch} {self.loss} {self.optimizer}{again}"


# The target is judged on the small network (where an eager step is cheapest, so
# recording weighs most); the larger one is shown for information.
CONFIGS = (
    Config((2, 16, 16, 1), 32, "bce", "SGD", rounds=40),
    Config((2, 16, 16, 1), 32, "bce", "Adam", rounds=40),
    Config((2, 16, 16, 1), 32, "bce", "SGD", rounds=40, judged=False, again=True),
    Config((784, 128, 64, 10), 64, "ce", "SGD", rounds=15, judged=False),
    Config((784, 128, 64, 10), 64, "ce", "Adam", rounds=15, judged=False),
)


def make_step(config: Config) -> tuple[Callable[[], Any], Any]:
    """An nn training step (zero_grad, forward, loss, backward, update) returning its
    loss, and its optimizer."""
    import nn
    import nn.optim

    output = "sigmoid" if config.loss == "bce" else None
    model = nn.MLP(list(config.layers), activation="relu", output=output, seed=0)
    for layer, (W, b) in zip(model.layers, init_weights(list(config.layers)), strict=True):
        layer.W.data = W
        layer.b.data = b
    opt = getattr(nn.optim, config.optimizer)(model.parameters(), lr=LR)
    loss_fn = nn.binary_cross_entropy if config.loss == "bce" else nn.cross_entropy
    X, y = make_batch(list(config.layers), config.batch, config.loss)
    return training_step(model, opt, loss_fn, X, y), opt


def _timed(clock: Callable[[], float], fn: Callable[[], Any], calls: int) -> float:
    t0 = clock()
    for _ in range(calls):
        fn()
    return clock() - t0


def measure_one(config: Config, rounds: int | None = None, clock: str = "cpu") -> dict[str, Any]:
    """Median over rounds of the first calls of a freshly compiled step and of eager calls."""
    import autodiff as ad
    from autodiff.compile import FIRST_REPLAYS_CHECKED
    from autodiff.plan import _code

    tick = CLOCKS[clock]
    step, opt = make_step(config)
    checked = FIRST_REPLAYS_CHECKED
    rows: dict[str, list[float]] = {"eager": [], "record": [], "checked": [], "extra": []}
    for r in range(-1, rounds or config.rounds):  # round -1 warms up, untimed
        # A full collection makes the next step slower (free lists and arenas emptied):
        # one untimed step after it, so that neither system is timed just after one.
        gc.collect()
        step()
        eager = _timed(tick, step, EAGER_CALLS) / EAGER_CALLS
        _code.cache_clear()
        compiled = ad.compile(step)
        if config.again:  # compiled and checked at one learning rate, untimed
            _timed(tick, compiled, 1 + checked)
            opt.lr = LR / 2
        record = _timed(tick, compiled, 1)
        replays = _timed(tick, compiled, checked)
        opt.lr = LR
        if compiled.recordings != 1 + config.again:
            raise RuntimeError(f"{config.name}: the step recorded {compiled.recordings} times")
        if r >= 0:
            rows["eager"].append(eager)
            rows["record"].append(record)
            rows["checked"].append(replays)
            rows["extra"].append((record + replays - (1 + checked) * eager) / eager)
    median = {k: statistics.median(v) for k, v in rows.items()}
    return {
        "name": config.name,
        "calls": 1 + checked,
        "eager_ms": 1e3 * median["eager"],
        "record_ms": 1e3 * median["record"],
        "checked_ms": 1e3 * median["checked"],
        "extra_steps": median["extra"],
        "extra_ms": 1e3 * median["extra"] * median["eager"],
        "judged": config.judged,
    }


def measure(quick: bool = False, clock: str = "cpu") -> list[dict[str, Any]]:
    return [measure_one(c, rounds=5 if quick else None, clock=clock) for c in CONFIGS]


def table(runs: list[dict[str, Any]]) -> list[str]:
    header = ["step", "eager step", "first call (records)", "checked replays",
              "extra over as many eager calls", "in eager steps"]  # fmt: skip
    rows = [
        [r["name"], f"{r['eager_ms']:.3g} ms", f"{r['record_ms']:.3g} ms",
         f"{r['checked_ms']:.3g} ms ({r['calls'] - 1})", f"{r['extra_ms']:.3g} ms",
         f"{r['extra_steps']:.1f}"]
        for r in runs
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def evaluate(runs: list[dict[str, Any]] | None) -> list[Target]:
    """The cost of compiling each step, in eager steps, against `LIMIT`."""
    if runs is None:
        return [Target(f"recording cost {c.name} <= {LIMIT:g} eager steps", "not measured",
                       "SKIP") for c in CONFIGS]  # fmt: skip
    targets = []
    for r in runs:
        t = _judge(f"recording cost {r['name']} <= {LIMIT:g} eager steps", r["extra_steps"],
                   LIMIT)  # fmt: skip
        if not r["judged"]:
            t.verdict = "INFO"
        targets.append(t)
    return targets
