"""Rewrites of the backward plan: fused kernels where the eager rules take a long way round.

Each rewrite gives the eager engine's numbers up to rounding (the tests compare fused and
unfused plans with eager as the oracle, to 1e-12 relative in float64).

- one flat buffer for the parameters' gradients (and, through the optimizer's
  `__compile_update__`, for the parameters and its state), so an optimizer step is a
  few vectorised kernels over all parameters instead of a loop over them.
- sigmoid + binary cross-entropy: the loss's rule divides by p (1 - p) and the sigmoid's
  multiplies by it again; together dL/dz = (p - t) / n, and 0 where the loss clipped p
  (as the eager rule gives). This is the course's dZ = A - Y of the output layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff import lower
from autodiff.plan import Plan, Value

SIGMOID_LOSSES = frozenset({"binary_cross_entropy"})


def _is_sigmoid(ev: Any) -> bool:
    return ev.op == "sigmoid" or (ev.op == "linear" and ev.attrs.get("activation") == "sigmoid")


def activation_loss(
    planner: Any, node: Any, ins: list[Value], g: Value, need: list[bool], users: dict[int, int]
) -> tuple[Any, Value] | None:
    """(the sigmoid's output tensor, dL/dz) when `node` is a BCE of a sigmoid, else None."""
    if node.op not in SIGMOID_LOSSES or need[1]:
        return None
    probs = node.parents[0]
    producer = planner.nodes.get(id(probs))
    if producer is None or not _is_sigmoid(producer[1]) or users.get(id(probs)) != 1:
        return None
    p = planner.plan
    pv, tv = ins
    lo, hi = lower._clip_range(np.dtype(pv.dtype), lower.BCE_EPS)
    n = max(int(np.prod(pv.shape)), 1)
    scale = p.call("np.multiply", g, 1 / n, name="scale", shape=g.shape)
    layer = producer[2][1].name[:-2] + "_" if producer[1].op == "linear" else ""
    dz = p.call("np.subtract", pv, tv, name="p_minus_y", shape=pv.shape, elementwise=True)
    inside = p.call("_inside", pv, lo, hi, name="inside", dtype=np.bool_)
    dz = p.call("np.multiply", dz, inside, name="p_minus_y_in", elementwise=True)
    dz = p.call("np.multiply", dz, scale, name=f"d_{layer}z", shape=pv.shape, elementwise=True)
    p.kernels[-1].comment = "sigmoid + BCE fused: dZ = (A - Y) / m"
    return probs, dz


def without_activation(op: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
    """The attributes of `op` with its activation taken off (None: the op was only that)."""
    if op == "linear":
        return {k: v for k, v in attrs.items() if k != "activation"}
    return None


def flat_updates(plan: Plan) -> None:
    """Put the `.grad` buffers of each fused optimizer step in one flat array.

    Run after `preallocate` (which gives every gradient its own buffer). The optimizer's
    `__compile_update__(flat_grad, grads)` returns its all-at-once update, or None, in
    which case the plan keeps calling its `step()`.
    """
    handed = {id(plan.env[holder]): value for holder, value in plan.handed}
    for name, owner in plan.updates:
        params = list(getattr(owner, "params", ()))
        values = [handed.get(id(p)) for p in params]
        if (
            not params
            or any(v is None for v in values)
            or len({id(v) for v in values}) < len(values)
        ):
            continue
        dtypes = {np.dtype(v.dtype) for v in values}
        if len(dtypes) != 1:
            continue
        flat = np.empty(sum(int(np.prod(v.shape)) for v in values), dtype=dtypes.pop())
        views, start = [], 0
        for v in values:
            size = int(np.prod(v.shape))
            views.append(flat[start : start + size].reshape(v.shape))
            start += size
        update = owner.__compile_update__(flat, views)
        if update is not None:
            for v, view in zip(values, views):
                plan.env[v.name] = view
            plan.env[name] = update
