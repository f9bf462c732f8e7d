"""Optimizers with PyTorch's update rules: SGD (momentum, weight decay), Adam, RMSProp.

Each `step()` updates every parameter that has a gradient: one vectorised numpy
computation of the step per parameter, then `p -= step` under `ad.no_grad()`, which
writes the parameter's data in place (float32 parameters stay float32) and bumps its
version. So a graph that used the old values and is still alive (an evaluation forward
kept outside no_grad) raises, naming the parameter, if it is ever backpropagated.

To write an optimizer, subclass `Optimizer` and define `_update(i, data, g)`, which
returns the amount to subtract from the parameter.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import Tensor


class Optimizer:
    """Holds the parameters; `zero_grad()` forgets their gradients, `step()` updates them."""

    def __init__(self, params: Iterable[Tensor], lr: float, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(
                f"{type(self).__name__} got no parameters (if you passed a generator that "
                "another optimizer already used up, call model.parameters() again)"
            )
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} must be a Tensor with "
                    f"requires_grad=True, got {p!r:.60}"
                )
        if lr < 0:
            raise ValueError(f"{type(self).__name__}: learning rate must be >= 0, got {lr}")
        self.lr = lr
        self.weight_decay = weight_decay
        # One scratch array per parameter for the update's temporaries: a step allocates
        # nothing, so large layers do not pay for fresh pages every step.
        self._scratch = [np.empty(p.shape, p.dtype) for p in self.params]

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter (`grad` becomes None)."""
        for p in self.params:
            p.grad = None

    @ad.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient."""
        wd = self.weight_decay
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            if wd:
                g = g + wd * p.data
            p -= self._update(i, p.data, g)

    def _update(self, i: int, data: np.ndarray, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ---- ad.compile protocol (autodiff/compile.py): hyper-parameters, state, calls ----

    __compile_effects__ = ("zero_grad", "step")

    _hyper: tuple[str, ...] | None = None  # the hyper-parameters' names (None: every number)

    def __compile_key__(self) -> tuple[Any, ...]:
        if self._hyper is None:
            return tuple(sorted((k, v) for k, v in vars(self).items()
                                if isinstance(v, (int, float, tuple))))  # fmt: skip
        return tuple([getattr(self, k) for k in self._hyper])

    def __compile_update__(
        self,
        data: np.ndarray,
        flat_grad: np.ndarray,
        params_data: list[np.ndarray],
        grads: list[np.ndarray],
    ) -> Callable[[], None] | None:
        """One `step()` of every parameter at once, in a few vectorised kernels.

        ad.compile has made every parameter's data `params_data[i]`, a view of the flat
        `data`, and gives parameter i `grads[i]`, a view of `flat_grad`, as its `.grad`.
        The per-parameter state becomes views of flat arrays too, so the returned function
        runs the rule on the flat arrays: the same elementwise numbers as a loop over the
        parameters. It runs chunk by chunk (`_CHUNK_BYTES` each, so a model that fits in
        one chunk is one pass): a chunk's temporaries stay in the core's cache instead of
        streaming model-sized arrays through memory. When a call finds things otherwise
        (another `.grad` array, steps counted apart) it runs `step()` instead.
        """
        params = self.params
        if len(grads) != len(params):
            return None
        size = max(1, _CHUNK_BYTES // data.itemsize)
        chunks = [slice(lo, lo + size) for lo in range(0, data.size, size)]
        # The shadow has this rule and its hyper-parameters, and sees each chunk of the
        # flat arrays as one parameter: state entry i is chunk i of the flat state.
        shadow = copy.copy(self)
        scratch = np.empty(min(size, data.size), data.dtype)  # one, reused chunk by chunk
        shadow._scratch = [scratch[: len(data[c])] for c in chunks]
        counters = self._flat_state(shadow, chunks)
        pieces = [(data[c], flat_grad[c]) for c in chunks]

        def update() -> None:
            for p, g, view in zip(params, grads, params_data):
                if p.grad is not g or p._data is not view:
                    return self.step()
            for name in counters:  # e.g. Adam's step counts: one for all, or the slow path
                value = getattr(self, name)
                if value.count(value[0]) != len(value):
                    return self.step()
                getattr(shadow, name)[:] = [value[0]] * len(chunks)
            wd = self.weight_decay
            for i, (d, g) in enumerate(pieces):
                np.subtract(d, shadow._update(i, d, g + wd * d if wd else g), out=d)
            for name in counters:
                getattr(self, name)[:] = [getattr(shadow, name)[0]] * len(params)

        return update

    def _flat_state(self, shadow: Optimizer, chunks: list[slice]) -> list[str]:
        """Give `shadow` the chunks of each per-parameter state list, made flat once; return
        the names of the lists that are not arrays (counters such as Adam's steps)."""
        wholes = _FLAT.setdefault(self, {})
        counters = []
        for name, value in vars(self).items():
            if (not isinstance(value, list) or name in ("params", "_scratch")
                    or len(value) != len(self.params)):  # fmt: skip
                continue
            if not (name in wholes and all(a is b for a, b in zip(value, wholes[name][1]))):
                if not all(isinstance(a, np.ndarray) and a.shape == p.shape
                           for a, p in zip(value, self.params)):  # fmt: skip
                    counters.append(name)
                    setattr(shadow, name, [value[0]] * len(chunks))
                    continue
                wholes[name] = _flatten(value)
                value[:] = wholes[name][1]
            setattr(shadow, name, [wholes[name][0][c] for c in chunks])
        return counters

    def __compile_state__(self) -> dict[str, Any]:
        state: dict[str, Any] = {f"params[{i}]": p for i, p in enumerate(self.params)}
        for k, v in vars(self).items():
            if isinstance(v, list) and k not in ("params", "_scratch"):
                state[k] = v
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr:g}, {len(self.params)} parameters)"


