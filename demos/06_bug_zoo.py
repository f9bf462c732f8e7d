"""A bug zoo: hand-written backward passes with the classic mistakes, diagnosed.

Part 1: each module in demos/bug_zoo/ MODULES re-creates one bug learners post about (a
tanh derivative fed Z, the tanh derivative on a sigmoid output, a wrong dAL, a relu
derivative that overwrites its argument, a derivative applied to the upstream gradient,
db from the wrong tensor, a mean over the features, a missing 1/m, a transposed dW, a
missing db, an update inside backward). For each one this script prints what
`nn.verify` says, then shows the bug the way a learner meets it: the cost of plain
gradient descent on a small moons data set, next to the fixed backward pass.

Part 2: the CHECKED modules use the options of the second milestone: an L2 network
(`lambd=`), a dropout network checked against the learner's own numpy cost (`cost_fn=`),
a softmax network (`loss="cross_entropy"`), a row-major class-based network
(`layout="rows"`), one layer (`check_layer`) and one cost (`check_cost`) checked alone,
each correct and with a bug.

Last, the tally over every implementation: bugs flagged, causes named right, false
alarms on the correct ones, and the median and worst seconds per check.

    python demos/06_bug_zoo.py
    python demos/06_bug_zoo.py --seeds 5   # each check again with hypothesis seeds 0..4
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bug_zoo import CHECKED, MODULES  # noqa: E402

import nn.data  # noqa: E402
import nn.reference as ref  # noqa: E402
from nn.verify import check_backprop  # noqa: E402

STEPS, LR, CHECKPOINTS = 600, 0.1, 8
correct = importlib.import_module("bug_zoo.correct")


def dataset() -> tuple[np.ndarray, np.ndarray]:
    """200 moons points in the course layout: X (2, m), Y (1, m)."""
    X, y = nn.data.make_moons(200, noise=0.15, seed=0)
    return X.T.copy(), y.reshape(1, -1).astype(np.float64)


def train(grads, layers, activations, X, Y) -> list[str]:
    """Costs at CHECKPOINTS evenly spaced steps of gradient descent (or how it broke)."""
    params = ref.initialize_parameters(layers, init="xavier", seed=1)
    marks = set(np.linspace(0, STEPS, CHECKPOINTS).astype(int))
    costs = []
    for step in range(STEPS + 1):
        if step in marks:
            with np.errstate(all="ignore"):
                AL, _ = ref.L_model_forward(X, params, activations)
                cost = ref.compute_cost(np.clip(AL, 1e-12, 1 - 1e-12), Y)
            costs.append(f"{cost:.3f}" if np.isfinite(cost) else "nan")
        if step == STEPS:
            break
        try:
            with np.errstate(all="ignore"):
                g = grads(X, Y, params)
                for key in params:
                    params[key] = params[key] - LR * g["d" + key]
        except Exception as exc:  # how a learner meets a missing key or a shape error
            return costs + [f"crashed at step {step}: {type(exc).__name__}: {exc}"]
    return costs


def verdict(costs: list[str]) -> str:
    if costs[-1].startswith("crashed"):
        return "the training loop crashes"
    numbers = [float(c) for c in costs]
    if not np.isfinite(numbers[-1]):
        return "the cost diverges"
    if abs(numbers[-1] - numbers[2]) < 0.01:
        return f"the cost freezes near {numbers[-1]:.2f}: training stalls"
    if numbers[-1] > numbers[0]:
        return "the cost diverges"
    return "the cost still falls: the bug hides from the loss curve, not from the checker"


def show_curves(buggy: list[str], fixed: list[str]) -> None:
    steps = np.linspace(0, STEPS, CHECKPOINTS).astype(int)
    print("  step  " + "".join(f"{s:>8}" for s in steps))
    for label, costs in (("buggy", buggy), ("fixed", fixed)):
        numbers = [c for c in costs if not c.startswith("crashed")]
        crash = [c for c in costs if c.startswith("crashed")]
        print(
            f"  {label} " + "".join(f"{c:>8}" for c in numbers) + (f"  {crash[0]}" if crash else "")
        )
    print(f"  -> {verdict(buggy)}")


def tally(results: list[tuple[str, dict, dict, float]]) -> None:
    """Bugs flagged, causes right, false alarms, seconds per check."""
    buggy = [r for r in results if r[1]]
    correct = [r for r in results if not r[1]]
    flagged = [r for r in buggy if r[2]]
    right = [r for r in buggy if r[2] == r[1]]
    false_alarms = [r for r in correct if r[2]]
    seconds = [r[3] for r in results]
    distinct = {name.split(" (seed")[0] for name, *_ in results}
    print(f"\n{'=' * 100}\nTally over {len(results)} checks of {len(distinct)} implementations "
          f"({len(buggy)} checks of a bug, {len(correct)} of a correct one):")  # fmt: skip
    print(f"  bugs flagged:        {len(flagged)} of {len(buggy)}")
    print(f"  causes named right:  {len(right)} of {len(buggy)} (every wrong name, every cause)")
    print(f"  false alarms:        {len(false_alarms)} of {len(correct)}")
    print(f"  seconds per check:   median {np.median(seconds):.2f}, worst {max(seconds):.2f}")
    for name, expected, got, _ in results:
        if got != expected:
            print(f"  {name}: expected {expected}, got {got}")


def again(results, seeds: int) -> None:
    """Every check once more per hypothesis seed: are the verdicts and causes stable?"""
    for seed in range(seeds):
        for name in MODULES + CHECKED:
            module = importlib.import_module(f"bug_zoo.{name}")
            began = time.perf_counter()
            if name in MODULES:
                report = check_backprop(module.grads, layer_dims=module.LAYERS,
                                        activations=module.ACTIVATIONS, seed=seed)  # fmt: skip
            else:
                report = module.check(max_examples=100, seed=seed)
            took = time.perf_counter() - began
            results.append((f"{name} (seed {seed})", module.EXPECTED, causes(report), took))


def main() -> None:
    parser = argparse.ArgumentParser(description="nn.verify on the bug zoo")
    parser.add_argument("--seeds", type=int, default=0, help="rerun every check per seed")
    seeds = parser.parse_args().seeds
    start = time.perf_counter()
    X, Y = dataset()
    fixed_curves: dict[tuple, list[str]] = {}
    results = []
    for number, name in enumerate(MODULES):
        module = importlib.import_module(f"bug_zoo.{name}")
        print(f"\n{'=' * 100}\n{number}. {module.TITLE}  (demos/bug_zoo/{name}.py)")
        print(f"   {module.BUG}\n")
        began = time.perf_counter()
        report = check_backprop(
            module.grads, layer_dims=module.LAYERS, activations=module.ACTIVATIONS, max_examples=60
        )
        took = time.perf_counter() - began
        results.append((name, module.EXPECTED, causes(report), took))
        print(report)
        key = (tuple(module.LAYERS), tuple(module.ACTIVATIONS))
        if key not in fixed_curves:
            fixed_curves[key] = train(
                lambda X, Y, p, a=module.ACTIVATIONS: correct.grads(X, Y, p, a),
                module.LAYERS,
                module.ACTIVATIONS,
                X,
                Y,
            )
        if name != "correct":
            print(f"\nTraining cost (moons, m = {X.shape[1]}, gradient descent, lr = {LR}):")
            show_curves(
                train(module.grads, module.LAYERS, module.ACTIVATIONS, X, Y), fixed_curves[key]
            )
    for number, name in enumerate(CHECKED, start=len(MODULES)):
        module = importlib.import_module(f"bug_zoo.{name}")
        print(f"\n{'=' * 100}\n{number}. {module.TITLE}  (demos/bug_zoo/{name}.py)")
        print(f"   {module.BUG}\n")
        began = time.perf_counter()
        report = module.check(max_examples=60)
        results.append((name, module.EXPECTED, causes(report), time.perf_counter() - began))
        print(report)
    again(results, seeds)
    tally(results)
    elapsed = time.perf_counter() - start
    print(f"\n{len(results)} checks (part 1 also trained) in {elapsed:.1f} s")


def causes(report) -> dict[str, str | None]:
    return {name: m.cause for name, m in report.mismatches.items()}


if __name__ == "__main__":
    main()
