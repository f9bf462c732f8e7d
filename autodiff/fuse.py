"""Rewrites of the backward plan: fused kernels where the eager rules take a long way round.

Each rewrite gives the eager engine's numbers up to rounding (the tests compare fused and
unfused plans with eager as the oracle, to 1e-12 relative in float64).

- sigmoid + binary cross-entropy (nn's clipped composition): dL/dz = (A - Y) / m.
- log-softmax + negative log-likelihood (nn's cross-entropy): dL/dz = (softmax - Y) / m.
- one flat buffer for the parameters' gradients (and, through the optimizer's
  `__compile_update__`, for the parameters and its state), so an optimizer step is a
  few vectorised kernels over all parameters instead of a loop over them.
- Python numbers in elementwise kernels as 0-d arrays of the kernel's dtype, made once.
"""

from __future__ import annotations

import textwrap
import weakref
from typing import Any

import numpy as np

from autodiff.plan import Plan, Value


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


# ---- numbers as typed constants ----


def typed_constants(plan: Plan) -> int:
    """Give the ufunc kernels' Python-number operands as arrays of the array operands'
    dtype, made once; returns how many operands changed.

    Each call would otherwise convert the number again (about 0.3 us of a 1 us kernel on
    a small array). The result is the same: numpy converts a Python number to the dtype
    of the array beside it (NEP 50), which is what the constant already holds. Only
    floating kernels whose array operands share one dtype change, and only for numbers
    that dtype holds finitely; axis arguments of reductions are never touched. The
    number is a 0-d array, except for `maximum` and `minimum`, whose loops against a
    broadcast operand are several times slower than against a whole array (relu's
    `np.maximum(z, 0)`: 4 us against 1.3 us at (128, 64)): they get it filled out.
    """
    made: dict[tuple[Any, ...], Value] = {}
    changed = 0
    for k in plan.kernels:
        if k.form != "call" or not any(type(a) in (int, float) for a in k.args):
            continue
        fn = plan.env.get(k.fn) or _ufunc(k.fn)
        dtypes = {v.dtype for v in k.values()}
        if not isinstance(fn, np.ufunc) or len(dtypes) != 1:
            continue
        dtype = np.dtype(dtypes.pop())
        if dtype.kind != "f":
            continue
        shape = k.out.shape if fn in (np.maximum, np.minimum) and k.out is not None else ()
        args = list(k.args)
        for i, a in enumerate(args):
            c = _held(a, dtype)
            if c is None:
                continue
            key = (c.hex(), dtype.str, shape)  # by bits: 0.0 and -0.0 are two constants
            if key not in made:
                filled = np.full(shape, c, dtype)
                filled.flags.writeable = False
                suffix = "_" + "x".join(map(str, shape)) if shape else ""
                made[key] = plan.const(_constant_name(a) + suffix, filled)
            args[i] = made[key]
            changed += 1
        k.args = tuple(args)
    if made:
        listed = ", ".join(f"{v.name} = {np.dtype(key[1]).type(float.fromhex(key[0])).item()!r}"
                           for key, v in made.items())  # fmt: skip
        plan.header += textwrap.wrap(
            f"numbers as arrays, made once: {listed}", 88, subsequent_indent="  "
        )
    return changed


def _held(a: Any, dtype: np.dtype) -> float | None:
    """`a` as a float when it is a Python number that `dtype` holds finitely."""
    if type(a) not in (int, float):
        return None
    try:
        c = float(a)  # what numpy makes of a Python int beside a float array
    except OverflowError:
        return None
    limit = _LARGEST.get(dtype.str)
    if limit is None:
        limit = _LARGEST[dtype.str] = float(np.finfo(dtype).max)
    return c if abs(c) <= limit else None  # no inf, no NaN, no overflow in the cast


_LARGEST: dict[str, float] = {}


def _ufunc(fn: str) -> Any:
    """The numpy ufunc a kernel's function names (`np.add`), else None."""
    if not fn.startswith("np.") or fn.count(".") != 1:
        return None
    return getattr(np, fn[3:], None)


