"""`python -m nn.draw`: a picture of an MLP's graph without writing code.

Builds an `nn.MLP` from layer sizes and activations, runs it on a small random batch
(optionally through a loss and one backward pass, so gradients show) and saves the
drawing. `main(argv)` is the whole command; `--help` explains the options.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "softmax", "identity")
LOSSES = ("bce", "mse", "cross_entropy")

EXAMPLES = """examples:
  python -m nn.draw --layers 2,16,16,1 --activations tanh,tanh,sigmoid \\
      --loss bce --backward -o mlp.svg
  python -m nn.draw --layers 784,128,10 --activations relu,identity \\
      --loss cross_entropy --collapse-modules -o mnist_mlp.png
  python -m nn.draw --layers 2,4,1 --activations tanh,identity --dot   # DOT text

The picture shows every tensor (boxes: name, shape, dtype, values or statistics, and
gradients after --backward) and every operation (ellipses), with one box per layer;
the layers stack top to bottom (--rankdir LR draws left to right). Rendering needs
Graphviz's `dot` program; --dot prints the DOT source without it."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nn.draw",
        description="Draw the computation graph of a multilayer perceptron (nn.MLP) "
        "as SVG, PNG or PDF through Graphviz.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--layers",
        required=True,
        help="layer sizes, input first, comma-separated (e.g. 2,16,16,1)",
    )
    p.add_argument(
        "--activations",
        default="relu",
        help="one activation per layer, comma-separated, or one name for every layer "
        f"(choices: {', '.join(ACTIVATIONS)}; default relu)",
    )
    p.add_argument("--loss", choices=LOSSES, help="add this loss against random targets")
    p.add_argument(
        "--backward",
        action="store_true",
        help="run one backward pass from the loss so gradients show (needs --loss)",
    )
    p.add_argument("--batch", type=int, default=4, help="rows of the random input (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and data (default 0)")
    p.add_argument(
        "-o",
        "--output",
        default="mlp.svg",
        help="file to write; its extension picks the format (default mlp.svg)",
    )
    p.add_argument("--format", help="output format (svg, png, pdf...) if not the extension's")
    p.add_argument("--dot", action="store_true", help="print the DOT source instead of rendering")
    p.add_argument(
        "--rankdir",
        default="auto",
        choices=("auto", "LR", "TB", "RL", "BT"),
        help="direction of the drawing: auto (the default) stacks the layers top to bottom "
        "in one column; LR left to right (viz.draw's default), TB, RL or BT",
    )
    p.add_argument(
        "--collapse-modules", action="store_true", help="draw each layer as a single node"
    )
    p.add_argument("--max-nodes", type=int, help="draw at most this many nodes")
    p.add_argument("--max-values", type=int, default=6, help="list values up to this size")
    p.add_argument("--no-data", action="store_true", help="hide values")
    p.add_argument("--no-grad", action="store_true", help="hide gradients")
    p.add_argument("--no-legend", action="store_true", help="leave out the colour legend")
    return p


def _sizes(text: str, parser: argparse.ArgumentParser) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        parser.error(f"--layers must be comma-separated integers such as 2,16,1; got {text!r}")
    if len(sizes) < 2 or min(sizes) < 1:
        parser.error(f"--layers needs at least two positive sizes (input, output); got {text!r}")
    return sizes


def _activations(text: str, n_layers: int, parser: argparse.ArgumentParser) -> list[str]:
    names = [s.strip() for s in text.split(",")]
    for name in names:
        if name not in ACTIVATIONS:
            parser.error(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    if len(names) == 1:
        return names * n_layers
    if len(names) != n_layers:
        parser.error(
            f"--activations has {len(names)} names for {n_layers} layers; "
            "give one per layer or a single name"
        )
    return names


def build(sizes: list[int], activations: list[str], seed: int) -> Any:
    """nn.MLP when the hidden layers share an activation, else a Sequential of Dense."""
    import nn

    hidden, output = activations[:-1], activations[-1]
    if len(set(hidden)) <= 1:
        return nn.MLP(sizes, activation=hidden[0] if hidden else "relu", output=output, seed=seed)
    layers = [
        nn.Dense(n_in, n_out, activation=act, seed=seed + k)
        for k, (n_in, n_out, act) in enumerate(zip(sizes[:-1], sizes[1:], activations))
    ]
    return nn.Sequential(*layers)


def _loss(name: str, out: Any, rng: np.random.Generator) -> Any:
    import nn
    from autodiff import Tensor

    batch, width = out.shape
    if name == "bce":
        target = Tensor(rng.integers(0, 2, size=(batch, width)), name="y")
        return nn.binary_cross_entropy(out, target)
    if name == "mse":
        return nn.mse_loss(out, Tensor(rng.normal(size=(batch, width)), name="y"))
    labels = rng.integers(0, width, size=batch)
    return nn.cross_entropy(out, labels)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with `argv` (default: sys.argv[1:]); returns the exit status."""
    from autodiff import Tensor, viz

    parser = _parser()
    args = parser.parse_args(argv)
    sizes = _sizes(args.layers, parser)
    activations = _activations(args.activations, len(sizes) - 1, parser)
    if args.backward and not args.loss:
        parser.error("--backward needs --loss (the scalar to differentiate)")
    if args.batch < 1:
        parser.error(f"--batch must be at least 1; got {args.batch}")
    fmt = args.format or os.path.splitext(args.output)[1].lstrip(".").lower() or "svg"

    rng = np.random.default_rng(args.seed)
    model = build(sizes, activations, args.seed)
    root = model(Tensor(rng.normal(size=(args.batch, sizes[0])), name="X"))
    if args.loss:
        root = _loss(args.loss, root, rng)
    if args.backward:
        root.backward(retain_graph=True)
    options = dict(
        show_data=not args.no_data,
        show_grad=not args.no_grad,
        rankdir=args.rankdir,
        max_values=args.max_values,
        legend=not args.no_legend,
        collapse_modules=args.collapse_modules,
        max_nodes=args.max_nodes,
    )
    if args.dot:
        sys.stdout.write(viz.draw(root, **options).source)
        return 0
    try:
        path = viz.save(root, args.output, format=fmt, **options)
    except (RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
