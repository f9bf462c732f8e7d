"""Well-known wrong backward passes, recomputed numerically to name a bug.

Each `Variant` is the course's backward pass with one classic mistake built in: an
activation derivative taken at Z instead of A (or the other way round), the derivative
of another activation, a wrong dAL, the derivative applied to the upstream gradient,
db summed from dA, or dW built from an A_prev that a relu derivative overwrote in place.
If a variant reproduces every gradient a user returned, that mistake is the likely
cause. This is plain numpy and never the reference: the truth comes from autodiff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from nn.verify.cases import LEAKY_SLOPE, activate


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# name -> (formula as a learner writes it, g'(Z, A)); the first five are the right ones
DERIVATIVES: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "relu": ("(Z > 0)", lambda Z, A: (Z > 0).astype(Z.dtype)),
    "leaky_relu": ("where(Z > 0, 1, slope)", lambda Z, A: np.where(Z > 0, 1.0, LEAKY_SLOPE)),
    "tanh": ("1 - A**2", lambda Z, A: 1.0 - A**2),
    "sigmoid": ("A * (1 - A)", lambda Z, A: A * (1.0 - A)),
    "identity": ("1", lambda Z, A: np.ones_like(Z)),
    "tanh at Z": ("1 - Z**2", lambda Z, A: 1.0 - Z**2),
    "sigmoid at Z": ("Z * (1 - Z)", lambda Z, A: Z * (1.0 - Z)),
    "tanh at A": ("1 - tanh(A)**2", lambda Z, A: 1.0 - np.tanh(A) ** 2),
    "sigmoid at A": ("sigmoid(A) * (1 - sigmoid(A))", lambda Z, A: _sigmoid(A) * (1 - _sigmoid(A))),
}

BCE_DAL = {
    "-(Y/A + (1-Y)/(1-A))": lambda A, Y: -(Y / A + (1 - Y) / (1 - A)),
    "-(Y/A + (1 - Y/1 - A))": lambda A, Y: -(Y / A + (1 - Y / 1 - A)),
    "A - Y": lambda A, Y: A - Y,
}


@dataclass(frozen=True)
class Variant:
    """One wrong backward pass: `label` is the short cause, `explain` the long one."""

    label: str
    explain: str
    derivative: dict[int, str] = field(default_factory=dict)  # layer -> DERIVATIVES key
    dal: str | None = None
    on_upstream: frozenset[int] = frozenset()  # dZ = g'(dA) in these layers
    db_from_upstream: frozenset[int] = frozenset()
    masked_input: frozenset[int] = frozenset()  # dW_l = dZ_l @ (A_{l-1} > 0).T / m


def backward(
    X: np.ndarray,
    Y: np.ndarray,
    parameters: dict[str, np.ndarray],
    activations: Sequence[str],
    loss: str,
    variant: Variant | None = None,
) -> dict[str, np.ndarray]:
    """The course's forward and backward pass with `variant`'s mistake built in."""
    v = variant or Variant("", "")
    L, m = len(activations), X.shape[1]
    As, Zs = [X], [None]
    for layer, name in enumerate(activations, start=1):
        Zs.append(parameters[f"W{layer}"] @ As[-1] + parameters[f"b{layer}"])
        As.append(activate(name, Zs[-1]))
    AL = As[-1]
    if loss == "mse":
        dA = 2.0 * (AL - Y) / Y.shape[0]  # gradient of the summed per-example losses
    else:
        dA = BCE_DAL[v.dal](AL, Y) if v.dal else -(Y / AL - (1 - Y) / (1 - AL))
    grads = {}
    for layer in range(L, 0, -1):
        name, Z, A, A_prev = activations[layer - 1], Zs[layer], As[layer], As[layer - 1]
        if layer in v.on_upstream:  # g' evaluated at the upstream gradient
            dZ = DERIVATIVES[name][1](dA, activate(name, dA))
        else:
            dZ = dA * DERIVATIVES[v.derivative.get(layer, name)][1](Z, A)
        if layer in v.masked_input:
            A_prev = (A_prev > 0).astype(A_prev.dtype)
        grads[f"dW{layer}"] = dZ @ A_prev.T / m
        grads[f"db{layer}"] = (
            np.sum(dA if layer in v.db_from_upstream else dZ, axis=1, keepdims=True) / m
        )
        dA = parameters[f"W{layer}"].T @ dZ
    return grads


def _layers(layers: Sequence[int]) -> str:
    return f"layer {layers[0]}" if len(layers) == 1 else "layers " + ", ".join(map(str, layers))


def _groups(activations: Sequence[str]) -> Iterator[tuple[str, list[int]]]:
    """Sets of layers a single bug would touch: each layer, each activation, all layers."""
    seen: set[tuple[int, ...]] = set()
    L = len(activations)
    candidates = [(f"layer {i}", [i]) for i in range(L, 0, -1)]
    for name in dict.fromkeys(activations):
        candidates.append(
            (f"every {name} layer", [i + 1 for i, a in enumerate(activations) if a == name])
        )
    candidates.append(("every layer", list(range(1, L + 1))))
    for where, layers in candidates:
        if tuple(layers) not in seen:
            seen.add(tuple(layers))
            yield where, layers


def _derivative_label(formula: str, activation: str) -> str:
    base, _, at = formula.partition(" at ")
    if base == activation:
        return f"{activation} derivative taken at {at}"
    return f"{base} derivative{f' (at {at})' if at else ''} in a {activation} layer"


def candidates(activations: Sequence[str], loss: str) -> Iterator[Variant]:
    """Every variant worth trying for this network, simplest first."""
    for where, layers in _groups(activations):
        kinds = sorted({activations[i - 1] for i in layers})
        if len(kinds) == 1:
            right = DERIVATIVES[kinds[0]][0]
            for formula, (text, _) in DERIVATIVES.items():
                if formula != kinds[0]:
                    yield Variant(
                        _derivative_label(formula, kinds[0]),
                        f"{where}{'' if where.startswith('every') else f' ({kinds[0]})'} is "
                        f"differentiated as {text} instead of {right}",
                        derivative=dict.fromkeys(layers, formula),
                    )
        else:  # one shared helper used for every layer, e.g. 1 - Z**2 everywhere
            shared = {
                "tanh at Z": "1 - Z**2 as every layer's derivative",
                "tanh": "tanh derivative in every layer",
            }
            for formula, label in shared.items():
                yield Variant(
                    label,
                    f"{where} ({', '.join(kinds)}) is differentiated as {DERIVATIVES[formula][0]}",
                    derivative=dict.fromkeys(layers, formula),
                )
        group = frozenset(layers)
        yield Variant(
            "derivative applied to dA",
            f"{where}: the activation derivative is applied to the upstream gradient, "
            "g'(dA), instead of dZ = dA * g'(Z)",
            on_upstream=group,
        )
        yield Variant(
            "db summed from dA",
            f"{where}: db is summed from dA (the gradient of the activation) instead of dZ",
            db_from_upstream=group,
        )
        masked = frozenset(i for i in layers if i > 1 and activations[i - 2] == "relu")
        if masked == group or (where == "every layer" and masked):
            below = _layers(sorted(i - 1 for i in masked))
            yield Variant(
                "A_prev overwritten in place",
                f"dW{'/dW'.join(str(i) for i in sorted(masked, reverse=True))} used the relu "
                f"mask (A > 0) instead of the activations of {below}: a relu derivative that "
                "writes into its argument overwrote the cached A before dW was computed",
                masked_input=masked,
            )
    if loss == "bce":
        for formula in BCE_DAL:
            yield Variant(
                "wrong dAL",
                f"dAL is computed as {formula} instead of -(Y/A - (1-Y)/(1-A))",
                dal=formula,
            )


def combine(a: Variant, b: Variant) -> Variant:
    """Both mistakes at once (a wrong dAL on top of a wrong derivative, say)."""
    return Variant(
        f"{a.label} + {b.label}",
        f"two mistakes: {a.explain}; and {b.explain}",
        derivative={**a.derivative, **b.derivative},
        dal=a.dal or b.dal,
        on_upstream=a.on_upstream | b.on_upstream,
        db_from_upstream=a.db_from_upstream | b.db_from_upstream,
        masked_input=a.masked_input | b.masked_input,
    )


def pairs(activations: Sequence[str], loss: str) -> Iterator[Variant]:
    """A wrong dAL combined with each other single mistake."""
    singles = list(candidates(activations, loss))
    for dal in (v for v in singles if v.dal):
        for other in singles:
            if not other.dal:
                yield combine(dal, other)
