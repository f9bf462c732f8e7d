"""Deep graph: forward and backward of a long chain of scalar ops, time and peak memory.

Peak memory is the process's maximum resident set size (`resource.getrusage`), so each
measurement runs in a fresh interpreter: `python -m benchmarks.deep --ops N --system S`
prints one JSON line. `measure()` starts that process and reads the line back.
tracemalloc would be exact but is far too slow with a million objects alive.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

N_OPS = 1_000_000
SCALE, SHIFT = 1.0001, 0.001


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _chain(x: Any, n_ops: int, tanh: Any) -> Any:
    y = x
    for i in range(n_ops):
        k = i % 3
        if k == 0:
            y = y * SCALE
        elif k == 1:
            y = y + SHIFT
        else:
            y = tanh(y)
    return y


def run(system: str, n_ops: int) -> dict[str, Any]:
    """Build the chain on a 0-d tensor, backpropagate, report seconds and bytes."""
    if system == "autodiff":
        import autodiff as ad

        x = ad.Tensor(0.3, requires_grad=True)
        tanh = ad.tanh
    elif system == "torch":
        import torch

        torch.set_num_threads(1)
        x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
        tanh = torch.tanh
    else:
        raise ValueError(f"unknown system {system!r}; expected autodiff or torch")
    base = _maxrss_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    y = _chain(x, n_ops, tanh)
    forward, forward_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    y.backward()
    backward, backward_cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _maxrss_bytes()
    return {
        "system": system,
        "ops": n_ops,
        "forward_s": forward,
        "backward_s": backward,
        "total_s": forward + backward,
        "forward_cpu_s": forward_cpu,
        "backward_cpu_s": backward_cpu,
        "total_cpu_s": forward_cpu + backward_cpu,
        "peak_rss_bytes": peak,
        "graph_bytes": peak - base,
        "grad": float(x.grad),
    }


def measure(system: str, n_ops: int = N_OPS, timeout: float = 300) -> dict[str, Any]:
    """Run `run(system, n_ops)` in a fresh interpreter (same environment) and return it."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.deep", "--ops", str(n_ops), "--system", system],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"deep graph run for {system} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=N_OPS)
    parser.add_argument("--system", default="autodiff", choices=("autodiff", "torch"))
    args = parser.parse_args(argv)
    print(json.dumps(run(args.system, args.ops)))


if __name__ == "__main__":
    main()
