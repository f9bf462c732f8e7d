"""Backpropagation derived by hand, in plain numpy: the formulas of the deep-learning course notes.

Nothing here uses autodiff. The module is an oracle that the engine and ``nn.verify`` are
compared against, and a text to learn from, so every function states its formula.

Conventions (those of the course notes):

- Columns are samples. ``X`` has shape ``(n_x, m)``, the targets ``Y`` have the shape of the
  output ``AL``: ``(1, m)`` for one sigmoid unit, one-hot ``(C, m)`` for a softmax output.
- Layer ``l`` (``1 <= l <= L``) holds ``W{l}`` of shape ``(n_l, n_{l-1})`` and ``b{l}`` of shape
  ``(n_l, 1)`` and computes ``Z{l} = W{l} A{l-1} + b{l}``, ``A{l} = g_l(Z{l})``, with ``A0 = X``.
- ``activations`` holds one name per layer: ``"relu"``, ``"tanh"``, ``"sigmoid"``,
  ``"leaky_relu"`` (slope 0.01), ``"identity"``, and ``"softmax"`` (output layer only).
- The cost is the mean of per-example losses: ``J = (1/m) sum_i L_i``. As in the course, every
  ``dA`` and ``dZ`` is the gradient of the *summed* losses ``sum_i L_i`` (no 1/m), and the 1/m
  is carried by ``dW = dZ A_prev^T / m`` and ``db = sum_i dZ / m``. ``dW`` and ``db`` are exact
  gradients of the mean cost ``J`` (plus the L2 term when ``lambd > 0``).
- Losses (keyword ``loss``): ``"bce"`` (binary cross-entropy, summed over output units),
  ``"cross_entropy"`` (categorical, for a softmax output and one-hot ``Y``) and ``"mse"`` (the
  plain mean of squared errors over all entries, no 1/2). ``loss=None`` picks ``"bce"`` when
  ``AL`` has one row and ``"cross_entropy"`` when it has several, in every function alike.
- A cache is ``((A_prev, W, b), Z)`` per layer, or ``((A_prev, W, b), Z, D)`` when the forward
  pass used dropout (``keep_prob < 1``); ``D`` is the boolean mask of the layer's activations,
  ``None`` for the output layer, which is never dropped.
- No function modifies its arguments; updates return new dicts.

Example, one gradient-descent step on a 2-3-1 network:

>>> import numpy as np
>>> from nn import reference as ref
>>> parameters = ref.initialize_parameters([2, 3, 1], init="he", seed=0)
>>> X = np.array([[0.5, -1.0], [2.0, 0.0]])
>>> Y = np.array([[1.0, 0.0]])
>>> AL, caches = ref.L_model_forward(X, parameters, ["relu", "sigmoid"])
>>> AL.shape
(1, 2)
>>> grads = ref.L_model_backward(AL, Y, caches, ["relu", "sigmoid"])
>>> sorted(grads)
['dA0', 'dA1', 'dW1', 'dW2', 'db1', 'db2']
>>> parameters = ref.update_parameters(parameters, grads, lr=0.1)

To add an activation, give it a forward formula in ``apply_activation``, a
``<name>_backward(dA, Z)`` helper and an entry in ``_ACTIVATION_BACKWARD``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "INITS",
    "ACTIVATIONS",
    "LOSSES",
    "LEAKY_SLOPE",
    "initialize_parameters",
    "linear_forward",
    "linear_activation_forward",
    "L_model_forward",
    "compute_cost",
    "compute_cost_with_regularization",
    "relu_backward",
    "leaky_relu_backward",
    "tanh_backward",
    "sigmoid_backward",
    "softmax_backward",
    "identity_backward",
    "linear_backward",
    "linear_activation_backward",
    "L_model_backward",
    "update_parameters",
    "initialize_velocity",
    "update_parameters_with_momentum",
    "initialize_adam",
    "update_parameters_with_adam",
]

INITS = ("he", "xavier", "glorot_uniform", "small", "zeros")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "softmax", "identity")
LOSSES = ("bce", "cross_entropy", "mse")
LEAKY_SLOPE = 0.01

Params = dict[str, np.ndarray]

# ---- validation ----


def _as_float(a: object, name: str) -> np.ndarray:
    """``a`` as a float array (ints and bools become float64; float32 stays float32)."""
    arr = np.asarray(a)
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _num_layers(parameters: Mapping[str, object]) -> int:
    """Number of layers L of a ``{"W1", "b1", ..., "WL", "bL"}`` dict, after checking its keys."""
    if not isinstance(parameters, Mapping):
        raise TypeError(
            f"parameters must be a dict of W1, b1, ..., got {type(parameters).__name__}"
        )
    indices = {int(k[1:]) for k in parameters if re.fullmatch(r"[Wb][1-9][0-9]*", str(k))}
    if not indices:
        raise ValueError("parameters holds no W1 and b1")
    L = max(indices)
    for l in range(1, L + 1):
        for p in "Wb":
            if f"{p}{l}" not in parameters:
                raise ValueError(f"parameters for {L} layers has no {p}{l}")
    return L


def _layer_params(parameters: Mapping[str, object], l: int) -> tuple[np.ndarray, np.ndarray]:
    """``W{l}`` and ``b{l}`` as float arrays, checked to be ``(n_l, n_{l-1})`` and ``(n_l, 1)``."""
    W = _as_float(parameters[f"W{l}"], f"W{l}")
    b = _as_float(parameters[f"b{l}"], f"b{l}")
    if W.ndim != 2:
        raise ValueError(f"layer {l}: W{l} must be 2-D (n_{l}, n_{l - 1}), got shape {W.shape}")
    if b.shape != (W.shape[0], 1):
        raise ValueError(
            f"layer {l}: b{l} of shape {b.shape} does not match W{l} of shape {W.shape}; "
            f"expected b{l} of shape ({W.shape[0]}, 1)"
        )
    return W, b


def _check_linear(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, l: int | None) -> None:
    """Check ``Z = W A_prev + b``; ``l`` (or None outside a network) names the layer."""
    w, bn, a = ("W", "b", "A_prev") if l is None else (f"W{l}", f"b{l}", f"A{l - 1}")
    where = "" if l is None else f"layer {l}: "
    if W.ndim != 2:
        raise ValueError(f"{where}{w} must be 2-D, got shape {W.shape}")
    if A_prev.ndim != 2:
        raise ValueError(
            f"{where}{a} must be 2-D (n, m), one column per sample, got {A_prev.shape}"
        )
    if W.shape[1] != A_prev.shape[0]:
        raise ValueError(
            f"{where}{w} of shape {W.shape} does not match {a} with {A_prev.shape[0]} rows "
            f"({a} has shape {A_prev.shape}; {w} needs {W.shape[1]} rows)"
        )
    if b.shape != (W.shape[0], 1):
        raise ValueError(
            f"{where}{bn} of shape {b.shape} does not match {w} of shape {W.shape}; "
            f"expected ({W.shape[0]}, 1)"
        )


def _check_activations(activations: Sequence[str], L: int) -> list[str]:
    if isinstance(activations, str):
        raise TypeError(f"activations must be a list with one name per layer, got {activations!r}")
    acts = list(activations)
    if len(acts) != L:
        raise ValueError(f"activations has {len(acts)} names for a network of {L} layers: {acts}")
    for l, name in enumerate(acts, start=1):
        if name not in ACTIVATIONS:
            raise ValueError(
                f"layer {l}: unknown activation {name!r}; expected one of {ACTIVATIONS}"
            )
        if name == "softmax" and l != L:
            raise ValueError(
                f"layer {l}: softmax is only supported on the output layer (layer {L})"
            )
    return acts


def _check_keep_prob(keep_prob: float) -> float:
    keep_prob = float(keep_prob)
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    return keep_prob


def _check_output(AL: object, Y: object) -> tuple[np.ndarray, np.ndarray]:
    """``AL`` as ``(n_out, m)`` and ``Y`` of the same shape (a 1-D ``Y`` of length m is a row)."""
    AL = _as_float(AL, "AL")
    Y = _as_float(Y, "Y")
    if AL.ndim != 2:
        raise ValueError(f"AL must be 2-D (n_out, m), one column per sample, got shape {AL.shape}")
    if Y.ndim == 1 and AL.shape[0] == 1:
        Y = Y.reshape(1, -1)
    if Y.shape != AL.shape:
        raise ValueError(f"Y of shape {Y.shape} does not match AL of shape {AL.shape}")
    return AL, Y


def _resolve_loss(loss: str | None, AL: np.ndarray) -> str:
    if loss is None:
        return "bce" if AL.shape[0] == 1 else "cross_entropy"
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    return loss


def _check_pair(dA: object, Z: object, fn: str) -> tuple[np.ndarray, np.ndarray]:
    dA = _as_float(dA, "dA")
    Z = _as_float(Z, "Z")
    if dA.shape != Z.shape:
        raise ValueError(f"{fn}: dA of shape {dA.shape} does not match Z of shape {Z.shape}")
    return dA, Z


def _grad_for(grads: Mapping[str, object], key: str, param: np.ndarray, what: str) -> np.ndarray:
    """``grads[key]`` as a float array of ``param``'s shape (``what`` names the dict)."""
    if key not in grads:
        raise ValueError(f"{what} has no {key}")
    g = _as_float(grads[key], key)
    if g.shape != param.shape:
        raise ValueError(
            f"{what}: {key} of shape {g.shape} does not match {key[1:]} of shape {param.shape}"
        )
    return g


