"""autodiff.viz: drawings rendered with the real Graphviz `dot`, parsed back as SVG XML."""

from __future__ import annotations

import gc
import importlib.util
import re
import shutil
import subprocess
import time
import weakref
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
from autodiff import viz
from autodiff.viz import labels

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


def render(root, tmp_path, **options):
    """Save `root` as SVG and return (node titles, cluster titles, all text) of the file."""
    path = viz.save(root, tmp_path / "graph.svg", **options)
    tree = ET.parse(path).getroot()
    groups = list(tree.iter(f"{SVG}g"))
    nodes = [g.find(f"{SVG}title").text for g in groups if g.get("class") == "node"]
    clusters = [g.find(f"{SVG}title").text for g in groups if g.get("class") == "cluster"]
    text = " ".join(t for t in tree.itertext() if t.strip())
    return nodes, clusters, text


def svg_nodes(path):
    """Every node of an SVG drawing: {"id", "runs" (its <text> strings), "tooltip"}."""
    nodes = []
    for g in ET.parse(path).getroot().iter(f"{SVG}g"):
        if g.get("class") != "node":
            continue
        link = next(g.iter(f"{SVG}a"), None)
        nodes.append(
            {
                "id": g.find(f"{SVG}title").text,
                "runs": [t.text or "" for t in g.iter(f"{SVG}text")],
                "tooltip": None if link is None else link.get(XLINK_TITLE),
            }
        )
    return nodes


def by_name(nodes):
    """Tensor nodes keyed by the tensor's name (the first, bold, run of a named node)."""
    return {n["runs"][0]: n for n in nodes if n["id"].startswith("t") and n["runs"]}


def shown(node, row):
    """The text a node shows after its `row` title ("data" or "grad"), or None."""
    runs = node["runs"]
    return runs[runs.index(row) + 1] if row in runs else None


def micrograd_graph():
    """The expression of micrograd's README: L = (a*b + c) * f."""
    a = ad.Tensor(2.0, requires_grad=True, name="a")
    b = ad.Tensor(-3.0, requires_grad=True, name="b")
    c = ad.Tensor(10.0, requires_grad=True, name="c")
    f = ad.Tensor(-2.0, requires_grad=True, name="f")
    e = a * b
    e.name = "e"
    d = e + c
    d.name = "d"
    L = d * f
    L.name = "L"
    return L, (a, b, c, f)


# ---- what the SVG holds ----


@needs_dot
def test_scalar_graph_has_one_node_per_tensor_and_op(tmp_path):
    L, _ = micrograd_graph()
    nodes, _, text = render(L, tmp_path, legend=False)
    # 4 leaves + 3 results (e, d, L) + 3 ops (mul, add, mul)
    assert len(nodes) == 10
    assert sum(n.startswith("o") for n in nodes) == 3
    for word in ("a", "b", "c", "d", "e", "f", "L", "mul", "add", "scalar float64"):
        assert word in text.split() or word in text
    nodes_with_legend, _, text = render(L, tmp_path)
    assert len(nodes_with_legend) == 11 and "legend" in nodes_with_legend


@needs_dot
def test_gradients_show_after_retain_graph(tmp_path):
    L, (a, b, c, f) = micrograd_graph()
    L.backward(retain_graph=True)
    nodes = by_name(svg_nodes(viz.save(L, tmp_path / "g.svg")))
    # dL/da = b f, dL/db = a f, dL/dc = f, dL/df = a b + c
    for name, expected in (("a", -3.0 * -2.0), ("b", 2.0 * -2.0), ("c", -2.0), ("f", 4.0)):
        assert shown(nodes[name], "grad") == f"{expected:.4g}", nodes[name]
    for name in ("e", "d", "L"):  # show_grad=True: only the .grad that backward() left
        assert shown(nodes[name], "grad") is None


def test_no_gradients_before_backward_or_when_hidden():
    L, _ = micrograd_graph()
    assert ">grad<" not in viz.draw(L).source
    L.backward(retain_graph=True)
    assert ">grad<" in viz.draw(L).source
    assert ">grad<" not in viz.draw(L, show_grad=False).source
    assert ">data<" not in viz.draw(L, show_data=False).source


