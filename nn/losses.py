"""Loss functions of Tensors, each a mean over the batch, built from autodiff ops.

Targets are constants (numpy arrays or Tensors) with the prediction's shape; a (batch,)
target for a (batch, 1) prediction is taken as a column. Any other mismatch raises
`ValueError` naming both shapes, never a silent broadcast to (batch, batch).
Each loss is a composition of core ops, so its gradient comes from their rules. The
stable losses go through `logsumexp` (softplus(z) = logsumexp([0, z])) and
`log_softmax`, so logits of +-1000 give finite losses and gradients.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import Tensor


def _prediction(pred: Any) -> Tensor:
    return pred if isinstance(pred, Tensor) else Tensor(pred)


def _target(pred: Tensor, target: Any, loss: str) -> Any:
    """`target` in `pred`'s shape and dtype (a Tensor stays a Tensor), or a ValueError."""
    if not isinstance(target, Tensor):
        target = np.asarray(target, dtype=pred.dtype)
    shape = target.shape
    if shape != pred.shape:
        if pred.ndim == 2 and pred.shape[1] == 1 and shape == pred.shape[:1]:
            target = target.reshape(pred.shape)
        else:
            raise ValueError(
                f"{loss}: target of shape {shape} does not match the prediction's shape "
                f"{pred.shape} (a (batch,) target is accepted only for a (batch, 1) prediction)"
            )
    return target


def binary_cross_entropy(probs: Any, targets: Any, eps: float = 1e-12) -> Tensor:
    """-mean(t log p + (1 - t) log(1 - p)), with p clipped to [eps, 1 - eps].

    Where p lies outside the clip range the loss does not depend on it, so its gradient
    there is 0 (the clip op's rule), as the clipped formula says.

    Probabilities outside [0, 1] raise `ValueError` naming the range seen: they are
    almost always logits passed by mistake, which the clip would turn into a tiny loss
    with no gradient. (The output of a sigmoid is in range by construction: not checked.)

    >>> float(binary_cross_entropy(Tensor([[0.5]]), [1.0]).data)  # log 2
    0.6931471805599453
    """
    _check_probabilities(probs)
    p = _prediction(probs)
    t = _target(p, targets, "binary_cross_entropy")
    pc = p.clip(*_clip_range(p.dtype, eps))
    # With constant targets, 1 - t is plain numpy: no node for it. The Tensor comes first
    # in each product, so it is Tensor.__mul__ that runs, not numpy's dispatch to it.
    return -(pc.log() * t + (1 - pc).log() * (1 - t)).mean()


@lru_cache(maxsize=64)
def _clip_range(dtype: np.dtype, eps: float) -> tuple[float, float]:
    """[eps, 1 - eps], with 1 - eps made the largest float below 1 where it rounds to 1."""
    one = dtype.type(1)
    hi = 1.0 - eps
    if dtype.type(hi) >= one:  # 1 - 1e-12 rounds to 1 in float32
        hi = float(np.nextafter(one, dtype.type(0)))
    return eps, hi


def _check_probabilities(probs: Any) -> None:
    """ValueError for values outside [0, 1] (NaN passes: it shows as a NaN loss).

    A Tensor's range is read with engine ops and `.item()`, so that inside `ad.compile`
    the check is recorded as a guard on two numbers, checked on every replay. A sigmoid's
    output is not read: it lies in [0, 1] by construction (and is never logits).
    """
    if isinstance(probs, Tensor):
        if probs.size == 0 or probs.op == "sigmoid":
            return
        with ad.no_grad():
            lo, hi = probs.min().item(), probs.max().item()
    else:
        data = np.asarray(probs)
        if data.size == 0 or data.dtype.kind not in "biuf":
            return
        lo, hi = data.min(), data.max()
    if lo < 0 or hi > 1:
        raise ValueError(
            f"binary_cross_entropy: probabilities must lie in [0, 1], got values from "
            f"{float(lo)!r} to {float(hi)!r}. If these are logits (no sigmoid on the output), use "
            f"binary_cross_entropy_with_logits (loss='bce_with_logits' in nn.fit), or apply "
            f"sigmoid first"
        )


def binary_cross_entropy_with_logits(logits: Any, targets: Any) -> Tensor:
    """binary_cross_entropy(sigmoid(z), t) computed stably from the logits z.

    The loss is softplus(z) - t z per element, with softplus(z) = log(1 + e**z) written
    as logsumexp([0, z]): it neither overflows nor loses its gradient (sigmoid(z) - t),
    even at z = +-1000.

    >>> float(binary_cross_entropy_with_logits(Tensor([[1000.0]]), [0.0]).data)
    1000.0
    """
    z = _prediction(logits)
    t = _target(z, targets, "binary_cross_entropy_with_logits")
    zero = np.zeros(z.shape, dtype=z.dtype)
    softplus = ad.stack([zero, z], axis=-1).logsumexp(axis=-1)
    return (softplus - t * z).mean()


def cross_entropy(logits: Any, labels: Any) -> Tensor:
    """-mean(log_softmax(logits)[i, labels[i]]) for integer class labels.

    `logits` is (batch, classes); `labels` holds integers in [0, classes) with shape
    (batch,) or (batch, 1).

    >>> round(float(cross_entropy(Tensor([[0.0, 0.0]]), [1]).data), 6)  # log 2
    0.693147
    """
    z = _prediction(logits)
    if z.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (batch, classes), got shape {z.shape}")
    y = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    m, classes = z.shape
    if y.shape not in ((m,), (m, 1)):
        raise ValueError(
            f"cross_entropy: labels of shape {y.shape} do not match logits of shape "
            f"{z.shape} (expected ({m},) or ({m}, 1))"
        )
    y = y.reshape(m)
    if y.dtype.kind not in "iu":
        if y.dtype.kind not in "fb" or not np.all(y == np.round(y)):
            raise ValueError(f"cross_entropy: labels must be integer class indices, got {y[:5]}")
        y = y.astype(np.int64)
    if m and (y.min() < 0 or y.max() >= classes):
        raise ValueError(
            f"cross_entropy: labels must lie in [0, {classes}) for {classes} classes; "
            f"got values from {y.min()} to {y.max()}"
        )
    onehot = np.zeros(z.shape, dtype=z.dtype)
    onehot[np.arange(m), y] = 1
    return (z.log_softmax(axis=-1) * onehot).sum() * (-1 / max(m, 1))


def mse_loss(pred: Any, target: Any) -> Tensor:
    """mean((pred - target)**2) over all elements.

    >>> float(mse_loss(Tensor([1.0, 3.0]), [0.0, 0.0]).data)
    5.0
    """
    p = _prediction(pred)
    t = _target(p, target, "mse_loss")
    return ((p - t) ** 2).mean()


def l2_penalty(model: Any, lambd: float, m: int) -> Tensor:
    """lambd / (2 m) * the sum of squared weights, as in the course notes.

    Weights are the parameters with two or more dimensions; biases are left out. `m` is
    the batch size the data term averages over.
    """
    if m <= 0:
        raise ValueError(f"l2_penalty: m (the batch size) must be positive, got {m}")
    weights = [p for p in model.parameters() if p.ndim >= 2]
    if not weights:
        raise ValueError(f"l2_penalty: {model!r} has no weight matrices to penalise")
    total = (weights[0] * weights[0]).sum()
    for w in weights[1:]:
        total = total + (w * w).sum()
    return total * (lambd / (2 * m))
