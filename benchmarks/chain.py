"""Per-op overhead: a chain of elementwise ops, forward then backward, per system.

The chain repeats `x * 1.0001`, `x + 0.001`, `tanh(x)` for `N_OPS` ops on a tensor of
1 or 100 elements, then backpropagates a gradient of ones. The hand-written numpy chain
does the same math: the forward pass keeps the tanh outputs, the backward pass applies
`* 1.0001` and `* (1 - t**2)` in reverse. Times are shown in microseconds per op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import Case

N_OPS = 1000
SCALE, SHIFT = 1.0001, 0.001


def numpy_chain(x0: np.ndarray, n_ops: int = N_OPS) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward by hand: the chain's value and d(sum of it)/dx0."""
    x = x0
    saved = []
    for i in range(n_ops):
        k = i % 3
        if k == 0:
            x = x * SCALE
        elif k == 1:
            x = x + SHIFT
        else:
            x = np.tanh(x)
            saved.append(x)
    g = np.ones_like(x)
    for i in range(n_ops - 1, -1, -1):
        k = i % 3
        if k == 0:
            g = g * SCALE
        elif k == 2:
            t = saved.pop()
            g = g * (1 - t * t)
    return x, g


def build_chain(
    x: Any, n_ops: int, tanh: Callable[[Any], Any], scale: float = SCALE, shift: float = SHIFT
) -> Any:
    """`n_ops` ops on `x`, repeating `* scale`, `+ shift`, `tanh`, in any tensor library."""
    y = x
    for i in range(n_ops):
        k = i % 3
        if k == 0:
            y = y * scale
        elif k == 1:
            y = y + shift
        else:
            y = tanh(y)
    return y


def autodiff_chain(x0: np.ndarray, n_ops: int = N_OPS) -> Callable[[], np.ndarray]:
    """A callable that builds the chain on a leaf, backpropagates and returns the gradient."""
    import autodiff as ad

    x = ad.Tensor(x0.copy(), requires_grad=True)
    seed = np.ones_like(x0)

    def run() -> np.ndarray:
        x.grad = None
        build_chain(x, n_ops, ad.tanh).backward(seed)
        return x.grad

    return run


def torch_chain(x0: np.ndarray, n_ops: int = N_OPS) -> Callable[[], np.ndarray]:
    import torch

    torch.set_num_threads(1)
    x = torch.tensor(x0, requires_grad=True)
    seed = torch.ones_like(x)

    def run() -> np.ndarray:
        x.grad = None
        build_chain(x, n_ops, torch.tanh).backward(seed)
        return x.grad.numpy()

    return run


def make_cases(
    sizes: tuple[int, ...] = (1, 100), n_ops: int = N_OPS, *, torch: bool = True, rounds: int = 21
) -> list[Case]:
    """One case per tensor size; every system's gradient is checked against numpy first."""
    cases = []
    for size in sizes:
        x0 = np.linspace(-0.5, 0.5, size) if size > 1 else np.array([0.3])
        expected = numpy_chain(x0, n_ops)[1]
        systems: dict[str, Callable[[], object]] = {"autodiff": autodiff_chain(x0, n_ops)}
        systems["numpy"] = lambda x0=x0: numpy_chain(x0, n_ops)
        if torch:
            systems["torch"] = torch_chain(x0, n_ops)
        for name, run in systems.items():
            got = np.asarray(run() if name != "numpy" else run()[1])
            if not np.allclose(got, expected, rtol=1e-10, atol=0):
                raise AssertionError(f"{name} chain gradient {got[:3]} != numpy {expected[:3]}")
        cases.append(
            Case(
                name=f"op chain {n_ops} ops, {size} element{'s' if size > 1 else ''}",
                group="chain",
                systems=systems,
                baseline="numpy",
                unit="us/op",
                per_call=n_ops,
                rounds=rounds,
                note="fwd+bwd, gradients checked against numpy",
            )
        )
    return cases