UNARY = ("tanh", "exp", "sigmoid", "relu", "abs")
BINARY = ("add", "sub", "mul", "maximum")


@needs_dot
@settings(max_examples=12)
@given(steps=st.lists(st.tuples(st.sampled_from(UNARY + BINARY), st.integers(0, 50)), max_size=8))
def test_node_count_matches_the_expression(tmp_path_factory, steps):
    rng = np.random.default_rng(0)
    x = ad.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="x")
    made = [x]  # every tensor we created, in the graph of the final one
    expected_nodes = 1
    for op, pick in steps:
        current = made[-1]
        if op in UNARY:
            made.append(getattr(ad, op)(current))
            expected_nodes += 2
        else:
            other = made[pick % len(made)]
            if pick % 3 == 0:  # sometimes a fresh constant leaf of the same shape
                other = ad.Tensor(rng.normal(size=(2, 3)))
                expected_nodes += 1
            made.append(getattr(ad, op)(current, other))
            expected_nodes += 2
    root = made[-1]
    # only tensors the root depends on count: with one chain built on `made[-1]`,
    # every tensor made so far is an ancestor of the root
    nodes, _, text = render(root, tmp_path_factory.mktemp("g"), legend=False)
    assert len(nodes) == expected_nodes
    for op, _ in steps:
        assert op in text


# ---- nn models: boxes per layer, parameter names ----


def mlp_loss(sizes=(2, 5, 4, 1)):
    nn = pytest.importorskip("nn")
    model = nn.MLP(list(sizes), activation="tanh", output="sigmoid", seed=0)
    rng = np.random.default_rng(1)
    X = ad.Tensor(rng.normal(size=(4, sizes[0])), name="X")
    y = rng.integers(0, 2, size=(4, 1)).astype(float)
    return model, nn.binary_cross_entropy(model(X), y)


@needs_dot
def test_mlp_layers_are_labelled_boxes_with_their_parameters(tmp_path):
    model, loss = mlp_loss()
    loss.backward(retain_graph=True)
    nodes, clusters, text = render(loss, tmp_path)
    assert len(clusters) == 4  # 3 Dense layers inside the MLP's box
    for name, p in model.named_parameters():
        assert name in text
        shape = "(" + ", ".join(map(str, p.shape)) + ("," if p.ndim == 1 else "") + ")"
        assert shape in text
    for op in ("linear", "tanh", "sigmoid"):
        assert op in text
    for label in ("layers.0: Dense", "layers.1: Dense", "layers.2: Dense", "MLP("):
        assert label in text
    # each layer's box holds its W and b: the DOT source declares them inside it
    source = viz.draw(loss).source
    for k in range(3):
        box = source.split(f'label="layers.{k}: Dense')[1].split("subgraph")[0]
        assert f"<B>layers.{k}.W</B>" in box and f"<B>layers.{k}.b</B>" in box
        assert f"<B>layers.{(k + 1) % 3}.W</B>" not in box


@needs_dot
def test_collapse_modules_draws_each_layer_as_one_node(tmp_path):
    _, loss = mlp_loss()
    full, _, _ = render(loss, tmp_path, legend=False)
    nodes, clusters, text = render(loss, tmp_path, legend=False, collapse_modules=True)
    assert sum(n.startswith("m") for n in nodes) == 3
    assert clusters == ["cluster_3"] or len(clusters) == 1  # only the MLP's box is left
    # each Dense layer had W, b, its linear op + result and activation op + result: 6 -> 1
    assert len(nodes) == len(full) - 3 * 5
    assert "layers.1.W (4, 5) float64" in text


def test_hand_made_scope_forms_a_box():
    x = ad.Tensor(np.ones((2, 3)), name="x")
    W = ad.Tensor(np.ones((4, 3)), requires_grad=True, name="W")
    outside = ad.Tensor(np.ones((2, 4)), requires_grad=True, name="outside")
    with ad.scope("my layer"):
        h = ad.linear(x, W).tanh()
    source = viz.draw((h * outside).sum()).source
    box = source.split('label="my layer"')[1].split("\t}")[0]
    assert "<B>W</B>" in box and "tanh" in box and "linear" in box
    assert "<B>x</B>" not in box and "<B>outside</B>" not in box


