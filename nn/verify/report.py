"""What the checker found, and how it reads as a diagnosis.

`str(report)`, `repr(report)` and Jupyter's display all show the diagnosis. The text is
ASCII. `report.render(shell=True)` is the command line's version: it names no Python
object (no `report.mismatches[...]`) and prints the smallest failing case instead.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nn.verify.cases import Case, is_layer_name
from nn.verify.diagnose import describe

RETURNED = {
    "None": "returned None: is `return grads` missing?",
    "list": "returned a list: return a dict such as {'dW1': dW1, 'db1': db1, ...}",
    "tuple": "returned a tuple: return a dict such as {'dW1': dW1, 'db1': db1, ...}",
    "tuple holding a dict": "returned a tuple holding a dict (grads, cost?): return the dict "
    "of gradients alone",
}


def returned_cause(kind: str) -> str:
    """The cause for a grads_fn result that is not a dict."""
    return RETURNED.get(kind, f"returned a {kind}, not a dict of gradients")


@dataclass(frozen=True)
class Mismatch:
    """One gradient (or "AL", the forward output) that disagrees with autodiff.

    `max_abs_error` is the largest |received - true| over the failing cases and
    `max_rel_error` the same divided by the largest |true| entry of that gradient
    (both inf when the shapes differ or the gradient is missing); `cause` is a short
    label such as "sign flipped", "factor m" or "transposed", or None; `example` is the
    smallest failing case hypothesis found, with `expected` and `received` the true and
    the returned gradient there. `failed` of `cases` cases were wrong.
    """

    name: str
    max_abs_error: float
    max_rel_error: float
    cause: str | None
    example: Case
    failed: int
    cases: int
    expected: np.ndarray | None = None
    received: object = None
    hint: str | None = None

    @classmethod
    def over(cls, name: str, errors: list[tuple[float, float]], **facts: Any) -> Mismatch:
        """The mismatch of `name` from its failing cases' (absolute, relative) errors,
        one pair per failing case; `facts` are the other fields."""
        worst_abs, worst_rel = max(e[0] for e in errors), max(e[1] for e in errors)
        return cls(name, worst_abs, worst_rel, failed=len(errors), **facts)

    @property
    def always(self) -> bool:
        return self.failed == self.cases

    def frequency(self) -> str:
        return "in every case" if self.always else f"in {self.failed} of {self.cases} cases"


@dataclass(frozen=True)
class CallError:
    """The user's function raised: the exception, its traceback and the smallest input."""

    function: str
    exception: BaseException
    traceback: str
    example: Case
    failed: int
    cases: int

    def frequency(self) -> str:
        return (
            "in every case"
            if self.failed == self.cases
            else (f"in {self.failed} of {self.cases} cases")
        )


def first_call_error(
    explored: list[Any], minimal: Any, smallest: Callable[..., Any]
) -> CallError | None:
    """The user's function raised on some cases: the error of the smallest such case.

    `minimal` is the smallest failing case; `smallest(predicate, explored)` picks the
    smallest case a predicate holds for. None when no call raised.
    """
    raised = [o for o in explored if o.error]
    if not raised:
        return None
    first = minimal if minimal.error else smallest(lambda o: bool(o.error), explored)
    which, exc, tb = first.error
    return CallError(which, exc, tb, first.case, len(raised), len(explored))


