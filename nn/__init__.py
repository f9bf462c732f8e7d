"""nn: neural networks built from autodiff ops.

>>> import nn
>>> model = nn.MLP([2, 16, 16, 1], activation="tanh", output="sigmoid", seed=0)
>>> opt = nn.optim.Adam(model.parameters(), lr=1e-2)
>>> X, y = nn.data.make_moons(128, noise=0.1, seed=0)
>>> history = nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=2, batch_size=64,
...                  progress=False)
>>> len(history.loss)
2

Modules: `module` (Module, Sequential, Dropout, activation modules), `layers` (Dense,
MLP), `init` (initialisers), `losses`, `optim` (SGD, Adam, RMSProp), `data` (batches,
toy datasets), `train` (fit, History), `serialize` (save, load); `reference` (the
course-notes formulas in plain numpy) and `verify` (checking a hand-written backward
pass) are imported on first use.
"""

import importlib
import os
from typing import Any

import autodiff as ad
from nn import data, init, optim
from nn.layers import MLP, Dense
from nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l2_penalty,
    mse_loss,
)
from nn.module import (
    Dropout,
    Identity,
    LeakyReLU,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from nn.serialize import load
from nn.train import History, fit

_LAZY_SUBMODULES = ("reference", "verify")


def __getattr__(name: str) -> Any:
    # reference and verify import on first access: `import nn` stays light.
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"nn.{name}")
    raise AttributeError(f"module 'nn' has no attribute {name!r}")


__all__ = [
    "MLP",
    "Dense",
    "Dropout",
    "History",
    "Identity",
    "LeakyReLU",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "data",
    "fit",
    "init",
    "l2_penalty",
    "load",
    "mse_loss",
    "optim",
]

# Anomaly messages and numpy warnings point past nn's frames to the user's own line.
ad.anomaly.register_library(os.path.dirname(os.path.abspath(__file__)))
