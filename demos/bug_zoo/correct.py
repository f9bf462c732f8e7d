"""The fixed version: the course's forward pass with caches, then the backward loop."""

import numpy as np

TITLE = "correct course-style backward pass"
BUG = "none: this is the version the others are compared with"
LAYERS = [2, 8, 8, 8, 1]
ACTIVATIONS = ["tanh", "tanh", "tanh", "sigmoid"]
EXPECTED: dict[str, str] = {}


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def forward(X, parameters, activations=ACTIVATIONS):
    A, caches = X, []
    for l, name in enumerate(activations, start=1):
        Z = parameters[f"W{l}"] @ A + parameters[f"b{l}"]
        caches.append((A, Z))
        A = {"tanh": np.tanh, "sigmoid": sigmoid, "relu": lambda z: np.maximum(z, 0)}[name](Z)
    return A, caches


def derivative(name, Z):
    if name == "tanh":
        return 1 - np.tanh(Z) ** 2
    if name == "sigmoid":
        return sigmoid(Z) * (1 - sigmoid(Z))
    return (Z > 0).astype(float)


def grads(X, Y, parameters, activations=ACTIVATIONS):
    AL, caches = forward(X, parameters, activations)
    m = X.shape[1]
    dA = -(Y / AL - (1 - Y) / (1 - AL))
    out = {}
    for l in range(len(caches), 0, -1):
        A_prev, Z = caches[l - 1]
        dZ = dA * derivative(activations[l - 1], Z)
        out[f"dW{l}"] = dZ @ A_prev.T / m
        out[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = parameters[f"W{l}"].T @ dZ
    return out
