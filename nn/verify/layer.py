"""`check_layer`: one layer's hand-written backward, in the course form, against autodiff.

Kinds: `"linear_activation"` calls `backward_fn(dA, cache) -> (dA_prev, dW, db)` with
`cache = ((A_prev, W, b), Z)`; `"linear"` calls `backward_fn(dZ, (A_prev, W, b)) ->
(dA_prev, dW, db)`; `"activation"` calls `backward_fn(dA, Z) -> dZ`. A function that
also takes the activation's name (the course's `linear_activation_backward(dA, cache,
activation)`) gets it as a third argument. As in `nn.reference`, `dA`, `dZ` and
`dA_prev` are gradients of the summed per-example losses, and `dW`, `db` carry the 1/m.
The truth: autodiff's gradient of `sum(dA * g(W @ A_prev + b))` (or of `sum(dZ * Z)`),
with `dW` and `db` divided by m.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import Tensor
from nn.verify import diagnose, variants
from nn.verify.cases import ACTIVATIONS, KINK_MARGIN, SATURATION, activate, check_options, flip
from nn.verify.check import seeded
from nn.verify.report import Mismatch, Report, first_call_error
from nn.verify.search import Search

KINDS = ("linear_activation", "linear", "activation")
_SHAPE_LABELS = (
    "missing",
    "not an array",
    "transposed",
    "not summed over the batch",
    "summed without keepdims",
    "summed over the wrong axis",
    diagnose.BOTH_AXES,
    "float16",
    "not finite",
)
_BACKWARD_AT_Z = {  # another activation's course helper, g'(Z), used by mistake
    "relu": lambda Z, slope: (Z > 0).astype(float),
    "tanh": lambda Z, slope: 1 - np.tanh(Z) ** 2,
    "sigmoid": lambda Z, slope: 1 / (1 + np.exp(-Z)) * (1 - 1 / (1 + np.exp(-Z))),
    "leaky_relu": lambda Z, slope: np.where(Z > 0, 1.0, slope),
}
OUTPUTS = {"linear_activation": ("dA_prev", "dW", "db"), "linear": ("dA_prev", "dW", "db")}


@dataclass(frozen=True)
class LayerCase:
    """One drawn layer input: batch size, seed, and the arrays by name (user layout)."""

    m: int
    seed: int
    arrays: dict[str, np.ndarray]

    def __str__(self) -> str:
        with np.printoptions(precision=4, suppress=True, linewidth=88, threshold=60):
            lines = [f"m = {self.m} (drawn from seed {self.seed})"]
            return "\n".join(lines + [f"{k} =\n{v}" for k, v in self.arrays.items()])


@dataclass
class _Outcome:
    case: LayerCase
    true: dict[str, np.ndarray]
    columns: dict[str, np.ndarray]
    atol: float
    dtype: type
    received: dict[str, Any] | None = None
    returned: str | None = None
    wrong: list[str] = field(default_factory=list)
    error: tuple[str, BaseException, str] | None = None

    @property
    def failed(self) -> bool:
        return bool(self.wrong or self.error)

    def tol(self, name: str) -> float:
        return diagnose.tolerance(self.true[name], self.atol, self.dtype)


def _act(name: str, Z: Tensor, slope: float, axis: int) -> Tensor:
    if name == "relu":
        return Z.relu()
    if name == "leaky_relu":
        return Z.leaky_relu(slope)
    if name in ("tanh", "sigmoid"):
        return getattr(Z, name)()
    if name == "softmax":
        return Z.softmax(axis=axis)
    return Z


class _Layer:
    def __init__(self, kind, activation, slope, layout, dtype) -> None:
        self.kind, self.activation, self.slope = kind, activation, slope
        self.layout, self.dtype = layout, dtype
        self.names = list(OUTPUTS.get(kind, ("dZ",)))

    def user(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=self.dtype)
        return flip(a) if self.layout == "rows" else a

    def draw(self, m: int, seed: int) -> dict[str, np.ndarray]:
        """Course-layout float64 arrays (rounded to the dtype): A_prev, W, b, Z, dA / dZ."""
        rng = np.random.default_rng(seed)
        n_prev, n = (int(k) for k in rng.integers(1, 6, size=2))
        if self.activation == "softmax":
            n = max(n, 2)
        for _ in range(1000):
            A_prev = rng.standard_normal((n_prev, m))
            W = rng.standard_normal((n, n_prev)) / np.sqrt(n_prev)
            b = 0.5 * rng.standard_normal((n, 1))
            A_prev, W, b = (a.astype(self.dtype).astype(np.float64) for a in (A_prev, W, b))
            Z = W @ A_prev + b
            if self.kind == "activation":
                Z = rng.standard_normal((n, m)).astype(self.dtype).astype(np.float64)
            limit = SATURATION.get(self.activation)
            if self.kind == "linear" or (
                np.all(np.abs(Z) >= KINK_MARGIN) and (limit is None or np.all(np.abs(Z) <= limit))
            ):
                break
        up = rng.standard_normal((n, m)).astype(self.dtype).astype(np.float64)
        return {"A_prev": A_prev, "W": W, "b": b, "Z": Z, "up": up}

    def truth(self, c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The true outputs, course layout, float64."""
        m = c["Z"].shape[1]
        if self.kind == "activation":
            Z = Tensor(c["Z"], requires_grad=True)
            (g,) = ad.grad((_act(self.activation, Z, self.slope, 0) * c["up"]).sum(), [Z])
            return {"dZ": g.data}
        A_prev, W, b = (Tensor(c[k], requires_grad=True) for k in ("A_prev", "W", "b"))
        Z = W @ A_prev + b
        out = Z if self.kind == "linear" else _act(self.activation, Z, self.slope, 0)
        gA, gW, gb = ad.grad((out * c["up"]).sum(), [A_prev, W, b])
        return {"dA_prev": gA.data, "dW": gW.data / m, "db": gb.data / m}

    def arguments(self, c: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], tuple]:
        """(the arrays by name, the call's arguments), in the user's layout and dtype."""
        u = {k: self.user(v) for k, v in c.items()}
        up = "dZ" if self.kind == "linear" else "dA"
        if self.kind == "activation":
            return {"dA": u["up"], "Z": u["Z"]}, (u["up"].copy(), u["Z"].copy())
        shown = {up: u["up"], "A_prev": u["A_prev"], "W": u["W"], "b": u["b"]}
        linear = (u["A_prev"].copy(), u["W"].copy(), u["b"].copy())
        if self.kind == "linear":
            return shown, (u["up"].copy(), linear)
        shown["Z"] = u["Z"]
        return shown, (u["up"].copy(), (linear, u["Z"].copy()))

    def variants(self) -> Iterator[tuple[str, str, Callable[[dict], dict]]]:
        """(label, explanation, outputs in the course layout) for classic slips."""
        kind, act = self.kind, self.activation
        if kind != "linear":
            for key, (text, _) in variants.DERIVATIVES.items():
                if (
                    key == act
                    or key == "softmax"
                    or (key == "softmax elementwise") != (act == "softmax")
                ):
                    continue
                if act == "softmax" and key != "softmax elementwise":
                    continue
                label = variants._derivative_label(key, act)
                explain = (
                    f"the {act} derivative is computed as {text} instead of "
                    f"{variants.DERIVATIVES[act][0]}"
                )
                yield label, explain, self._with_dz(lambda c, key=key: self._dz(c, key))
            for other, derivative in _BACKWARD_AT_Z.items():
                if other != act and act not in ("identity", "softmax"):
                    yield (
                        f"{other}_backward used for a {act} layer",
                        f"dZ = dA * {other}'(Z): the {other} derivative where the {act} one "
                        f"belongs ({variants.DERIVATIVES[act][0]} with A = {act}(Z))",
                        self._with_dz(lambda c, d=derivative: c["up"] * d(c["Z"], self.slope)),
                    )
            if act != "softmax":
                yield (
                    "derivative applied to dA",
                    "the activation derivative is applied to the upstream gradient, g'(dA), "
                    "instead of dZ = dA * g'(Z)",
                    self._with_dz(lambda c: self._dz(c, act, at_upstream=True)),
                )
        if kind != "activation":
            yield (
                "W not transposed",
                "dA_prev = W @ dZ is missing the transpose (it runs only because W is square): "
                "dA_prev = W.T @ dZ",
                self._with_dz(lambda c: self._dz(c, act), transpose=False),
            )
        if kind == "linear_activation":
            yield (
                "db summed from dA",
                "db is summed from dA (the gradient of the activation) instead of dZ",
                self._with_dz(lambda c: self._dz(c, act), db_from="up"),
            )

    def _dz(self, c: dict, key: str, at_upstream: bool = False) -> np.ndarray:
        if self.kind == "linear":
            return c["up"]
        Z, slope = c["Z"], self.slope
        if at_upstream:
            return variants._derivative(key, c["up"], activate(key, c["up"], slope), slope)
        A = activate(self.activation, Z, slope)
        if key == "softmax":
            return variants._softmax_backward(c["up"], A)
        return c["up"] * variants._derivative(key, Z, A, slope)

    def _with_dz(self, dz_fn, transpose: bool = True, db_from: str = "dZ"):
        def outputs(c: dict) -> dict:
            dZ = dz_fn(c)
            if self.kind == "activation":
                return {"dZ": dZ}
            m, W = c["Z"].shape[1], c["W"]
            if not transpose and W.shape[0] != W.shape[1]:
                return {}
            return {
                "dA_prev": (W.T if transpose else W) @ dZ,
                "dW": dZ @ c["A_prev"].T / m,
                "db": np.sum(c["up"] if db_from == "up" else dZ, axis=1, keepdims=True) / m,
            }

        return outputs


