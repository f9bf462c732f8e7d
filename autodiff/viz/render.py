"""`save`: a drawing written to a file, in the format its extension names.

`draw` needs only the `graphviz` Python package (it builds DOT text), and so does
writing that text as a `.dot` file; SVG, PNG and PDF need Graphviz's `dot` program,
whose absence `autodiff.viz.display` explains with an install hint.
"""

from __future__ import annotations

import os
from typing import Any

from autodiff.tensor import Tensor
from autodiff.viz.display import INSTALL_HINT, dot_available, missing_dot_error
from autodiff.viz.graph import draw

__all__ = ["FORMATS", "INSTALL_HINT", "dot_available", "output_format", "render", "save"]

# What `save` writes: the pictures `dot` makes, and the DOT source itself.
FORMATS = ("svg", "png", "pdf", "dot")


def output_format(path: str | os.PathLike[str], format: str | None = None) -> str:  # noqa: A002
    """The format to write `path` in: `format` when given, else the path's extension.

    >>> output_format("graphs/loss.PNG"), output_format("g.svg", "pdf")
    ('png', 'pdf')
    """
    supported = ", ".join(FORMATS)
    if format is not None:
        chosen = str(format).lower().lstrip(".")
        if chosen not in FORMATS:
            raise ValueError(f"unknown drawing format {format!r}; supported: {supported}")
        return chosen
    ext = os.path.splitext(os.fspath(path))[1]
    if not ext:
        raise ValueError(
            f"cannot tell the drawing format of {os.fspath(path)!r}: it has no extension; "
            f"supported: {supported}; end the path with one of them or pass format="
        )
    chosen = ext.lower().lstrip(".")
    if chosen not in FORMATS:
        raise ValueError(
            f"unknown drawing format {ext!r} (from the extension of {os.fspath(path)!r}); "
            f"supported: {supported}; or pass format= to choose one"
        )
    return chosen


def render(graph: Any, path: str | os.PathLike[str], format: str = "svg") -> str:  # noqa: A002
    """Write the Digraph `graph` to `path` in `format` (one of `FORMATS`); return the path.

    "dot" writes the DOT source and needs no Graphviz program; the other formats run
    `dot`, and raise RuntimeError with an install hint when it is missing.
    """
    import graphviz

    format = output_format(path, format)  # noqa: A001 - checks the name
    if format == "dot":
        data = graph.source.encode("utf-8")
    else:
        if not dot_available():
            raise missing_dot_error()
        try:
            data = graphviz.Digraph.pipe(graph, format=format)
        except graphviz.ExecutableNotFound as e:
            raise missing_dot_error() from e
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
    format: str | None = None,  # noqa: A002 - the contract's name
    **draw_options: Any,
) -> str:
    """Draw the graph of `root` and write it to `path`; return the written path.

    The format is the path's extension (`.svg`, `.png`, `.pdf`, or `.dot` for the DOT
    source); `format=` overrides it. An unknown extension or format raises ValueError
    naming it and the supported ones. `draw_options` are those of `draw` (show_data,
    show_grad, rankdir, max_values, legend, collapse_modules, max_nodes). Folders in
    `path` are created as needed. Raises RuntimeError, saying how to install Graphviz,
    when its `dot` program is not on PATH (`.dot` files need no `dot`).

    >>> import os, tempfile
    >>> import autodiff as ad
    >>> x = ad.Tensor(2.0, requires_grad=True, name="x")
    >>> path = save(x * x, os.path.join(tempfile.mkdtemp(), "square.dot"))
    >>> open(path).read().startswith("digraph autodiff")
    True
    """
    fmt = output_format(path, format)  # before drawing: a typo fails fast
    return render(draw(root, **draw_options), path, fmt)
