"""Module, the base of every model, and the small modules without parameters.

A Module finds its parameters by walking its attributes (`vars(self)`, in insertion order),
recursing into sub-Modules, lists, tuples and dicts, and keeping the Tensors that require
grad: there is no registration step, so `self.W = Tensor(..., requires_grad=True)` is all
a custom layer needs. Parameter names are dotted paths (`"layers.0.W"`).

To write a module, subclass `Module` and define `forward`; call the instance, not
`forward`: the call enters `ad.scope(label)`, so drawings of the graph (`autodiff.viz`)
box the nodes each module made and name its parameters by their dotted paths.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import Tensor
from autodiff.trace import fresh

RESERVED_PREFIX = "__"  # keys of a saved file that are not parameters ("__architecture__")


class Module:
    """Base class of models and layers: parameters, train/eval mode, state dicts.

    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = Tensor([2.0], requires_grad=True)
    ...     def forward(self, x):
    ...         return x * self.w
    >>> m = Scale()
    >>> [name for name, _ in m.named_parameters()]
    ['w']
    >>> m(Tensor([3.0])).item()
    6.0
    """

    training: bool = True  # class defaults: subclasses need not call super().__init__()
    _label: str | None = None  # how drawings name this module's output (set on first call)
    _path: str | None = None  # dotted path inside the module first called (for messages)

    def forward(self, *inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *inputs: Any) -> Any:
        label = self._label
        if label is None:
            label = self._name_tree()
        # Nodes made inside record this scope: drawings box them under the module's
        # label and name the parameters by their dotted paths.
        with ad.scope(label, names=self.named_parameters):
            return self.forward(*inputs)

    def _name_tree(self) -> str:
        """Label every sub-module by its dotted path (parameters keep their own names)."""
        for path, module in self.named_modules():
            if path:
                module._path = path
                module._label = f"{path}: {module._summary()}"
        self._label = self._summary()
        return self._label

    # ---- walking the attributes ----

    def named_modules(self) -> Iterator[tuple[str, Module]]:
        """This module (name "") and every sub-module, with dotted names, each once."""
        seen: set[int] = set()
        yield from _walk_modules(self, "", seen)

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module, each once, in the order of `named_modules()`."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct sub-module, each once ("layers.0", "fc1", ...).

        Names are the attribute paths that parameter names start with, so the child
        named "layers.0" holds the parameters "layers.0.W" and "layers.0.b".

        >>> seq = Sequential(Tanh(), Sequential(ReLU()))
        >>> [name for name, _ in seq.named_children()]
        ['layers.0', 'layers.1']
        >>> [type(m).__name__ for m in seq.modules()]
        ['Sequential', 'Tanh', 'Sequential', 'ReLU']
        """
        seen = {id(self)}
        for key, value in vars(self).items():
            yield from _walk_children(value, key, seen)

    def children(self) -> Iterator[Module]:
        """The direct sub-modules, in the order of `named_children()`."""
        for _, module in self.named_children():
            yield module

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, Tensor) for every tensor that requires grad, each once."""
        seen: set[int] = set()
        for path, module in self.named_modules():
            prefix = path + "." if path else ""
            for key, value in vars(module).items():
                if not isinstance(value, Module):
                    yield from _walk_tensors(value, prefix + key, seen)

    def parameters(self) -> Iterator[Tensor]:
        """The tensors that require grad, in the order of `named_parameters()`.

        A generator, as in PyTorch: each call walks the model afresh, so
        `Adam(model.parameters())` and a second optimizer over `model.parameters()` each
        get every parameter. Keep `list(model.parameters())` to use the same list twice.
        """
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter."""
        for p in self.parameters():
            p.grad = None

    # ---- modes ----

    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) for this module and all sub-modules."""
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout is the identity); the same as `train(False)`."""
        return self.train(False)

    # ---- ad.compile protocol (autodiff/compile.py): modes, state, replayed calls ----

    __compile_effects__ = ("zero_grad",)

    def __compile_key__(self) -> tuple[bool, ...]:
        # The sub-modules and their tensors are listed once: a compiled step follows the
        # model's structure as it was recorded (as any tracing compiler does); what may
        # change is each module's mode and which tensors require grad (a frozen layer).
        listed = _COMPILE_MODULES.get(self)
        if listed is None:
            modules = [m for _, m in self.named_modules()]
            tensors = [t for m in modules for key, value in vars(m).items()
                       if not isinstance(value, Module)
                       for _, t in _found(value, key, Tensor)]  # fmt: skip
            listed = _COMPILE_MODULES[self] = (modules, tensors)
        modules, tensors = listed
        return tuple([m.training for m in modules] + [t.requires_grad for t in tensors])

    def __compile_state__(self) -> dict[str, Any]:
        state: dict[str, Any] = dict(self.named_parameters())
        for path, m in self.named_modules():
            rng = getattr(m, "rng", None)
            if isinstance(rng, np.random.Generator):
                state[f"{path}.rng" if path else "rng"] = rng
        return state

    # ---- state ----

    def state_dict(self, layout: str = "nn") -> dict[str, np.ndarray]:
        """Parameter name -> a copy of its values.

        `layout="torch"` gives the keys and layout of the equivalent
        `torch.nn.Sequential` of `Linear` and activation modules ("0.weight", "0.bias",
        "2.weight", ...: every module takes an index, activations included), for MLP,
        Dense and Sequential of built-in modules; see `nn.torch_layout`.
        """
        if layout == "torch":
            from nn.torch_layout import torch_state_dict

            return torch_state_dict(self)
        if layout != "nn":
            raise ValueError(f"state_dict: layout must be 'nn' or 'torch', got {layout!r}")
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], layout: str = "nn") -> None:
        """Copy values into the parameters; names and shapes must match exactly.

        `state` may be a dict or the result of `np.load(path)` on a saved file (keys
        starting with "__", such as the architecture, are ignored); with
        `layout="torch"`, a state dict in PyTorch's layout (`state_dict(layout="torch")`,
        or a `torch.nn.Sequential`'s `state_dict()` of CPU tensors). Float and integer
        values are cast to each parameter's dtype (as PyTorch's load does); other kinds
        (bool, complex, strings, objects) are refused. Everything is checked before
        anything changes: a `ValueError` names every missing, unexpected, mis-shaped or
        mis-typed entry and leaves the model as it was.
        """
        if layout == "torch":
            from nn.torch_layout import from_torch_keys

            state = from_torch_keys(self, state)
        elif layout != "nn":
            raise ValueError(f"load_state_dict: layout must be 'nn' or 'torch', got {layout!r}")
        params = dict(self.named_parameters())
        keys = [k for k in state.keys() if not k.startswith(RESERVED_PREFIX)]
        problems = _key_problems(list(params), keys)
        values = {}
        for name in keys:
            if name not in params:
                continue
            value = np.asarray(state[name])
            p = params[name]
            if value.shape != p.shape:
                problems.append(f"{name}: expected shape {p.shape}, got {value.shape}")
            elif value.dtype.kind not in "fiu":
                problems.append(f"{name}: expected numbers for {p.dtype}, got dtype {value.dtype}")
            else:
                values[name] = np.array(value, dtype=p.dtype)  # a private copy
        if problems:
            raise ValueError(
                f"load_state_dict into {self._summary()} failed; " + "; ".join(problems)
            )
        done: list[tuple[Tensor, np.ndarray]] = []
        try:
            for name, value in values.items():
                p = params[name]
                old = p.data
                p.data = value  # refused while a live graph needs p
                done.append((p, old))
        except BaseException:
            for p, old in reversed(done):  # put back what was changed: all or nothing
                p.data = old
            raise

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the parameters (and, for built-in modules, the architecture) to `.npz`.

        The write is atomic: a crash mid-save leaves any previous file intact. Returns the
        path written (".npz" is appended when missing, as numpy does).
        """
        from nn.serialize import save

        return save(self, path)

    def architecture(self) -> dict[str, Any] | None:
        """A JSON-able description to rebuild this module, or None when it has none."""
        return None

    # ---- text ----

    def extra_repr(self) -> str:
        """This module's own settings on one line (as in PyTorch); "" when it has none.

        Override it in a custom module to show its settings in `print(model)`.
        """
        return ""

    def _summary(self) -> str:
        """One line, without the children: how drawings label this module's box."""
        return f"{type(self).__name__}({self.extra_repr()})"

    def __repr__(self) -> str:
        """A tree as PyTorch prints it: settings, then each child as `(name): repr`.

        >>> class Net(Module):
        ...     def __init__(self):
        ...         self.hidden = Tanh()
        ...         self.out = Sigmoid()
        >>> print(Net())
        Net(
          (hidden): Tanh()
          (out): Sigmoid()
        )
        """
        if id(self) in _printing:  # a module that contains itself: no endless text
            return f"{type(self).__name__}(...)"
        _printing.add(id(self))
        try:
            extra = self.extra_repr()
            lines = [f"({name}): {child!r}" for name, child in self.named_children()]
        finally:
            _printing.discard(id(self))
        if not lines:
            return self._summary()
        body = ([extra] if extra else []) + lines
        return f"{type(self).__name__}(\n  " + "\n".join(body).replace("\n", "\n  ") + "\n)"


