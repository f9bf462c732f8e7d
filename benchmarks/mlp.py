"""MLP training step: nn against the hand-written numpy baseline (and PyTorch when installed).

Every system starts from the same weights (`numpy_mlp.init_weights`) and trains on the
same fixed batch with plain SGD: forward, loss, backward, update, gradients cleared.
Before timing, `check_agreement` compares every system's loss and gradients with the
numpy baseline's and raises if they differ, so the table never times a wrong step.
When `nn` is not importable yet, the engine itself (`ad.linear` and ops) stands in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.harness import Case
from benchmarks.numpy_mlp import Loss, NumpyMLP, PreallocatedMLP, init_weights, make_batch

LR = 0.01


@dataclass(frozen=True)
class Size:
    layers: tuple[int, ...]
    batch: int
    loss: Loss
    rounds: int

    @property
    def label(self) -> str:
        return f"[{','.join(map(str, self.layers))}] b{self.batch}"


SIZES = (
    Size((2, 16, 16, 1), 32, "bce", rounds=25),
    Size((2, 64, 64, 1), 128, "bce", rounds=25),
    Size((784, 128, 64, 10), 64, "ce", rounds=21),
    Size((784, 1024, 1024, 10), 256, "ce", rounds=15),
)


@dataclass
class System:
    """A system under test: `step` trains one step, `grads` returns (loss, [dW], [db])."""

    step: Callable[[], object]
    grads: Callable[[], tuple[float, list[np.ndarray], list[np.ndarray]]]


def nn_available() -> bool:
    """True once `nn` provides what the step needs (MLP, the losses, SGD)."""
    try:
        import nn
        import nn.optim

        return all(
            hasattr(nn, name) for name in ("MLP", "binary_cross_entropy", "cross_entropy")
        ) and hasattr(nn.optim, "SGD")
    except Exception:
        return False


def numpy_system(layers: list, size: Size, X: np.ndarray, y: np.ndarray) -> System:
    net = NumpyMLP(layers, size.loss, LR)
    return System(step=lambda: net.step(X, y), grads=lambda: net.loss_and_grads(X, y))


def nn_system(layers: list, size: Size, X: np.ndarray, y: np.ndarray) -> System:
    model, opt, loss_fn = _nn_model(layers, size)
    step = training_step(model, opt, loss_fn, X, y)

    def grads() -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        model.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        return (
            float(loss.item()),
            [layer.W.grad for layer in model.layers],
            [layer.b.grad for layer in model.layers],
        )

    return System(step, grads)


def compiled_system(layers: list, size: Size, X: np.ndarray, y: np.ndarray) -> System:
    """The nn step through `ad.compile`: recorded on the first call, replayed after."""
    import autodiff as ad
    import nn
    import nn.optim

    model, opt, loss_fn = _nn_model(layers, size)

    # The step returns its loss, as a training step does and as the numpy step computes
    # it: a step that returned nothing would let the plan drop the loss's forward.
    step = ad.compile(training_step(model, opt, loss_fn, X, y))

    @ad.compile
    def loss_and_grads() -> Any:
        model.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        return loss

    def grads() -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        for _ in range(3):  # recorded, checked, then replayed
            loss = loss_and_grads()
        return (
            float(loss.item()),
            [layer.W.grad for layer in model.layers],
            [layer.b.grad for layer in model.layers],
        )

    assert nn  # imported for the model
    return System(step, grads)


def training_step(model: Any, opt: Any, loss_fn: Any, X: Any, y: Any) -> Callable[[], Any]:
    """The nn training step every nn row times: forward, loss, backward, update."""

    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _nn_model(layers: list, size: Size) -> tuple[Any, Any, Any]:
    import nn
    import nn.optim

    output = "sigmoid" if size.loss == "bce" else None
    model = nn.MLP(list(size.layers), activation="relu", output=output, seed=0)
    for layer, (W, b) in zip(model.layers, layers, strict=True):
        layer.W.data = W.copy()
        layer.b.data = b.copy()
    opt = nn.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.binary_cross_entropy if size.loss == "bce" else nn.cross_entropy
    return model, opt, loss_fn


def preallocated_system(layers: list, size: Size, X: np.ndarray, y: np.ndarray) -> System:
    net = PreallocatedMLP(layers, size.loss, LR, size.batch)
    return System(step=lambda: net.step(X, y), grads=lambda: net.loss_and_grads(X, y))


def engine_system(layers: list, size: Size, X: np.ndarray, y: np.ndarray) -> System:
    """The same step written on the engine alone (used while `nn` is not ready)."""
    import autodiff as ad

    params = [(ad.Tensor(W.copy(), True), ad.Tensor(b.copy(), True)) for W, b in layers]
    flat = [p for pair in params for p in pair]
    m = X.shape[0]
    if size.loss == "ce":
        picks = np.zeros((m, size.layers[-1]), dtype=X.dtype)
        picks[np.arange(m), y] = -1.0 / m

    def loss_of() -> Any:
        a = X
        for i, (W, b) in enumerate(params):
            a = ad.linear(a, W, b)
            if i < len(params) - 1:
                a = a.relu()
        if size.loss == "bce":
            p = a.sigmoid()
            return (p.log() * (-y) + (1 - p).log() * (y - 1)).mean()
        return (a.log_softmax(axis=-1) * picks).sum()

    def step() -> None:
        for p in flat:
            p.grad = None
        loss_of().backward()
        for p in flat:
            p.data -= LR * p.grad

    def grads() -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        for p in flat:
            p.grad = None
        loss = loss_of()
        loss.backward()
        return float(loss.item()), [W.grad for W, _ in params], [b.grad for _, b in params]

    return System(step, grads)


def torch_system(layers: list, size: Size, X: np.ndarray, y: np.ndarray) -> System:
    import torch

    torch.set_num_threads(1)
    mods: list[Any] = []
    for i, (W, b) in enumerate(layers):
        lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if i < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    if size.loss == "bce":
        mods.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    F = torch.nn.functional
    loss_fn = F.binary_cross_entropy if size.loss == "bce" else F.cross_entropy

    def step() -> None:
        opt.zero_grad()
        loss = loss_fn(model(Xt), yt)
        loss.backward()
        opt.step()

    def grads() -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        opt.zero_grad()
        loss = loss_fn(model(Xt), yt)
        loss.backward()
        lins = [m for m in model if isinstance(m, torch.nn.Linear)]
        return (
            float(loss.item()),
            [m.weight.grad.numpy() for m in lins],
            [m.bias.grad.numpy() for m in lins],
        )

    return System(step, grads)


def _rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref)) / (np.max(np.abs(ref)) + 1e-30))


def check_agreement(systems: dict[str, System], reference: str, dtype: Any) -> float:
    """Raise unless every system's loss and gradients match the reference's; the worst error."""
    tol = 1e-6 if np.dtype(dtype) == np.float64 else 2e-3
    ref_loss, ref_dW, ref_db = systems[reference].grads()
    ref_arrays = [np.asarray(g, np.float64) for g in ref_dW + ref_db]
    worst = 0.0
    for name, system in systems.items():
        if name == reference:
            continue
        loss, dW, db = system.grads()
        if len(dW + db) != len(ref_arrays):
            raise AssertionError(f"{name} returned {len(dW + db)} gradients, not {len(ref_arrays)}")
        errors = [abs(loss - ref_loss) / max(abs(ref_loss), 1e-30)]
        errors += [_rel_err(g, r) for g, r in zip(dW + db, ref_arrays, strict=True)]
        if max(errors) > tol:
            raise AssertionError(
                f"{name} disagrees with {reference}: loss {loss} vs {ref_loss}, "
                f"relative errors {[f'{e:.2e}' for e in errors]}"
            )
        worst = max(worst, *errors)
    return worst


def make_cases(
    sizes: tuple[Size, ...] = SIZES,
    dtypes: tuple[type, ...] = (np.float64, np.float32),
    *,
    torch: bool = True,
) -> list[Case]:
    """One case per size and dtype: nn (or the bare engine), numpy, the nn step through
    `ad.compile`, the preallocated numpy step (the practical limit), torch when wanted."""
    makers: dict[str, Callable[..., System]] = {}
    makers["nn" if nn_available() else "engine"] = nn_system if nn_available() else engine_system
    makers["numpy"] = numpy_system
    if nn_available():
        makers["compiled"] = compiled_system
    makers["numpy prealloc"] = preallocated_system
    if torch:
        makers["torch"] = torch_system
    cases = []
    for size in sizes:
        for dtype in dtypes:
            layers = init_weights(list(size.layers), dtype)
            X, y = make_batch(list(size.layers), size.batch, size.loss, dtype)
            systems = {name: make(layers, size, X, y) for name, make in makers.items()}
            err = check_agreement(systems, "numpy", dtype)
            cases.append(
                Case(
                    name=f"mlp step {size.label} {np.dtype(dtype).name}",
                    group="mlp",
                    systems={name: s.step for name, s in systems.items()},
                    baseline="numpy",
                    unit="ms" if size.layers[0] > 100 else "us",
                    rounds=size.rounds,
                    note=f"loss and gradients agree (max rel. err {err:.1e})",
                )
            )
    return cases