def _takes_activation(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind(None, None, None)
    except (TypeError, ValueError):
        return False
    return True


def _as_outputs(result: Any, names: list[str]) -> tuple[dict[str, Any] | None, str | None]:
    """(received arrays by name, or None with what was returned instead)."""
    if result is None:
        return None, "None"
    if len(names) == 1:
        if isinstance(result, tuple | list) and len(result) == 1:
            result = result[0]
        return {names[0]: result}, None
    if isinstance(result, Mapping):
        return {k: result.get(k) for k in names}, None
    if isinstance(result, tuple | list) and len(result) == len(names):
        return dict(zip(names, result, strict=True)), None
    if isinstance(result, tuple | list):
        return None, f"{type(result).__name__} of {len(result)}"
    return None, type(result).__name__


def check_layer(
    backward_fn: Callable[..., Any],
    *,
    kind: str = "linear_activation",
    activation: str = "relu",
    slope: float = 0.01,
    layout: str = "columns",
    dtype: type = np.float64,
    max_examples: int = 100,
    seed: int | None = None,
) -> Report:
    """Check one layer's hand-written backward against autodiff on drawn cases.

    `kind="linear_activation"`: `backward_fn(dA, ((A_prev, W, b), Z)) -> (dA_prev, dW,
    db)`; `"linear"`: `backward_fn(dZ, (A_prev, W, b)) -> (dA_prev, dW, db)`;
    `"activation"`: `backward_fn(dA, Z) -> dZ`. Every returned array is compared,
    `dA_prev` included. Layer sizes (1 to 5 units) and the batch size (1 to 64) are
    drawn; with `layout="rows"` every array is transposed (`A_prev @ W + b`).

    >>> import numpy as np
    >>> def relu_backward(dA, Z):
    ...     return dA * (Z > 0)
    >>> check_layer(relu_backward, kind="activation", activation="relu", max_examples=10).ok
    True
    >>> def linear_backward(dZ, cache):
    ...     A_prev, W, b = cache
    ...     m = A_prev.shape[1]
    ...     return W.T @ dZ / m, dZ @ A_prev.T / m, dZ.sum(axis=1, keepdims=True) / m
    >>> report = check_layer(linear_backward, kind="linear", max_examples=10)
    >>> report.ok, report.mismatches["dA_prev"].cause
    (False, 'factor 1/m')
    """
    if not callable(backward_fn):
        raise TypeError(f"backward_fn must be callable, got {type(backward_fn).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {ACTIVATIONS}")
    kind_dtype = check_options(layout, dtype, 0.0, slope)
    layer = _Layer(kind, activation, float(slope), layout, kind_dtype)
    extra = (activation,) if kind != "activation" and _takes_activation(backward_fn) else ()

    def evaluate(m: int, case_seed: int) -> _Outcome:
        c = layer.draw(m, case_seed)
        true = {k: layer.user(v).astype(np.float64) for k, v in layer.truth(c).items()}
        shown, args = layer.arguments(c)
        out = _Outcome(
            LayerCase(m, case_seed, shown), true, c, diagnose.floor(true.values(), kind_dtype),
            kind_dtype,
        )  # fmt: skip
        try:
            with seeded(case_seed):
                result = backward_fn(*args, *extra)
        except Exception as exc:
            frames = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)
            out.error = ("backward_fn", exc, "".join(frames))
            return out
        out.received, out.returned = _as_outputs(result, layer.names)
        if out.received is not None:
            out.received = {k: _copy(v) for k, v in out.received.items()}
        out.wrong = [
            k
            for k in layer.names
            if out.received is None
            or not diagnose.close(diagnose.as_array(out.received[k]), true[k], out.tol(k))
        ]
        return out

    state = np.random.get_state()
    try:
        search = Search(evaluate, 64, max_examples, seed)
        explored = search.explore()
    finally:
        np.random.set_state(state)
    title = f"Layer check: {kind} backward" + (f", {activation}" if kind != "linear" else "")
    title += ", rows layout" if layout == "rows" else ""
    title += ", float32" if kind_dtype == np.float32 else ""
    try:
        return _report(layer, search, explored, title)
    finally:
        np.random.set_state(state)