# The flat update's chunk (see `Optimizer.__compile_update__`): about one core's L2 cache.
_CHUNK_BYTES = 1 << 20

# Each optimizer's flat state arrays, made once: {state list's name: (flat, views)}.
_FLAT: weakref.WeakKeyDictionary[Optimizer, Any] = weakref.WeakKeyDictionary()


def _flatten(arrays: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One flat copy of `arrays`, and views of it shaped as each of them."""
    whole = np.concatenate([a.ravel() for a in arrays])
    views, start = [], 0
    for a in arrays:
        views.append(whole[start : start + a.size].reshape(a.shape))
        start += a.size
    return whole, views


class SGD(Optimizer):
    """Stochastic gradient descent: g += wd p; v = momentum v + g; p -= lr v.

    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> (w * w).sum().backward()
    >>> SGD([w], lr=0.1).step()
    >>> w.data
    array([0.8, 1.6])
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        if type(self) is SGD:  # a subclass may add hyper-parameters: every number counts
            self._hyper = ("lr", "momentum", "weight_decay")
        self.momentum = momentum
        self.velocity = [np.zeros(p.shape, p.dtype) for p in self.params] if momentum else None

    def _update(self, i: int, data: np.ndarray, g: np.ndarray) -> np.ndarray:
        if self.velocity is not None:
            v = self.velocity[i]
            v *= self.momentum
            v += g
            g = v
        return np.multiply(g, self.lr, out=self._scratch[i])


class Adam(Optimizer):
    """Adam with bias correction (PyTorch's rule):
    m = b1 m + (1-b1) g; v = b2 v + (1-b2) g**2;
    p -= lr * (m / (1-b1**t)) / (sqrt(v / (1-b2**t)) + eps), t counting this parameter's steps.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        if type(self) is Adam:  # a subclass may add hyper-parameters: every number counts
            self._hyper = ("lr", "betas", "eps", "weight_decay")
        self.betas = betas
        self.eps = eps
        self.m = [np.zeros(p.shape, p.dtype) for p in self.params]
        self.v = [np.zeros(p.shape, p.dtype) for p in self.params]
        self.t = [0] * len(self.params)

    def _update(self, i: int, data: np.ndarray, g: np.ndarray) -> np.ndarray:
        b1, b2 = self.betas
        self.t[i] = t = self.t[i] + 1
        m, v, s = self.m[i], self.v[i], self._scratch[i]
        m *= b1
        m += np.multiply(g, 1 - b1, out=s)
        v *= b2
        np.multiply(g, g, out=s)
        s *= 1 - b2
        v += s
        np.divide(v, 1 - b2**t, out=s)  # s: the denominator sqrt(v_hat) + eps
        np.sqrt(s, out=s)
        s += self.eps
        np.divide(m, s, out=s)
        s *= self.lr / (1 - b1**t)
        return s


class RMSProp(Optimizer):
    """RMSProp (PyTorch's rule): v = alpha v + (1-alpha) g**2; p -= lr g / (sqrt(v) + eps)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        if type(self) is RMSProp:  # a subclass may add hyper-parameters: every number counts
            self._hyper = ("lr", "alpha", "eps", "weight_decay")
        self.alpha = alpha
        self.eps = eps
        self.v = [np.zeros(p.shape, p.dtype) for p in self.params]

    def _update(self, i: int, data: np.ndarray, g: np.ndarray) -> np.ndarray:
        v, s = self.v[i], self._scratch[i]
        v *= self.alpha
        np.multiply(g, g, out=s)
        s *= 1 - self.alpha
        v += s
        np.sqrt(v, out=s)  # s: the denominator sqrt(v) + eps
        s += self.eps
        np.divide(g, s, out=s)
        s *= self.lr
        return s
