"""autodiff.viz: drawings rendered with the real Graphviz `dot`, parsed back as SVG XML."""

from __future__ import annotations

import gc
import re
import shutil
import time
import weakref
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
from autodiff import viz

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
SVG = "{http://www.w3.org/2000/svg}"


def render(root, tmp_path, **options):
    """Save `root` as SVG and return (node titles, cluster titles, all text) of the file."""
    path = viz.save(root, tmp_path / "graph.svg", **options)
    tree = ET.parse(path).getroot()
    groups = list(tree.iter(f"{SVG}g"))
    nodes = [g.find(f"{SVG}title").text for g in groups if g.get("class") == "node"]
    clusters = [g.find(f"{SVG}title").text for g in groups if g.get("class") == "cluster"]
    text = " ".join(t for t in tree.itertext() if t.strip())
    return nodes, clusters, text


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
    source = viz.draw(L).source
    # dL/da = b f, dL/db = a f, dL/dc = f, dL/df = a b + c
    for name, expected in (("a", -3.0 * -2.0), ("b", 2.0 * -2.0), ("c", -2.0), ("f", 4.0)):
        node = re.search(rf"<B>{name}</B>.*?\]\n", source).group(0)
        assert f"grad</FONT> {expected:.4g}<" in node, (name, node)
    _, _, text = render(L, tmp_path)
    assert text.count("grad") >= 4


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
    assert f"min {data.min():.4g}  max {data.max():.4g}  mean {data.mean():.4g}" in node
    grad = np.full((4, 5), -0.75)  # d/d big = sum(small)
    assert f"{np.linalg.norm(grad):.4g}" in node
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


@needs_dot
def test_save_formats_and_return_value(tmp_path):
    L, _ = micrograd_graph()
    out = viz.save(L, tmp_path / "sub" / "g.png", format="png")
    assert out == str(tmp_path / "sub" / "g.png")
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments():
    L, _ = micrograd_graph()
    with pytest.raises(TypeError, match="Tensor"):
        viz.draw(np.ones(3))
    with pytest.raises(ValueError, match="rankdir"):
        viz.draw(L, rankdir="diagonal")
    with pytest.raises(ValueError, match="max_nodes"):
        viz.draw(L, max_nodes=0)
    assert "rankdir=TB" in viz.draw(L, rankdir="TB").source


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
    assert "x × 2.0" in labels["f"]
    assert "x × 2" in labels["i"] and "x × 2.0" not in labels["i"]
    assert "3 − x" in labels["sub"] and "x ÷ 4" in labels["div"]
    assert (x * 2)._attrs == {"scalar": 2} and type((x * 2)._attrs["scalar"]) is int
    assert type((x * 2.0)._attrs["scalar"]) is float
    np.testing.assert_array_equal(ad.grad((x / 4).sum(), x)[0].data, [0.25, 0.25])
