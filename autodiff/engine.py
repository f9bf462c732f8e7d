"""The backward pass: one traversal behind both `Tensor.backward` and `ad.grad`.

`backprop` walks the graph from the outputs to the inputs without recursion (a chain of
a million ops is fine), calling each node's vjp. Every recorded op carries a creation
number, larger than its inputs' numbers, so visiting nodes newest first (a heap) runs
each node after all the ops that used it: no separate sort. A first-order pass hands the
vjps numpy arrays and builds no graph at all; with `create_graph=True` it hands them
Tensors under grad mode, so the gradients are themselves differentiable (second
derivatives, Hessian-vector products). `toposort` orders a whole graph for drawings.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Sequence
from heapq import heappop, heappush
from typing import Any

import numpy as np

from autodiff import inplace
from autodiff import trace as _trace
from autodiff.mode import ANOMALY, GRAD, MODE
from autodiff.tensor import Tensor, _released_vjp, leaf, to_array

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Frames in these folders are library code; anomaly messages point past them to the user.
_PACKAGE_DIRS = tuple(os.path.join(_ROOT, pkg) + os.sep for pkg in ("autodiff", "nn"))
# Keyed by id, not a WeakKeyDictionary: that compares keys with ==, which on Tensors is
# elementwise. A finalizer drops the entry when the tensor dies, before its id is reused.
_creation_sites: dict[int, str] = {}


def toposort(roots: Sequence[Tensor], *, only_requires_grad: bool = True) -> list[Tensor]:
    """Every tensor the roots depend on, inputs before the ops that use them.

    With `only_requires_grad` (the backward pass) parents that need no gradient are
    skipped; drawings pass False to show constants too. Iterative and deterministic.
    """
    order: list[Tensor] = []
    visited: set[Tensor] = set()  # tensors hash by identity
    # Two parallel stacks rather than one of (node, expanded) pairs: a deep chain would
    # otherwise keep a million small tuples alive for the garbage collector to scan.
    nodes: list[Tensor] = list(reversed(roots))
    expanded: list[bool] = [False] * len(nodes)
    push, push_flag, emit, visit = nodes.append, expanded.append, order.append, visited.add
    while nodes:
        node = nodes.pop()
        if expanded.pop():
            emit(node)
            continue
        if node in visited:
            continue
        visit(node)
        parents = node._parents
        if not parents:
            emit(node)
            continue
        push(node)
        push_flag(True)
        for p in reversed(parents):
            if p not in visited and (p.requires_grad or not only_requires_grad):
                push(p)
                push_flag(False)
    return order


def _released_error(node: Tensor) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (at the {node.op!r} op "
        f"producing {inplace.describe(node)}): its saved values were freed by the first "
        "backward. Pass retain_graph=True to the first backward() (or ad.grad) if you "
        "need to backward through the same graph again."
    )


def backprop(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    *,
    create_graph: bool = False,
    retain_graph: bool = False,
    keep: set[int] | None = None,
) -> dict[int, tuple[Tensor, Any]]:
    """Propagate `seeds` (the gradients of `roots`) back through the graph.

    Returns `{id(tensor): (tensor, gradient)}` for the tensors to keep: those whose id is
    in `keep`, or, when `keep` is None, the leaves that require grad and the tensors that
    called `retain_grad()`. Gradients are arrays, or Tensors under `create_graph`.
    """
    # A node's gradient is summed in its `_grad_sum` slot until its turn; a leaf's in
    # `leaf_grads` (leaves may be shared by graphs that other threads run backward on).
    leaf_grads: dict[Tensor, Any] = {}
    # Nodes waiting for their turn, newest first: a node is pushed when its first gradient
    # arrives and popped after every op that used it (those are newer), so no sort is
    # needed and nodes that receive no gradient are never visited.
    heap: list[tuple[int, Tensor]] = []
    kept: dict[int, tuple[Tensor, Any]] = {}
    mode = MODE.get()
    anomaly = mode & ANOMALY
    token = MODE.set(mode | GRAD if create_graph else mode & ~GRAD)
    node: Tensor | None = None
    next_node: Tensor | None = None  # the next node, when it is known without the heap
    try:
        for root, seed in zip(roots, seeds):
            if root._vjp is None:
                prev = leaf_grads.get(root)
                leaf_grads[root] = seed if prev is None else prev + seed
            elif root._grad_sum is None:
                root._grad_sum = seed
                heappush(heap, (-root._seq, root))
            else:
                root._grad_sum = root._grad_sum + seed
        while True:
            if node is None:
                if not heap:
                    break
                node = heappop(heap)[1]
            g = node._grad_sum
            node._grad_sum = None
            vjp = node._vjp
            if node._retain if keep is None else id(node) in keep:
                kept[id(node)] = (node, g)
            if vjp is _released_vjp:
                raise _released_error(node)
            parents = node._parents
            if create_graph:
                parent_grads = vjp(g, node, *parents)
            elif len(parents) == 1:
                parent_grads = vjp(g, node._data, parents[0]._data)
            elif len(parents) == 2:
                parent_grads = vjp(g, node._data, parents[0]._data, parents[1]._data)
            elif len(parents) == 3:  # linear with a bias
                a, b, c = parents
                parent_grads = vjp(g, node._data, a._data, b._data, c._data)
            else:
                parent_grads = vjp(g, node._data, *[p._data for p in parents])
            for p, pg in zip(parents, parent_grads):
                if pg is None or not p.requires_grad:
                    continue
                data = p._data
                # two numpy scalars of one type have one shape and dtype: a cheap test
                if type(pg) is np.ndarray or type(pg) is not type(data):
                    if pg.shape != data.shape or pg.dtype is not data.dtype:
                        pg = _conform(node, pg, data)
                if anomaly:
                    _check_gradient(pg, node)
                if p._vjp is None:  # a leaf
                    prev = leaf_grads.get(p)
                    leaf_grads[p] = pg if prev is None else prev + pg
                elif p._grad_sum is not None:
                    p._grad_sum = p._grad_sum + pg
                else:  # p's first gradient: it waits for its turn
                    p._grad_sum = pg
                    if next_node is None and not heap:
                        next_node = p  # a chain: the only node waiting is the next one
                    else:
                        if next_node is not None:
                            heappush(heap, (-next_node._seq, next_node))
                            next_node = None
                        heappush(heap, (-p._seq, p))
            if not retain_graph:
                node._vjp = _released_vjp
                node._parents = ()
            node, next_node = next_node, None
        # The leaves' gradients are complete.
        for leaf_node, g in leaf_grads.items():
            if keep is None or id(leaf_node) in keep:
                kept[id(leaf_node)] = (leaf_node, g)
    except BaseException:
        # A pass that stopped half-way leaves no partial sums behind for the next one.
        for _, waiting in heap:
            waiting._grad_sum = None
        for waiting in (node, next_node):
            if waiting is not None:
                waiting._grad_sum = None
        raise
    finally:
        MODE.reset(token)
    return kept


def _conform(node: Tensor, grad: Any, data: np.ndarray) -> Any:
    """A rule's gradient for an input holding `data`: cast to its dtype; a wrong shape raises."""
    if grad.shape != data.shape:
        raise RuntimeError(
            f"the backward rule of {node.op!r} returned a gradient of shape "
            f"{grad.shape} for an input of shape {data.shape}"
        )
    return grad if grad.dtype == data.dtype else grad.astype(data.dtype)