def test_colours_tell_root_parameters_leaves_and_retained_apart():
    x = ad.Tensor([1.0, 2.0], name="x")
    w = ad.Tensor([0.5, -1.0], requires_grad=True, name="w")
    h = x * w
    h.retain_grad()
    h.name = "h"
    mid = h.exp()
    mid.name = "mid"
    root = mid.sum()
    root.name = "root"
    source = viz.draw(root).source
    colour = {
        name: re.search(rf"<B>{name}</B>.*fillcolor=(\S+)", source).group(1)
        for name in ("x", "w", "h", "mid", "root")
    }
    assert len(set(colour.values())) == 5, colour
    legend = source.split("legend [")[1]
    for c in colour.values():
        assert f'BGCOLOR="{c}"' in legend


def test_op_arguments_are_shown():
    x = ad.Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    root = (x.leaky_relu(0.2) ** 3).sum(axis=0).mean()
    source = viz.draw(root).source
    assert "slope=0.2" in source and "x ** 3" in source and "axis=0" in source


def test_large_tensors_show_statistics_small_ones_values():
    data = np.arange(20.0).reshape(4, 5) / 7
    big = ad.Tensor(data, requires_grad=True, name="big")
    small = ad.Tensor([1.5, -2.25], requires_grad=True, name="small")
    root = big.sum() * small.sum()
    root.backward(retain_graph=True)
    source = viz.draw(root).source
    node = re.search(r"<B>big</B>.*", source).group(0)
    assert f"min {data.min():.4g}, max {data.max():.4g}, mean {data.mean():.4g}" in node
    grad = np.full((4, 5), -0.75)  # d/d big = sum(small)
    assert f"norm {np.linalg.norm(grad):.4g}, max|g| 0.75" in node
    assert "[1.5, -2.25]" in re.search(r"<B>small</B>.*", source).group(0)
    # the threshold is an option
    assert "min" not in re.search(r"<B>big</B>.*", viz.draw(root, max_values=20).source).group(0)


@needs_dot
def test_max_nodes_keeps_the_nearest_and_says_what_was_cut(tmp_path):
    x = ad.Tensor(0.5, requires_grad=True, name="x")
    y = x
    for _ in range(100):
        y = y.tanh()
    total = 1 + 2 * 100
    nodes, _, text = render(y, tmp_path, legend=False, max_nodes=21)
    tensor_and_op = [n for n in nodes if n != "cut"]
    assert len(tensor_and_op) == 20  # 10 tanh results with their ops; the 11th would be 22
    assert "cut" in nodes
    assert f"{total - 20} more nodes not drawn" in text
    assert "showing 20 of 201 nodes" in text
    nodes, _, _ = render(y, tmp_path, legend=False, max_nodes=total)
    assert len(nodes) == total


# ---- errors and graph lifetime ----


def test_released_graph_cannot_be_drawn():
    L, _ = micrograd_graph()
    L.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        viz.draw(L)


def test_partly_released_graph_cannot_be_drawn():
    x = ad.Tensor([1.0, 2.0], requires_grad=True)
    inner = (x * x).sum()
    outer = inner * 3
    inner.backward()  # releases the mul and sum nodes, not outer's
    with pytest.raises(RuntimeError, match=r"draw before calling backward"):
        viz.draw(outer)


def test_drawing_does_not_keep_the_graph_alive():
    x = ad.Tensor(np.ones(3), requires_grad=True, name="x")
    hidden = (x * 2).tanh()
    loss = hidden.sum()
    drawing = viz.draw(loss)
    ref = weakref.ref(hidden)
    del hidden
    gc.collect()
    assert ref() is not None  # loss's graph still holds it
    loss.backward()  # releases the graph
    gc.collect()
    assert ref() is None
    assert "tanh" in drawing.source