def _key_problems(expected: list[str], keys: list[str]) -> list[str]:
    """Missing and unexpected names, with a hint when the keys are PyTorch's layout."""
    missing = [k for k in expected if k not in keys]
    unexpected = [k for k in keys if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing parameters: {', '.join(missing)}")
    if unexpected:
        hint = ""
        if all(k.rsplit(".", 1)[-1] in ("weight", "bias") for k in unexpected):
            hint = " (PyTorch's layout: use nn.MLP.from_state_dict(state) to build a model)"
        problems.append(f"unexpected parameters: {', '.join(unexpected)}{hint}")
    if missing or unexpected:
        problems.append(f"received: {', '.join(keys) or 'no parameters'}")
    return problems


_printing: set[int] = set()  # ids of the modules whose repr is being built


def _found(value: Any, path: str, kind: type) -> Iterator[tuple[str, Any]]:
    """(dotted path, item) for every `kind` inside an attribute's value.

    Looks into lists, tuples and dicts (index or key joins the path), not into the
    items found: the one walk behind modules, children and parameters.
    """
    if isinstance(value, kind):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _found(item, f"{path}.{i}", kind)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _found(item, f"{path}.{key}", kind)


def _walk_children(value: Any, path: str, seen: set[int]) -> Iterator[tuple[str, Module]]:
    """The Modules inside an attribute's value, each once, not looking inside them."""
    for where, module in _found(value, path, Module):
        if id(module) not in seen:
            seen.add(id(module))
            yield where, module


def _walk_modules(module: Module, path: str, seen: set[int]) -> Iterator[tuple[str, Module]]:
    """`module` and every Module below it, each once, with dotted paths."""
    if id(module) in seen:
        return
    seen.add(id(module))
    yield path, module
    prefix = path + "." if path else ""
    for key, value in vars(module).items():
        for where, child in _found(value, prefix + key, Module):
            yield from _walk_modules(child, where, seen)


_COMPILE_MODULES: weakref.WeakKeyDictionary[Module, tuple[list[Module], list[Tensor]]] = (
    weakref.WeakKeyDictionary()
)


def _walk_tensors(value: Any, path: str, seen: set[int]) -> Iterator[tuple[str, Tensor]]:
    """Tensors requiring grad inside `value`, stopping at Modules (walked on their own)."""
    for where, t in _found(value, path, Tensor):
        if t.requires_grad and id(t) not in seen:
            seen.add(id(t))
            yield where, t


# ---- activations by name ----


def _identity(x: Any) -> Any:
    return x


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor] | None] = {
    "relu": ad.relu,
    "tanh": ad.tanh,
    "sigmoid": ad.sigmoid,
    "leaky_relu": ad.leaky_relu,
    "softmax": ad.softmax,
    "identity": None,
}
RELU_FAMILY = ("relu", "leaky_relu")


