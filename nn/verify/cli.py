"""The command line: `python -m nn.verify FILE:FUNCTION --layers ... --activations ...`.

Loads FUNCTION from FILE, runs `check_backprop` and prints the report. Exit status 0
when everything matches, 1 on a mismatch, 2 for a usage error (bad arguments, a file
or function that cannot be loaded, a network description that makes no sense).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nn.verify.check import check_backprop


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nn.verify",
        description="Check a hand-written backward pass against autodiff.",
        epilog="example: python -m nn.verify my_nn.py:grads --layers 2,10,10,1 "
        "--activations relu,relu,sigmoid",
    )
    parser.add_argument("target", metavar="FILE:FUNCTION", help="grads(X, Y, parameters) -> dict")
    parser.add_argument("--layers", required=True, help="layer sizes, e.g. 2,10,10,1")
    parser.add_argument(
        "--activations", required=True, help="one per layer, e.g. relu,relu,sigmoid"
    )
    parser.add_argument("--loss", choices=("bce", "mse"), default="bce")
    parser.add_argument("--forward", metavar="FUNCTION", help="forward(X, parameters) -> AL")
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    return parser


def load_function(path: str, name: str) -> Callable[..., Any]:
    """The function `name` defined in the Python file `path`."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"_nn_verify_user_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.resolve().parent))  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"{path} defines no function named {name!r}")
    return function


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    path, sep, name = args.target.rpartition(":")
    if not sep or not path or not name:
        parser.error(f"expected FILE:FUNCTION, got {args.target!r}")
    try:
        layers = [int(n) for n in args.layers.split(",")]
    except ValueError:
        parser.error(f"--layers must be comma-separated integers, got {args.layers!r}")
    activations = [a.strip() for a in args.activations.split(",")]
    try:
        grads_fn = load_function(path, name)
        forward_fn = load_function(path, args.forward) if args.forward else None
        report = check_backprop(
            grads_fn,
            layer_dims=layers,
            activations=activations,
            loss=args.loss,
            forward_fn=forward_fn,
            max_examples=args.max_examples,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"python -m nn.verify: error: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.ok else 1