def test_save_without_dot_explains_how_to_install(tmp_path, monkeypatch):
    L, _ = micrograd_graph()
    monkeypatch.setenv("PATH", "")
    assert "mul" in viz.draw(L).source  # the DOT source needs no dot
    with pytest.raises(RuntimeError) as info:
        viz.save(L, tmp_path / "g.svg")
    message = str(info.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "conda" in message
    assert not (tmp_path / "g.svg").exists()


MAGIC = {
    "png": b"\x89PNG\r\n\x1a\n",
    "pdf": b"%PDF-",
    "svg": b"<?xml",
    "dot": b"digraph autodiff",
}


def written_format(path):
    with open(path, "rb") as f:
        head = f.read(64)
    found = [fmt for fmt, magic in MAGIC.items() if head.startswith(magic)]
    if found == ["svg"]:
        assert b"<svg" in open(path, "rb").read(), head
    return found[0] if len(found) == 1 else None


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png", "pdf", "dot"])
def test_save_writes_the_format_its_extension_names(tmp_path, fmt):
    L, _ = micrograd_graph()
    out = viz.save(L, tmp_path / "sub" / f"g.{fmt}")
    assert out == str(tmp_path / "sub" / f"g.{fmt}")  # the written file, folders made
    assert written_format(out) == fmt
    upper = viz.save(L, tmp_path / f"G.{fmt.upper()}")
    assert written_format(upper) == fmt


@needs_dot
def test_save_format_argument_overrides_the_extension(tmp_path):
    L, _ = micrograd_graph()
    for fmt in ("png", "pdf", "dot", "svg"):
        out = viz.save(L, tmp_path / f"as_{fmt}.svg", format=fmt)
        assert out == str(tmp_path / f"as_{fmt}.svg") and written_format(out) == fmt
    out = viz.save(L, tmp_path / "no_extension", format="png")
    assert written_format(out) == "png"


def test_save_refuses_unknown_formats_naming_them(tmp_path):
    L, _ = micrograd_graph()
    for path, fmt, named in (("g.jpg", None, ".jpg"), ("g.svg", "gif", "gif"), ("g", None, "g")):
        with pytest.raises(ValueError) as info:
            viz.save(L, tmp_path / path, format=fmt)
        message = str(info.value)
        assert named in message and "svg, png, pdf, dot" in message, message
    assert list(tmp_path.iterdir()) == []


def test_dot_source_is_written_without_the_dot_program(tmp_path, monkeypatch):
    L, _ = micrograd_graph()
    monkeypatch.setenv("PATH", str(tmp_path))
    out = viz.save(L, tmp_path / "g.dot")
    assert open(out).read() == viz.draw(L).source


def test_bad_arguments():
    L, _ = micrograd_graph()
    with pytest.raises(TypeError, match="Tensor"):
        viz.draw(np.ones(3))
    with pytest.raises(ValueError, match="rankdir"):
        viz.draw(L, rankdir="diagonal")
    with pytest.raises(ValueError, match="max_nodes"):
        viz.draw(L, max_nodes=0)
    with pytest.raises(ValueError, match="show_grad"):
        viz.draw(L, show_grad="leaves")
    assert "rankdir=TB" in viz.draw(L, rankdir="TB").source
    assert "rankdir=LR" in viz.draw(L).source


def test_left_to_right_is_the_default_and_auto_stacks_module_boxes():
    L, _ = micrograd_graph()
    _, loss = mlp_loss()
    assert "rankdir=LR" in viz.draw(loss).source  # the default, module boxes or not
    assert "rankdir=TB" in viz.draw(loss, rankdir="auto").source  # layers in a column
    assert "rankdir=LR" in viz.draw(L, rankdir="auto").source  # no boxes: left to right
    assert "rankdir=BT" in viz.draw(loss, rankdir="BT").source  # explicit wins over boxes


def test_a_leaf_and_a_constant_graph_draw_as_one_node():
    for t in (ad.Tensor(3.0, name="alone"), ad.Tensor([1.0, 2.0]) * 2):
        source = viz.draw(t, legend=False).source
        assert source.count("fillcolor=") == 1


# ---- size ----


@needs_dot
def test_two_thousand_nodes_render_in_seconds(tmp_path):
    rng = np.random.default_rng(0)
    ws = [ad.Tensor(rng.normal(), requires_grad=True, name=f"w{i}") for i in range(10)]
    loss = ad.Tensor(0.0)
    nodes_expected = 1 + len(ws)
    while nodes_expected < 2000:
        x = ad.Tensor(rng.normal())
        h = x
        for w in ws[:4]:
            h = (h * w).tanh()
        loss = loss + (h - 1.0) ** 2
        nodes_expected += 1 + 4 * 4 + 3 * 2
    loss.backward(retain_graph=True)
    start = time.perf_counter()
    nodes, _, _ = render(loss, tmp_path, legend=False)
    elapsed = time.perf_counter() - start
    unused = 6  # w4..w9 are not in the graph
    assert len(nodes) == nodes_expected - unused
    assert elapsed < 60, f"drawing {len(nodes)} nodes took {elapsed:.1f} s"


def test_python_number_operands_are_drawn_as_written():
    x = ad.Tensor([1.0, 2.0], requires_grad=True)
    labels = {}
    for name, out in [("f", x * 2.0), ("i", x * 2), ("sub", 3 - x), ("div", x / 4)]:
        labels[name] = viz.draw(out.sum()).source
    assert "x * 2.0" in labels["f"]
    assert "x * 2" in labels["i"] and "x * 2.0" not in labels["i"]
    assert "3 - x" in labels["sub"] and "x / 4" in labels["div"]
    assert (x * 2)._attrs == {"scalar": 2} and type((x * 2)._attrs["scalar"]) is int
    assert type((x * 2.0)._attrs["scalar"]) is float
    np.testing.assert_array_equal(ad.grad((x / 4).sum(), x)[0].data, [0.25, 0.25])


# ---- text that keeps its spaces in every SVG renderer ----


def spacing_graphs():
    """Graphs whose labels hold every kind of text a node can show."""
    L, _ = micrograd_graph()
    L.backward(retain_graph=True)
    yield "micrograd, every grad", L, {"show_grad": "all"}
    rng = np.random.default_rng(0)
    big = ad.Tensor(rng.normal(size=(5, 4)), requires_grad=True, name="big")
    m = ad.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="matrix rows")
    x = ad.Tensor([1.0, -2.0, 3.0], requires_grad=True, name="x")
    h = (2 - x * 3.5).leaky_relu(0.2) ** 2 / 4
    root = h.sum(axis=0) + (m @ m.T).mean() + big.max(axis=1, keepdims=True).sum()
    root.backward(retain_graph=True)
    yield "ops with arguments, matrices, statistics", root, {"show_grad": "all"}
    yield "a cut graph", root, {"max_nodes": 5}
    if importlib.util.find_spec("nn") is not None:
        _, loss = mlp_loss()
        loss.backward(retain_graph=True)
        yield "an MLP", loss, {"show_grad": "all"}
        yield "an MLP, collapsed", loss, {"collapse_modules": True, "rankdir": "LR"}


