"""`fit`: the training loop (mini-batches, loss, backward, optimizer step) and its History.

>>> import nn
>>> X, y = nn.data.make_moons(64, noise=0.1, seed=0)
>>> model = nn.MLP([2, 8, 1], activation="tanh", output="sigmoid", seed=0)
>>> opt = nn.optim.Adam(model.parameters(), lr=0.01)
>>> h = nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=3, progress=False)
>>> len(h.loss), len(h.accuracy)
(3, 3)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import Tensor
from nn.data import batches
from nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l2_penalty,
    mse_loss,
)
from nn.module import Module

LOSSES: dict[str, Callable[[Tensor, Any], Tensor]] = {
    "bce": binary_cross_entropy,
    "bce_with_logits": binary_cross_entropy_with_logits,
    "mse": mse_loss,
    "cross_entropy": cross_entropy,
}


@dataclass
class History:
    """Per-epoch records of a `fit`: the mean training loss and the training accuracy.

    Both are measured on the batches as they were trained on (before each step, with
    dropout active); `accuracy` holds None per epoch for "mse" and callable losses.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)

    def __repr__(self) -> str:
        if not self.loss:
            return "History(0 epochs)"
        acc = self.accuracy[-1]
        tail = f", final accuracy {acc:.4f}" if acc is not None else ""
        return f"History({len(self.loss)} epochs, final loss {self.loss[-1]:.4g}{tail})"


def fit(
    model: Module,
    X: Any,
    y: Any,
    *,
    loss: str | Callable[[Tensor, Any], Tensor],
    optimizer: Any,
    epochs: int,
    batch_size: int | None = None,
    l2: float = 0.0,
    progress: bool = True,
    seed: int | None = None,
    compile: bool = True,  # noqa: A002 (the name API.md gives)
) -> History:
    """Train `model` on rows `X` with targets `y`; returns the per-epoch `History`.

    `loss` is "bce" (the model outputs probabilities), "bce_with_logits", "mse",
    "cross_entropy" (integer labels) or a callable `(prediction, y_batch) -> Tensor`.
    `batch_size=None` trains on the whole set each step (full-batch gradient descent);
    otherwise batches are reshuffled every epoch from `seed`. `l2` adds
    `l2_penalty(model, l2, batch size)`. `X` is converted to the model's dtype.

    `progress=True` shows a progress bar with the latest loss (and accuracy) on a
    terminal and in Jupyter (tqdm's widget when ipywidgets is installed, its text bar
    otherwise); in a pipe or a CI log nothing is printed, and `progress=False` never
    prints. If the loss turns NaN or inf, training stops with a `FloatingPointError`
    naming the epoch, whose `history` attribute holds the History of the epochs
    completed before it. The model is left in the mode it was in.

    `compile=True` (the default) trains through `ad.compile`: the step is recorded once
    per batch shape and replayed as numpy code; `compile=False` runs it eagerly. Both
    give the same History.
    """
    _check_optimizer(optimizer, model)
    loss_fn, kind = _loss_function(loss)
    X, y = _check_data(model, X, y, kind)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    n = len(X)
    shuffle = batch_size is not None and batch_size < n
    rng = np.random.default_rng(seed)
    history = History()
    was_training = model.training
    model.train()
    train_step = _train_step(model, loss_fn, optimizer, l2)
    if compile:
        train_step = ad.compile(train_step)
    bar = _progress_bar(epochs, progress)
    try:
        for epoch in bar:
            total, correct, counted = 0.0, 0, 0
            for step, (xb, yb) in enumerate(batches(X, y, batch_size, shuffle=shuffle, seed=rng)):
                try:
                    cost, out = train_step(xb, yb)
                except _Diverged as diverged:
                    raise _diverged(
                        diverged.value, epoch, epochs, step, optimizer, history
                    ) from None
                total += float(cost.data) * len(xb)
                if kind is not None:
                    hits, count = _correct(kind, out.data, yb)
                    correct += hits
                    counted += count
            history.loss.append(total / n)
            history.accuracy.append(correct / counted if kind is not None else None)
            if not bar.disable:
                shown = {"loss": format_loss(history.loss[-1])}
                if kind is not None:
                    shown["acc"] = f"{history.accuracy[-1]:.3f}"
                bar.set_postfix(shown, refresh=False)
    finally:
        bar.close()
        model.train(was_training)
    return history


class _Diverged(Exception):  # noqa: N818 (caught by fit, which raises the real error)
    def __init__(self, value: float) -> None:
        self.value = value


def _train_step(model: Module, loss_fn: Any, optimizer: Any, l2: float) -> Any:
    """One step: forward, loss, backward, update; returns the loss and the outputs."""

    def step(xb: np.ndarray, yb: np.ndarray) -> tuple[Tensor, Tensor]:
        optimizer.zero_grad()
        out = model(xb)
        cost = loss_fn(out, yb)
        if l2:
            cost = cost + l2_penalty(model, l2, len(xb))
        value = cost.item()
        if not abs(value) < math.inf:  # NaN or inf: stop before the update (a guard)
            raise _Diverged(float(value))
        cost.backward()
        optimizer.step()
        return cost, out

    return step


def format_loss(value: float) -> str:
    """Four significant digits, so a small loss stays readable: 0.6931, 3.2e-05.

    >>> format_loss(0.693147), format_loss(3.2e-05), format_loss(1234.5)
    ('0.6931', '3.2e-05', '1234')
    """
    return f"{value:.4g}"


