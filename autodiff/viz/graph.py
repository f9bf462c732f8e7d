"""`draw`: the graph a tensor depends on, as a `graphviz.Digraph`.

Every tensor is a box and every operation an ellipse between its inputs and its result,
as in micrograd's drawings; colours follow torchviz (blue parameters, green output).
The walk is `autodiff.engine.toposort(..., only_requires_grad=False)`, so constants show
too. The Digraph holds only text: drawing never keeps a graph alive.

Layout of the code: `draw` runs named stages, one small function each. `_walk` lists
the tensors (toposorted, parents as indices), `_keep` picks those drawn (capped by
`max_nodes`, nearest the root first), `find_clusters` (`autodiff.viz.modules`) finds the
module boxes and `_collapsed` the nodes a collapsed box stands for; `gradients_of_root`
backs `show_grad="all"`. All of that is one `_Drawing`, which the `_emit_*` stages turn
into DOT: tensor and op nodes inside their boxes first (`_emit_nodes`), then edges
(`_emit_edges`), the note on what was cut and the legend. `_box_entries` keeps stacked
module boxes (the layers of a deep MLP) in one line rather than a diagonal staircase.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from autodiff.engine import toposort
from autodiff.tensor import Tensor
from autodiff.viz import labels
from autodiff.viz.display import drawing_class
from autodiff.viz.modules import Cluster, find_clusters, tensor_names

RANKDIRS = ("auto", "LR", "RL", "TB", "BT")

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
ALL_GRADS_NOTE = "grad: of the root, on every tensor"
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


def _node_count(order: list[Tensor], indices: Iterable[int]) -> int:
    """Graphviz nodes the tensors `order[i]` take: two for an op's result, one for a leaf."""
    return sum(2 if order[i].op else 1 for i in indices)


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
        cost = _node_count(order, (i,))
        if used + cost > max_nodes and kept:
            continue
        kept.add(i)
        used += cost
        for p in parents[i]:
            if p not in seen:
                seen.add(p)
                queue.append(p)
    return kept


@dataclass
class _Drawing:
    """One drawing in the making: the graph walked, the part of it drawn, and how."""

    root: Tensor
    order: list[Tensor]  # every tensor root depends on, toposorted, root last
    parents: list[list[int]]  # parents[i]: the indices in `order` of order[i]'s inputs
    kept: set[int]  # the indices drawn: all of them unless max_nodes cuts
    clusters: list[Cluster]  # the module boxes
    owner: dict[int, int]  # index -> the innermost box drawing it
    collapsed: dict[int, str]  # index -> the node of the collapsed box standing for it
    grads: dict[int, Any]  # id(tensor) -> d root / d tensor, for show_grad="all"
    names: dict[int, str]  # id(tensor) -> its parameter path in a model
    show_data: bool
    show_grad: bool | Literal["all"]
    max_values: int
    collapse_modules: bool
    kinds: set[str] = field(default_factory=set)  # the kinds of node emitted, for the legend


