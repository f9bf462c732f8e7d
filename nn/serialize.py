"""Saving models to `.npz` atomically, and loading built-in models back.

A saved file holds one array per parameter, keyed by its dotted name, so any module can
`load_state_dict(np.load(path))`. For built-in modules (Dense, MLP, Sequential of
built-ins, Dropout, activations) it also holds the architecture as a JSON string under
the reserved key "__architecture__", and `load(path)` rebuilds the model from it.

Writes are atomic: the data goes to a temporary file in the same folder, is flushed and
fsync'ed, then `os.replace`d over the target, so a crash mid-save never destroys the
previous file and never leaves a half-written one under the target's name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

import numpy as np

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

ARCHITECTURE_KEY = "__architecture__"


def _npz_path(path: str | os.PathLike[str]) -> str:
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def save(module: Module, path: str | os.PathLike[str]) -> str:
    """Write `module`'s parameters (and architecture, when built-in) to `path` atomically.

    ".npz" is appended when missing, as `numpy.savez` does; returns the path written.
    """
    target = _npz_path(path)
    arrays: dict[str, Any] = module.state_dict()
    spec = module.architecture()
    if spec is not None:
        arrays[ARCHITECTURE_KEY] = np.array(json.dumps(spec))
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sync_folder(folder)
    return target


def _file_mode(target: str) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0o666 minus umask."""
    try:
        return os.stat(target).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: str | os.PathLike[str]) -> Module:
    """The model saved at `path`, rebuilt from its architecture with its parameters.

    Works for files written by `save` from built-in modules; for other modules build
    the model yourself and call `model.load_state_dict(np.load(path))`.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"
    with np.load(path, allow_pickle=False) as npz:
        if ARCHITECTURE_KEY not in npz.files:
            raise ValueError(
                f"{path} holds parameters only, no architecture (it was saved from a custom "
                "module): build the model and call model.load_state_dict(np.load(path))"
            )
        spec = json.loads(str(npz[ARCHITECTURE_KEY]))
        model = build(spec)
        model.load_state_dict(npz)
    return model


def build(spec: dict[str, Any]) -> Module:
    """A fresh module from an architecture description (`Module.architecture()`)."""
    from nn.layers import MLP, Dense

    kind = spec.get("type")
    if kind == "Dense":
        return Dense(
            spec["in_features"], spec["out_features"], spec["activation"], init="zeros",
            bias=spec["bias"], dtype=spec["dtype"],
        )  # fmt: skip
    if kind == "MLP":
        return MLP(
            spec["layer_sizes"], spec["activation"], spec["output"], init="zeros",
            dropout=spec["dropout"], dtype=spec["dtype"],
        )  # fmt: skip
    if kind == "Sequential":
        return Sequential(*(build(part) for part in spec["modules"]))
    if kind == "Dropout":
        return Dropout(spec["p"])
    if kind == "LeakyReLU":
        return LeakyReLU(spec["slope"])
    if kind == "Softmax":
        return Softmax(spec["axis"])
    simple = {"ReLU": ReLU, "Tanh": Tanh, "Sigmoid": Sigmoid, "Identity": Identity}
    if kind in simple:
        return simple[kind]()
    raise ValueError(f"unknown module type {kind!r} in a saved architecture")