@needs_dot
def test_no_svg_text_run_starts_or_ends_with_a_space(tmp_path):
    # SVG renderers (browsers, so Jupyter; rsvg; cairosvg) strip the spaces at the ends of
    # every <text> and merge runs of spaces; only `dot -Tpng` keeps them. A label whose
    # value run starts with a space ("data" then " 2") shows as "data2" in a browser.
    for what, root, options in spacing_graphs():
        path = viz.save(root, tmp_path / "g.svg", **options)
        runs = [t.text or "" for t in ET.parse(path).getroot().iter(f"{SVG}text")]
        assert len(runs) > 10, what
        for run in runs:
            assert run == run.strip(), (what, run)
            assert "  " not in run, (what, run)


@needs_dot
def test_titles_and_values_are_separate_runs(tmp_path):
    L, _ = micrograd_graph()
    L.backward(retain_graph=True)
    nodes = svg_nodes(viz.save(L, tmp_path / "g.svg", legend=False))
    a = by_name(nodes)["a"]
    assert a["runs"] == ["a", "scalar float64", "data", "2", "grad", "6"]
    ops = [n["runs"] for n in nodes if n["id"].startswith("o")]
    assert ["mul", "*"] in ops and ["add", "+"] in ops


@needs_dot
def test_rsvg_renders_the_svg(tmp_path):
    # A renderer other than dot reads our SVG: rsvg-convert, when installed, turns it
    # into a PNG without complaint (the spaces it would drop are guarded above).
    rsvg = shutil.which("rsvg-convert")
    if rsvg is None:
        pytest.skip("rsvg-convert not installed")
    L, _ = micrograd_graph()
    path = viz.save(L, tmp_path / "g.svg", show_grad="all")
    subprocess.run([rsvg, path, "-o", str(tmp_path / "g.png")], check=True)
    assert written_format(tmp_path / "g.png") == "png"


