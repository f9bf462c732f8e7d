"""Rewrites of the backward plan: fused kernels where the eager rules take a long way round.

Each rewrite gives the eager engine's numbers up to rounding (the tests compare fused and
unfused plans with eager as the oracle, to 1e-12 relative in float64).

- one flat buffer for the parameters' gradients (and, through the optimizer's
  `__compile_update__`, for the parameters and its state), so an optimizer step is a
  few vectorised kernels over all parameters instead of a loop over them.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from autodiff.plan import Plan


def flat_updates(plan: Plan) -> None:
    """Put the parameters and `.grad` buffers of each fused optimizer step in flat arrays.

    Run after `preallocate` (which gives every gradient its own buffer). The parameters'
    data become views of one array per optimizer (made once, values unchanged), the
    gradients views of another; the optimizer's `__compile_update__` returns its update
    of them all at once, or None, and then the plan keeps calling its `step()`.
    """
    handed = {id(plan.env[holder]): value for holder, value in plan.handed}
    for name, owner in plan.updates:
        params = list(getattr(owner, "params", ()))
        values = [handed.get(id(p)) for p in params]
        if (not params or any(v is None for v in values) or len({id(v) for v in values})
                < len(values) or len({p.dtype for p in params}) != 1
                or len({np.dtype(v.dtype) for v in values}) != 1):  # fmt: skip
            continue
        data, data_views = _flat_params(owner, params)
        grad, grad_views = _flat(np.empty(sum(p.size for p in params), params[0].dtype), params)
        update = owner.__compile_update__(data, grad, data_views, grad_views)
        if update is None:
            continue
        for v, view in zip(values, grad_views):
            plan.env[v.name] = view
        plan.env[name] = _counted(update, params)


_FLAT_PARAMS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _flat_params(owner: Any, params: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The parameters' data as views of one array (the same one for every plan)."""
    made = _FLAT_PARAMS.get(owner)
    if made is not None and all(p._data is v for p, v in zip(params, made[1])):
        return made
    data = np.concatenate([p._data.ravel() for p in params])
    made = _flat(data, params)
    for p, view in zip(params, made[1]):
        p._data = view  # the same values: no version bump, live graphs stay valid
    _FLAT_PARAMS[owner] = made
    return made


def _flat(whole: np.ndarray, params: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    views, start = [], 0
    for p in params:
        views.append(whole[start : start + p.size].reshape(p.shape))
        start += p.size
    return whole, views


def _counted(update: Any, params: list[Any]) -> Any:
    """`update()`, then a version bump per parameter: graphs that saw the old values
    raise at backward, as after an eager step."""

    def step() -> None:
        update()
        for p in params:
            p._version += 1

    return step