def draw(
    root: Tensor,
    *,
    show_data: bool = True,
    show_grad: bool | Literal["all"] = True,
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
    With `show_grad=True` the gradients shown are the tensors' `.grad`: leaves that
    require grad after a backward pass, and tensors that called `retain_grad()`.
    `show_grad="all"` shows on every tensor that requires grad the gradient of `root`
    with respect to it, as micrograd's drawings do: it is computed afresh with
    `ad.grad(root, tensors, retain_graph=True)` (seed 1, what `root.backward()` uses),
    leaves `.grad` untouched and needs a single-element `root` (ValueError otherwise).
    Operation nodes show the op and its arguments (axis, exponent, slope). Hovering over
    a node (its tooltip, an SVG `<title>`) shows its full values and gradient when they
    have at most a few hundred elements, else summary statistics. Roots, parameters,
    other leaves and retain_grad tensors have their own colours, which a `legend`
    explains.

    Each `ad.scope` (a model's layers) is drawn as a labelled box; `collapse_modules=True`
    draws each innermost box as one node instead. `max_nodes` caps the nodes drawn (those
    nearest the root stay) and the drawing says how many were cut. `rankdir` is
    Graphviz's direction: "LR" (the default, micrograd's left to right), "TB" (top to
    bottom), "RL" or "BT", or "auto": "TB" when the graph has module boxes and "LR" when
    it has none, so a model's layers stack top to bottom in one column, each box as wide
    as its parameters, instead of a strip several screens wide.

    In Jupyter the Digraph displays itself; `autodiff.viz.save` writes it to a file. A
    graph that `backward()` released raises RuntimeError: call
    `backward(retain_graph=True)`, or draw before backward.

    >>> import graphviz
    >>> import autodiff as ad
    >>> a = ad.Tensor(2.0, requires_grad=True, name="a")
    >>> g = draw((a * 3).tanh(), show_grad="all")
    >>> isinstance(g, graphviz.Digraph), "tanh" in g.source, "a" in g.source
    (True, True, True)
    >>> "grad" in g.source          # d tanh(3a) / da = 3 (1 - tanh(6)^2), shown without backward
    True
    >>> "rankdir=LR" in g.source    # left to right unless rankdir says otherwise
    True
    """
    _check_arguments(root, rankdir, max_nodes, max_values, show_grad)
    order, parents = _walk(root)
    kept = _keep(order, parents, max_nodes)
    clusters, owner = find_clusters(order, parents)
    d = _Drawing(
        root,
        order,
        parents,
        kept,
        clusters,
        owner,
        collapsed=_collapsed(clusters, owner) if collapse_modules else {},
        grads=gradients_of_root(root, order) if show_grad == "all" else {},
        names=tensor_names(order),
        show_data=show_data,
        show_grad=show_grad,
        max_values=max_values,
        collapse_modules=collapse_modules,
    )
    if rankdir == "auto":  # a model's layers in one column, other graphs left to right
        rankdir = "TB" if clusters else "LR"
    g = _new_digraph(rankdir, large=_node_count(order, kept) > _LARGE)
    _emit_nodes(d, g)
    _emit_edges(d, g)  # last: each node is already declared in its box
    if len(kept) < len(order):
        _emit_cut_note(d, g, max_nodes)
    if legend:
        _emit_legend(d, g)
    return g


def _check_arguments(
    root: Any, rankdir: str, max_nodes: Any, max_values: Any, show_grad: Any
) -> None:
    """Raise TypeError or ValueError naming the first bad argument of `draw`."""
    if not isinstance(root, Tensor):
        raise TypeError(f"draw() needs a Tensor, got {type(root).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}; got {rankdir!r}")
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive integer or None; got {max_nodes!r}")
    if not isinstance(max_values, int) or max_values < 0:
        raise ValueError(f"max_values must be a non-negative integer; got {max_values!r}")
    if not (isinstance(show_grad, bool) or show_grad == "all"):
        raise ValueError(f'show_grad must be True, False or "all"; got {show_grad!r}')


def _walk(root: Tensor) -> tuple[list[Tensor], list[list[int]]]:
    """Every tensor `root` depends on, toposorted (root last), and each one's parent indices.

    Constants are walked too. A node that backward() released raises RuntimeError.
    """
    order = toposort([root], only_requires_grad=False)
    for t in order:
        if t.op and not t._parents:  # backward released this node
            raise _released_error(t)
    index = {id(t): i for i, t in enumerate(order)}
    return order, [[index[id(p)] for p in t._parents] for t in order]


def _keep(order: list[Tensor], parents: list[list[int]], max_nodes: int | None) -> set[int]:
    """The indices to draw: all of them, or those nearest the root within `max_nodes`."""
    if max_nodes is None or _node_count(order, range(len(order))) <= max_nodes:
        return set(range(len(order)))
    return _keep_nearest(order, parents, max_nodes)


def _collapsed(clusters: list[Cluster], owner: dict[int, int]) -> dict[int, str]:
    """Index -> the node ("m<k>") standing for it when each innermost box is one node."""
    collapsed: dict[int, str] = {}
    for k, c in enumerate(clusters):
        if not c.children:
            for i in c.members:
                if owner.get(i) == k:
                    collapsed[i] = f"m{k}"
    return collapsed


def _new_digraph(rankdir: str, *, large: bool) -> Any:
    """An empty drawing with the graph, node and edge attributes every drawing shares."""
    graph_attr = {"rankdir": rankdir, "fontname": _FONT, "nodesep": "0.2", "ranksep": "0.3"}
    graph_attr["newrank"] = "true"  # several times faster on large graphs, same drawings
    if large:
        # Fewer layout iterations: a slightly less tidy picture in seconds, not minutes.
        graph_attr.update(mclimit="0.2", nslimit="0.2", nslimit1="0.2")
    return drawing_class()(
        "autodiff",
        graph_attr=graph_attr,
        # A wider side margin than dot's text metrics need: browsers substitute fonts
        # that run a few pixels wider, and text would touch the node's border.
        node_attr={"fontname": _FONT, "fontsize": "11", "margin": "0.1,0.03"},
        edge_attr={"color": "#555555", "arrowsize": "0.6"},
    )


def _emit_nodes(d: _Drawing, g: Any) -> None:
    """Emit the nodes outside every box, then each outermost box with what it holds."""
    for i in sorted(d.kept):
        if i not in d.owner:
            _emit_node(d, g, i)
    for k, c in enumerate(d.clusters):
        if c.parent is None:
            _emit_box(d, g, k)


def _emit_node(d: _Drawing, graph: Any, i: int) -> None:
    """Emit the tensor `order[i]` and, when an op made it, that op."""
    _emit_tensor(d, graph, i)
    if d.order[i].op:
        _emit_op(d, graph, i)


def _emit_tensor(d: _Drawing, graph: Any, i: int) -> None:
    """Emit the box of tensor `order[i]` ("t<i>"): name, shape, values, gradient, tooltip."""
    t = d.order[i]
    kind = _kind(t, d.root)
    d.kinds.add(kind)
    grad = d.grads.get(id(t))
    label = labels.tensor_label(
        t,
        title=t.name or d.names.get(id(t)),
        show_data=d.show_data,
        show_grad=bool(d.show_grad),
        max_values=d.max_values,
        grad=grad,
    )
    graph.node(
        f"t{i}",
        label,
        shape="box",
        style="filled,rounded",
        fillcolor=STYLES[kind][0],
        tooltip=_tooltip(
            labels.tensor_tooltip(
                t, grad=grad, show_grad=bool(d.show_grad), title=d.names.get(id(t))
            )
        ),
    )


def _emit_op(d: _Drawing, graph: Any, i: int) -> None:
    """Emit the ellipse of the op that made `order[i]` ("o<i>"), with its arguments."""
    t = d.order[i]
    d.kinds.add("op")
    graph.node(
        f"o{i}",
        labels.op_label(t.op, t._attrs),
        shape="ellipse",
        style="filled",
        fillcolor=STYLES["op"][0],
        tooltip=_tooltip(labels.op_tooltip(t.op, t._attrs, t)),
    )


def _emit_box(d: _Drawing, graph: Any, k: int) -> None:
    """Emit module box `k` as a cluster of its nodes and inner boxes, or collapsed to a node."""
    c = d.clusters[k]
    mine = sorted(i for i in c.members if d.owner.get(i) == k and i in d.kept)
    if d.collapse_modules and not c.children:
        if mine:
            _emit_collapsed_box(d, graph, k, mine)
        return
    with graph.subgraph(name=f"cluster_{k}") as sub:
        d.kinds.add("module")
        outer = bool(c.children)  # a box around boxes (an MLP around its layers)
        sub.attr(
            label=c.label,
            labeljust="l",
            style="rounded,dashed" if outer else "rounded,filled",
            fillcolor=STYLES["module"][0],
            color="#6a8cbf",
            fontname=_FONT,
            fontsize="12",
            tooltip=_tooltip(labels.module_tooltip(c.label, d.order[c.output], None)),
        )
        for i in mine:
            _emit_node(d, sub, i)
        for child in c.children:
            _emit_box(d, sub, child)


def _emit_collapsed_box(d: _Drawing, graph: Any, k: int, mine: list[int]) -> None:
    """Emit innermost box `k` as one node ("m<k>") naming its parameters and op count."""
    c = d.clusters[k]
    order = d.order
    params = [order[i] for i in mine if not order[i].op and order[i].requires_grad]
    n_ops = sum(1 for i in mine if order[i].op)
    d.kinds.add("module")
    graph.node(
        f"m{k}",
        labels.module_label(c.label, order[c.output], params, n_ops, d.names),
        shape="box",
        style="filled,rounded",
        fillcolor=STYLES["module"][0],
        color="#6a8cbf",
        tooltip=_tooltip(labels.module_tooltip(c.label, order[c.output], params, d.names)),
    )


def _emit_edges(d: _Drawing, g: Any) -> None:
    """Emit, for each op drawn, the edge to its result and one from each drawn input."""
    enters_box = _box_entries(d.owner, d.clusters)
    seen: set[tuple[str, str]] = set()  # edges between collapsed boxes, drawn once
    for i in sorted(d.kept):
        if not d.order[i].op:
            continue
        head = d.collapsed.get(i, f"o{i}")
        result = d.collapsed.get(i, f"t{i}")
        if head != result:
            g.edge(head, result)
        for p in d.parents[i]:
            if p in d.kept:
                _emit_input_edge(g, d.collapsed.get(p, f"t{p}"), head, enters_box(p, i), seen)


def _emit_input_edge(
    g: Any, tail: str, head: str, enters_box: bool, seen: set[tuple[str, str]]
) -> None:
    """Emit the edge from an input `tail` to the op `head`; collapsed boxes ("m<k>") get one."""
    if tail == head:
        return  # both inside one collapsed box
    if tail.startswith("m") or head.startswith("m"):
        if (tail, head) in seen:
            return
        seen.add((tail, head))
    if enters_box and not head.startswith("m"):  # a collapsed box is a node
        g.edge(tail, head, minlen="2")
    else:
        g.edge(tail, head)


def _emit_cut_note(d: _Drawing, g: Any, max_nodes: int | None) -> None:
    """Emit the note on what `max_nodes` cut, with a dashed edge to each op missing inputs."""
    total = _node_count(d.order, range(len(d.order)))
    drawn = _node_count(d.order, d.kept)
    cut = total - drawn
    g.node(
        "cut",
        f"... {cut:,} more nodes not drawn\n(max_nodes={max_nodes})",
        shape="note",
        style="filled",
        fillcolor="lightyellow",
        tooltip=f"{cut:,} nodes farther from the root are not drawn: raise max_nodes",
    )
    cut_into = [
        d.collapsed.get(i, f"o{i}")
        for i in sorted(d.kept)
        if d.order[i].op and any(p not in d.kept for p in d.parents[i])
    ]
    for head in dict.fromkeys(cut_into):
        g.edge("cut", head, style="dashed")
    g.attr(label=f"showing {drawn:,} of {total:,} nodes (max_nodes={max_nodes})")


def _emit_legend(d: _Drawing, g: Any) -> None:
    """Emit the legend of the colours of the kinds of node drawn."""
    g.node(
        "legend",
        _legend(d.kinds, all_grads=d.show_grad == "all"),
        shape="plaintext",
        tooltip="legend: what the colours mean",
    )


def _tooltip(text: str) -> Any:
    import graphviz

    return graphviz.nohtml(text)  # plain text even if it happens to look like <...>


def gradients_of_root(root: Tensor, order: list[Tensor]) -> dict[int, Any]:
    """`id(t) -> d root / d t` (a numpy array) for every tensor of `order` that requires grad.

    Computed with the public `ad.grad(root, tensors, retain_graph=True)`, seeded with 1 as
    `root.backward()` is, so every `.grad` stays as it was and the graph stays drawable.
    A root with more than one element has no gradient without a seed: ValueError.
    """
    import autodiff as ad

    if not root.requires_grad:
        return {}  # nothing in this graph requires grad: no gradient to show
    if root.size != 1:
        raise ValueError(
            f'show_grad="all" shows the gradient of the root on every tensor, which needs a '
            f"single-element root (as backward() without a grad does); this root has shape "
            f"{root.shape}. Draw a scalar made from it (its loss, or root.sum()), or use "
            "show_grad=True to show the .grad that a backward pass left on the leaves."
        )
    tensors = [t for t in order if t.requires_grad]
    try:
        found = ad.grad(root, tensors, retain_graph=True)
    except RuntimeError as e:
        raise RuntimeError(f'show_grad="all" could not compute the gradients: {e}') from e
    return {id(t): g.data for t, g in zip(tensors, found)}


def _box_entries(owner: dict[int, int], clusters: list[Cluster]) -> Callable[[int, int], bool]:
    """Which (parent, op) edges enter a module box from outside it.

    Such an edge gets `minlen=2`: it leaves a rank free between the box it comes from
    and the box it enters, where the entered box's parameters go. Without that gap the
    parameters of layer k+1 share a rank with the output of layer k, the two boxes
    overlap in rank and dot has to shift each one sideways: a diagonal staircase.
    """

    def boxes(i: int) -> set[int]:
        k = owner.get(i)
        found: set[int] = set()
        while k is not None:
            found.add(k)
            k = clusters[k].parent
        return found

    def entering(parent: int, op: int) -> bool:
        return bool(boxes(op) - boxes(parent))

    return entering


def _legend(kinds: set[str], *, all_grads: bool = False) -> str:
    rows = ['<TR><TD COLSPAN="2"><B>legend</B></TD></TR>']
    for kind, (colour, text) in STYLES.items():
        if kind in kinds:
            rows.append(
                f'<TR><TD BGCOLOR="{colour}" BORDER="1" WIDTH="18"></TD>'
                f'<TD ALIGN="LEFT">{labels.escape(text)}</TD></TR>'
            )
    if all_grads:
        rows.append(f'<TR><TD COLSPAN="2" ALIGN="LEFT">{labels.escape(ALL_GRADS_NOTE)}</TD></TR>')
    return (
        '<<TABLE BORDER="1" COLOR="#999999" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2">'
        + "".join(rows)
        + "</TABLE>>"
    )