@dataclass
class Report:
    """The result of a check; `str(report)` is the diagnosis.

    `ok` judges the gradients (and AL) only: a function that returns the right gradients
    and also changes its inputs in place passes, and `warnings` says what it changed.
    """

    layer_dims: list[int]
    activations: list[str]
    loss: str
    cases: int
    mismatches: dict[str, Mismatch] = field(default_factory=dict)
    matched: list[str] = field(default_factory=list)
    modified_inputs: list[str] = field(default_factory=list)
    modified_example: Case | None = None
    error: CallError | None = None
    explanation: str | None = None
    title: str = ""
    returned: str | None = None
    received_keys: list[str] = field(default_factory=list)
    what: str = "gradients"
    against: str = "autodiff"
    depth: int = 0  # number of layers, for the layer-by-layer summary (0: names only)

    @property
    def ok(self) -> bool:
        """True when every gradient (and AL) matched and nothing raised."""
        return not self.mismatches and self.error is None

    @property
    def warnings(self) -> list[str]:
        """Things that do not change the verdict but will bite in a training loop."""
        if not self.modified_inputs:
            return []
        return [
            f"Warning: the function changed its inputs in place: "
            f"{', '.join(self.modified_inputs)} differed after the call. The check works on "
            "copies, so the verdict stands, but a training loop that calls this function "
            "sees changed arrays."
        ]

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return self.render()

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython's text display
        printer.text(self.render())

    def _repr_html_(self) -> str:  # Jupyter's rich display: the same text, preformatted
        return f"<pre>{html.escape(self.render())}</pre>"

    def render(self, shell: bool = False) -> str:
        """The diagnosis; `shell=True` for a command line (no Python names, arrays shown)."""
        title = self.title or _default_title(self)
        lines = [f"{title}, {self.cases} cases."]
        if self.ok:
            verb = "agrees" if len(self.matched) == 1 else "agree"
            lines.append(
                f"All {self.what} match: {', '.join(self.matched)} {verb} with {self.against} in "
                "every case."
            )
            return "\n".join(lines + self.warnings)
        if self.returned is not None:
            lines.append(f"grads_fn {returned_cause(self.returned)} Nothing was compared.")
        if self.error is not None:
            lines += _error_lines(self.error, shell)
        lines += self.warnings
        grads = {k: v for k, v in self.mismatches.items() if k != "AL"}
        if grads and self.returned is None:
            causes = {m.cause for m in grads.values()}
            shared = causes.pop() if len(causes) == 1 and not self.explanation else None
            L = self.depth or len(self.activations)
            lines.append(_summary(grads, L, shared, self.matched))
        if self.received_keys:
            lines.append(_keys_line(self.received_keys, list(grads)))
        if "AL" in self.mismatches:
            al = self.mismatches["AL"]
            because = f" ({describe(al.cause)})" if al.cause else ""
            lines.append(f"The forward output AL is wrong {al.frequency()}{because}.")
        if self.returned is None:
            lines += _cause_lines(self, grads)
        if self.mismatches:
            lines.append(_table(self.mismatches, self.what))
            first = _first(self.mismatches, self.depth or len(self.activations))
            lines += _example_lines(first, shell)
        return "\n".join(lines)


def _default_title(report: Report) -> str:
    dims = "-".join(map(str, report.layer_dims))
    return f"Backprop check: layers {dims} ({', '.join(report.activations)}), loss {report.loss}"


def _keys_line(keys: list[str], wanted: list[str]) -> str:
    lower = {k.lower(): k for k in keys}
    near = [f"{lower[w.lower()]} for {w}" for w in wanted if w not in keys and w.lower() in lower]
    text = f"grads_fn returned the keys {', '.join(keys) or '(none)'}."
    if near:
        text += f" Names are case-sensitive: {', '.join(near)}?"
    return text


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _example_lines(first: Mismatch, shell: bool = False) -> list[str]:
    case, key = first.example, f"report.mismatches[{first.name!r}].example"
    what = "the arrays" if hasattr(case, "arrays") else "X, Y and the parameters"
    where = "below" if shell else f"{key} holds {what}"
    lines = [f"Smallest failing case for {first.name}: m = {case.m}, drawn from seed {case.seed} "
             f"({where})."]  # fmt: skip
    true, received = first.expected, first.received
    try:
        mine = None if received is None else np.asarray(received, dtype=np.float64)
    except (TypeError, ValueError):
        mine = None
    if true is None:
        return lines
    if true.ndim == 0 and mine is not None and mine.size == 1:
        lines.append(
            f"    true {first.name} {float(true):.10g}, yours {float(mine.ravel()[0]):.10g}"
        )
        return lines + ([_indent(str(case))] if shell else [])
    if mine is None:
        lines.append(f"    true {first.name} has shape {true.shape}; yours is {received!r:.60}")
    elif mine.shape != true.shape:
        lines.append(f"    true {first.name} has shape {true.shape}; yours has shape {mine.shape}")
    elif true.size:
        diff = np.abs(mine - true)
        diff[np.isnan(diff)] = np.inf
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        index = ", ".join(map(str, worst))
        lines.append(
            f"    worst entry {first.name}[{index}]: true {true[worst]:.6g}, "
            f"yours {mine[worst]:.6g}"
        )
    if shell:
        lines.append(_indent(str(case)))
    return lines


def _error_lines(error: CallError, shell: bool = False) -> list[str]:
    what = "the arrays" if hasattr(error.example, "arrays") else "X, Y and the parameters"
    where = "shown below" if shell else f"report.error.example holds {what}"
    lines = [
        f"{error.function} raised {type(error.exception).__name__}: {error.exception} "
        f"({error.frequency()}).",
        f"Smallest input that makes it raise: m = {error.example.m}, drawn from seed "
        f"{error.example.seed} ({where}).",
        "Traceback:",
        _indent(error.traceback.rstrip()),
    ]
    return lines + ([_indent(str(error.example))] if shell else [])