def _seed(root: Tensor, grad: Any, create_graph: bool) -> Any:
    if grad is None:
        if root._data.size != 1:
            raise ValueError(
                f"backward() on a tensor of shape {root.shape} needs `grad`, the gradient "
                "of some scalar with respect to it (an array of the same shape); "
                "only a single-element tensor defaults to 1. Did you mean .sum().backward()?"
            )
        data = root._data
        # numpy's scalar 1 for a 0-d root (cheap arithmetic, as in `apply`), else
        # np.array(1).reshape(shape), several times cheaper than np.ones_like
        seed = data.dtype.type(1) if not data.ndim else np.array(1, data.dtype).reshape(data.shape)
    else:
        seed = to_array(grad, root._data.dtype)
        if seed.shape != root.shape:
            if seed.size == 1 and root._data.size == 1:
                seed = seed.reshape(root.shape)
            else:
                raise ValueError(
                    f"grad of shape {seed.shape} does not match the tensor's shape {root.shape}"
                )
    return leaf(seed) if create_graph else seed


def backward(root: Tensor, grad: Any = None, *, retain_graph: bool = False) -> None:
    """The body of `Tensor.backward`: accumulate gradients into `.grad`."""
    if not root.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of the "
            "computation has requires_grad=True (or it was computed under no_grad)"
        )
    seed = _seed(root, grad, create_graph=False)
    handed: set[int] = {id(seed)}
    for tensor, g in backprop([root], [seed], retain_graph=retain_graph).values():
        if type(g) is not np.ndarray:
            g = np.asarray(g, dtype=tensor._data.dtype)
        if tensor.grad is None:
            # Rules may hand one array to several inputs (add) or return views; a
            # user-visible .grad must never share memory with another one.
            if id(g) in handed or g.base is not None or not g.flags.writeable:
                g = g.copy()
            handed.add(id(g))
            tensor.grad = g
        else:
            tensor.grad = tensor.grad + g


