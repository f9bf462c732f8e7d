"""Saving models to `.npz` atomically, and loading built-in models back.

A saved file holds one array per parameter, keyed by its dotted name, so any module can
`load_state_dict(np.load(path))`. For built-in modules (Dense, MLP, Sequential of
built-ins, Dropout, activations) it also holds the architecture as a JSON string under
the reserved key "__architecture__", and `load(path)` rebuilds the model from it.

Writes are atomic: the data goes to a temporary file in the same folder, is flushed and
fsync'ed, then `os.replace`d over the target, so a crash mid-save never destroys the
previous file and never leaves a half-written one under the target's name. The archive
is written member by member (numpy's `.npy` format inside a zip, exactly what
`np.savez` writes), because `np.savez(f, **arrays)` would take a parameter named `file`
or `allow_pickle` for its own argument.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
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
    if os.path.isdir(target):
        example = os.path.join(target, "model.npz")
        raise IsADirectoryError(f"save: {target!r} is a folder; name a file, e.g. {example!r}")
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"save: the folder {folder!r} does not exist (saving {target!r}); create it "
            f"first, e.g. os.makedirs({folder!r}, exist_ok=True)"
        )
    prefix = f".{os.path.basename(target)}."
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    except OSError as err:  # e.g. no permission: name the folder, not the temporary file
        why = f"save: cannot write into the folder {folder!r} (saving {target!r})"
        raise type(err)(err.errno, f"{why}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
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


def _write_npz(f: Any, arrays: dict[str, np.ndarray]) -> None:
    """The `.npz` layout of `np.savez`: one `name.npy` member per array, any name."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


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
    _check_is_npz(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            state = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise ValueError(
            f"nn.load: {path} is damaged ({_why(err)}); save the model again"
        ) from None
    if ARCHITECTURE_KEY not in state:
        raise ValueError(
            f"nn.load: {path} holds parameters only, no architecture (it was saved from a "
            "custom module): build the model and call model.load_state_dict(np.load(path))"
        )
    try:
        model = build(json.loads(str(state.pop(ARCHITECTURE_KEY))))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"nn.load: {path}: its architecture cannot be read ({err!r})") from None
    try:
        model.load_state_dict(state)
    except ValueError as err:
        raise ValueError(f"nn.load: {path}: {err}") from None
    return model


def _why(err: BaseException) -> str:
    """What numpy or zipfile found, without numpy's advice about allow_pickle: a model
    file never holds pickled objects, and loading them would run arbitrary code."""
    if "pickle" in str(err):
        return "it holds pickled Python objects, which model files never do"
    return f"a corrupt or truncated archive: {type(err).__name__}: {err}"


ZIP_MAGIC = b"PK\x03\x04"


def _check_is_npz(path: str) -> None:
    """FileNotFoundError or ValueError naming `path`, before numpy's own messages can
    suggest allow_pickle (for a text file) or raise BadZipFile without the path."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(ZIP_MAGIC))
    except FileNotFoundError:
        tried = "" if path.endswith(".npz") else f" (nor {path + '.npz'!r})"
        raise FileNotFoundError(f"nn.load: no such file {path!r}{tried}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"nn.load: {path!r} is a folder, not a model file") from None
    if head != ZIP_MAGIC:
        what = "empty" if not head else f"not an .npz archive (it starts with {head!r})"
        raise ValueError(
            f"nn.load: {path} is {what}; nn.load reads the .npz files that model.save writes"
        )


def build(spec: dict[str, Any]) -> Module:
    """A fresh module from an architecture description (`Module.architecture()`)."""
    from nn.layers import MLP, Dense

    kind = spec.get("type") if isinstance(spec, dict) else None
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