# ---- initialization ----


def initialize_parameters(
    layer_dims: Sequence[int], init: str = "he", seed: int | None = None
) -> Params:
    """Weights ``W{l}`` of shape ``(n_l, n_{l-1})`` and zero biases ``b{l}`` of shape ``(n_l, 1)``.

    ``layer_dims = [n_x, n_1, ..., n_L]``. With ``fan_in = n_{l-1}`` and ``fan_out = n_l``:

    - ``"he"``: ``W = randn(n_l, n_{l-1}) * sqrt(2 / fan_in)``
    - ``"xavier"``: ``W = randn(n_l, n_{l-1}) * sqrt(1 / fan_in)`` (the course notes' name)
    - ``"glorot_uniform"``: ``W ~ uniform(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``
    - ``"small"``: ``W = randn(n_l, n_{l-1}) * 0.01``
    - ``"zeros"``: ``W = 0`` (every unit of a layer then learns the same thing)

    One ``np.random.RandomState(seed)`` draws every layer in order, so ``seed=k`` gives the
    stream of the course's ``np.random.seed(k)`` followed by ``np.random.randn`` calls; the
    global numpy random state is never touched (``seed=None`` draws from fresh OS entropy).

    >>> p = initialize_parameters([5, 4, 3], init="small", seed=3)
    >>> p["W1"].shape, p["b1"].shape, p["W2"].shape
    ((4, 5), (4, 1), (3, 4))
    >>> round(float(p["W1"][0, 0]), 8)
    0.01788628
    """
    dims = list(layer_dims)
    if len(dims) < 2:
        raise ValueError(f"layer_dims needs the input size and at least one layer, got {dims}")
    for i, n in enumerate(dims):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"layer_dims[{i}] must be a positive int, got {n!r}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of {INITS}")
    rng = np.random.RandomState(seed)
    parameters: Params = {}
    for l in range(1, len(dims)):
        fan_out, fan_in = int(dims[l]), int(dims[l - 1])
        shape = (fan_out, fan_in)
        if init == "he":
            W = rng.randn(*shape) * np.sqrt(2.0 / fan_in)
        elif init == "xavier":
            W = rng.randn(*shape) * np.sqrt(1.0 / fan_in)
        elif init == "glorot_uniform":
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, size=shape)
        elif init == "small":
            W = rng.randn(*shape) * 0.01
        else:
            W = np.zeros(shape)
        parameters[f"W{l}"] = W
        parameters[f"b{l}"] = np.zeros((fan_out, 1))
    return parameters