def test_drawings_are_ascii():
    x = ad.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    W = ad.Tensor(np.ones((4, 3)), requires_grad=True, name="W")
    y = ad.linear(x, W).tanh()
    root = ((-y) - 1 + 2 * y / 3 - (y**2) @ np.ones((4, 4))).sum() / 2.0
    root.backward(retain_graph=True)
    for options in ({}, {"show_grad": "all"}, {"max_nodes": 4}):
        g = viz.draw(root, **options)
        assert g.source.isascii(), [c for c in g.source if not c.isascii()]


# ---- show_grad="all": the gradient of the root on every tensor ----


def micrograd_readme(at=None, delta=0.0):
    """The expression of micrograd's README, every tensor named; `delta` shifts one of them.

    Shifting a tensor (a leaf or an intermediate) by `delta` and recomputing what follows
    gives the central differences of the root with respect to that tensor.
    """
    made = {}

    def named(name, t):
        if name == at:
            t = ad.Tensor(t.data + delta)  # what follows sees the shifted value
        t.name = name
        made[name] = t
        return t

    a = named("a", ad.Tensor(-4.0, requires_grad=True))
    b = named("b", ad.Tensor(2.0, requires_grad=True))
    c = named("c", a + b)
    ab = named("ab", a * b)
    b3 = named("b**3", b**3)
    d = named("d", ab + b3)
    c = named("c2", c + named("c+1", c + 1))  # c += c + 1
    c = named("c3", c + named("1+c2-a", named("1+c2", 1 + c) + named("-a", -a)))
    s = named("2d+relu", named("2d", d * 2) + named("relu(b+a)", named("b+a", b + a).relu()))
    d = named("d2", d + s)  # d += d * 2 + (b + a).relu()
    s = named("3d+relu", named("3d", 3 * d) + named("relu(b-a)", named("b-a", b - a).relu()))
    d = named("d3", d + s)  # d += 3 * d + (b - a).relu()
    e = named("e", c - d)
    f = named("f", e**2)
    g = named("g", named("f/2", f / 2.0) + named("10/f", 10.0 / f))
    return g, made


def tooltip_array(tooltip, row):
    """The numbers a tooltip prints after its "row:" line, as a flat array."""
    lines = tooltip.split(f"{row}:\n", 1)[1].splitlines()
    block = []
    for line in lines:  # the array's lines, up to a blank line or the next heading
        if not line.strip() or ":" in line:
            break
        block.append(line)
    number = r"-?\d+\.?\d*(?:e[-+]?\d+)?"
    return np.array([float(v) for v in re.findall(number, " ".join(block))])


@needs_dot
def test_show_grad_all_matches_central_differences_on_every_tensor(tmp_path):
    g, made = micrograd_readme()
    assert f"{g.item():.4f}" == "24.7041"  # micrograd's README
    g.backward(retain_graph=True)
    assert f"{made['a'].grad:.4f}" == "138.8338" and f"{made['b'].grad:.4f}" == "645.5773"
    leaf_grads = {k: made[k].grad.copy() for k in "ab"}
    nodes = by_name(svg_nodes(viz.save(g, tmp_path / "g.svg", show_grad="all")))
    assert set(nodes) == set(made)
    eps = 1e-6
    for name in made:
        up = micrograd_readme(name, eps)[0].item()
        down = micrograd_readme(name, -eps)[0].item()
        expected = (up - down) / (2 * eps)
        assert float(shown(nodes[name], "grad")) == pytest.approx(expected, rel=1e-3), name
        full = tooltip_array(nodes[name]["tooltip"], "grad")
        np.testing.assert_allclose(full, [expected], rtol=1e-6, atol=1e-6, err_msg=name)
    # the drawing computed them aside: no .grad changed, no intermediate got one
    for k in "ab":
        np.testing.assert_array_equal(made[k].grad, leaf_grads[k])
    assert all(t.grad is None for name, t in made.items() if name not in "ab")
    # and the graph is still there for backward
    g.backward()
    np.testing.assert_allclose(made["a"].grad, 2 * leaf_grads["a"])


