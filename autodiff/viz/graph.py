"""`draw`: the graph a tensor depends on, as a `graphviz.Digraph`.

Every tensor is a box and every operation an ellipse between its inputs and its result,
as in micrograd's drawings; colours follow torchviz (blue parameters, green output).
The walk is `autodiff.engine.toposort(..., only_requires_grad=False)`, so constants show
too. The Digraph holds only text: drawing never keeps a graph alive.

Layout of the code: `_Walk` collects the nodes to draw (capped by `max_nodes`, nearest
the root first) and their module boxes (`autodiff.viz.modules`); `draw` then emits nodes,
boxes and edges, in that order, so that every node is declared inside its box.
"""

from __future__ import annotations

from typing import Any

from autodiff.engine import toposort
from autodiff.tensor import Tensor
from autodiff.viz import labels
from autodiff.viz.modules import Cluster, find_clusters, tensor_names

RANKDIRS = ("LR", "RL", "TB", "BT")

# kind -> (fill colour, legend text); the order is the legend's.
STYLES = {
    "root": ("darkolivegreen1", "root (the tensor drawn)"),
    "parameter": ("lightblue", "parameter (leaf, requires grad)"),
    "retain": ("orange", "retains grad (retain_grad)"),
    "leaf": ("gray92", "input or constant (leaf)"),
    "tensor": ("white", "intermediate tensor"),
    "op": ("lightgrey", "operation"),
    "module": ("#eef3fa", "nn module (layer)"),
}
_FONT = "Helvetica,Arial,sans-serif"
_LARGE = 1000  # nodes; above this Graphviz is told to spend less effort on the layout


def _kind(t: Tensor, root: Tensor) -> str:
    if t is root:
        return "root"
    if t._retain:
        return "retain"
    if not t.op:
        return "parameter" if t.requires_grad else "leaf"
    return "tensor"


def _released_error(t: Tensor) -> RuntimeError:
    what = f"the {t.op!r} op" + (f" producing {t.name!r}" if t.name else f" of shape {t.shape}")
    return RuntimeError(
        f"cannot draw this graph: backward() already released part of it (at {what}), "
        "so the tensors it depends on are gone. Call backward(retain_graph=True) to keep "
        "the graph for drawing, or draw before calling backward()."
    )


def _keep_nearest(order: list[Tensor], parents: list[list[int]], max_nodes: int) -> set[int]:
    """Indices of the tensors to draw: breadth-first from the root within `max_nodes`.

    A tensor made by an op costs two nodes (the op and its result), a leaf one.
    """
    root = len(order) - 1
    kept: set[int] = set()
    used = 0
    queue = [root]
    seen = {root}
    head = 0
    while head < len(queue):
        i = queue[head]
        head += 1
        cost = 2 if order[i].op else 1
        if used + cost > max_nodes and kept:
            continue
        kept.add(i)
        used += cost
        for p in parents[i]:
            if p not in seen:
                seen.add(p)
                queue.append(p)
    return kept


