"""Which nodes of a drawing belong to which nn module (the boxes around layers).

The nn package marks the output of every module call: `out._meta["module"]` is a label
such as "layers.0: Dense(2→16, tanh)" and `out._meta["module_inputs"]` a tuple of weak
references to the tensors the module was called on. A module's box holds the tensors
reachable backward from its output that are neither its inputs nor reachable from them,
so the layer's own parameters, ops and constants are inside and everything upstream
(the previous layers, the data) is outside.

When an outer module returns the very tensor an inner one made (an MLP returns its last
layer's output), `module` names the outer one and `_meta["inner_modules"]` keeps the
inner `(label, input refs)` pairs, innermost first. Boxes nest when one module's output
lies inside a larger module's box (an MLP around its Dense layers); a node shared by two
boxes goes into the smaller one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cluster:
    """One module box: its label, output node index, member node indices and nesting."""

    label: str
    output: int
    members: set[int]
    parent: int | None = None
    children: list[int] = field(default_factory=list)


def _ancestors(starts: list[int], parents: list[list[int]], stop: set[int]) -> set[int]:
    """Node indices reachable backward from `starts` (inclusive), never entering `stop`."""
    seen: set[int] = set()
    stack = [s for s in starts if s not in stop]
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        stack.extend(p for p in parents[i] if p not in seen and p not in stop)
    return seen


def find_clusters(
    order: list[Any], parents: list[list[int]]
) -> tuple[list[Cluster], dict[int, int]]:
    """The module boxes of a graph and, for each boxed node index, its innermost box.

    `order` is the toposorted list of tensors and `parents[i]` the indices of the parents
    of `order[i]`. Returns the clusters (each with `parent`/`children` filled in) and a
    mapping from node index to the index of the cluster that draws it.
    """
    index = {id(t): i for i, t in enumerate(order)}
    found: list[Cluster] = []
    for i, t in enumerate(order):
        meta = t._meta
        if not meta or "module" not in meta:
            continue
        marks = [*meta.get("inner_modules", ()), (meta["module"], meta.get("module_inputs", ()))]
        for label, refs in marks:
            inputs = [ref() for ref in refs]
            starts = [index[id(x)] for x in inputs if x is not None and id(x) in index]
            upstream = _ancestors(starts, parents, set())
            members = _ancestors([i], parents, upstream)
            found.append(Cluster(str(label), i, members))
    # Innermost first, so a node shared by nested boxes lands in the smallest one (the
    # sort is stable: of two boxes with the same members, the inner module's comes first).
    found.sort(key=lambda c: (len(c.members), c.output))
    owner: dict[int, int] = {}
    for k, cluster in enumerate(found):
        for i in cluster.members:
            owner.setdefault(i, k)
        for bigger in range(k + 1, len(found)):
            if cluster.output in found[bigger].members and cluster.members <= found[bigger].members:
                cluster.parent = bigger
                found[bigger].children.append(k)
                break
    return found, owner
