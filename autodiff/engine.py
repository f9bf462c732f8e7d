"""The backward pass: one traversal behind both `Tensor.backward` and `ad.grad`.

`backprop` orders the graph (`toposort`, iterative), walks it from the outputs back
calling each node's vjp rules, and sums gradients in one dict owned by the pass, so
concurrent passes through shared nodes never mix. First order hands the rules numpy
arrays; `create_graph=True` hands them Tensors in grad mode, so the gradients are
differentiable. Unless retained, each node is released after use (`_parents` dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autodiff import anomaly, versions
from autodiff.arguments import seed_gradient, tensor_grad_outputs, tensor_list
from autodiff.mode import set_grad_enabled
from autodiff.tensor import Tensor, leaf


def toposort(roots: Sequence[Tensor], *, only_requires_grad: bool = True) -> list[Tensor]:
    """Every tensor the roots depend on, inputs before the ops that use them.

    With `only_requires_grad` (the backward pass) parents that need no gradient are
    skipped; drawings pass False to show constants too. Iterative and deterministic.
    """
    order: list[Tensor] = []
    visited: set[Tensor] = set()  # tensors hash by identity
    # One stack: a node is pushed back under a None marker, and the marker, once its
    # parents above it are done, says the node is complete. No (node, flag) pairs, which
    # a million-op chain would allocate by the million for the garbage collector to scan.
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        if node is None:
            order.append(stack.pop())
        elif node not in visited:
            visited.add(node)
            stack.append(node)
            stack.append(None)
            for p in reversed(node._parents):
                if p not in visited and (p.requires_grad or not only_requires_grad):
                    stack.append(p)
    return order


def released_error(node: Tensor) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (at the {node.op!r} op "
        f"producing {versions.describe(node)}): its saved values were freed by the first "
        "backward. Pass retain_graph=True to the first backward() (or ad.grad) if you "
        "need to backward through the same graph again."
    )


def backprop(
    roots: Sequence[Tensor], seeds: Sequence[Any], *, create_graph: bool = False,
    retain_graph: bool = False, keep: frozenset[Tensor] = frozenset(),
) -> dict[Tensor, Any]:  # fmt: skip
    """Propagate `seeds` (the gradients of `roots`) back through the graph.

    Returns the gradients of the leaves reached, of the nodes in `keep` and of the nodes
    that called `retain_grad()`: arrays, or Tensors under `create_graph`.
    """
    grads: dict[Tensor, Any] = {}
    for root, seed in zip(roots, seeds):
        grads[root] = seed if root not in grads else grads[root] + seed
    kept: dict[Tensor, Any] = {}
    check = anomaly.backward_hook()
    with set_grad_enabled(create_graph):
        for node in reversed(toposort(roots)):
            if not node._parents:
                if node._prim is not None:
                    raise released_error(node)
                continue  # a leaf: its gradient is complete
            g = grads.pop(node, None)
            if g is not None:
                if node._retain or node in keep:
                    kept[node] = g
                _propagate(node, g, grads, create_graph, check)
                if not retain_graph:
                    node._parents = ()  # release the graph behind this node
    kept.update(grads)
    return kept


def _propagate(
    node: Tensor, g: Any, grads: dict[Tensor, Any], create_graph: bool, check: Any
) -> None:
    """Add the gradients `node`'s rules give its inputs into `grads` (shape checked).

    Only the rules of inputs that require grad run; the anomaly `check` sees them all."""
    parents, prim = node._parents, node._prim
    versions.check(node)  # raises if an input changed since the node was recorded
    out, xs = (node, parents) if create_graph else (node._data, [p._data for p in parents])
    args = (g, out, *xs, *node._attr_values)  # what each rule receives
    input_grads = [None] * len(parents) if check else None
    for i, p in enumerate(parents):
        if not p.requires_grad:
            continue
        if prim.variadic:
            pg = prim.vjp[0](g, out, *xs, index=i, **node._attrs)
        else:
            pg = prim.vjp[i](*args)
        data = p._data
        if pg.shape != data.shape:
            raise RuntimeError(f"the backward rule of {node.op!r} returned a gradient "
                               f"of shape {pg.shape} for an input of {data.shape}")  # fmt: skip
        if pg.dtype is not data.dtype and pg.dtype != data.dtype:
            pg = pg.astype(data.dtype)
        if check:
            input_grads[i] = pg  # type: ignore[index]
        grads[p] = pg if p not in grads else grads[p] + pg
    if check:
        check(node, input_grads)


def backward(root: Tensor, grad: Any = None, *, retain_graph: bool = False) -> None:
    """The body of `Tensor.backward`: accumulate gradients into `.grad`."""
    if not root.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of the "
            "computation has requires_grad=True (or it was computed under no_grad)"
        )
    handed: set[int] = set()
    for tensor, g in backprop(
        [root], [seed_gradient(root, grad, False)], retain_graph=retain_graph
    ).items():
        if tensor.is_leaf or tensor._retain:
            if tensor.grad is not None:
                tensor.grad = tensor.grad + g
                continue
            if type(g) is not np.ndarray:
                g = np.asarray(g)  # rules on 0-d give numpy scalars: a fresh array
            elif id(g) in handed or g.base is not None or not g.flags.writeable:
                # Rules may hand one array to several inputs (add) or return views: a
                # user-visible .grad never shares memory with another one.
                g = g.copy()
            handed.add(id(g))
            tensor.grad = g


def grad(
    outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None, *, create_graph: bool = False, retain_graph: bool | None = None,
) -> tuple[Tensor, ...]:  # fmt: skip
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
    outs, ins = tensor_list(outputs, "outputs"), tensor_list(inputs, "inputs")
    for what, items in (("outputs", outs), ("inputs", ins)):
        for i, t in enumerate(items):
            if not t.requires_grad:
                raise RuntimeError(f"{what}[{i}] does not require grad: nothing to differentiate")
    seeds = [
        seed_gradient(o, g, create_graph)
        for o, g in zip(outs, tensor_grad_outputs(grad_outputs, len(outs)))
    ]
    retain = create_graph if retain_graph is None else retain_graph
    found = backprop(
        outs, seeds, create_graph=create_graph, retain_graph=retain, keep=frozenset(ins)
    )
    results = []
    for t in ins:
        g = found[t] if t in found else np.zeros_like(t._data)
        results.append(g if isinstance(g, Tensor) else leaf(np.asarray(g, dtype=t.dtype)))
    return tuple(results)
