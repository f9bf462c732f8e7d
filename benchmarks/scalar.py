"""Scalar graphs, micrograd's home ground: its README expression and a scalar MLP.

Both workloads are written once against the operators and `.relu()` that autodiff's
0-d Tensors, micrograd's `Value` and PyTorch's 0-d tensors share, so each system runs
exactly the same Python code; only the leaf type differs. Results are checked (the
README's printed values, and the MLP's gradients against autodiff's) before timing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from benchmarks.harness import Case

# g, dg/da and dg/db printed by micrograd's README for its example expression.
README_VALUES = (24.7041, 138.8338, 645.5773)


def readme_expression(a: Any, b: Any) -> Any:
    """The example expression of micrograd's README, built from leaves `a` and `b`."""
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    return g


def scalar_mlp_loss(layers: list[list[tuple[list[Any], Any]]], X: list, Y: list) -> Any:
    """Sum of squared errors of a scalar MLP (relu hidden layers, linear output).

    `layers[l]` lists the neurons of layer l as `(weights, bias)`; a neuron computes
    `sum(w_i * x_i) + b` as micrograd's `Neuron` does.
    """
    total = None
    for x, y in zip(X, Y, strict=True):
        acts = x
        for depth, layer in enumerate(layers):
            hidden = depth < len(layers) - 1
            outs = []
            for weights, bias in layer:
                act = sum((w * a for w, a in zip(weights, acts, strict=True)), bias)
                outs.append(act.relu() if hidden else act)
            acts = outs
        err = (acts[0] - y) ** 2
        total = err if total is None else total + err
    return total


def _mlp_values(sizes: list[int], seed: int = 0) -> list[list[tuple[list[float], float]]]:
    rng = random.Random(seed)
    return [
        [([rng.uniform(-1, 1) for _ in range(n_in)], rng.uniform(-1, 1)) for _ in range(n_out)]
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]


def _mlp_data(n: int, n_in: int, seed: int = 1) -> tuple[list[list[float]], list[float]]:
    rng = random.Random(seed)
    X = [[rng.uniform(-2, 2) for _ in range(n_in)] for _ in range(n)]
    return X, [rng.choice((-1.0, 1.0)) for _ in range(n)]


def leaf_makers(torch: bool, micrograd: bool) -> dict[str, Callable[[float], Any]]:
    """How each system makes a scalar leaf that requires a gradient."""
    import autodiff as ad

    makers: dict[str, Callable[[float], Any]] = {
        "autodiff": lambda v: ad.Tensor(v, requires_grad=True)
    }
    if micrograd:
        from micrograd.engine import Value

        makers["micrograd"] = Value
    if torch:
        import torch as th

        th.set_num_threads(1)
        makers["torch"] = lambda v: th.tensor(v, dtype=th.float64, requires_grad=True)
    return makers


def _grad(leaf: Any) -> float:
    return float(leaf.grad)


def _clear(leaves: list[Any], system: str) -> None:
    for p in leaves:
        p.grad = 0 if system == "micrograd" else None


def readme_case(torch: bool = True, micrograd: bool = True, rounds: int = 21) -> Case:
    systems = {}
    for name, make in leaf_makers(torch, micrograd).items():
        a, b = make(-4.0), make(2.0)

        def run(a: Any = a, b: Any = b, name: str = name) -> tuple[float, float, float]:
            _clear([a, b], name)
            g = readme_expression(a, b)
            g.backward()
            return float(g.data) if name != "torch" else g.item(), _grad(a), _grad(b)

        got = run()
        if any(abs(x - want) > 1e-4 for x, want in zip(got, README_VALUES, strict=True)):
            raise AssertionError(f"{name}: README expression gives {got}, not {README_VALUES}")
        systems[name] = run
    return Case(
        name="micrograd README expression",
        group="scalar",
        systems=systems,
        baseline="micrograd" if micrograd else None,
        unit="us",
        rounds=rounds,
        note="fwd+bwd; g, dg/da, dg/db checked against the README",
    )


def mlp_case(
    sizes: tuple[int, ...] = (2, 16, 16, 1),
    samples: int = 4,
    *,
    torch: bool = True,
    micrograd: bool = True,
    rounds: int = 15,
) -> Case:
    values = _mlp_values(list(sizes))
    X, Y = _mlp_data(samples, sizes[0])
    systems = {}
    reference: list[float] | None = None
    for name, make in leaf_makers(torch, micrograd).items():
        layers = [[([make(w) for w in ws], make(b)) for ws, b in layer] for layer in values]
        leaves = [p for layer in layers for ws, b in layer for p in (*ws, b)]

        def step(layers: Any = layers, leaves: list = leaves, name: str = name) -> None:
            _clear(leaves, name)
            scalar_mlp_loss(layers, X, Y).backward()

        step()
        got = [_grad(p) for p in leaves]
        if reference is None:
            reference = got
        elif any(abs(x - r) > 1e-9 * (1 + abs(r)) for x, r in zip(got, reference, strict=True)):
            raise AssertionError(f"{name}: scalar MLP gradients {got[:3]} != {reference[:3]}")
        systems[name] = step
        if name == "autodiff":
            systems["compiled"] = _compiled_step(layers, leaves, X, Y, reference)
    label = "-".join(map(str, sizes))
    return Case(
        name=f"scalar MLP {label}, {samples} samples",
        group="scalar",
        systems=systems,
        baseline="micrograd" if micrograd else None,
        unit="ms",
        rounds=rounds,
        note="fwd+bwd of the summed squared error; gradients checked across systems",
    )


def _compiled_step(layers: Any, leaves: list, X: list, Y: list, reference: Any) -> Any:
    """The autodiff step through `ad.compile`: thousands of 0-d kernels, no graph."""
    import autodiff as ad

    twins = [[([ad.Tensor(w.data.copy(), requires_grad=True) for w in ws],
               ad.Tensor(b.data.copy(), requires_grad=True)) for ws, b in layer]
             for layer in layers]  # fmt: skip
    params = [p for layer in twins for ws, b in layer for p in (*ws, b)]

    @ad.compile
    def step() -> None:
        for p in params:
            p.zero_grad()
        scalar_mlp_loss(twins, X, Y).backward()

    for _ in range(3):  # recorded, checked, replayed
        step()
    got = [_grad(p) for p in params]
    if any(abs(x - r) > 1e-9 * (1 + abs(r)) for x, r in zip(got, reference, strict=True)):
        raise AssertionError(f"compiled: scalar MLP gradients {got[:3]} != {reference[:3]}")
    return step


def make_cases(*, torch: bool = True, micrograd: bool = True) -> list[Case]:
    return [readme_case(torch, micrograd), mlp_case(torch=torch, micrograd=micrograd)]
