"""Drawing computation graphs with `autodiff.viz`.

Writes three SVG files into demos/out/ (next to this script):

- scalar_graph.svg: the micrograd README expression L = (a*b + c) * f on 0-d tensors,
  after `backward(retain_graph=True)`, so every leaf shows its data and its gradient.
- mlp_graph.svg: a 3-layer MLP (2-8-8-1, tanh, sigmoid output) on a batch of 4 points with
  its binary cross-entropy loss, gradients shown; each Dense layer is a labelled box
  holding its parameters and its one fused op, tanh(x @ W.T + b), inside the MLP's
  dashed box.
- mlp_collapsed.svg: the same network with each layer collapsed to one node.

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


def scalar_graph():
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
    return L


def mlp_loss():
    model = nn.MLP([2, 8, 8, 1], activation="tanh", output="sigmoid", seed=0)
    X, y = nn.data.make_moons(4, noise=0.1, seed=0)
    probs = model(ad.Tensor(X, name="X"))
    return nn.binary_cross_entropy(probs, y.astype(float))


def main():
    L = scalar_graph()
    L.backward(retain_graph=True)  # keep the graph: a released graph cannot be drawn
    print("wrote", viz.save(L, os.path.join(OUT, "scalar_graph.svg")))

    loss = mlp_loss()
    loss.backward(retain_graph=True)
    print("wrote", viz.save(loss, os.path.join(OUT, "mlp_graph.svg")))
    print("wrote", viz.save(loss, os.path.join(OUT, "mlp_collapsed.svg"), collapse_modules=True))
    print(f"loss = {loss.item():.4f}; the drawing shows every parameter's gradient")
    # In Jupyter, `viz.draw(loss)` as the last line of a cell shows the picture inline.
    print(viz.draw(L).source.count("->"), "edges in the scalar graph's DOT source")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
