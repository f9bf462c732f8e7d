"""Which nodes of a drawing belong to which scope (the boxes around layers).

Every node records the innermost `ad.scope` it was made in (`node._scope`, a `Scope`
with a `label` and a `parent`); a model library opens one per module call. Each
scope seen in the graph becomes a box holding the nodes made inside it; the box of a
scope's parent holds its box, so an MLP's box holds its layers' boxes. A parameter
(a leaf that requires grad) goes into the innermost box holding all the nodes that
use it, so a layer's weights are drawn inside the layer; data and constants stay
outside.

Tensor names: a tensor's own `name`, else the name the outermost scope's `names`
(a model's `named_parameters`) gives it, so a model's weights read "layers.0.W"
without `Module.__call__` ever renaming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cluster:
    """One box: its label, last member node index, member node indices and nesting."""

    label: str
    output: int
    members: set[int]
    parent: int | None = None
    children: list[int] = field(default_factory=list)


class _Boxes:
    """The clusters of one drawing, made on first sight of each scope."""

    def __init__(self) -> None:
        self.clusters: list[Cluster] = []
        self.owner: dict[int, int] = {}
        self._by_scope: dict[int, int] = {}

    def of(self, scope: Any) -> int:
        k = self._by_scope.get(id(scope))
        if k is None:
            parent = None if scope.parent is None else self.of(scope.parent)
            k = len(self.clusters)
            self.clusters.append(Cluster(str(scope.label), -1, set(), parent))
            self._by_scope[id(scope)] = k
            if parent is not None:
                self.clusters[parent].children.append(k)
        return k

    def chain(self, k: int | None) -> list[int]:
        """`k` and its enclosing boxes, innermost first."""
        out = []
        while k is not None:
            out.append(k)
            k = self.clusters[k].parent
        return out

    def put(self, i: int, k: int) -> None:
        self.owner[i] = k
        for j in self.chain(k):
            self.clusters[j].members.add(i)
            self.clusters[j].output = max(self.clusters[j].output, i)


def _common_box(boxes: _Boxes, ks: set[int | None]) -> int | None:
    """The innermost box enclosing every box in `ks` (None if one is outside all boxes)."""
    if None in ks:
        return None
    chains = [boxes.chain(k) for k in ks]
    shared = set(chains[0]).intersection(*chains[1:])
    return next((k for k in chains[0] if k in shared), None)


def find_clusters(
    order: list[Any], parents: list[list[int]]
) -> tuple[list[Cluster], dict[int, int]]:
    """The boxes of a graph and, for each boxed node index, its innermost box.

    `order` is the toposorted list of tensors and `parents[i]` the indices of the parents
    of `order[i]`. Returns the clusters (each with `parent`/`children` filled in) and a
    mapping from node index to the index of the cluster that draws it.
    """
    boxes = _Boxes()
    users: dict[int, set[int | None]] = {}
    for i, t in enumerate(order):
        if t.op and t._scope is not None:
            boxes.put(i, boxes.of(t._scope))
    for i, ps in enumerate(parents):
        for p in ps:
            users.setdefault(p, set()).add(boxes.owner.get(i))
    for p, ks in users.items():
        t = order[p]
        if not t.op and t.requires_grad:
            k = _common_box(boxes, ks)
            if k is not None:
                boxes.put(p, k)
    return boxes.clusters, boxes.owner


def tensor_names(order: list[Any]) -> dict[int, str]:
    """`{id(tensor): name}` from the outermost scopes with `names` in the graph."""
    outermost: dict[int, Any] = {}
    for t in order:
        s, named = t._scope, None
        while s is not None:
            named = s if s.names is not None else named
            s = s.parent
        if named is not None:
            outermost.setdefault(id(named), named)
    names: dict[int, str] = {}
    for s in outermost.values():
        for name, tensor in s.names():
            names.setdefault(id(tensor), name)
    return names
