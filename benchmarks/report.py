"""Markdown tables of a run: environment, timings, deep graph, hygiene checks, targets.

The same text is printed and, with `--write`, saved as benchmarks/RESULTS.md.
"""

from __future__ import annotations

from typing import Any

from benchmarks import recording
from benchmarks.harness import CaseResult
from benchmarks.targets import GIB, Target


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _number(x: float) -> str:
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def timing_table(results: list[CaseResult]) -> list[str]:
    """One row per benchmark and system: median time and the median of per-round ratios."""
    rows = []
    for r in results:
        case = r.case
        for i, system in enumerate(case.systems):
            ratio = r.ratio(system, case.baseline) if case.baseline else None
            rows.append([
                case.name if i == 0 else "",
                system + (" (baseline)" if system == case.baseline else ""),
                f"{_number(r.shown(system))} {case.unit}",
                "" if ratio is None else f"{ratio:.2f}",
                f"{100 * r.gc_share(system):.0f}%",
                f"{len(r.times[system])} x {r.reps[system]}",
            ])  # fmt: skip
    header = ["benchmark", "system", "median", "ratio to baseline", "of which gc",
              "rounds x calls"]  # fmt: skip
    return _table(header, rows)


def deep_table(deep: list[dict[str, Any]]) -> list[str]:
    rows = [
        [d["system"], f"{d['ops']:,}",
         f"{d['forward_s']:.2f} / {d['forward_cpu_s']:.2f}",
         f"{d['backward_s']:.2f} / {d['backward_cpu_s']:.2f}",
         f"{d['total_s']:.2f} / {d['total_cpu_s']:.2f}",
         f"{d['peak_rss_bytes'] / GIB:.2f} GiB", f"{d['graph_bytes'] / 2**20:.0f} MiB",
         f"{d['grad_rel_err']:.1e}"]
        for d in deep
    ]  # fmt: skip
    header = ["system", "ops", "forward s (wall / cpu)", "backward s (wall / cpu)",
              "total s (wall / cpu)", "peak RSS", "graph (RSS growth)",
              "grad rel. error"]  # fmt: skip
    return _table(header, rows)


def hygiene_table(hygiene: list[dict[str, Any]]) -> list[str]:
    rows = []
    for h in hygiene:
        c, b = h["cycles"], h["backward"]
        kinds = ": " + ", ".join(c["examples"]) if c["examples"] else ""
        rows.append([
            h["workload"],
            f"{c['collected']} ({c['ours']} ours{kinds})",
            f"{c['tensors_before']} / {c['tensors_after']}",
            f"{b['first_order']} ({b['first_order_nodes']} nodes)",
            str(b["create_graph"]),
        ])  # fmt: skip
    header = ["workload", "gc.collect() after a step (ours)", "live Tensors before / after",
              "Tensors made by backward()", "... by grad(create_graph=True)"]  # fmt: skip
    return _table(header, rows)


def targets_table(targets: list[Target]) -> list[str]:
    return _table(["target", "measured", ""], [[t.name, t.measured, t.verdict] for t in targets])


def render(
    env: list[tuple[str, str]],
    results: list[CaseResult],
    deep: list[dict[str, Any]] | None,
    hygiene: list[dict[str, Any]] | None,
    targets: list[Target],
    notes: list[str],
    recorded: list[dict[str, Any]] | None = None,
) -> str:
    """The whole report as Markdown."""
    out = ["# Benchmark results", ""]
    out += [f"- {label}: {value}" for label, value in env]
    out += ["", *notes, ""]
    if results:
        out += ["## Timings", "", *timing_table(results), ""]
        checked = [f"- {r.case.name}: {r.case.note}" for r in results if r.case.note]
        out += ["Checks before timing:", "", *checked, ""]
    if deep:
        out += ["## Deep graph (fresh process per system)", "", *deep_table(deep), ""]
    if hygiene:
        out += ["## Graph hygiene", "", *hygiene_table(hygiene), ""]
    if recorded:
        out += ["## Recording cost of ad.compile (first calls against as many eager calls)",
                "", *recording.table(recorded), ""]  # fmt: skip
    out += ["## Targets", "", *targets_table(targets), ""]
    counts = {v: sum(t.verdict == v for t in targets) for v in ("PASS", "FAIL", "SKIP", "INFO")}
    out.append(", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(out) + "\n"
