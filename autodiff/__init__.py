"""autodiff: a small, readable reverse-mode automatic differentiation engine on numpy.

>>> import autodiff as ad
>>> x = ad.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="x")
>>> y = ((x @ x.T).tanh() * 2 + 1).sum()
>>> y.backward()
>>> x.grad.shape
(2, 2)

Modules: `tensor` (the Tensor), `ops` (every op with its backward rule), `engine`
(the backward pass, `grad`), `mode` (no_grad, detect_anomaly), `gradcheck` (numerical
checks), `viz` (drawings through Graphviz), `strategies` (hypothesis strategies).
"""

from autodiff.compile import compile
from autodiff.engine import grad
from autodiff.gradcheck import GradcheckError, check_grads, gradcheck, numerical_grad
from autodiff.inplace import InplaceModificationError
from autodiff.mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad
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
from autodiff.tensor import Tensor

__all__ = [
    "GradcheckError",
    "InplaceModificationError",
    "Tensor",
    "abs",
    "add",
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
