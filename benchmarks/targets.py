"""The performance targets, each judged PASS, FAIL or SKIP (not measured in this run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.harness import CaseResult
from benchmarks.mlp import SIZES

GIB = 1024**3
MLP_LIMITS = {(2, 16, 16, 1): 1.5, (2, 64, 64, 1): 1.25, (784, 128, 64, 10): 1.10,
              (784, 1024, 1024, 10): 1.05}  # fmt: skip
FASTER_THAN_TORCH = ((2, 16, 16, 1), (2, 64, 64, 1))
CHAIN_LIMIT = 2.5
DEEP_SECONDS, DEEP_BYTES, DEEP_OPS = 5.0, GIB, 1_000_000


@dataclass
class Target:
    name: str
    measured: str
    verdict: str  # "PASS", "FAIL" or "SKIP"


def _judge(name: str, value: float | None, limit: float, strict: bool = False) -> Target:
    if value is None:
        return Target(name, "not measured", "SKIP")
    ok = value < limit if strict else value <= limit
    return Target(name, f"{value:.2f}", "PASS" if ok else "FAIL")


def evaluate(
    results: list[CaseResult],
    deep: list[dict[str, Any]] | None,
    hygiene: list[dict[str, Any]] | None,
    clock: str = "cpu",
) -> list[Target]:
    """Every target of the suite against what this run measured."""
    by_name = {r.case.name: r for r in results}
    targets = []
    for dtype in ("float64", "float32"):
        for size in SIZES:
            r = by_name.get(f"mlp step {size.label} {dtype}")
            limit = MLP_LIMITS[size.layers]
            targets.append(
                _judge(f"nn/numpy MLP step {size.label} {dtype} <= {limit}",
                       r.ratio("nn", "numpy") if r else None, limit)
            )  # fmt: skip
    for dtype in ("float64", "float32"):
        for size in SIZES:
            if size.layers in FASTER_THAN_TORCH:
                r = by_name.get(f"mlp step {size.label} {dtype}")
                targets.append(
                    _judge(f"nn/torch MLP step {size.label} {dtype} < 1",
                           r.ratio("nn", "torch") if r else None, 1.0, strict=True)
                )  # fmt: skip
    chain = next((r for r in results if r.case.name.endswith("ops, 1 element")), None)
    targets.append(
        _judge(f"per-op fwd+bwd, 1 element: autodiff/numpy <= {CHAIN_LIMIT}",
               chain.ratio("autodiff", "numpy") if chain else None, CHAIN_LIMIT)
    )  # fmt: skip
    targets += _deep_targets(deep, clock)
    for case_name, label in (("micrograd README expression", "README expression"),
                             ("scalar MLP", "scalar MLP")):  # fmt: skip
        r = next((r for r in results if r.case.name.startswith(case_name)), None)
        target = _judge(
            f"{label}: autodiff/micrograd < 1",
            r.ratio("autodiff", "micrograd") if r else None,
            1.0,
            strict=True,
        )
        if r and target.verdict != "SKIP":  # micrograd's cycles cost it gc time: show both
            target.measured += (
                f" ({r.ratio_without_gc('autodiff', 'micrograd'):.2f} against "
                "micrograd without its gc)"
            )
        targets.append(target)
    targets += _hygiene_targets(hygiene)
    return targets


def _deep_targets(deep: list[dict[str, Any]] | None, clock: str) -> list[Target]:
    run = next((d for d in deep or [] if d["system"] == "autodiff"), None)
    time_name = f"1,000,000-op chain fwd+bwd < {DEEP_SECONDS:.0f} s ({clock} time)"
    mem_name = "1,000,000-op chain peak memory < 1 GiB"
    if run is None or run["ops"] != DEEP_OPS:
        why = "not measured" if run is None else f"measured at {run['ops']:,} ops only"
        return [Target(time_name, why, "SKIP"), Target(mem_name, why, "SKIP")]
    seconds = run["total_cpu_s"] if clock == "cpu" else run["total_s"]
    peak = run["peak_rss_bytes"]
    fast = seconds < DEEP_SECONDS and run["grad_rel_err"] < 1e-9
    return [
        Target(time_name, f"{seconds:.2f} s", "PASS" if fast else "FAIL"),
        Target(mem_name, f"{peak / GIB:.2f} GiB", "PASS" if peak < DEEP_BYTES else "FAIL"),
    ]


def _hygiene_targets(hygiene: list[dict[str, Any]] | None) -> list[Target]:
    cycles_name = "training step leaves no reference cycles of ours"
    nodes_name = "first-order backward builds no Tensors (create_graph=False)"
    if not hygiene:
        return [Target(cycles_name, "not measured", "SKIP"),
                Target(nodes_name, "not measured", "SKIP")]  # fmt: skip
    cycles = ", ".join(
        f"{h['workload']}: gc found {h['cycles']['collected']} ({h['cycles']['ours']} ours)"
        for h in hygiene
    )
    nodes = ", ".join(
        f"{h['workload']}: {h['backward']['first_order']} "
        f"(control create_graph: {h['backward']['create_graph']})"
        for h in hygiene
    )
    return [
        Target(cycles_name, cycles, "PASS" if all(h["cycles_ok"] for h in hygiene) else "FAIL"),
        Target(nodes_name, nodes, "PASS" if all(h["backward_ok"] for h in hygiene) else "FAIL"),
    ]
