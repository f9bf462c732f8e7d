"""The size budgets of the eager core, checked so that CI keeps them.

The core someone reads to learn backprop (`tensor.py` + `engine.py`) stays under 450
lines and the ops under 800; no function in `autodiff/` is above mccabe complexity 12
(ruff's C901, configured in pyproject.toml) and none in `engine.py`, `tensor.py` or
`ops.py` (where `apply` lives) above 10, checked here because ruff has no per-file
complexity setting.
"""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORE = [ROOT / "autodiff" / "tensor.py", ROOT / "autodiff" / "engine.py"]


def _lines(path: pathlib.Path) -> int:
    return len(path.read_text().splitlines())


def test_core_and_ops_stay_within_their_line_budgets():
    assert sum(_lines(p) for p in CORE) <= 450
    assert _lines(ROOT / "autodiff" / "ops.py") <= 800


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff not installed")
@pytest.mark.parametrize(
    "limit, paths", [(10, [*CORE, ROOT / "autodiff" / "ops.py"]), (12, [ROOT / "autodiff"])]
)
def test_no_function_is_too_complex(limit: int, paths: list[pathlib.Path]):
    command = [sys.executable, "-m", "ruff", "check", "--select", "C901", "--config",
               f"lint.mccabe.max-complexity={limit}", *map(str, paths)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout
