"""autodiff: a small, readable reverse-mode automatic differentiation engine on numpy.

>>> import autodiff as ad
>>> x = ad.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="x")
>>> y = ((x @ x.T).tanh() * 2 + 1).sum()
>>> y.backward()
>>> x.grad.shape
(2, 2)

Modules: `tensor` (the Tensor), `ops` (every op as a primitive: forward and vjp rules),
`engine` (the backward pass, `grad`), `mode` (no_grad, enable_grad), `versions` (in-place
safety), `anomaly` (detect_anomaly, library frames), `scope` (`ad.scope`), `gradcheck`
(numerical checks), `viz` (drawings through Graphviz), `strategies` (hypothesis
strategies).
"""

from autodiff import anomaly
from autodiff.anomaly import detect_anomaly
from autodiff.engine import grad
from autodiff.gradcheck import GradcheckError, check_grads, gradcheck, numerical_grad
from autodiff.mode import enable_grad, is_grad_enabled, no_grad
from autodiff.ops import (
    abs,
    add,
    astype,
    broadcast_to,
    clip,
    concatenate,
    div,
    exp,
    getitem,
    leaky_relu,
    linear,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    where,
)
from autodiff.scope import scope
from autodiff.tensor import Tensor
from autodiff.versions import InplaceModificationError

# isort: off
from autodiff.compile import compile  # last: it builds on the modules above
# isort: on

__all__ = [
    "GradcheckError",
    "InplaceModificationError",
    "Tensor",
    "abs",
    "add",
    "anomaly",
    "astype",
    "broadcast_to",
    "check_grads",
    "clip",
    "compile",
    "concatenate",
    "detect_anomaly",
    "div",
    "enable_grad",
    "exp",
    "getitem",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "leaky_relu",
    "linear",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "neg",
    "no_grad",
    "numerical_grad",
    "pow",
    "relu",
    "reshape",
    "scope",
    "sigmoid",
    "softmax",
    "sqrt",
    "stack",
    "sub",
    "sum",
    "tanh",
    "transpose",
    "where",
]
