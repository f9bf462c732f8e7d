"""Thread pinning and the description of the machine a run measured.

`pin_threads()` must run before numpy (or torch) is first imported: OpenBLAS, MKL and
OpenMP read their thread counts when they load. This module imports neither at the top.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads() -> bool:
    """Set every BLAS/OpenMP thread count to 1; False if numpy was already imported."""
    for var in THREAD_VARS:
        os.environ[var] = "1"
    return "numpy" not in sys.modules


def limit_loaded_pools() -> str:
    """Also cap the pools already loaded (threadpoolctl, when installed); says how."""
    how = ", ".join(f"{v}=1" for v in THREAD_VARS) + " set before numpy was imported"
    try:
        import threadpoolctl
    except ImportError:
        return how
    threadpoolctl.threadpool_limits(1)
    return how + "; threadpoolctl.threadpool_limits(1)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_name() -> str:
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # older numpy: no dict mode
        return "unknown"
    return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()


def optional_version(module: str) -> str | None:
    """Version of an installed optional package, or None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def describe(threads: str, externals: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for the header of the printed and the written report."""
    import numpy as np

    rows = [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("machine", f"{cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} "
                    f"{platform.release()}"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("numpy", f"{np.__version__} ({blas_name()})"),
        ("threads", threads),
    ]  # fmt: skip
    if hasattr(os, "getloadavg"):
        rows.append(("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())))
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        rows.append(("OPENBLAS_CORETYPE", coretype))
    for name, version in externals.items():
        rows.append((name, version or "not installed (skipped)"))
    return rows