# ---- forward ----


def _sigmoid(Z: np.ndarray) -> np.ndarray:
    # exp(-log(1 + exp(-z))) = 1 / (1 + exp(-z)) without overflow, and accurate for tiny values.
    return np.exp(-np.logaddexp(0.0, -Z))


def apply_activation(name: str, Z: np.ndarray) -> np.ndarray:
    """``A = g(Z)`` for the activation ``name``; softmax normalizes each column."""
    if name == "relu":
        return np.maximum(Z, 0.0)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, LEAKY_SLOPE * Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "sigmoid":
        return _sigmoid(Z)
    if name == "softmax":
        e = np.exp(Z - Z.max(axis=0, keepdims=True))  # shifting by the max avoids overflow
        return e / e.sum(axis=0, keepdims=True)
    return Z.copy()  # identity


def linear_forward(A: object, W: object, b: object) -> tuple[np.ndarray, tuple]:
    """``Z = W A + b`` with ``A`` of shape ``(n_prev, m)``; returns ``(Z, (A, W, b))``."""
    A, W, b = _as_float(A, "A_prev"), _as_float(W, "W"), _as_float(b, "b")
    _check_linear(A, W, b, None)
    return W @ A + b, (A, W, b)


def linear_activation_forward(
    A_prev: object, W: object, b: object, activation: str
) -> tuple[np.ndarray, tuple]:
    """``A = g(W A_prev + b)``; returns ``(A, ((A_prev, W, b), Z))``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")
    Z, linear_cache = linear_forward(A_prev, W, b)
    return apply_activation(activation, Z), (linear_cache, Z)


def L_model_forward(
    X: object,
    parameters: Mapping[str, object],
    activations: Sequence[str],
    keep_prob: float = 1.0,
    seed: int | None = None,
) -> tuple[np.ndarray, list[tuple]]:
    """Forward pass of an L-layer network: ``Z{l} = W{l} A{l-1} + b{l}``, ``A{l} = g_l(Z{l})``.

    Returns ``(AL, caches)`` with one cache per layer, ``((A_prev, W, b), Z)``.

    With ``keep_prob < 1`` the hidden layers use inverted dropout: ``D{l} = rand(n_l, m) <
    keep_prob`` and ``A{l} = A{l} * D{l} / keep_prob``; the masks come from one
    ``np.random.RandomState(seed)`` drawn layer by layer (the same ``seed`` gives the same
    masks), and every cache is then ``((A_prev, W, b), Z, D)`` with ``D = None`` for the output
    layer, which is never dropped. ``A_prev`` in a cache is the activation after dropout.
    """
    A = _as_float(X, "X")
    if A.ndim != 2:
        raise ValueError(f"X must be 2-D (n_x, m), one column per sample, got shape {A.shape}")
    L = _num_layers(parameters)
    acts = _check_activations(activations, L)
    keep_prob = _check_keep_prob(keep_prob)
    rng = np.random.RandomState(seed) if keep_prob < 1.0 else None
    caches: list[tuple] = []
    for l in range(1, L + 1):
        W, b = _layer_params(parameters, l)
        _check_linear(A, W, b, l)
        Z = W @ A + b
        A_next = apply_activation(acts[l - 1], Z)
        if rng is None:
            caches.append(((A, W, b), Z))
        else:
            D = None
            if l < L:
                D = rng.rand(*A_next.shape) < keep_prob
                A_next = A_next * D / keep_prob
            caches.append(((A, W, b), Z, D))
        A = A_next
    return A, caches


# ---- cost ----


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x * log(y)`` with ``0 * log(0) = 0``, so a saturated output with a matching label
    costs 0 instead of NaN."""
    zero = x == 0
    return np.where(zero, 0.0, x * np.log(np.where(zero, 1.0, y)))