def draw(
    root: Tensor,
    *,
    show_data: bool = True,
    show_grad: bool = True,
    rankdir: str = "LR",
    max_values: int = 6,
    legend: bool = True,
    collapse_modules: bool = False,
    max_nodes: int | None = None,
) -> Any:
    """A `graphviz.Digraph` of every tensor and operation that `root` depends on.

    Tensor nodes show the name (parameters of nn models are named like "layers.0.W"),
    shape and dtype, and, when `show_data` / `show_grad`, the values and gradients of
    tensors with at most `max_values` elements (summary statistics for larger ones).
    Gradients exist for leaves that require grad after a backward pass, and for tensors
    that called `retain_grad()`. Operation nodes show the op and its arguments (axis,
    exponent, slope). Roots, parameters, other leaves and retain_grad tensors have their
    own colours, which a `legend` explains.

    nn layers are drawn as labelled boxes; `collapse_modules=True` draws each innermost
    module as one node instead. `max_nodes` caps the nodes drawn (those nearest the root
    stay) and the drawing says how many were cut. `rankdir` is Graphviz's direction:
    "LR" (left to right, the default), "TB", "RL" or "BT".

    In Jupyter the Digraph displays itself; `autodiff.viz.save` writes it to a file. A
    graph that `backward()` released raises RuntimeError: call
    `backward(retain_graph=True)`, or draw before backward.

    >>> import autodiff as ad
    >>> a = ad.Tensor(2.0, requires_grad=True, name="a")
    >>> g = draw((a * 3).tanh())
    >>> type(g).__name__, "tanh" in g.source, "a" in g.source
    ('Digraph', True, True)
    """
    import graphviz

    if not isinstance(root, Tensor):
        raise TypeError(f"draw() needs a Tensor, got {type(root).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}; got {rankdir!r}")
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive integer or None; got {max_nodes!r}")
    if not isinstance(max_values, int) or max_values < 0:
        raise ValueError(f"max_values must be a non-negative integer; got {max_values!r}")

    order = toposort([root], only_requires_grad=False)
    for t in order:
        if t.op and not t._parents:  # backward released this node
            raise _released_error(t)
    index = {id(t): i for i, t in enumerate(order)}
    parents = [[index[id(p)] for p in t._parents] for t in order]
    total_nodes = sum(2 if t.op else 1 for t in order)
    if max_nodes is None or total_nodes <= max_nodes:
        kept = set(range(len(order)))
    else:
        kept = _keep_nearest(order, parents, max_nodes)
    clusters, owner = find_clusters(order, parents)
    names = tensor_names(order)

    # Innermost boxes become single nodes when collapsing.
    collapsed: dict[int, str] = {}
    if collapse_modules:
        for k, c in enumerate(clusters):
            if not c.children:
                for i in c.members:
                    if owner.get(i) == k:
                        collapsed[i] = f"m{k}"

    graph_attr = {"rankdir": rankdir, "fontname": _FONT, "nodesep": "0.2", "ranksep": "0.3"}
    graph_attr["newrank"] = "true"  # several times faster on large graphs, same drawings
    if sum(2 if order[i].op else 1 for i in kept) > _LARGE:
        # Fewer layout iterations: a slightly less tidy picture in seconds, not minutes.
        graph_attr.update(mclimit="0.2", nslimit="0.2", nslimit1="0.2")
    g = graphviz.Digraph(
        "autodiff",
        graph_attr=graph_attr,
        node_attr={"fontname": _FONT, "fontsize": "11", "margin": "0.06,0.03"},
        edge_attr={"color": "#555555", "arrowsize": "0.6"},
    )
    kinds: set[str] = set()

    def emit_node(graph: Any, i: int) -> None:
        t = order[i]
        kind = _kind(t, root)
        kinds.add(kind)
        label = labels.tensor_label(
            t,
            title=t.name or names.get(id(t)),
            show_data=show_data,
            show_grad=show_grad,
            max_values=max_values,
        )
        graph.node(f"t{i}", label, shape="box", style="filled,rounded", fillcolor=STYLES[kind][0])
        if t.op:
            kinds.add("op")
            graph.node(
                f"o{i}",
                labels.op_label(t.op, t._attrs),
                shape="ellipse",
                style="filled",
                fillcolor=STYLES["op"][0],
            )

    def emit_cluster(graph: Any, k: int) -> None:
        c: Cluster = clusters[k]
        mine = sorted(i for i in c.members if owner.get(i) == k and i in kept)
        if collapse_modules and not c.children:
            if mine:
                params = [order[i] for i in mine if not order[i].op and order[i].requires_grad]
                n_ops = sum(1 for i in mine if order[i].op)
                kinds.add("module")
                graph.node(
                    f"m{k}",
                    labels.module_label(c.label, order[c.output], params, n_ops, names),
                    shape="box",
                    style="filled,rounded",
                    fillcolor=STYLES["module"][0],
                    color="#6a8cbf",
                )
            return
        with graph.subgraph(name=f"cluster_{k}") as sub:
            kinds.add("module")
            outer = bool(c.children)  # a box around boxes (an MLP around its layers)
            sub.attr(
                label=c.label,
                labeljust="l",
                style="rounded,dashed" if outer else "rounded,filled",
                fillcolor=STYLES["module"][0],
                color="#6a8cbf",
                fontname=_FONT,
                fontsize="12",
            )
            for i in mine:
                emit_node(sub, i)
            for child in c.children:
                emit_cluster(sub, child)

    for i in sorted(kept):
        if i not in owner:
            emit_node(g, i)
    for k, c in enumerate(clusters):
        if c.parent is None:
            emit_cluster(g, k)

    # Edges last: each node is already declared in its box.
    def tensor_end(i: int) -> str:
        return collapsed.get(i, f"t{i}")

    def op_end(i: int) -> str:
        return collapsed.get(i, f"o{i}")

    seen_edges: set[tuple[str, str]] = set()
    cut_into: list[str] = []
    for i in sorted(kept):
        t = order[i]
        if not t.op:
            continue
        head = op_end(i)
        if head != tensor_end(i):
            g.edge(head, tensor_end(i))
        if any(p not in kept for p in parents[i]):
            cut_into.append(head)
        for p in parents[i]:
            if p not in kept:
                continue
            tail = tensor_end(p)
            if tail == head:
                continue
            if tail.startswith("m") or head.startswith("m"):
                if (tail, head) in seen_edges:
                    continue
                seen_edges.add((tail, head))
            g.edge(tail, head)

    if len(kept) < len(order):
        drawn = sum(2 if order[i].op else 1 for i in kept)
        cut = total_nodes - drawn
        g.node(
            "cut",
            f"\u2026 {cut:,} more nodes not drawn\n(max_nodes={max_nodes})",
            shape="note",
            style="filled",
            fillcolor="lightyellow",
        )
        for head in dict.fromkeys(cut_into):
            g.edge("cut", head, style="dashed")
        g.attr(label=f"showing {drawn:,} of {total_nodes:,} nodes (max_nodes={max_nodes})")
    if legend:
        g.node("legend", _legend(kinds), shape="plaintext")
    return g


def _legend(kinds: set[str]) -> str:
    rows = ['<TR><TD COLSPAN="2"><B>legend</B></TD></TR>']
    for kind, (colour, text) in STYLES.items():
        if kind in kinds:
            rows.append(
                f'<TR><TD BGCOLOR="{colour}" BORDER="1" WIDTH="18"> </TD>'
                f'<TD ALIGN="LEFT">{labels.escape(text)}</TD></TR>'
            )
    return (
        '<<TABLE BORDER="1" COLOR="#999999" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2">'
        + "".join(rows)
        + "</TABLE>>"
    )