def _constant_name(c: float) -> str:
    named = {0: "zero", 1: "one", 2: "two"}
    if c in named and not (c == 0 and str(c).startswith("-")):
        return named[c]
    return "c_" + repr(c).replace("e-", "e_minus_").replace("-", "minus_")


# ---- sigmoid + binary cross-entropy ----


def sigmoid_bce(planner: Any, root: Any, g: Value) -> tuple[Any, Value] | None:
    """(z, dL/dz) when `root` is nn's clipped BCE of sigmoid(z), else None.

    The pattern is -mean(t log(clip(s)) + (1 - t) log(1 - clip(s))) with s = sigmoid(z),
    each intermediate used by the next alone. The rules of the nine nodes multiply out
    to dL/dz = (s - t) / n where the clip passes s, and 0 where it does not: the course's
    dZ = A - Y, in three kernels instead of fifteen.
    """
    nodes = planner.nodes
    chain = _match_bce(nodes, root)
    if chain is None:
        return None
    inner = {id(t) for t in chain["inner"]}
    for key, (_, ev, _) in nodes.items():  # the intermediates feed no other gradient
        # (a consumer outside the graph, such as the loss's range check under no_grad,
        # reads the values only: the fused rule still gives every gradient)
        outside = not ev.out.requires_grad
        if key not in inner and key != id(root) and not outside:
            if any(id(q) in inner for q in ev.parents):
                return None
    p = planner.plan
    s, t = planner.values[id(chain["s"])], planner.values[id(chain["t"])]
    one_minus = planner.values.get(id(chain["one_minus_t"]))
    if not _is_complement(p, one_minus, t):
        return None
    lo, hi = chain["lo"], chain["hi"]
    n = max(int(np.prod(s.shape)), 1)
    scale = p.call("np.divide", g, n, name="scale", shape=g.shape)
    d = p.call("np.subtract", s, t, name="a_minus_y", shape=s.shape, elementwise=True)
    # Where the clip passed p through, clip(p) == p: one comparison gives the clip's
    # gradient mask (NaN compares unequal, as it falls outside [lo, hi]).
    clipped = planner.values.get(id(chain["clipped"]))
    if clipped is not None and clipped.shape == s.shape:
        inside = p.call("np.equal", s, clipped, name="inside", dtype=np.bool_)
    else:
        inside = p.call("_inside", s, lo, hi, name="inside", dtype=np.bool_)
    d = p.call("np.multiply", d, inside, name="a_minus_y_in", elementwise=True)
    z = chain["z"]
    dz = p.call("np.multiply", d, scale, name="d_" + planner.values[id(z)].name, shape=s.shape)
    p.kernels[-1].comment = "sigmoid + BCE fused: dZ = (A - Y) / m"
    return z, dz


def _node(nodes: dict[int, Any], t: Any, name: str) -> Any:
    entry = nodes.get(id(t))
    return entry[1] if entry is not None and entry[1].prim.name == name else None


def _match_bce(nodes: dict[int, Any], root: Any) -> dict[str, Any] | None:
    neg = _node(nodes, root, "neg")
    mean = neg and _node(nodes, neg.parents[0], "mean")
    add = mean and mean.attrs.get("axis") is None and _node(nodes, mean.parents[0], "add")
    if not add or len(add.parents) != 2:
        return None
    first, second = (_node(nodes, q, "mul") for q in add.parents)
    if not first or not second or "scalar" in first.attrs or "scalar" in second.attrs:
        return None
    t, log_p_t = _split(nodes, first)
    one_minus_t, log_q_t = _split(nodes, second)
    if log_p_t is None or log_q_t is None:
        return None
    log_p, log_q = _node(nodes, log_p_t, "log"), _node(nodes, log_q_t, "log")
    rsub = log_q and _node(nodes, log_q.parents[0], "sub")
    if not log_p or not rsub or rsub.attrs.get("scalar") != 1 or "left" not in rsub.attrs:
        return None
    clip = _node(nodes, log_p.parents[0], "clip")
    if clip is None or rsub.parents[0] is not log_p.parents[0] or t.requires_grad:
        return None
    sig = _node(nodes, clip.parents[0], "sigmoid")
    if sig is None or one_minus_t.requires_grad:
        return None
    inner = [neg.parents[0], mean.parents[0], *add.parents, log_p_t, log_q_t,
             log_q.parents[0], log_p.parents[0], clip.parents[0]]  # fmt: skip
    return {"s": clip.parents[0], "z": sig.parents[0], "t": t, "one_minus_t": one_minus_t,
            "lo": clip.attrs["lo"], "hi": clip.attrs["hi"], "inner": inner,
            "clipped": log_p.parents[0]}  # fmt: skip