def compute_cost(AL: object, Y: object, loss: str | None = None) -> float:
    """Mean cost over the ``m`` samples (columns), as a Python float.

    - ``"bce"``: ``J = -(1/m) sum(Y log AL + (1 - Y) log(1 - AL))`` (summed over output rows)
    - ``"cross_entropy"``: ``J = -(1/m) sum(Y log AL)`` (``AL`` a softmax, ``Y`` one-hot)
    - ``"mse"``: ``J = sum((AL - Y)^2) / (n_out m)``, the mean over all entries, no 1/2

    ``loss=None`` means ``"bce"`` for a one-row ``AL`` and ``"cross_entropy"`` otherwise.

    >>> round(compute_cost(np.array([[0.8, 0.9, 0.4]]), np.array([[1, 1, 0]])), 10)
    0.2797765636
    """
    AL, Y = _check_output(AL, Y)
    loss = _resolve_loss(loss, AL)
    m = AL.shape[1]
    if loss == "bce":
        cost = -np.sum(_xlogy(Y, AL) + _xlogy(1.0 - Y, 1.0 - AL)) / m
    elif loss == "cross_entropy":
        cost = -np.sum(_xlogy(Y, AL)) / m
    else:
        cost = np.sum((AL - Y) ** 2) / AL.size
    return float(cost)


