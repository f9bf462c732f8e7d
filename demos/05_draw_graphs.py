"""Drawing computation graphs with `autodiff.viz`.

Writes into demos/out/ (next to this script):

- scalar_graph.svg / .png: L = (a*b + c) * f on 0-d tensors with `show_grad="all"`, so,
  as in micrograd's drawings, every tensor shows its data and the gradient of L.
- micrograd_readme.svg: the longer expression of micrograd's README (g = 24.7041,
  dg/da = 138.8338, dg/db = 645.5773), every gradient shown.
- mlp_graph.svg / .pdf: a 5-layer MLP (2-8-8-8-8-1, tanh, sigmoid output) on a batch of
  4 points with its binary cross-entropy loss and every gradient. Each Dense layer is a
  labelled box holding its parameters and its two ops, linear (x @ W.T + b) and its
  activation; with `rankdir="auto"` the boxes stack top to bottom in the MLP's dashed
  box (the default, "LR", would lay them out left to right).
- mlp_collapsed.svg: the same network with each layer collapsed to one node.
- mlp_graph.dot: the DOT source (needs no Graphviz program to write).

The extension picks the format (svg, png, pdf, dot). Hover over a node in the SVG (open
it in a browser) to see its full values and gradient. In Jupyter, `viz.draw(loss)` as
the last line of a cell shows the picture inline.

Run: python demos/05_draw_graphs.py   (needs Graphviz's `dot`; about a second)
The same MLP picture from the shell: python -m nn.draw --layers 2,8,8,1 \
    --activations tanh,tanh,sigmoid --loss bce --backward -o mlp.svg
"""

import os

import numpy as np

import autodiff as ad
import nn
from autodiff import viz

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def named(name, t):
    t.name = name
    return t


def scalar_graph():
    a = ad.Tensor(2.0, requires_grad=True, name="a")
    b = ad.Tensor(-3.0, requires_grad=True, name="b")
    c = ad.Tensor(10.0, requires_grad=True, name="c")
    f = ad.Tensor(-2.0, requires_grad=True, name="f")
    e = named("e", a * b)
    d = named("d", e + c)
    return named("L", d * f)


def micrograd_readme():
    """micrograd's README expression, written with tensors; returns (g, a, b)."""
    a = ad.Tensor(-4.0, requires_grad=True, name="a")
    b = ad.Tensor(2.0, requires_grad=True, name="b")
    c = a + b
    d = a * b + b**3
    c = c + c + 1  # micrograd writes c += c + 1: a new node, as here
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = named("e", c - d)
    f = named("f", e**2)
    g = named("g", f / 2.0 + 10.0 / f)
    return g, a, b


def mlp_loss():
    model = nn.MLP([2, 8, 8, 8, 8, 1], activation="tanh", output="sigmoid", seed=0)
    X, y = nn.data.make_moons(4, noise=0.1, seed=0)
    probs = model(ad.Tensor(X, name="X"))
    return nn.binary_cross_entropy(probs, y.astype(float).reshape(-1, 1))


def main():
    out = lambda name: os.path.join(OUT, name)  # noqa: E731

    L = scalar_graph()
    L.backward(retain_graph=True)  # keep the graph: a released graph cannot be drawn
    for name in ("scalar_graph.svg", "scalar_graph.png"):
        print("wrote", viz.save(L, out(name), show_grad="all"))

    g, a, b = micrograd_readme()
    g.backward(retain_graph=True)
    print(f"micrograd's README: g = {g.item():.4f}, dg/da = {a.grad:.4f}, dg/db = {b.grad:.4f}")
    print("wrote", viz.save(g, out("micrograd_readme.svg"), show_grad="all"))

    loss = mlp_loss()
    loss.backward(retain_graph=True)
    # rankdir="auto" stacks the layer boxes top to bottom (left to right is the default)
    for name in ("mlp_graph.svg", "mlp_graph.pdf", "mlp_graph.dot"):
        print("wrote", viz.save(loss, out(name), show_grad="all", rankdir="auto"))
    collapsed = viz.save(loss, out("mlp_collapsed.svg"), collapse_modules=True, rankdir="auto")
    print("wrote", collapsed)
    print(f"loss = {loss.item():.4f}; show_grad=True would show only the leaves' .grad")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
