"""Drawings of computation graphs through Graphviz.

`draw(root)` returns a `graphviz.Digraph` of every tensor and operation `root` depends
on (it shows itself inline in Jupyter); `save(root, path)` renders it with Graphviz's
`dot` program to SVG, PNG or PDF.

>>> import autodiff as ad
>>> from autodiff import viz
>>> x = ad.Tensor([1.0, -2.0], requires_grad=True, name="x")
>>> loss = (x * x).sum()
>>> loss.backward(retain_graph=True)     # keep the graph to draw it with gradients
>>> g = viz.draw(loss)
>>> "grad" in g.source
True

Modules: `graph` (draw), `labels` (what nodes say), `modules` (boxes around `ad.scope`s,
such as a model's layers), `render` (save).
"""

from autodiff.viz.graph import draw
from autodiff.viz.render import save

__all__ = ["draw", "save"]