def test_show_grad_all_hand_derived_on_tensors_and_without_backward():
    L, (a, b, c, f) = micrograd_graph()
    source_all = viz.draw(L, show_grad="all").source  # no backward call needed
    assert a.grad is None
    # L = (a b + c) f: dL/da = b f, dL/db = a f, dL/dc = dL/de = dL/dd = f, dL/df = d
    expected = {"a": 6, "b": -4, "c": -2, "f": 4, "e": -2, "d": -2, "L": 1}
    for name, value in expected.items():
        node = re.search(rf"<B>{name}</B>.*", source_all).group(0)
        assert f'grad</FONT></TD><TD ALIGN="LEFT" BALIGN="LEFT">{value}<' in node, name
    assert "grad: of the root, on every tensor" in source_all  # the legend says so


@needs_dot
def test_show_grad_all_on_arrays_and_constants(tmp_path):
    rng = np.random.default_rng(3)
    x = ad.Tensor(rng.normal(size=(3, 2)), name="x")  # a constant: no gradient to show
    W = ad.Tensor(rng.normal(size=(4, 2)), requires_grad=True, name="W")
    h = ad.linear(x, W).tanh()
    h.name = "h"
    loss = (h * h).mean()
    loss.name = "loss"
    path = viz.save(loss, tmp_path / "g.svg", show_grad="all", max_values=12)
    nodes = by_name(svg_nodes(path))
    dh = 2 * h.data / h.size  # d mean(h^2) / dh, by hand
    dW = (dh * (1 - h.data**2)).T @ x.data  # through tanh and x @ W.T
    for name, expected in (("h", dh), ("W", dW)):
        first_row = labels.values(expected).splitlines()[0]
        assert shown(nodes[name], "grad") == first_row, name
        np.testing.assert_allclose(
            tooltip_array(nodes[name]["tooltip"], "grad"), expected.ravel(), rtol=1e-7
        )
    assert shown(nodes["x"], "grad") is None and "grad:" not in nodes["x"]["tooltip"]


def test_show_grad_all_needs_a_single_element_root_and_a_live_graph():
    x = ad.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"single-element root.*\(2,\).*root\.sum\(\)"):
        viz.draw(x * 3, show_grad="all")
    assert ">grad<" not in viz.draw(x * 3, show_grad=True).source  # leaves-only: none yet
    L, _ = micrograd_graph()
    L.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        viz.draw(L, show_grad="all")
    # a graph of constants has no gradient anywhere: drawn without grad rows
    assert ">grad<" not in viz.draw(ad.Tensor(2.0) * 3, show_grad="all").source


# ---- tooltips ----


@needs_dot
def test_every_node_has_a_tooltip_with_full_values_when_small(tmp_path):
    rng = np.random.default_rng(4)
    small = ad.Tensor(rng.normal(size=(3, 4)), requires_grad=True, name="small")
    big = ad.Tensor(rng.normal(size=(20, 20)), requires_grad=True, name="big")
    root = (small.sum(axis=1, keepdims=True) * big[:3, :4]).sum()
    root.backward(retain_graph=True)
    nodes = svg_nodes(viz.save(root, tmp_path / "g.svg", legend=False))
    assert all(n["tooltip"] for n in nodes)
    named = by_name(nodes)
    tip = named["small"]["tooltip"]
    assert tip.startswith("small: (3, 4) float64")
    np.testing.assert_allclose(tooltip_array(tip, "data"), small.data.ravel(), rtol=1e-7)
    np.testing.assert_allclose(tooltip_array(tip, "grad"), small.grad.ravel(), rtol=1e-7)
    tip = named["big"]["tooltip"]  # 400 elements: statistics, not values
    assert "data (400 elements): min" in tip and f"std {big.data.std():.4g}" in tip
    assert "grad (400 elements): norm" in tip and len(tip) < 400
    arguments = "axis=1, keepdims=True"
    ops = {n["runs"][0]: n for n in nodes if n["id"].startswith("o") and arguments in n["runs"]}
    tip = ops["sum"]["tooltip"]
    assert tip.startswith("sum\naxis=1\nkeepdims=True\n") and tip.endswith(
        "\noutput (3, 1) float64"
    )
    # an argument the label shortens is whole in the tooltip
    index = "index=(slice(None, 3, None), slice(None, 4, None))"
    (getitem,) = [n for n in nodes if n["id"].startswith("o") and n["runs"][0] == "getitem"]
    assert index not in getitem["runs"] and index in getitem["tooltip"]


