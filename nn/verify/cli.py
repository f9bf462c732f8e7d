"""The command line.

    python -m nn.verify FILE:FUNCTION --layers 2,10,10,1 --activations relu,relu,sigmoid
    python -m nn.verify FILE:FUNCTION --layers 3,6,1 --cost FILE:COST   (your cost as truth)
    python -m nn.verify layer FILE:FUNCTION --kind linear_activation --activation relu
    python -m nn.verify cost FILE:FUNCTION --loss bce

Loads FUNCTION from FILE, runs the check and prints the report in its shell form (no
Python names; the smallest failing case is printed). Exit status 0 when everything
matches, 1 on a mismatch, 2 for a usage error (bad arguments, a file or function that
cannot be loaded, a network description that makes no sense).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nn.verify.check import check_backprop
from nn.verify.cost import check_cost
from nn.verify.layer import KINDS, check_layer

DTYPES = {"float64": np.float64, "float32": np.float32}


def _common(parser: argparse.ArgumentParser, target_help: str) -> None:
    parser.add_argument("target", metavar="FILE:FUNCTION", help=target_help)
    parser.add_argument("--layout", choices=("columns", "rows"), default="columns")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float64")
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)


def _backprop_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nn.verify",
        description="Check a hand-written backward pass against autodiff. Sub-commands: "
        "'layer FILE:FUNCTION' checks one layer's backward, 'cost FILE:FUNCTION' a cost.",
        epilog="example: python -m nn.verify my_nn.py:grads --layers 2,10,10,1 "
        "--activations relu,relu,sigmoid",
    )
    _common(parser, "grads(X, Y, parameters) -> dict of dW1, db1, ...")
    parser.add_argument("--layers", help="layer sizes, e.g. 2,10,10,1")
    parser.add_argument("--activations", help="one per layer, e.g. relu,relu,sigmoid")
    parser.add_argument("--loss", choices=("bce", "mse", "cross_entropy"), default="bce")
    parser.add_argument(
        "--cost",
        metavar="FILE:FUNCTION",
        help="your cost(X, Y, parameters) in numpy: its autodiff gradient is the truth",
    )
    parser.add_argument("--lambd", type=float, default=0.0, help="L2 strength (course lambd)")
    parser.add_argument("--slope", type=float, default=0.01, help="leaky_relu's slope")
    parser.add_argument("--forward", metavar="FUNCTION", help="forward(X, parameters) -> AL")
    return parser


def _layer_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nn.verify layer",
        description="Check one layer's hand-written backward against autodiff.",
        epilog="example: python -m nn.verify layer my_nn.py:linear_activation_backward "
        "--kind linear_activation --activation relu",
    )
    _common(parser, "linear_activation: (dA, cache) -> (dA_prev, dW, db); "
            "linear: (dZ, cache) -> (dA_prev, dW, db); activation: (dA, Z) -> dZ")  # fmt: skip
    parser.add_argument("--kind", choices=KINDS, default="linear_activation")
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--slope", type=float, default=0.01)
    return parser


def _cost_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nn.verify cost",
        description="Check a hand-written compute_cost against the reference cost.",
        epilog="example: python -m nn.verify cost my_nn.py:compute_cost --loss bce",
    )
    _common(parser, "compute_cost(AL, Y), or (AL, Y, parameters, lambd) with --lambd")
    parser.add_argument("--loss", choices=("bce", "mse", "cross_entropy"), default="bce")
    parser.add_argument("--lambd", type=float, default=0.0)
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
    bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ left
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
        sys.dont_write_bytecode = bytecode
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"{path} defines no function named {name!r}")
    return function


def _target(parser: argparse.ArgumentParser, text: str) -> tuple[str, str]:
    path, sep, name = text.rpartition(":")
    if not sep or not path or not name:
        parser.error(f"expected FILE:FUNCTION, got {text!r}")
    return path, name


def _backprop(args: argparse.Namespace, parser: argparse.ArgumentParser):
    path, name = _target(parser, args.target)
    layers = activations = None
    if args.layers is not None:
        try:
            layers = [int(n) for n in args.layers.split(",")]
        except ValueError:
            parser.error(f"--layers must be comma-separated integers, got {args.layers!r}")
    if args.activations is not None:
        activations = [a.strip() for a in args.activations.split(",")]
    if args.cost is None and (layers is None or activations is None):
        parser.error("--layers and --activations are required (or --cost with --layers)")
    if args.cost is not None and layers is None:
        parser.error("--cost needs --layers for the shapes")
    cost_fn = None
    if args.cost is not None:
        cost_path, cost_name = _target(parser, args.cost)
        cost_fn = load_function(cost_path, cost_name)
    grads_fn = load_function(path, name)
    forward_fn = load_function(path, args.forward) if args.forward else None
    return check_backprop(
        grads_fn,
        layer_dims=layers,
        activations=None if cost_fn else activations,
        loss=args.loss,
        cost_fn=cost_fn,
        lambd=args.lambd,
        slope=args.slope,
        layout=args.layout,
        dtype=DTYPES[args.dtype],
        forward_fn=forward_fn,
        max_examples=args.max_examples,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in ("layer", "cost") else None
    parser = {"layer": _layer_parser, "cost": _cost_parser}.get(command, _backprop_parser)()
    args = parser.parse_args(argv[1:] if command else argv)
    try:
        if command == "layer":
            report = check_layer(
                load_function(*_target(parser, args.target)),
                kind=args.kind,
                activation=args.activation,
                slope=args.slope,
                layout=args.layout,
                dtype=DTYPES[args.dtype],
                max_examples=args.max_examples,
                seed=args.seed,
            )
        elif command == "cost":
            report = check_cost(
                load_function(*_target(parser, args.target)),
                loss=args.loss,
                layout=args.layout,
                lambd=args.lambd,
                dtype=DTYPES[args.dtype],
                max_examples=args.max_examples,
                seed=args.seed,
            )
        else:
            report = _backprop(args, parser)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(report.render(shell=True))
    return 0 if report.ok else 1