def activation_fn(name: str | None) -> Callable[[Tensor], Tensor] | None:
    """The op for an activation name (None and "identity" give None: no op at all)."""
    if name is None:
        return None
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(map(repr, ACTIVATIONS))}"
        ) from None


# ---- modules without parameters ----


class Sequential(Module):
    """Modules applied one after the other; `layers` holds them (names "layers.0.W")."""

    def __init__(self, *modules: Module) -> None:
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
        self.layers = list(modules)

    def forward(self, x: Any) -> Any:
        for module in self.layers:
            x = module(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def architecture(self) -> dict[str, Any] | None:
        if type(self) is not Sequential:
            return None
        parts = [m.architecture() for m in self.layers]
        if any(p is None for p in parts):
            return None
        return {"type": "Sequential", "modules": parts}


class Dropout(Module):
    """Inverted dropout: zero each input with probability `p`, scale the rest by 1/(1-p).

    The identity in eval mode, so nothing changes at test time. `seed` makes the masks
    reproducible.

    >>> d = Dropout(0.5, seed=0).eval()
    >>> d(Tensor([1.0, 2.0])).data
    array([1., 2.])
    """

    def __init__(self, p: float = 0.5, *, seed: int | None = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = np.random.default_rng(seed)

    def _draw_mask(self, shape: tuple[int, ...]) -> np.ndarray:
        """Which elements to keep (True) for one forward pass."""
        return self.rng.random(shape) >= self.p

    def forward(self, x: Any) -> Any:
        if not self.training or self.p == 0.0:
            return x
        if not isinstance(x, Tensor):
            x = Tensor(x)
        # drawn through `fresh`, so a compiled step draws a new mask on every call
        return ad.mul(x, fresh(self._scaled_mask, x.shape, x.dtype))

    def _scaled_mask(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        keep = np.asarray(self._draw_mask(shape), dtype=dtype)
        return keep * (1.0 / (1.0 - self.p))

    def architecture(self) -> dict[str, Any] | None:
        return {"type": "Dropout", "p": self.p} if type(self) is Dropout else None

    def extra_repr(self) -> str:
        return f"{self.p:g}"


class _Activation(Module):
    _fn: Callable[[Tensor], Tensor]

    def forward(self, x: Any) -> Tensor:
        return type(self)._fn(x)

    def architecture(self) -> dict[str, Any] | None:
        return {"type": type(self).__name__} if type(self) in _BUILTIN_ACTIVATIONS else None


class ReLU(_Activation):
    """max(x, 0) elementwise."""

    _fn = staticmethod(ad.relu)


class Tanh(_Activation):
    """tanh(x) elementwise."""

    _fn = staticmethod(ad.tanh)


class Sigmoid(_Activation):
    """1 / (1 + e**-x) elementwise."""

    _fn = staticmethod(ad.sigmoid)


class Identity(_Activation):
    """Returns its input unchanged."""

    _fn = staticmethod(_identity)


class LeakyReLU(_Activation):
    """x where x > 0, else slope * x."""

    def __init__(self, slope: float = 0.01) -> None:
        self.slope = float(slope)

    def forward(self, x: Any) -> Tensor:
        return ad.leaky_relu(x, self.slope)

    def architecture(self) -> dict[str, Any] | None:
        return {"type": "LeakyReLU", "slope": self.slope} if type(self) is LeakyReLU else None

    def extra_repr(self) -> str:
        return f"{self.slope:g}"


class Softmax(_Activation):
    """exp(x) / sum(exp(x)) along `axis` (default: the last)."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = int(axis)

    def forward(self, x: Any) -> Tensor:
        return ad.softmax(x, self.axis)

    def architecture(self) -> dict[str, Any] | None:
        return {"type": "Softmax", "axis": self.axis} if type(self) is Softmax else None

    def extra_repr(self) -> str:
        return f"axis={self.axis}" if self.axis != -1 else ""


_BUILTIN_ACTIVATIONS = (ReLU, Tanh, Sigmoid, Identity, LeakyReLU, Softmax)
