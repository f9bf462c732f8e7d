"""What the nodes of a drawing say: Graphviz HTML-like labels for tensors and operations.

A tensor node reads like micrograd's record, top to bottom: name, shape and dtype, then
`data` and `grad` rows. Small tensors (at most `max_values` elements) show their values;
larger ones show summary statistics (min/max/mean of the data, norm and largest entry of
the gradient). An operation node shows the op's name, a symbol where it has one, and the
attributes recorded on the node, `_attrs` (axis, exponent, slope...). Every node also
gets a tooltip (`tensor_tooltip`, `op_tooltip`) with the full values when they are small
enough to print.

Why every piece of text sits in its own table cell: Graphviz writes each run of text
(each change of font, each line) as its own SVG `<text>` element, and SVG renderers
(browsers, rsvg, cairosvg) drop the spaces at the start and end of a `<text>` and merge
runs of spaces inside one. A label written as `data</FONT> 2` would show as "data2" in
Jupyter. So words in different fonts go into different cells, and no text we emit starts
or ends with a space or holds two spaces in a row (`_clean`).

To show a new op argument, make it an attribute of the op (autodiff.ops); to give an op a
symbol or a formula, add it to `OP_SYMBOLS`. Everything here is ASCII, so drawings and
their DOT source survive any console encoding.
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np

# Shown next to the op's name; the name itself stays greppable (`t.op`, `ad.<name>`).
OP_SYMBOLS = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "matmul": "@",
    "pow": "**",
    "neg": "-x",
    "linear": "x @ W.T + b",
}

# Binary ops with a Python number on one side record it as {"scalar": c, "left": bool}.
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}

# Arrays with at most this many elements are printed in full in a node's tooltip.
TOOLTIP_VALUES = 256

_SMALL = '<FONT POINT-SIZE="10">{}</FONT>'
_GREY = '<FONT POINT-SIZE="10" COLOR="#555555">{}</FONT>'
_TABLE = '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">{}</TABLE>>'
_BR = '<BR ALIGN="LEFT"/>'
_SPACES = re.compile(r"\s+")


def escape(text: str) -> str:
    """Text made safe for a Graphviz HTML-like label."""
    return html.escape(text, quote=True)


def _clean(text: str) -> str:
    """One line of label text as an SVG renderer will keep it: no edge or double spaces."""
    return _SPACES.sub(" ", text).strip()


def number(value: float) -> str:
    """A number in four significant digits (`-0.3333`, `1.2e+04`)."""
    return f"{value:.4g}"


def values(array: np.ndarray) -> str:
    """The elements of a small array, numpy-style, one line per row."""
    if array.ndim == 0:
        return number(float(array))
    if sum(n > 1 for n in array.shape) <= 1:
        array = array.ravel()  # a row or column: one line; the node states the shape
    return np.array2string(
        np.asarray(array, dtype=np.float64),
        separator=", ",
        max_line_width=48,
        formatter={"float_kind": number},
    )


def data_summary(array: np.ndarray) -> str:
    """Summary statistics of an array too large to list."""
    if array.size == 0:
        return "empty"
    a = np.asarray(array, dtype=np.float64)
    return f"min {number(a.min())}, max {number(a.max())}, mean {number(a.mean())}"


def grad_summary(array: np.ndarray) -> str:
    """Size of a gradient too large to list: its norm and its largest entry."""
    if array.size == 0:
        return "empty"
    a = np.asarray(array, dtype=np.float64)
    return f"norm {number(np.linalg.norm(a))}, max|g| {number(np.abs(a).max())}"


def shape_text(shape: tuple[int, ...], dtype: Any) -> str:
    """`(16, 2) float64`, or `scalar float64` for a 0-d tensor."""
    if shape == ():
        return f"scalar {np.dtype(dtype).name}"
    dims = "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")
    return f"{dims} {np.dtype(dtype).name}"


def _multiline(text: str) -> str:
    # Each line becomes its own SVG <text>; numpy indents continuation rows with a space
    # that a renderer would drop anyway, so lines are cleaned and left-aligned.
    lines = [escape(_clean(line)) for line in text.splitlines()]
    return _BR.join(lines) + (_BR if len(lines) > 1 else "")


def _row(title: str, body: str) -> str:
    # Title and value in cells of their own: two runs that never need a space between them.
    return (
        f'<TR><TD ALIGN="LEFT" VALIGN="TOP">{_GREY.format(title)}</TD>'
        f'<TD ALIGN="LEFT" BALIGN="LEFT">{_multiline(body)}</TD></TR>'
    )


def _wide(content: str) -> str:
    return f'<TR><TD COLSPAN="2">{content}</TD></TR>'


def tensor_label(
    tensor: Any,
    *,
    title: str | None,
    show_data: bool,
    show_grad: bool,
    max_values: int,
    grad: np.ndarray | None = None,
) -> str:
    """The HTML-like label of a tensor node (name, shape and dtype, data, grad).

    The gradient shown is `grad` when given (a drawing's `show_grad="all"` computes one
    for every tensor), else the tensor's own `.grad`.
    """
    data = tensor._data
    rows = []
    if title:
        rows.append(_wide(f"<B>{escape(_clean(title))}</B>"))
    rows.append(_wide(_SMALL.format(escape(shape_text(data.shape, data.dtype)))))
    small = data.size <= max_values
    if show_data:
        rows.append("<HR/>")
        rows.append(_row("data", values(data) if small else data_summary(data)))
    if grad is None:
        grad = tensor.grad
    if show_grad and grad is not None:
        rows.append("<HR/>")
        rows.append(_row("grad", values(grad) if small else grad_summary(grad)))
    return _TABLE.format("".join(rows))


def _argument(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 24 else text[:21] + "..."


def _op_parts(op: str, meta: dict[str, Any] | None, short: bool) -> tuple[str | None, list[str]]:
    """The symbol of an op and its arguments as text (`short` truncates long ones)."""
    symbol = OP_SYMBOLS.get(op)
    meta = dict(meta or {})
    if op == "linear" and meta.get("activation"):  # a fused Dense layer: relu(x @ W.T + b)
        symbol = f"{meta.pop('activation')}({symbol})"
    show = _argument if short else (lambda v: v if isinstance(v, str) else repr(v))
    args = []
    if "scalar" in meta and op in _INFIX:
        c, infix = show(meta.pop("scalar")), _INFIX[op]
        args.append(f"{c} {infix} x" if meta.pop("left", False) else f"x {infix} {c}")
    args += [
        f"{key}={show(value)}"
        for key, value in meta.items()
        if value is not None and value is not False  # keepdims=False is the default
    ]
    return symbol, args


def op_label(op: str, meta: dict[str, Any] | None) -> str:
    """The HTML-like label of an operation node: name, symbol and the arguments that matter."""
    symbol, args = _op_parts(op, meta, short=True)
    cells = f"<TD><B>{escape(op)}</B></TD>"
    if symbol:
        cells += f"<TD>{escape(_clean(symbol))}</TD>"
    rows = f"<TR>{cells}</TR>"
    if args:
        span = ' COLSPAN="2"' if symbol else ""
        rows += f"<TR><TD{span}>{_SMALL.format(escape(_clean(', '.join(args))))}</TD></TR>"
    return _TABLE.format(rows)


def module_label(
    name: str, output: Any, params: list[Any], n_ops: int, names: dict[int, str] | None = None
) -> str:
    """The label of a collapsed module: its name, output shape, parameters and op count."""
    rows = [f"<TR><TD><B>{escape(_clean(name))}</B></TD></TR>"]
    out = shape_text(output._data.shape, output._data.dtype)
    ops = f"{n_ops} op" if n_ops == 1 else f"{n_ops} ops"
    rows.append(f"<TR><TD>{_SMALL.format(escape(f'out {out} ({ops})'))}</TD></TR>")
    for p in params:
        title = p.name or (names or {}).get(id(p)) or "parameter"
        text = f"{title} {shape_text(p._data.shape, p._data.dtype)}"
        rows.append(f"<TR><TD>{_SMALL.format(escape(_clean(text)))}</TD></TR>")
    return _TABLE.format("".join(rows))


# ---- tooltips: plain text, shown on hover (SVG <title>, Graphviz's `tooltip`) ----


def full_values(array: np.ndarray) -> str:
    """Every element of an array, numpy-style, each in eight significant digits."""
    return np.array2string(
        np.asarray(array, dtype=np.float64),
        separator=", ",
        threshold=array.size + 1,
        max_line_width=100,
        formatter={"float_kind": lambda v: f"{v:.8g}"},
    )


def _tooltip_block(title: str, array: np.ndarray, summary: str) -> str:
    if array.size <= TOOLTIP_VALUES:
        return f"{title}:\n{full_values(array)}"
    a = np.asarray(array, dtype=np.float64)
    return f"{title} ({array.size:,} elements): {summary}, std {number(a.std())}"


def tensor_tooltip(
    tensor: Any, *, grad: np.ndarray | None = None, show_grad: bool = True, title: str | None = None
) -> str:
    """A tensor's hover text: name, shape and dtype, op, then its values and gradient.

    Values and gradient are printed in full up to `TOOLTIP_VALUES` elements; larger
    arrays get summary statistics. The gradient is `grad` if given, else `.grad`.
    """
    data = tensor._data
    head = shape_text(data.shape, data.dtype)
    title = tensor.name or title
    if title:
        head = f"{title}: {head}"
    lines = [head, f"made by {tensor.op}" if tensor.op else "leaf"]
    if tensor.requires_grad:
        lines[-1] += ", requires grad"
    lines.append(_tooltip_block("data", data, data_summary(data)))
    if grad is None:
        grad = tensor.grad
    if show_grad and grad is not None:
        lines.append(_tooltip_block("grad", grad, grad_summary(grad)))
    return _plain("\n".join(lines))


def op_tooltip(op: str, meta: dict[str, Any] | None, output: Any) -> str:
    """An operation's hover text: name, symbol, every argument in full, output shape."""
    symbol, args = _op_parts(op, meta, short=False)
    lines = [op + (f" {symbol}" if symbol else "")]
    lines += args
    lines.append(f"output {shape_text(output._data.shape, output._data.dtype)}")
    return _plain("\n".join(lines))


def module_tooltip(
    name: str, output: Any, params: list[Any] | None, names: dict[int, str] | None = None
) -> str:
    """A module box's hover text: its label, output shape and (when collapsed) parameters.

    A collapsed module hides its parameters' nodes, so their values show here (each in
    full when small, as in `tensor_tooltip`).
    """
    head = _plain(f"{name}\noutput {shape_text(output._data.shape, output._data.dtype)}")
    names = names or {}
    tips = [tensor_tooltip(p, title=names.get(id(p))) for p in params or ()]
    return "\n\n".join([head, *tips])


def _plain(text: str) -> str:
    # Graphviz reads backslashes in attributes as escapes (\n, \l): keep them literal.
    return text.replace("\\", "\\\\")