def _layer(name: str) -> int:
    return int(name[2:])


def _layered(names) -> bool:
    return all(is_layer_name(n[1:]) and n[0] == "d" for n in names)


def _first(mismatches: dict[str, Mismatch], L: int) -> Mismatch:
    grads = [m for k, m in mismatches.items() if k != "AL"]
    if not grads:
        return mismatches["AL"]
    if not _layered(m.name for m in grads) or not L:
        return grads[0]
    return max(grads, key=lambda m: (_layer(m.name), m.name.startswith("dW")))


def _pair(dW: Mismatch | None, db: Mismatch | None, layer: int) -> str:
    if dW and db:
        if dW.frequency() == db.frequency():
            return f"dW{layer} is wrong {dW.frequency()}, db{layer} too"
        return f"dW{layer} is wrong {dW.frequency()}, db{layer} {db.frequency()}"
    only = dW or db
    other = f"db{layer}" if dW else f"dW{layer}"
    return f"{only.name} is wrong {only.frequency()} ({other} matches)"


def _flat_summary(grads: dict[str, Mismatch], matched: Sequence[str]) -> str:
    by_frequency: dict[str, list[str]] = {}
    for m in grads.values():
        by_frequency.setdefault(m.frequency(), []).append(m.name)
    parts = [
        f"{_join(names)} {'is' if len(names) == 1 else 'are'} wrong {frequency}"
        for frequency, names in by_frequency.items()
    ]
    if not matched:
        return "; ".join(parts) + "."
    verb = "matches" if len(matched) == 1 else "match"
    return "; ".join(parts) + f"; {_join(list(matched))} {verb}."


def _summary(
    grads: dict[str, Mismatch], L: int, shared: str | None, matched: Sequence[str] = ()
) -> str:
    if not L or not _layered(grads):
        return _flat_summary(grads, matched)
    top = max(_layer(k) for k in grads)
    text = _pair(grads.get(f"dW{top}"), grads.get(f"db{top}"), top)
    if top < L:
        above = f"dW{L} and db{L}" if top == L - 1 else f"layers {L} to {top + 1}"
        text = f"{above} match; " + text
    below = [f"{p}{i}" for i in range(top - 1, 0, -1) for p in ("dW", "db")]
    wrong = [n for n in below if n in grads]
    if not below:
        return text + "."
    if not wrong:
        return text + f"; dW{top - 1} and below match."
    if wrong == below and shared:
        return text + f"; so is every gradient below it, each with the same cause ({shared})."
    if wrong == below:
        return (
            text + f"; so is every gradient below it: an error in layer {top} propagates to "
            "every layer below it, so fix that layer first."
        )
    right = [n for n in below if n not in grads]
    verb = "is" if len(wrong) == 1 else "are"
    agree = "matches" if len(right) == 1 else "match"
    return text + f"; below it {_join(wrong)} {verb} wrong too, {_join(right)} {agree}."


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _cause_lines(report: Report, grads: dict[str, Mismatch]) -> list[str]:
    if report.explanation:
        return [f"Likely cause: {report.explanation}."]
    lines = []
    by_cause: dict[str, list[str]] = {}
    for name, m in grads.items():
        if m.cause:
            by_cause.setdefault(m.cause, []).append(name)
    for cause, names in by_cause.items():
        verb = "is" if len(names) == 1 else "are"
        lines.append(f"Likely cause: {_join(names)} {verb} {describe(cause)} ({cause}).")
    by_hint: dict[str, list[str]] = {}
    for name, m in grads.items():
        if m.hint:
            by_hint.setdefault(m.hint, []).append(name)
    for hint, names in by_hint.items():
        if len(names) > 1:
            hint = hint.replace("matches only", "match only").replace(" is the ", " are the ")
        lines.append(f"Note: {_join(names)} {hint}.")
    return lines


def _table(mismatches: dict[str, Mismatch], what: str = "gradients") -> str:
    rows = [f"    {'gradient' if what == 'gradients' else 'name':<8}  wrong in   max abs err  "
            "max rel err  cause"]  # fmt: skip
    for m in mismatches.values():
        rows.append(
            f"    {m.name:<8}  {f'{m.failed}/{m.cases}':<9}  {m.max_abs_error:<11.3g}  "
            f"{m.max_rel_error:<11.3g}  {m.cause or '-'}"
        )
    return "\n".join(rows)