def _progress_bar(epochs: int, progress: bool) -> Any:
    # tqdm.auto is tqdm's notebook widget under a Jupyter kernel, its text bar elsewhere.
    from tqdm.auto import tqdm

    disable = _bar_disabled(progress)
    return tqdm(range(epochs), desc="fit", unit="epoch", disable=disable, leave=True)


def _bar_disabled(progress: bool) -> bool | None:
    """tqdm's `disable`: True when asked for no bar; False in Jupyter, whose output
    streams are no TTY but show the bar; None elsewhere, tqdm's own rule: a bar on a
    terminal, nothing in a pipe or a CI log (no screens of carriage returns)."""
    if not progress:
        return True
    if _in_notebook():
        return False
    return None


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules  # the Jupyter kernel (also VS Code's) is running us


def _diverged(
    value: float, epoch: int, epochs: int, step: int, optimizer: Any, history: History
) -> FloatingPointError:
    err = FloatingPointError(
        f"fit: the loss became {value} at epoch {epoch + 1} of {epochs} "
        f"(batch {step + 1}): training diverged. Try a lower learning rate "
        f"(the optimizer has lr={getattr(optimizer, 'lr', '?')}). The History of the "
        f"{len(history.loss)} epochs completed is in this error's .history."
    )
    err.history = history  # type: ignore[attr-defined]
    return err


def _check_optimizer(optimizer: Any, model: Module) -> None:
    """An optimizer object with step() and zero_grad() that updates this model."""
    example = "such as nn.optim.Adam(model.parameters(), lr=1e-2)"
    if isinstance(optimizer, type):
        name = optimizer.__name__
        raise TypeError(
            f"fit: optimizer must be an optimizer object, not the class {name} itself: "
            f"pass {name}(model.parameters(), lr=...)"
        )
    methods = (getattr(optimizer, name, None) for name in ("step", "zero_grad"))
    if not all(callable(m) for m in methods):
        raise TypeError(
            f"fit: optimizer must be an optimizer object with step() and zero_grad(), "
            f"{example}; got {optimizer!r:.80}"
        )
    owned = getattr(optimizer, "params", None)
    if isinstance(owned, list) and owned:
        ids = {id(p) for p in owned}
        if not any(id(p) in ids for p in model.parameters()):
            raise ValueError(
                f"fit: the optimizer updates none of the model's parameters (was it made "
                f"from another model's parameters?); use {example}"
            )


def _loss_function(loss: Any) -> tuple[Callable[[Tensor, Any], Tensor], str | None]:
    """The loss callable, and the kind of accuracy to record (None: no accuracy)."""
    if callable(loss):
        return loss, None
    if loss not in LOSSES:
        raise ValueError(f"fit: unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[loss], None if loss == "mse" else loss


def _layers(model: Module) -> list[tuple[str, Module]]:
    """(path, module) of the model's Dense layers in order."""
    from nn.layers import Dense

    return [(p, m) for p, m in model.named_modules() if isinstance(m, Dense)]


def _describe(path: str, layer: Any) -> str:
    what = f"Dense {layer.in_features}->{layer.out_features}"
    return f"{path} ({what})" if path else what


def _check_data(model: Module, X: Any, y: Any, kind: str | None) -> tuple[np.ndarray, np.ndarray]:
    first = next(model.parameters(), None)
    dtype = first.dtype if first is not None else np.float64  # the data takes the model's
    X = np.asarray(X.data if isinstance(X, Tensor) else X, dtype=dtype)
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    layers = _layers(model)
    first = f"input of {_describe(*layers[0])}" if layers else "input"
    last = f"the output layer {_describe(*layers[-1])}" if layers else "the model"
    if X.ndim != 2:
        raise ValueError(f"fit: X must be (samples, features) for the {first}, got shape {X.shape}")
    if layers and X.shape[1] != layers[0][1].in_features:
        raise ValueError(
            f"fit: {first} expects shape (batch, {layers[0][1].in_features}), "
            f"got X of shape {X.shape}"
        )
    if y.ndim == 0 or len(y) != len(X):
        raise ValueError(
            f"fit: y has shape {y.shape} but X has {len(X)} rows: need one target per row "
            f"(expected shape ({len(X)},) or ({len(X)}, outputs) for {last})"
        )
    if not np.isfinite(X).all():
        row = int(np.argwhere(~np.isfinite(X))[0][0])
        raise ValueError(
            f"fit: X holds non-finite values (first in row {row}: {X[row]}); "
            f"{first}, X of shape {X.shape}"
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"fit: y holds non-finite values; y of shape {y.shape}")
    if kind in ("bce", "bce_with_logits") and y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(
            f"fit: loss {kind!r} needs targets in [0, 1], got values from {y.min()} to "
            f"{y.max()} (for class labels use loss='cross_entropy')"
        )
    return X, y


def _correct(kind: str, out: np.ndarray, yb: np.ndarray) -> tuple[int, int]:
    """(number right, number judged) for one batch of outputs."""
    if kind == "cross_entropy":
        return int((out.argmax(axis=-1) == yb.reshape(-1)).sum()), len(out)
    threshold = 0.5 if kind == "bce" else 0.0
    target = yb.reshape(out.shape) > 0.5
    return int(((out > threshold) == target).sum()), out.size