def compute_cost_with_regularization(
    AL: object,
    Y: object,
    parameters: Mapping[str, object],
    lambd: float,
    loss: str | None = None,
) -> float:
    """``J = compute_cost(AL, Y) + lambd / (2m) * sum_l sum(W{l}^2)`` (biases are not penalized)."""
    AL, Y = _check_output(AL, Y)
    if lambd < 0:
        raise ValueError(f"lambd must be >= 0, got {lambd}")
    L = _num_layers(parameters)
    m = AL.shape[1]
    squares = sum(float(np.sum(_layer_params(parameters, l)[0] ** 2)) for l in range(1, L + 1))
    return compute_cost(AL, Y, loss) + lambd / (2 * m) * squares


# ---- backward: activations ----


def relu_backward(dA: object, Z: object) -> np.ndarray:
    """``dZ = dA * g'(Z)``, ``g'(z) = 1 if z > 0 else 0`` (relu'(0) = 0, as in PyTorch)."""
    dA, Z = _check_pair(dA, Z, "relu_backward")
    return dA * (Z > 0)


def leaky_relu_backward(dA: object, Z: object, slope: float = LEAKY_SLOPE) -> np.ndarray:
    """``dZ = dA * g'(Z)``, ``g'(z) = 1 if z > 0 else slope`` (g'(0) = slope, as in PyTorch)."""
    dA, Z = _check_pair(dA, Z, "leaky_relu_backward")
    return dA * np.where(Z > 0, 1.0, slope)


def tanh_backward(dA: object, Z: object) -> np.ndarray:
    """``dZ = dA * (1 - tanh(Z)^2)``."""
    dA, Z = _check_pair(dA, Z, "tanh_backward")
    return dA * (1.0 - np.tanh(Z) ** 2)


def sigmoid_backward(dA: object, Z: object) -> np.ndarray:
    """``dZ = dA * s (1 - s)`` with ``s = sigmoid(Z) = 1 / (1 + exp(-Z))``."""
    dA, Z = _check_pair(dA, Z, "sigmoid_backward")
    s = _sigmoid(Z)
    return dA * s * (1.0 - s)


def softmax_backward(dA: object, Z: object) -> np.ndarray:
    """``dZ = S * (dA - sum_k S_k dA_k)`` per column, with ``S = softmax(Z)`` over the rows.

    This is ``dA`` times the softmax Jacobian ``diag(S) - S S^T``.
    """
    dA, Z = _check_pair(dA, Z, "softmax_backward")
    S = apply_activation("softmax", Z)
    return S * (dA - np.sum(S * dA, axis=0, keepdims=True))


def identity_backward(dA: object, Z: object) -> np.ndarray:
    """``dZ = dA`` (a copy)."""
    dA, _ = _check_pair(dA, Z, "identity_backward")
    return dA.copy()


_ACTIVATION_BACKWARD = {
    "relu": relu_backward,
    "leaky_relu": leaky_relu_backward,
    "tanh": tanh_backward,
    "sigmoid": sigmoid_backward,
    "softmax": softmax_backward,
    "identity": identity_backward,
}


# ---- backward: layers ----


def _linear_backward(dZ: np.ndarray, A_prev: np.ndarray, W: np.ndarray, m: int) -> tuple:
    dW = dZ @ A_prev.T / m
    db = np.sum(dZ, axis=1, keepdims=True) / m
    return W.T @ dZ, dW, db