def _as_list(x: Any, what: str) -> list[Tensor]:
    items = [x] if isinstance(x, Tensor) else list(x)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}[{i}] must be a Tensor, got {type(t).__name__}")
    return items


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    *,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> tuple[Tensor, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned rather than accumulated.

    Returns one Tensor per input (zeros where the outputs do not depend on it) and leaves
    every `.grad` untouched. `grad_outputs` matches `outputs` (default 1 for each
    single-element output). With `create_graph=True` the results are differentiable, so
    calling `grad` on them gives second derivatives. `retain_graph` defaults to
    `create_graph`, as in PyTorch.

    >>> import autodiff as ad
    >>> x = ad.Tensor(3.0, requires_grad=True)
    >>> (dy,) = ad.grad(x ** 3, x, create_graph=True)   # 3 x^2 = 27
    >>> (d2y,) = ad.grad(dy, x)                          # 6 x = 18
    >>> float(dy), float(d2y)
    (27.0, 18.0)
    """
    if _trace.STATE.recorder is not None:  # ad.compile is recording
        _trace.grad_call(create_graph)
    outs = _as_list(outputs, "outputs")
    ins = _as_list(inputs, "inputs")
    if grad_outputs is None:
        grad_outs: list[Any] = [None] * len(outs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray, int, float)) and len(outs) == 1:
        grad_outs = [grad_outputs]
    else:
        grad_outs = list(grad_outputs)
        if len(grad_outs) != len(outs):
            raise ValueError(f"grad_outputs has {len(grad_outs)} entries for {len(outs)} outputs")
    for i, t in enumerate(outs):
        if not t.requires_grad:
            raise RuntimeError(f"outputs[{i}] does not require grad and has no graph")
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"inputs[{i}] does not require grad: nothing to differentiate")
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed(o, g, create_graph) for o, g in zip(outs, grad_outs)]
    kept = backprop(
        outs,
        seeds,
        create_graph=create_graph,
        retain_graph=retain_graph,
        keep={id(t) for t in ins},
    )
    results = []
    for t in ins:
        g = kept[id(t)][1] if id(t) in kept else None
        if g is None:
            results.append(leaf(np.zeros_like(t._data)))
        elif isinstance(g, Tensor):
            results.append(g)
        else:
            results.append(leaf(np.asarray(g, dtype=t._data.dtype)))
    return tuple(results)


# ---- anomaly detection ----


def _user_site() -> str:
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIRS):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _check_finite(values: Any, op: str, site: str | None, what: str) -> None:
    array = values._data if isinstance(values, Tensor) else values
    if not np.all(np.isfinite(array)):
        bad = "NaN" if np.isnan(array).any() else "inf"
        where = site or "<a line run outside detect_anomaly>"
        raise FloatingPointError(
            f"{what} of the {op!r} op holds {bad}; the op was created at {where}"
        )


def _check_gradient(grad: Any, node: Tensor) -> None:
    _check_finite(grad, node.op, _creation_sites.get(id(node)), "backward gradient")


def note_creation(out: Tensor, op: str) -> None:
    """Under detect_anomaly: remember where `out` was made and check its values."""
    site = _user_site()
    if out.requires_grad:
        _creation_sites[id(out)] = site
        weakref.finalize(out, _creation_sites.pop, id(out), None)
    _check_finite(out._data, op, site, "forward result")
