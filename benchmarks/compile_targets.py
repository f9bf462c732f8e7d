"""The targets of `ad.compile`: the compiled nn step against hand-written numpy and PyTorch.

Kept apart from `benchmarks.targets` (the eager engine's floors): the compiled rows of
the MLP cases are judged here.
"""

from __future__ import annotations

from benchmarks.harness import CaseResult
from benchmarks.mlp import SIZES
from benchmarks.targets import Target, _judge

COMPILED_LIMITS = {(2, 16, 16, 1): 1.0, (2, 64, 64, 1): 1.0, (784, 128, 64, 10): 1.05,
                   (784, 1024, 1024, 10): 1.0}  # fmt: skip
FASTER_THAN_TORCH = ((2, 16, 16, 1), (2, 64, 64, 1), (784, 128, 64, 10))


def evaluate(results: list[CaseResult]) -> list[Target]:
    """compiled/numpy at every size and dtype; compiled/torch at the three smaller sizes."""
    by_name = {r.case.name: r for r in results}
    targets = []
    for dtype in ("float64", "float32"):
        for size in SIZES:
            r = by_name.get(f"mlp step {size.label} {dtype}")
            limit = COMPILED_LIMITS[size.layers]
            targets.append(
                _judge(f"compiled/numpy MLP step {size.label} {dtype} <= {limit}",
                       r.ratio("compiled", "numpy") if r else None, limit)
            )  # fmt: skip
    for dtype in ("float64", "float32"):
        for size in SIZES:
            if size.layers in FASTER_THAN_TORCH:
                r = by_name.get(f"mlp step {size.label} {dtype}")
                targets.append(
                    _judge(f"compiled/torch MLP step {size.label} {dtype} < 1",
                           r.ratio("compiled", "torch") if r else None, 1.0, strict=True)
                )  # fmt: skip
    return targets
