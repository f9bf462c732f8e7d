"""Benchmarks of autodiff and nn against hand-written numpy, PyTorch and micrograd.

Run `python -m benchmarks` (add `--quick` for a short run, `--help` for options). The
suite measures every system in one process, interleaving them round by round, with BLAS
pinned to one thread, and prints medians, per-round ratios and PASS/FAIL per target.

Modules: `harness` (timing and ratios), `env` (thread pinning, machine description),
`numpy_mlp` (the hand-written numpy baseline), `mlp`, `chain`, `scalar` (the timed
workloads), `deep` (the 1,000,000-op graph, run in a fresh process), `hygiene` (reference
cycles, graph built during backward), `targets` and `report` (the verdicts and tables).

Importing this package does no work and does not import numpy, so `__main__` can pin
the BLAS threads before numpy loads.
"""