def _copy(value: Any) -> Any:
    array = diagnose.as_array(value) if value is not None else None
    return value if array is None else array.copy()


def _report(layer: _Layer, search: Search, explored: list[_Outcome], title: str) -> Report:
    report = Report([], [], "", len(explored), title=title, what="arrays")
    failing = [o for o in explored if o.failed]
    if not failing:
        report.matched = list(layer.names)
        return report
    minimal = search.smallest(lambda o: o.failed, explored)
    report.error = first_call_error(explored, minimal, search.smallest)
    wrong = [n for n in layer.names if any(n in o.wrong for o in explored)]
    with_wrong = [o for o in explored if o.wrong]
    if not with_wrong:
        return report
    base = minimal if minimal.wrong else search.smallest(lambda o: bool(o.wrong), explored)
    analysed = [base] + [o for o in with_wrong if o is not base and o.received is not None][:4]
    usable = [o for o in analysed if o.received is not None]
    explained = _explain(layer, usable)
    if explained:
        report.explanation = explained[1]
    for name in wrong:
        fails = [o for o in explored if name in o.wrong]
        example = base if name in base.wrong else min(fails, key=lambda o: o.case.m)
        looked = [o for o in [example, *usable] if o.received is not None]
        common = diagnose.common(
            [
                diagnose.labels(
                    o.received[name],
                    o.true[name],
                    o.tol(name),
                    o.case.m,
                    o.columns["W"].shape[1],
                    o.columns["W"].shape[0],
                    layer.layout,
                )  # fmt: skip
                for o in looked
            ]
        )
        if example.returned:
            cause = f"returned {example.returned}: return ({', '.join(layer.names)})"
        else:
            specific = [c for c in common if c in _SHAPE_LABELS and c != "wrong shape"]
            cause = (specific or ([explained[0]] if explained else []) or common or [None])[0]
        errors = [
            diagnose.errors(
                diagnose.as_array((o.received or {}).get(name)) if o.received else None,
                o.true[name],
            )
            for o in fails
        ]
        report.mismatches[name] = Mismatch.over(
            name,
            errors,
            cause=cause,
            example=example.case,
            cases=len(explored),
            expected=example.true[name],
            received=(example.received or {}).get(name),
        )
    report.matched = [n for n in layer.names if n not in report.mismatches]
    return report


def _explain(layer: _Layer, usable: list[_Outcome]) -> tuple[str, str] | None:
    """The first classic slip that reproduces every returned array in every case."""
    if not usable:
        return None
    for label, explain, outputs in layer.variants():
        fits, differs = True, False
        for o in usable:
            got = {k: layer.user(v).astype(np.float64) for k, v in outputs(o.columns).items()}
            if not got:
                fits = False
                break
            for k in layer.names:
                r = diagnose.as_array(o.received.get(k))
                if r is None or r.shape != got[k].shape:
                    fits = False
                    break
                if not diagnose.close(r, got[k], o.tol(k)):
                    fits = False
                    break
                differs = differs or not diagnose.close(got[k], o.true[k], o.tol(k))
            if not fits:
                break
        if fits and differs:
            return label, explain
    return None
