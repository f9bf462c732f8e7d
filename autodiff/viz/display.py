"""Where a drawing meets Graphviz's `dot` program: the install hint, and a Digraph that
gives it in Jupyter too.

`draw` builds DOT text with the `graphviz` Python package alone. Turning it into a
picture runs `dot`, in `save` and also whenever Jupyter displays the returned Digraph
(its `_repr_mimebundle_` pipes the source through `dot`). Without `dot` the graphviz
package raises its own `ExecutableNotFound`; `Drawing` replaces that, on every path that
runs `dot` (`pipe`, which the display hooks use, and `render`), with our RuntimeError
that says how to install Graphviz.
"""

from __future__ import annotations

import functools
import shutil
from typing import Any

INSTALL_HINT = (
    "Graphviz's `dot` program was not found on PATH; it is needed to render drawings "
    "(draw() and its DOT source work without it). Install Graphviz: "
    "`sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
    "`conda install -c conda-forge graphviz`, or see https://graphviz.org/download/ "
    "(Windows: add its bin folder to PATH)."
)


def dot_available() -> bool:
    """True when Graphviz's `dot` executable is on PATH."""
    return shutil.which("dot") is not None


def missing_dot_error() -> RuntimeError:
    """The error raised wherever a drawing needs `dot` and it is not installed."""
    return RuntimeError(INSTALL_HINT)


@functools.cache
def drawing_class() -> type:
    """`Drawing`, a `graphviz.Digraph` whose rendering says how to install a missing `dot`.

    Built on first use, so that importing autodiff.viz does not import graphviz.
    """
    import graphviz

    class Drawing(graphviz.Digraph):
        """A `graphviz.Digraph` of a computation graph (see `autodiff.viz.draw`).

        It behaves as any Digraph (`.source`, `.pipe()`, `.render()`, inline display in
        Jupyter); when Graphviz's `dot` program is missing, rendering raises a
        RuntimeError that says how to install it.
        """

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound as e:
                raise missing_dot_error() from e

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound as e:
                raise missing_dot_error() from e

    return Drawing