# ---- Jupyter's display path without dot ----


def test_display_hooks_without_dot_give_the_install_hint(tmp_path, monkeypatch):
    graphviz = pytest.importorskip("graphviz")
    L, _ = micrograd_graph()
    g = viz.draw(L)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot anywhere
    hooks = [g._repr_mimebundle_, lambda: g.pipe(format="svg"), lambda: g.render(tmp_path / "x")]
    for name in ("_repr_svg_", "_repr_image_svg_xml"):  # the hooks of older and newer graphviz
        if hasattr(g, name):
            hooks.append(getattr(g, name))
    for hook in hooks:
        with pytest.raises(RuntimeError) as info:
            hook()
        assert not isinstance(info.value, graphviz.ExecutableNotFound)
        assert "apt-get install graphviz" in str(info.value)
        assert isinstance(info.value.__cause__, graphviz.ExecutableNotFound)


@needs_dot
def test_display_hooks_render_with_dot():
    L, _ = micrograd_graph()
    bundle = viz.draw(L)._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


# ---- layout of deep models ----


def box_extents(path):
    """{label: (x0, y0, x1, y1)} of every module box ("layers.0: Dense...") in an SVG."""
    boxes = {}
    for g in ET.parse(path).getroot().iter(f"{SVG}g"):
        if g.get("class") != "cluster":
            continue
        shape = next(e for e in g.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon"))
        raw = shape.get("d") or shape.get("points")
        xy = np.array([float(v) for v in re.findall(r"-?\d+\.?\d*", raw)]).reshape(-1, 2)
        label = next(t.text for t in g.iter(f"{SVG}text"))
        boxes[label] = (*xy.min(axis=0), *xy.max(axis=0))
    return boxes


@needs_dot
@pytest.mark.parametrize("rankdir", ["auto", "LR"])
def test_deep_mlp_layers_line_up_instead_of_a_staircase(tmp_path, rankdir):
    _, loss = mlp_loss((2, 8, 8, 8, 8, 1))
    loss.backward(retain_graph=True)
    path = viz.save(loss, tmp_path / "g.svg", rankdir=rankdir, show_grad="all")
    boxes = box_extents(path)
    layers = [boxes[k] for k in sorted(boxes) if k.startswith("layers.")]
    assert len(layers) == 5
    along, across = (1, 0) if rankdir == "auto" else (0, 1)  # auto is top to bottom
    for first, second in zip(layers, layers[1:]):
        # the next layer starts after this one ends, along the reading direction...
        assert second[along] >= first[along + 2], (first, second)
        # ...and the two boxes overlap across it: one line of boxes, no diagonal
        assert min(first[across + 2], second[across + 2]) > max(first[across], second[across])
    svg = ET.parse(path).getroot()
    width, height = (float(svg.get(k).removesuffix("pt")) for k in ("width", "height"))
    if rankdir == "auto":
        assert width < 1000 and height > width  # a column that fits a notebook's width


@needs_dot
def test_collapsed_modules_and_the_legend_have_tooltips_too(tmp_path):
    model, loss = mlp_loss()
    nodes = svg_nodes(viz.save(loss, tmp_path / "g.svg", collapse_modules=True))
    assert all(n["tooltip"] for n in nodes)
    (layer,) = [n for n in nodes if n["runs"][0].startswith("layers.0: Dense")]
    W = model.layers[0].W
    assert "layers.0.W: (5, 2) float64" in layer["tooltip"]
    np.testing.assert_allclose(
        tooltip_array(layer["tooltip"].split("layers.0.W:")[1], "data"), W.data.ravel(), rtol=1e-7
    )
