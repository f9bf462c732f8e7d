"""What the checker found, and how it reads as a diagnosis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nn.verify.cases import Case
from nn.verify.diagnose import describe


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


@dataclass
class Report:
    """The result of `check_backprop`; `str(report)` is the diagnosis."""

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

    @property
    def ok(self) -> bool:
        """True when every gradient (and AL) matched, nothing raised, no input changed."""
        return not self.mismatches and self.error is None and not self.modified_inputs

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        dims = "-".join(map(str, self.layer_dims))
        lines = [
            f"Backprop check: layers {dims} ({', '.join(self.activations)}), loss {self.loss}, "
            f"{self.cases} cases."
        ]
        if self.ok:
            lines.append(
                f"All gradients match: {', '.join(self.matched)} agree with autodiff in every case."
            )
            return "\n".join(lines)
        if self.error is not None:
            lines += _error_lines(self.error)
        if self.modified_inputs:
            lines.append(
                f"The function changed its inputs in place: {', '.join(self.modified_inputs)} "
                "differed after the call. The check works on copies, so its reference is "
                "intact, but a training loop that calls this function is not."
            )
        grads = {k: v for k, v in self.mismatches.items() if k != "AL"}
        if grads:
            causes = {m.cause for m in grads.values()}
            shared = causes.pop() if len(causes) == 1 and not self.explanation else None
            lines.append(_summary(grads, len(self.activations), shared))
        if "AL" in self.mismatches:
            al = self.mismatches["AL"]
            because = f" ({describe(al.cause)})" if al.cause else ""
            lines.append(f"The forward output AL is wrong {al.frequency()}{because}.")
        lines += _cause_lines(self, grads)
        if self.mismatches:
            lines.append(_table(self.mismatches))
            first = _first(self.mismatches, len(self.activations))
            lines += _example_lines(first)
        elif self.modified_example is not None:
            case = self.modified_example
            lines.append(
                f"Smallest case whose inputs were changed: m = {case.m}, drawn from seed "
                f"{case.seed} (report.modified_example holds the arrays)."
            )
        return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _example_lines(first: Mismatch) -> list[str]:
    case, key = first.example, f"report.mismatches[{first.name!r}].example"
    lines = [
        f"Smallest failing case for {first.name}: m = {case.m}, drawn from seed {case.seed} "
        f"({key} holds X, Y and the parameters)."
    ]
    true, received = first.expected, first.received
    try:
        mine = None if received is None else np.asarray(received, dtype=np.float64)
    except (TypeError, ValueError):
        mine = None
    if true is None:
        return lines
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
    return lines


def _error_lines(error: CallError) -> list[str]:
    return [
        f"{error.function} raised {type(error.exception).__name__}: {error.exception} "
        f"({error.frequency()}).",
        f"Smallest input that makes it raise: m = {error.example.m}, drawn from seed "
        f"{error.example.seed} (report.error.example holds X, Y and the parameters).",
        "Traceback:",
        _indent(error.traceback.rstrip()),
    ]


def _layer(name: str) -> int:
    return int(name[2:])


def _first(mismatches: dict[str, Mismatch], L: int) -> Mismatch:
    grads = [m for k, m in mismatches.items() if k != "AL"]
    if not grads:
        return mismatches["AL"]
    return max(grads, key=lambda m: (_layer(m.name), m.name.startswith("dW")))


def _pair(dW: Mismatch | None, db: Mismatch | None, layer: int) -> str:
    if dW and db:
        if dW.frequency() == db.frequency():
            return f"dW{layer} is wrong {dW.frequency()}, db{layer} too"
        return f"dW{layer} is wrong {dW.frequency()}, db{layer} {db.frequency()}"
    only = dW or db
    other = f"db{layer}" if dW else f"dW{layer}"
    return f"{only.name} is wrong {only.frequency()} ({other} matches)"


def _summary(grads: dict[str, Mismatch], L: int, shared: str | None) -> str:
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


def _table(mismatches: dict[str, Mismatch]) -> str:
    rows = ["    gradient  wrong in   max abs err  max rel err  cause"]
    for m in mismatches.values():
        rows.append(
            f"    {m.name:<8}  {f'{m.failed}/{m.cases}':<9}  {m.max_abs_error:<11.3g}  "
            f"{m.max_rel_error:<11.3g}  {m.cause or '-'}"
        )
    return "\n".join(rows)