def _split(nodes: dict[int, Any], mul: Any) -> tuple[Any, Any]:
    """(the constant factor, the log node's tensor) of `t * log(...)`, either order."""
    a, b = mul.parents
    if _node(nodes, b, "log") is not None:
        return a, b
    if _node(nodes, a, "log") is not None:
        return b, a
    return None, None


def _is_complement(p: Plan, one_minus: Value | None, t: Value) -> bool:
    """`one_minus` is computed as 1 - t by the plan (so it is on every replay)."""
    for k in p.kernels:
        if k.out is one_minus:
            return (k.fn == "np.subtract" and k.args[0] == 1 and isinstance(k.args[1], Value)
                    and _origin(p, k.args[1]) is _origin(p, t))  # fmt: skip
    return False


def _origin(p: Plan, v: Value) -> Value:
    """The argument `v` converts (astype, reshape), or `v` itself."""
    for k in reversed(p.kernels):
        if k.out is v and k.fn in ("{0}.astype({1})", "{0}.reshape({1})"):
            v = k.args[0]
    return v


# ---- log-softmax + negative log-likelihood ----


def log_softmax_nll(planner: Any, root: Any, g: Value) -> tuple[Any, Value] | None:
    """(z, dL/dz) when `root` is nn's cross-entropy sum(log_softmax(z) * onehot) * c.

    The rules of the four nodes multiply out to dL/dz = (softmax(z) - onehot) * (-c g),
    because each row of the one-hot table sums to 1: three kernels, the course's
    dZ = A - Y of a softmax output.
    """
    nodes = planner.nodes
    scaled = _node(nodes, root, "mul")
    if scaled is None or "scalar" not in scaled.attrs or type(scaled.attrs["scalar"]) is not float:
        return None
    total = _node(nodes, scaled.parents[0], "sum")
    if total is None or total.attrs.get("axis") is not None or total.attrs.get("keepdims"):
        return None
    product = _node(nodes, total.parents[0], "mul")
    if product is None or "scalar" in product.attrs:
        return None
    a, b = product.parents
    ls_tensor, onehot = (a, b) if _node(nodes, a, "log_softmax") else (b, a)
    ls = _node(nodes, ls_tensor, "log_softmax")
    if ls is None or onehot.requires_grad or len(ls_tensor.shape) != 2:
        return None
    if ls.attrs.get("axis") not in (-1, 1):
        return None
    inner = {id(scaled.parents[0]), id(total.parents[0]), id(ls_tensor)}
    for key, (_, ev, _) in nodes.items():
        if key not in inner and key != id(root) and any(id(q) in inner for q in ev.parents):
            return None
    p = planner.plan
    table = planner.values.get(id(onehot))
    if not any(k.out is table and k.fn == "_onehot" for k in p.kernels):
        return None  # only a table the plan builds from labels has rows summing to 1
    L = planner.values[id(ls_tensor)]
    scale = p.call("np.multiply", g, -scaled.attrs["scalar"], name="scale", shape=g.shape)
    probs = p.call("np.exp", L, name="softmax", elementwise=True)
    d = p.call("np.subtract", probs, table, name="p_minus_y", elementwise=True)
    z = ls.parents[0]
    dz = p.call("np.multiply", d, scale, name="d_" + planner.values[id(z)].name, shape=L.shape)
    p.kernels[-1].comment = "log-softmax + NLL fused: dZ = (softmax - Y) / m"
    return z, dz
