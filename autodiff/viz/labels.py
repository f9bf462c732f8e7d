"""What the nodes of a drawing say: Graphviz HTML-like labels for tensors and operations.

A tensor node reads like micrograd's record, top to bottom: name, shape and dtype, then
`data` and `grad` rows. Small tensors (at most `max_values` elements) show their values;
larger ones show summary statistics (min/max/mean of the data, norm and largest entry of
the gradient). An operation node shows the op's name, a symbol where it has one, and the
attributes recorded on the node, `_attrs` (axis, exponent, slope...).

To show a new op argument, make it an attribute of the op (autodiff.ops); to give an op a
symbol or a formula, add it to `OP_SYMBOLS`.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

# Shown next to the op's name; the name itself stays greppable (`t.op`, `ad.<name>`).
OP_SYMBOLS = {
    "add": "+",
    "sub": "\u2212",
    "mul": "\u00d7",
    "div": "\u00f7",
    "matmul": "@",
    "pow": "**",
    "neg": "\u2212x",
    "linear": "x @ W.T + b",
}

# Binary ops with a Python number on one side record it as {"scalar": c, "left": bool}.
_INFIX = {"add": "+", "sub": "\u2212", "mul": "\u00d7", "div": "\u00f7", "pow": "**"}

_SMALL = '<FONT POINT-SIZE="10">{}</FONT>'
_TABLE = '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">{}</TABLE>>'
_GREY = '<FONT POINT-SIZE="10" COLOR="#555555">{}</FONT>'


def escape(text: str) -> str:
    """Text made safe for a Graphviz HTML-like label."""
    return html.escape(text, quote=True)


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
    return f"min {number(a.min())}  max {number(a.max())}  mean {number(a.mean())}"


def grad_summary(array: np.ndarray) -> str:
    """Size of a gradient too large to list: its norm and its largest entry."""
    if array.size == 0:
        return "empty"
    a = np.asarray(array, dtype=np.float64)
    return f"\u2016g\u2016 {number(np.linalg.norm(a))}  max|g| {number(np.abs(a).max())}"


def shape_text(shape: tuple[int, ...], dtype: Any) -> str:
    """`(16, 2) float64`, or `scalar float64` for a 0-d tensor."""
    if shape == ():
        return f"scalar {np.dtype(dtype).name}"
    dims = "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")
    return f"{dims} {np.dtype(dtype).name}"


def _multiline(text: str) -> str:
    return '<BR ALIGN="LEFT"/>'.join(escape(line) for line in text.splitlines()) + (
        '<BR ALIGN="LEFT"/>' if "\n" in text else ""
    )


def _row(title: str, body: str) -> str:
    return f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{_GREY.format(title)} {_multiline(body)}</TD></TR>'


def tensor_label(
    tensor: Any,
    *,
    title: str | None,
    show_data: bool,
    show_grad: bool,
    max_values: int,
) -> str:
    """The HTML-like label of a tensor node (name, shape and dtype, data, grad)."""
    data = tensor._data
    rows = []
    if title:
        rows.append(f"<TR><TD><B>{escape(title)}</B></TD></TR>")
    rows.append(f"<TR><TD>{_SMALL.format(escape(shape_text(data.shape, data.dtype)))}</TD></TR>")
    small = data.size <= max_values
    if show_data:
        rows.append("<HR/>")
        rows.append(_row("data", values(data) if small else data_summary(data)))
    grad = tensor.grad
    if show_grad and grad is not None:
        rows.append("<HR/>")
        rows.append(_row("grad", values(grad) if small else grad_summary(grad)))
    return _TABLE.format("".join(rows))


def _argument(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 24 else text[:21] + "..."


def op_label(op: str, meta: dict[str, Any] | None) -> str:
    """The HTML-like label of an operation node: name, symbol and the arguments that matter."""
    symbol = OP_SYMBOLS.get(op)
    meta = dict(meta or {})
    if op == "linear" and meta.get("activation"):  # a fused Dense layer: relu(x @ W.T + b)
        symbol = f"{meta.pop('activation')}({symbol})"
    head = f"<B>{escape(op)}</B>" + (f" {escape(symbol)}" if symbol else "")
    args = []
    if "scalar" in meta and op in _INFIX:
        c, infix = _argument(meta.pop("scalar")), _INFIX[op]
        args.append(f"{c} {infix} x" if meta.pop("left", False) else f"x {infix} {c}")
    args += [
        f"{key}={_argument(value)}"
        for key, value in meta.items()
        if value is not None and value is not False  # keepdims=False is the default
    ]
    if args:
        head += "<BR/>" + _SMALL.format(escape(", ".join(args)))
    return f"<{head}>"


def module_label(
    name: str, output: Any, params: list[Any], n_ops: int, names: dict[int, str] | None = None
) -> str:
    """The label of a collapsed module: its name, output shape, parameters and op count."""
    rows = [f"<TR><TD><B>{escape(name)}</B></TD></TR>"]
    out = shape_text(output._data.shape, output._data.dtype)
    ops = f"{n_ops} op" if n_ops == 1 else f"{n_ops} ops"
    rows.append(f"<TR><TD>{_SMALL.format(escape(f'out {out}  ({ops})'))}</TD></TR>")
    for p in params:
        title = p.name or (names or {}).get(id(p)) or "parameter"
        text = f"{title} {shape_text(p._data.shape, p._data.dtype)}"
        rows.append(f"<TR><TD>{_SMALL.format(escape(text))}</TD></TR>")
    return _TABLE.format("".join(rows))
