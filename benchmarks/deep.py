"""Deep graph: forward and backward of a long chain of scalar ops, time and peak memory.

Peak memory is the process's maximum resident set size (VmHWM on Linux, else
`resource.getrusage`), so each measurement runs in a fresh interpreter:
`python -m benchmarks.deep --ops N --system S` prints one JSON line, and `measure()`
starts that process and reads the line back. tracemalloc would be exact but is far too
slow with a million objects alive.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from typing import Any

from benchmarks.chain import build_chain

N_OPS = 1_000_000
# The per-op chain's ops; a smaller shift keeps the gradient a normal float over 10**6
# ops (with +0.001 it decays to a subnormal, 2.5e-323, which checks nothing).
SCALE, SHIFT = 1.0001, 1e-6


def _peak_rss_bytes() -> int:
    """This process's peak resident set size so far.

    On Linux, `ru_maxrss` survives fork and exec: a child started from a big parent
    reports the parent's size as its own peak. VmHWM in /proc/self/status is the
    high-water mark of this process's own memory, so it is preferred where it exists.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _chain(x: Any, n_ops: int, tanh: Any) -> Any:
    return build_chain(x, n_ops, tanh, SCALE, SHIFT)


def expected_grad(x0: float, n_ops: int) -> float:
    """d(chain)/dx at x0 with Python floats and the chain rule written out."""
    x, saved = x0, []
    for i in range(n_ops):
        k = i % 3
        if k == 0:
            x *= SCALE
        elif k == 1:
            x += SHIFT
        else:
            x = math.tanh(x)
            saved.append(x)
    g = 1.0
    for i in range(n_ops - 1, -1, -1):
        k = i % 3
        if k == 0:
            g *= SCALE
        elif k == 2:
            t = saved.pop()
            g *= 1 - t * t
    return g


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
    base = _peak_rss_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    y = _chain(x, n_ops, tanh)
    forward, forward_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    y.backward()
    backward, backward_cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _peak_rss_bytes()
    grad, want = float(x.grad), expected_grad(0.3, n_ops)
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
        "grad": grad,
        "grad_rel_err": abs(grad - want) / abs(want),
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
