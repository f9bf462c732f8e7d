"""Drawings of computation graphs through Graphviz.

`draw(root)` returns a `graphviz.Digraph` of every tensor and operation `root` depends
on (it shows itself inline in Jupyter); `save(root, path)` writes it in the format the
extension names: SVG, PNG or PDF through Graphviz's `dot` program, or the DOT source.
`draw(root, show_grad="all")` shows the gradient of `root` on every tensor, as
micrograd's drawings do. `python -m nn.draw --help` draws an MLP from the command line.

>>> import autodiff as ad
>>> from autodiff import viz
>>> x = ad.Tensor([1.0, -2.0], requires_grad=True, name="x")
>>> loss = (x * x).sum()
>>> loss.backward(retain_graph=True)     # keep the graph to draw it with gradients
>>> g = viz.draw(loss)
>>> "grad" in g.source
True

Modules: `graph` (draw), `labels` (what nodes and their tooltips say), `modules` (boxes
around `ad.scope`s, such as a model's layers), `render` (save), `display` (the Digraph
that says how to install a missing `dot`, in Jupyter too).
"""

from autodiff.viz.graph import draw
from autodiff.viz.render import save

__all__ = ["draw", "save"]
