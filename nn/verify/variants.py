"""Well-known wrong backward passes, recomputed numerically to name a bug.

Each `Variant` is the course's backward pass with one classic mistake built in: an
activation derivative taken at Z instead of A (or the other way round), the derivative
of another activation, a softmax differentiated elementwise, a wrong dAL (a sign or an
operator-precedence slip), the derivative applied to the upstream gradient, db summed
from dA, dW built from an A_prev that a relu derivative overwrote in place or from the
layer's own output, dA_prev = W @ dZ without the transpose, or an L2 term that is
missing, lacks its 1/m, is halved or also penalises the biases. `backward` can also
propagate with the weights as the user's function left them (updated in place before
`dA_prev = W.T @ dZ` ran). If a variant reproduces every gradient a user returned, that
mistake is the likely cause. This is plain numpy in the course layout and never the
reference: the truth comes from autodiff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from nn.verify.cases import Network, activate


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# name -> (formula as a learner writes it, g'(Z, A, slope)); the first five are the right
# ones. softmax has no elementwise derivative: `backward` applies its Jacobian.
DERIVATIVES: dict[str, tuple[str, Callable[..., np.ndarray]]] = {
    "relu": ("(Z > 0)", lambda Z, A: (Z > 0).astype(Z.dtype)),
    "leaky_relu": ("where(Z > 0, 1, slope)", None),  # needs the slope: see _derivative
    "tanh": ("1 - A**2", lambda Z, A: 1.0 - A**2),
    "sigmoid": ("A * (1 - A)", lambda Z, A: A * (1.0 - A)),
    "identity": ("1", lambda Z, A: np.ones_like(Z)),
    "tanh at Z": ("1 - Z**2", lambda Z, A: 1.0 - Z**2),
    "sigmoid at Z": ("Z * (1 - Z)", lambda Z, A: Z * (1.0 - Z)),
    "tanh at A": ("1 - tanh(A)**2", lambda Z, A: 1.0 - np.tanh(A) ** 2),
    "sigmoid at A": ("sigmoid(A) * (1 - sigmoid(A))", lambda Z, A: _sigmoid(A) * (1 - _sigmoid(A))),
    "tanh_backward": ("1 - tanh(Z)**2", lambda Z, A: 1.0 - np.tanh(Z) ** 2),
    "sigmoid_backward": (
        "sigmoid(Z) * (1 - sigmoid(Z))",
        lambda Z, A: _sigmoid(Z) * (1 - _sigmoid(Z)),
    ),
    "softmax": ("S * (dA - sum(S * dA, axis=0))", None),  # the Jacobian, in `backward`
    "softmax elementwise": ("S * (1 - S)", lambda Z, A: A * (1.0 - A)),
}

BCE_DAL = {
    "-(Y/A + (1-Y)/(1-A))": lambda A, Y: -(Y / A + (1 - Y) / (1 - A)),
    "-(Y/A + (1 - Y/1 - A))": lambda A, Y: -(Y / A + (1 - Y / 1 - A)),
    "-(Y/A - (1-Y)/1 - A)": lambda A, Y: -(Y / A - (1 - Y) / 1 - A),
    "A - Y": lambda A, Y: A - Y,
}
DAL_TEXT = {
    "-(Y/A - (1-Y)/1 - A)": "(1-Y)/1 - AL divides by 1, not by (1 - AL): operator precedence; "
    "the brackets of (1 - AL) are missing",
}
L2_TEXT = {
    "missing": "the L2 term (lambd/m) * W is missing from dW",
    "no 1/m": "the L2 term is lambd * W, without the 1/m: write (lambd/m) * W",
    "half": "the L2 term is lambd/(2m) * W: the derivative of lambd/(2m) * W**2 is (lambd/m) * W",
    "biases": "the L2 term (lambd/m) * b is added to db as well: biases are not penalised",
}


def _derivative(key: str, Z: np.ndarray, A: np.ndarray, slope: float) -> np.ndarray:
    if key == "leaky_relu":
        return np.where(Z > 0, 1.0, slope)
    return DERIVATIVES[key][1](Z, A)


def _softmax_backward(dA: np.ndarray, S: np.ndarray) -> np.ndarray:
    return S * (dA - np.sum(S * dA, axis=0, keepdims=True))


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
    own_output: frozenset[int] = frozenset()  # dW_l = dZ_l @ A_l.T / m
    no_transpose: frozenset[int] = frozenset()  # dA_{l-1} = W_l @ dZ_l
    l2: str | None = None  # an L2_TEXT key
    propagate_with: str | None = None  # "updated": dA_prev used the weights after the call


def _output_gradient(net: Network, AL: np.ndarray, Y: np.ndarray, dal: str | None):
    """dAL, the gradient of the summed per-example losses (with a variant's slip)."""
    if net.loss == "mse":
        return 2.0 * (AL - Y) / Y.shape[0]
    if net.loss == "cross_entropy":
        return -Y / AL
    return BCE_DAL[dal](AL, Y) if dal else -(Y / AL - (1 - Y) / (1 - AL))


def backward(
    X: np.ndarray,
    Y: np.ndarray,
    parameters: dict[str, np.ndarray],
    net: Network,
    variant: Variant | None = None,
    propagate: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The course's forward and backward pass with `variant`'s mistake built in, in the
    course layout. `propagate` holds the weights `dA_prev = W.T @ dZ` uses, when they
    differ from the forward pass's (a variant with `propagate_with="updated"`)."""
    v = variant or Variant("", "")
    acts, L, m = net.activations, net.L, X.shape[1]
    As, Zs = [X], [None]
    for layer, name in enumerate(acts, start=1):
        Zs.append(parameters[f"W{layer}"] @ As[-1] + parameters[f"b{layer}"])
        As.append(activate(name, Zs[-1], net.slope))
    dA = _output_gradient(net, As[-1], Y, v.dal)
    lambd = {"missing": 0.0, "no 1/m": net.lambd * m, "half": net.lambd / 2}.get(v.l2, net.lambd)
    grads = {}
    for layer in range(L, 0, -1):
        name, Z, A, A_prev = acts[layer - 1], Zs[layer], As[layer], As[layer - 1]
        key = v.derivative.get(layer, name)
        if layer in v.on_upstream:  # g' evaluated at the upstream gradient
            dZ = _derivative(name, dA, activate(name, dA, net.slope), net.slope)
        elif key == "softmax":
            dZ = _softmax_backward(dA, A)
        else:
            dZ = dA * _derivative(key, Z, A, net.slope)
        if layer in v.masked_input:
            A_prev = (A_prev > 0).astype(A_prev.dtype)
        if layer in v.own_output:
            A_prev = A
        W = parameters[f"W{layer}"]
        grads[f"dW{layer}"] = dZ @ A_prev.T / m
        if lambd and W.shape == grads[f"dW{layer}"].shape:
            grads[f"dW{layer}"] = grads[f"dW{layer}"] + lambd / m * W
        grads[f"db{layer}"] = (
            np.sum(dA if layer in v.db_from_upstream else dZ, axis=1, keepdims=True) / m
        )
        if v.l2 == "biases":
            grads[f"db{layer}"] = grads[f"db{layer}"] + net.lambd / m * parameters[f"b{layer}"]
        if v.propagate_with == "updated" and propagate is not None:
            W = propagate.get(f"W{layer}", W)
        if layer in v.no_transpose and W.shape[0] == W.shape[1]:
            dA = W @ dZ
        else:
            dA = W.T @ dZ
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
    if formula == "softmax elementwise":
        return "softmax derivative taken elementwise"
    if formula.endswith("_backward"):  # another activation's course helper, called at Z
        return f"{formula} used for a {activation} layer"
    base, _, at = formula.partition(" at ")
    if base == activation:
        return f"{activation} derivative taken at {at}"
    return f"{base} derivative{f' (at {at})' if at else ''} in a {activation} layer"


def _right_formula(kind: str) -> str:
    return DERIVATIVES[kind][0]


def _derivative_variants(where: str, layers: list[int], kind: str) -> Iterator[Variant]:
    right = _right_formula(kind)
    for formula, (text, _) in DERIVATIVES.items():
        if (
            formula == kind
            or formula == "softmax"
            or (formula == "softmax elementwise" and kind != "softmax")
        ):
            continue
        if kind == "softmax" and formula not in ("softmax elementwise", "identity"):
            continue
        name = f"{where}{'' if where.startswith('every') else f' ({kind})'}"
        explain = f"{name} is differentiated as {text} instead of {right}"
        if formula == "softmax elementwise":
            explain = (
                f"{name}: dZ = dA * S * (1 - S) treats softmax as elementwise; each output "
                "depends on every Z of its column, so dZ = S * (dA - sum(S * dA, axis=0)) "
                "(which is AL - Y for cross-entropy)"
            )
        yield Variant(
            _derivative_label(formula, kind), explain, derivative=dict.fromkeys(layers, formula)
        )


def candidates(net: Network) -> Iterator[Variant]:
    """Every variant worth trying for this network, simplest first."""
    activations = net.activations
    for where, layers in _groups(activations):
        kinds = sorted({activations[i - 1] for i in layers})
        if len(kinds) == 1:
            yield from _derivative_variants(where, layers, kinds[0])
        elif "softmax" not in kinds:  # one shared helper used for every layer, e.g. 1 - Z**2
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
        if "softmax" not in kinds:
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
        yield Variant(
            "A[l] used for A[l-1]",
            f"{where}: dW = dZ @ A.T uses the layer's own output A[l] where the cache's "
            "A_prev = A[l-1] belongs: dW[l] = dZ[l] @ A[l-1].T / m",
            own_output=group,
        )
        square = [i for i in layers if i > 1 and net.dims[i] == net.dims[i - 1]]
        if square and square == [i for i in layers if i > 1]:
            yield Variant(
                "W not transposed",
                f"{where}: dA_prev = W @ dZ is missing the transpose (it runs only because W "
                "is square): dA[l-1] = W[l].T @ dZ[l]",
                no_transpose=frozenset(square),
            )
    if net.lambd:
        for mistake, text in L2_TEXT.items():
            yield Variant(
                f"L2 term {mistake}" if mistake != "biases" else "L2 on biases",
                f"every layer: {text}",
                l2=mistake,
            )
    if net.loss == "bce":
        for formula in BCE_DAL:
            yield Variant(
                "wrong dAL",
                f"dAL is computed as {formula.replace('A', 'AL')} instead of "
                f"-(Y/AL - (1-Y)/(1-AL))"
                + (f": {DAL_TEXT[formula]}" if formula in DAL_TEXT else ""),
                dal=formula,
            )


def updated_weights(layers: Sequence[int]) -> Variant:
    """dA_prev computed with weights the function had already updated in place."""
    used = sorted((i for i in layers if i > 1), reverse=True) or list(layers)
    names = ", ".join(f"W{i}" for i in used)
    lines = ", ".join(f"dA{i - 1} = W{i}.T @ dZ{i}" for i in used)
    return Variant(
        "weights updated before use",
        f"{names} {'was' if len(used) == 1 else 'were'} updated in place (W -= lr * dW) before "
        f"propagating the gradient: {lines} ran with the updated weights. Compute dA_prev "
        "before the update, or update after the whole backward pass (w = self.weights is "
        "the same array, not a copy)",
        propagate_with="updated",
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
        own_output=a.own_output | b.own_output,
        no_transpose=a.no_transpose | b.no_transpose,
        l2=a.l2 or b.l2,
        propagate_with=a.propagate_with or b.propagate_with,
    )


def pairs(net: Network) -> Iterator[Variant]:
    """Two mistakes at once: a wrong dAL with each other single mistake, and a derivative
    applied to dA with db summed from dA in the same layers (one line of the backward
    written with the upstream gradient twice, as in seed 003)."""
    singles = list(candidates(net))
    for dal in (v for v in singles if v.dal):
        for other in singles:
            if not other.dal:
                yield combine(dal, other)
    upstream = [v for v in singles if v.on_upstream]
    for db in (v for v in singles if v.db_from_upstream):
        for other in upstream:
            if other.on_upstream == db.db_from_upstream:
                yield combine(other, db)
