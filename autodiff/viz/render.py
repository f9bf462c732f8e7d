"""`save`: a drawing written to a file by Graphviz's `dot` program.

`draw` needs only the `graphviz` Python package (it builds DOT text); turning that text
into SVG, PNG or PDF needs the `dot` executable, so this is the one place that looks for
it and explains how to install it when it is missing.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from autodiff.tensor import Tensor
from autodiff.viz.graph import draw

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


def render(graph: Any, path: str | os.PathLike[str], format: str = "svg") -> str:  # noqa: A002
    """Write the Digraph `graph` to `path` through `dot` in `format`; return the path."""
    import graphviz

    if not dot_available():
        raise RuntimeError(INSTALL_HINT)
    try:
        data = graph.pipe(format=format)
    except graphviz.ExecutableNotFound as e:
        raise RuntimeError(INSTALL_HINT) from e
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def save(
    root: Tensor,
    path: str | os.PathLike[str],
    format: str = "svg",  # noqa: A002 - the contract's name
    **draw_options: Any,
) -> str:
    """Draw the graph of `root` and write it to `path` as `format` ("svg", "png", "pdf"...).

    `draw_options` are those of `draw` (show_data, show_grad, rankdir, max_values,
    legend, collapse_modules, max_nodes). Folders in `path` are created as needed.
    Returns the written path. Raises RuntimeError, saying how to install Graphviz, when
    its `dot` program is not on PATH.
    """
    return render(draw(root, **draw_options), path, format)
