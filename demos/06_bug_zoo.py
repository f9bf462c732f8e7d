"""A bug zoo: hand-written backward passes with the classic mistakes, diagnosed.

Each module in demos/bug_zoo/ re-creates one bug learners post about (a tanh derivative
fed Z, the tanh derivative on a sigmoid output, a wrong dAL, a relu derivative that
overwrites its argument, a derivative applied to the upstream gradient, db from the
wrong tensor, a mean over the features, a missing 1/m, a transposed dW, a missing db, an
update inside backward). For each one this script prints what `nn.verify` says, then
shows the bug the way a learner meets it: the cost of plain gradient descent on a small
moons data set, next to the same network with the fixed backward pass.

    python demos/06_bug_zoo.py
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bug_zoo import MODULES  # noqa: E402

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


def main() -> None:
    start = time.perf_counter()
    X, Y = dataset()
    fixed_curves: dict[tuple, list[str]] = {}
    for number, name in enumerate(MODULES):
        module = importlib.import_module(f"bug_zoo.{name}")
        print(f"\n{'=' * 100}\n{number}. {module.TITLE}  (demos/bug_zoo/{name}.py)")
        print(f"   {module.BUG}\n")
        report = check_backprop(
            module.grads, layer_dims=module.LAYERS, activations=module.ACTIVATIONS, max_examples=60
        )
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
    elapsed = time.perf_counter() - start
    print(f"\n{len(MODULES)} implementations checked and trained in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
