"""Timing: several systems doing the same work, measured round by round in one process.

A `Case` holds one zero-argument callable per system, each doing one unit of work (a
training step, a chain of ops). `run_case` first calibrates how many calls make one
measurement last at least `min_time`, then runs `rounds` rounds; every round measures
each system once, in an order that rotates from round to round, so a slow spell of the
machine hits all systems alike. Ratios are taken per round (a/b within the same round)
and then summarised by their median, which is what the targets compare.

The clock is the process's CPU time by default (`time.process_time`): on a shared
machine it leaves out the time other processes hold the CPU, which wall time would
bill to whichever system was running. With one BLAS thread both agree on an idle
machine; `clock="wall"` uses `time.perf_counter`.

The garbage collector stays on while timing (a real training loop runs with it), and
each system pays for its own garbage: a full `gc.collect()` runs before a measurement,
untimed, and another at its end, timed and so spread over its calls. A system whose
graphs hold reference cycles (micrograd's closures do) is billed for collecting them,
and never for another system's. The command line calls `gc.freeze()` once the cases
are built, and `run_case` again after its warm-up calls, so these collections do not
rescan the long-lived objects of numpy, torch, the models and compiled plans (a full
collection costs ~0.1 s with torch loaded, ~1 us frozen).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


@dataclass
class Case:
    """One workload, done by several systems; `baseline` names the denominator of ratios."""

    name: str
    group: str
    systems: dict[str, Callable[[], object]]
    baseline: str | None = None
    unit: str = "ms"  # how the per-call time is shown: "ms", "us" or "us/op"
    per_call: int = 1  # divide a call's time by this (e.g. ops in a chain) for the unit
    rounds: int = 15
    note: str = ""


@dataclass
class CaseResult:
    """Per-round seconds per unit of work for every system of a case."""

    case: Case
    times: dict[str, list[float]] = field(default_factory=dict)
    gc_times: dict[str, list[float]] = field(default_factory=dict)  # the final collect's share
    reps: dict[str, int] = field(default_factory=dict)

    def median(self, system: str) -> float:
        return statistics.median(self.times[system])

    def gc_share(self, system: str) -> float:
        """Median fraction of a measurement spent in its closing `gc.collect()`."""
        pairs = zip(self.gc_times[system], self.times[system], strict=True)
        return statistics.median(g / t if t > 0 else 0.0 for g, t in pairs)

    def ratio(self, a: str, b: str) -> float | None:
        """Median over rounds of time(a) / time(b); None if either was not measured."""
        if a not in self.times or b not in self.times:
            return None
        return statistics.median(x / y for x, y in zip(self.times[a], self.times[b], strict=True))

    def ratio_without_gc(self, a: str, b: str) -> float | None:
        """As `ratio`, with `b`'s garbage collection left out of its time."""
        if a not in self.times or b not in self.times:
            return None
        pairs = zip(self.times[a], self.times[b], self.gc_times[b], strict=True)
        return statistics.median(x / (y - g) for x, y, g in pairs)

    def shown(self, system: str) -> float:
        """The median converted to the case's unit."""
        scale = {"ms": 1e3, "us": 1e6, "us/op": 1e6}[self.case.unit]
        return self.median(system) * scale / self.case.per_call


def _time_calls(
    fn: Callable[[], object], reps: int, clock: Callable[[], float]
) -> tuple[float, float]:
    """Seconds per call of `fn`, and the part of it spent collecting its garbage."""
    gc.collect()
    start = clock()
    for _ in range(reps):
        fn()
    collect = clock()
    gc.collect()
    end = clock()
    return (end - start) / reps, (end - collect) / reps


def calibrate(fn: Callable[[], object], min_time: float, clock: str = "cpu") -> int:
    """How many calls of `fn` last at least `min_time` seconds (after one warm-up call)."""
    fn()
    reps = 1
    while True:
        elapsed = _time_calls(fn, reps, CLOCKS[clock])[0] * reps
        if elapsed >= min_time:
            return reps
        reps = max(reps + 1, int(reps * min(10.0, 1.2 * min_time / max(elapsed, 1e-9))))


def run_case(
    case: Case, *, rounds: int | None = None, min_time: float = 0.02, clock: str = "cpu"
) -> CaseResult:
    """Measure every system of `case` for `rounds` interleaved rounds."""
    result = CaseResult(case)
    names = list(case.systems)
    timer = CLOCKS[clock]
    for name in names:
        result.reps[name] = calibrate(case.systems[name], min_time, clock)
        result.times[name] = []
        result.gc_times[name] = []
    # What the warm-up calls made and kept (a compiled step's plan, a library's caches)
    # is as long-lived as the models: frozen too, out of the timed collections.
    gc.collect()
    gc.freeze()
    n = rounds if rounds is not None else case.rounds
    for r in range(n):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, collecting = _time_calls(case.systems[name], result.reps[name], timer)
            result.times[name].append(seconds)
            result.gc_times[name].append(collecting)
    return result
