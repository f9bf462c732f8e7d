"""`python -m benchmarks`: run the suite, print the tables and the targets' verdicts.

BLAS and OpenMP are pinned to one thread for every system before numpy is imported,
which is why the imports below come after `pin_threads()`.
"""

from __future__ import annotations

from benchmarks.env import pin_threads

_PINNED_BEFORE_NUMPY = pin_threads()

import argparse  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import (  # noqa: E402
    chain,
    compile_targets,
    deep,
    env,
    hygiene,
    mlp,
    recording,
    report,
    scalar,
    targets,
)
from benchmarks.harness import Case, CaseResult, run_case  # noqa: E402

GROUPS = ("mlp", "chain", "deep", "scalar", "hygiene", "recording")
RESULTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of autodiff/nn against hand-written numpy, PyTorch and "
        "micrograd (the last two only when installed).",
    )
    parser.add_argument("--quick", action="store_true", help="few rounds, short deep chain")
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"comma-separated groups from {GROUPS}"
    )
    parser.add_argument("--match", default="", help="time only cases whose name contains this")
    parser.add_argument("--rounds", type=int, help="rounds per case (default: per case)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="process CPU time (default) or wall time")  # fmt: skip
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--no-micrograd", action="store_true", help="leave micrograd out")
    parser.add_argument("--write", action="store_true", help=f"save the report to {RESULTS_PATH}")
    args = parser.parse_args(argv)
    args.groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}; choose from {GROUPS}")
    return args


def _installed(name: str, disabled: bool) -> str | None:
    return None if disabled else env.optional_version(name)


def build_cases(args: argparse.Namespace, torch: bool, micrograd: bool) -> list[Case]:
    cases: list[Case] = []
    if "mlp" in args.groups:
        cases += mlp.make_cases(torch=torch)
    if "chain" in args.groups:
        cases += chain.make_cases(torch=torch)
    if "scalar" in args.groups:
        cases += scalar.make_cases(torch=torch, micrograd=micrograd)
    return [c for c in cases if args.match in c.name]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    threads = env.limit_loaded_pools()
    if not _PINNED_BEFORE_NUMPY:
        threads += " (numpy was imported first: the pin may not have applied)"
    torch_version = _installed("torch", args.no_torch)
    micrograd_version = _installed("micrograd", args.no_micrograd)
    if torch_version:
        import torch

        torch.set_num_threads(1)
        threads += "; torch.set_num_threads(1)"
    externals = {"torch": torch_version, "micrograd": micrograd_version}
    header = env.describe(threads, externals)
    header.append(("clock", f"{args.clock} time; medians over rounds, systems interleaved"))
    header.append(("command", "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None
                                                                  else argv)))  # fmt: skip
    for label, value in header:
        print(f"{label}: {value}")
    print()

    results: list[CaseResult] = []
    min_time = 0.005 if args.quick else 0.03
    cases = build_cases(args, bool(torch_version), bool(micrograd_version))
    gc.collect()
    gc.freeze()  # see benchmarks.harness: long-lived objects stay out of the timed collections
    for case in cases:
        rounds = args.rounds or (min(5, case.rounds) if args.quick else case.rounds)
        t0 = time.perf_counter()
        result = run_case(case, rounds=rounds, min_time=min_time, clock=args.clock)
        results.append(result)
        summary = ", ".join(f"{s} {result.shown(s):.3g} {case.unit}" for s in case.systems)
        print(f"{case.name}: {summary}  [{time.perf_counter() - t0:.1f} s]", flush=True)

    deep_runs: list[dict[str, Any]] | None = None
    if "deep" in args.groups:
        ops = 200_000 if args.quick else deep.N_OPS
        systems = ["autodiff"] + (["torch"] if torch_version and not args.quick else [])
        deep_runs = []
        for system in systems:
            run = deep.measure(system, ops)
            deep_runs.append(run)
            print(f"deep chain {system} {ops:,} ops: {run['total_s']:.2f} s wall, "
                  f"{run['total_cpu_s']:.2f} s cpu, peak {run['peak_rss_bytes'] / 2**20:.0f} MiB",
                  flush=True)  # fmt: skip

    checks = hygiene.measure() if "hygiene" in args.groups else None
    recorded = None
    if "recording" in args.groups:
        recorded = recording.measure(quick=args.quick, clock=args.clock)
        for run in recorded:
            print(f"compiling {run['name']}: {run['extra_ms']:.3g} ms over "
                  f"{run['calls']} eager calls = {run['extra_steps']:.1f} eager steps",
                  flush=True)  # fmt: skip
    verdicts = targets.evaluate(results, deep_runs, checks, args.clock)
    verdicts += compile_targets.evaluate(results)  # ad.compile's rows
    verdicts += recording.evaluate(recorded)
    notes = [
        "Ratios are medians of per-round ratios (system time / baseline time in the same "
        "round); below 1 means faster than the baseline. Each time includes collecting the "
        "system's own cyclic garbage (a full `gc.collect()` closing every measurement; the "
        "'of which gc' column is its share), with the long-lived heap frozen (`gc.freeze()`).",
    ]
    if args.quick:
        notes.append("Quick run: few rounds and a 200,000-op deep chain; numbers are rough.")
    text = report.render(header, results, deep_runs, checks, verdicts, notes, recorded)
    print()
    print(text)
    print(f"total time: {time.perf_counter() - started:.0f} s")
    if args.write:
        with open(RESULTS_PATH, "w") as f:
            f.write(text)
        print(f"wrote {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