def linear_backward(dZ: object, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From ``dZ`` (of the summed losses) and the cache ``(A_prev, W, b)``:

    ``dW = dZ A_prev^T / m``, ``db = sum over columns of dZ / m``, ``dA_prev = W^T dZ``.
    Returns ``(dA_prev, dW, db)``.
    """
    if not isinstance(cache, tuple | list) or len(cache) != 3:
        raise ValueError("linear_backward: cache must be (A_prev, W, b)")
    A_prev, W, b = (_as_float(a, n) for a, n in zip(cache, ("A_prev", "W", "b"), strict=True))
    _check_linear(A_prev, W, b, None)
    dZ = _as_float(dZ, "dZ")
    expected = (W.shape[0], A_prev.shape[1])
    if dZ.shape != expected:
        raise ValueError(
            f"dZ of shape {dZ.shape} does not match W of shape {W.shape} and A_prev of shape "
            f"{A_prev.shape}; expected {expected}"
        )
    return _linear_backward(dZ, A_prev, W, A_prev.shape[1])


def linear_activation_backward(
    dA: object, cache: tuple, activation: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dZ = dA * g'(Z)``, then :func:`linear_backward`; ``cache = ((A_prev, W, b), Z)``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")
    if (
        not isinstance(cache, tuple | list)
        or len(cache) not in (2, 3)
        or not isinstance(cache[0], tuple | list)
    ):
        raise ValueError("linear_activation_backward: cache must be ((A_prev, W, b), Z)")
    linear_cache, Z = cache[0], cache[1]
    return linear_backward(_ACTIVATION_BACKWARD[activation](dA, Z), linear_cache)


def _unpack_caches(caches: Sequence[tuple], m: int, keep_prob: float) -> list[tuple]:
    """Check every cache and return ``(A_prev, W, b, Z, D)`` per layer."""
    layers = []
    L = len(caches)
    for l, cache in enumerate(caches, start=1):
        if (
            not isinstance(cache, tuple | list)
            or len(cache) not in (2, 3)
            or not isinstance(cache[0], tuple | list)
            or len(cache[0]) != 3
        ):
            raise ValueError(f"layer {l}: a cache is ((A_prev, W, b), Z) or ((A_prev, W, b), Z, D)")
        linear_cache, Z = cache[0], _as_float(cache[1], f"Z{l}")
        D = cache[2] if len(cache) == 3 else None
        A_prev, W, b = (
            _as_float(a, f"{n}{l}") for a, n in zip(linear_cache, ("A", "W", "b"), strict=True)
        )
        _check_linear(A_prev, W, b, l)
        expected = (W.shape[0], m)
        if Z.shape != expected:
            raise ValueError(
                f"layer {l}: Z{l} of shape {Z.shape} does not match W{l} of shape {W.shape} "
                f"and {m} samples; expected {expected}"
            )
        if layers and A_prev.shape != layers[-1][3].shape:
            raise ValueError(
                f"layer {l}: A{l - 1} of shape {A_prev.shape} does not match "
                f"Z{l - 1} of shape {layers[-1][3].shape}"
            )
        if keep_prob < 1.0 and l < L:
            if D is None:
                raise ValueError(
                    f"layer {l}: keep_prob={keep_prob} needs the dropout mask D{l} in the cache "
                    "((A_prev, W, b), Z, D); run L_model_forward with the same keep_prob"
                )
            D = np.asarray(D)
            if D.shape != Z.shape:
                raise ValueError(
                    f"layer {l}: dropout mask D{l} of shape {D.shape} does not match "
                    f"Z{l} of shape {Z.shape}"
                )
        elif D is not None:
            if l == L:
                raise ValueError(f"layer {l}: the output layer has a dropout mask; expected None")
            raise ValueError(
                f"layer {l}: the cache holds a dropout mask but keep_prob=1.0; "
                "pass the keep_prob of the forward pass"
            )
        layers.append((A_prev, W, b, Z, D))
    return layers


def _loss_gradient(loss: str, AL: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``dAL``, the gradient of the summed per-example losses with respect to ``AL``."""
    if loss == "bce":
        return -(Y / AL - (1.0 - Y) / (1.0 - AL))
    if loss == "cross_entropy":
        return -Y / AL
    # mse: L_i = sum_k (AL_ki - Y_ki)^2 / n_out, so that J = (1/m) sum_i L_i.
    return 2.0 * (AL - Y) / AL.shape[0]


def L_model_backward(
    AL: object,
    Y: object,
    caches: Sequence[tuple],
    activations: Sequence[str],
    lambd: float = 0.0,
    keep_prob: float = 1.0,
    *,
    loss: str | None = None,
) -> dict[str, np.ndarray]:
    """Backward pass: returns ``{"dA{l-1}", "dW{l}", "db{l}"}`` for ``l = L, ..., 1``.

    Output layer: ``dAL`` is the gradient of the summed per-example losses,

    - ``"bce"``: ``dAL = -(Y / AL - (1 - Y) / (1 - AL))``
    - ``"cross_entropy"``: ``dAL = -Y / AL``
    - ``"mse"``: ``dAL = 2 (AL - Y) / n_out`` (``J`` is the mean over all ``n_out m`` entries)

    and ``dZL = dAL * g'(ZL)`` through the output activation's backward helper, as the course
    computes it: ``dAL`` is evaluated at the ``AL`` given and ``g'`` at the cached ``ZL``, so a
    test case whose ``AL`` is not ``g(ZL)`` (the course's ``L_model_backward_test_case``) gives
    the course's numbers. For a sigmoid output with ``"bce"`` this equals ``AL - Y`` when
    ``AL = sigmoid(ZL)``.

    Each layer, from ``L`` down to 1: ``dZ{l} = dA{l} * g_l'(Z{l})``,
    ``dW{l} = dZ{l} A{l-1}^T / m + (lambd / m) W{l}``, ``db{l} = sum over columns of dZ{l} / m``,
    ``dA{l-1} = W{l}^T dZ{l}``. With dropout (``keep_prob < 1``; the masks ``D`` come from
    the caches) a hidden layer's ``dA{l} = dA{l} * D{l} / keep_prob``, and the returned
    ``dA{l}`` is that masked gradient, as in the course notes. ``dA0`` is the gradient with
    respect to ``X``. ``loss=None`` picks ``"bce"`` for one output row, else ``"cross_entropy"``.
    """
    AL, Y = _check_output(AL, Y)
    L = len(caches)
    if L == 0:
        raise ValueError("caches is empty; pass the caches returned by L_model_forward")
    acts = _check_activations(activations, L)
    keep_prob = _check_keep_prob(keep_prob)
    lambd = float(lambd)
    if lambd < 0:
        raise ValueError(f"lambd must be >= 0, got {lambd}")
    loss = _resolve_loss(loss, AL)
    m = AL.shape[1]
    layers = _unpack_caches(caches, m, keep_prob)
    if layers[-1][3].shape != AL.shape:
        raise ValueError(
            f"layer {L}: AL of shape {AL.shape} does not match Z{L} of shape {layers[-1][3].shape}"
        )

    # As in the course: dAL from AL, then the output activation's backward at ZL. Simplifying
    # to dZL = AL - Y would assume AL == g(ZL), which a hand-made cache need not satisfy.
    dAL = _loss_gradient(loss, AL, Y)
    dZ = _ACTIVATION_BACKWARD[acts[-1]](dAL, layers[-1][3])

    grads: dict[str, np.ndarray] = {}
    for l in range(L, 0, -1):
        A_prev, W, _, _, _ = layers[l - 1]
        dA_prev, dW, db = _linear_backward(dZ, A_prev, W, m)
        if lambd:
            dW = dW + (lambd / m) * W
        if keep_prob < 1.0 and l > 1:
            dA_prev = dA_prev * layers[l - 2][4] / keep_prob
        grads[f"dA{l - 1}"] = dA_prev
        grads[f"dW{l}"] = dW
        grads[f"db{l}"] = db
        if l > 1:
            dZ = _ACTIVATION_BACKWARD[acts[l - 2]](dA_prev, layers[l - 2][3])
    return grads


# ---- updates ----


def _step_keys(parameters: Mapping[str, object]) -> list[str]:
    L = _num_layers(parameters)
    return [f"{p}{l}" for l in range(1, L + 1) for p in "Wb"]


def update_parameters(
    parameters: Mapping[str, object], grads: Mapping[str, object], lr: float
) -> Params:
    """Gradient descent: ``W{l} = W{l} - lr dW{l}``, ``b{l} = b{l} - lr db{l}``; returns a new
    dict (entries other than ``W{l}``, ``b{l}`` are carried over)."""
    new = dict(parameters)
    for key in _step_keys(parameters):
        p = _as_float(parameters[key], key)
        new[key] = p - lr * _grad_for(grads, f"d{key}", p, "grads")
    return new


def initialize_velocity(parameters: Mapping[str, object]) -> Params:
    """Zero velocities ``v["dW{l}"]``, ``v["db{l}"]`` shaped like ``W{l}``, ``b{l}``."""
    return {f"d{k}": np.zeros_like(_as_float(parameters[k], k)) for k in _step_keys(parameters)}


def update_parameters_with_momentum(
    parameters: Mapping[str, object],
    grads: Mapping[str, object],
    v: Mapping[str, object],
    beta: float,
    learning_rate: float,
) -> tuple[Params, Params]:
    """Momentum: ``v = beta v + (1 - beta) dW``, ``W = W - learning_rate v`` (and so for b).

    Returns new ``(parameters, v)``; the arguments are not modified.
    """
    new_params, new_v = dict(parameters), {}
    for key in _step_keys(parameters):
        p = _as_float(parameters[key], key)
        g = _grad_for(grads, f"d{key}", p, "grads")
        vk = beta * _grad_for(v, f"d{key}", p, "v") + (1 - beta) * g
        new_v[f"d{key}"] = vk
        new_params[key] = p - learning_rate * vk
    return new_params, new_v


def initialize_adam(parameters: Mapping[str, object]) -> tuple[Params, Params]:
    """Zero first and second moments ``(v, s)``, keyed ``"dW{l}"``, ``"db{l}"``."""
    return initialize_velocity(parameters), initialize_velocity(parameters)


def update_parameters_with_adam(
    parameters: Mapping[str, object],
    grads: Mapping[str, object],
    v: Mapping[str, object],
    s: Mapping[str, object],
    t: int,
    learning_rate: float = 0.01,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
) -> tuple[Params, Params, Params, Params, Params]:
    """Adam step number ``t`` (counting from 1), for each ``W`` (and so for b):

    ``v = beta1 v + (1 - beta1) dW``,  ``v_corrected = v / (1 - beta1^t)``,
    ``s = beta2 s + (1 - beta2) dW^2``, ``s_corrected = s / (1 - beta2^t)``,
    ``W = W - learning_rate v_corrected / (sqrt(s_corrected) + epsilon)``
    (epsilon added after the square root).

    Returns new ``(parameters, v, s, v_corrected, s_corrected)``; the arguments are not modified.
    """
    if isinstance(t, bool) or not isinstance(t, int | np.integer) or t < 1:
        raise ValueError(f"t is the step number, an int >= 1, got {t!r}")
    new_params: Params = dict(parameters)
    new_v: Params = {}
    new_s: Params = {}
    v_corrected: Params = {}
    s_corrected: Params = {}
    for key in _step_keys(parameters):
        dkey = f"d{key}"
        p = _as_float(parameters[key], key)
        g = _grad_for(grads, dkey, p, "grads")
        new_v[dkey] = beta1 * _grad_for(v, dkey, p, "v") + (1 - beta1) * g
        new_s[dkey] = beta2 * _grad_for(s, dkey, p, "s") + (1 - beta2) * g**2
        v_corrected[dkey] = new_v[dkey] / (1 - beta1**t)
        s_corrected[dkey] = new_s[dkey] / (1 - beta2**t)
        new_params[key] = p - learning_rate * v_corrected[dkey] / (
            np.sqrt(s_corrected[dkey]) + epsilon
        )
    return new_params, new_v, new_s, v_corrected, s_corrected
