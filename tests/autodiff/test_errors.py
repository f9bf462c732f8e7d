"""Error messages: shape mismatches, backward without `grad`, refused dtypes, and
detect_anomaly pointing at the op and the line of user code that made it."""

from __future__ import annotations

import inspect
import threading

import numpy as np
import pytest

import autodiff as ad
from autodiff import Tensor


def _here() -> str:
    """`file:line` of the caller's next line."""
    frame = inspect.currentframe().f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno + 1}"


# ---- shape mismatches: ValueError naming the op and both shapes ----

A23, B43 = np.ones((2, 3)), np.ones((4, 3))


@pytest.mark.parametrize(
    ("op", "call"),
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a**b),
        ("maximum", ad.maximum),
        ("minimum", ad.minimum),
        ("where", lambda a, b: ad.where(np.ones((2, 3), bool), a, b)),
    ],
)
@pytest.mark.parametrize("tensor_side", ["both", "left", "right"])
def test_elementwise_shape_mismatch_names_op_and_both_shapes(op, call, tensor_side):
    a = Tensor(A23, requires_grad=True) if tensor_side in ("both", "left") else A23
    b = Tensor(B43, requires_grad=True) if tensor_side in ("both", "right") else B43
    with pytest.raises(ValueError) as info:
        call(a, b)
    message = str(info.value)
    assert message.startswith(op), message
    assert "(2, 3)" in message and "(4, 3)" in message, message


def test_matmul_shape_errors():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 3\)"):
        a @ np.ones((4, 3))
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(2,\)"):
        a @ np.ones(2)
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(\)"):
        a @ Tensor(2.0)
    with pytest.raises(ValueError, match=r"matmul.*\(2, 2, 3\).*\(4, 3, 1\)"):
        Tensor(np.ones((2, 2, 3))) @ np.ones((4, 3, 1))


def test_linear_shape_errors():
    with pytest.raises(ValueError, match=r"linear.*\(5, 3\).*\(4, 2\)"):
        ad.linear(np.ones((5, 3)), Tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match=r"linear.*bias.*\(3,\).*\(4, 2\)"):
        ad.linear(np.ones((5, 2)), Tensor(np.ones((4, 2))), np.ones(3))


def test_shape_op_errors():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"broadcast_to.*\(2, 3\).*\(4, 3\)"):
        x.broadcast_to((4, 3))
    with pytest.raises(ValueError, match=r"transpose.*\(2, 3\)"):
        x.transpose(0, 0)
    with pytest.raises(ValueError, match=r"concatenate.*\(2, 3\), \(2, 4\)"):
        ad.concatenate([x, np.ones((2, 4))], axis=0)
    with pytest.raises(ValueError, match=r"stack.*\(2, 3\), \(3, 2\)"):
        ad.stack([x, np.ones((3, 2))])
    with pytest.raises(ValueError, match="axis 2 is out of bounds.*2 dimensions"):
        x.sum(axis=2)
    with pytest.raises(IndexError, match=r"getitem.*\(2, 3\)"):
        x[5]


def test_backward_on_non_scalar_says_what_to_pass():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError) as info:
        y.backward()
    message = str(info.value)
    assert "(2, 3)" in message and "grad" in message and ".sum().backward()" in message


def test_backward_grad_of_wrong_shape_names_both_shapes():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))


def test_grad_errors():
    x = Tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="inputs\\[0\\] does not require grad"):
        ad.grad(x * 2, Tensor(1.0))
    with pytest.raises(RuntimeError, match="outputs\\[0\\] does not require grad"):
        ad.grad(Tensor(1.0), x)
    with pytest.raises(TypeError, match="must be a Tensor"):
        ad.grad(x * 2, [np.ones(1)])


def test_dtype_errors_say_what_is_wrong():
    with pytest.raises(TypeError, match="complex numbers are not supported"):
        Tensor(np.ones(2, complex))
    with pytest.raises(TypeError, match="real numbers.*object"):
        Tensor([1.0, None])
    with pytest.raises(TypeError, match="real numbers"):
        Tensor("abc")


# ---- detect_anomaly ----


def test_anomaly_in_forward_names_op_and_line():
    x = Tensor([1.0, -1.0], requires_grad=True)
    with ad.detect_anomaly(), pytest.raises(FloatingPointError) as info, np.errstate(all="ignore"):
        where = _here()
        x.log()
    message = str(info.value)
    assert "'log'" in message and "NaN" in message
    assert where in message, (where, message)


def test_anomaly_in_backward_names_op_and_line_of_creation():
    x = Tensor([0.0, 4.0], requires_grad=True)
    with ad.detect_anomaly():
        where = _here()
        y = x.sqrt()  # fine forward; d/dx at 0 is inf
        loss = (y * 2).sum()
        with pytest.raises(FloatingPointError) as info, np.errstate(all="ignore"):
            loss.backward()
    message = str(info.value)
    assert "'sqrt'" in message and "inf" in message and "backward" in message
    assert where in message, (where, message)


def test_anomaly_check_inside_library_calls_points_at_user_line():
    x = Tensor([[1000.0, 1.0]], requires_grad=True)
    with ad.detect_anomaly(), pytest.raises(FloatingPointError) as info, np.errstate(all="ignore"):
        where = _here()
        ad.linear(x, Tensor([[1.0, 0.0]])).exp()
    assert "'exp'" in str(info.value) and where in str(info.value)


def test_without_detect_anomaly_nan_passes_silently():
    x = Tensor([-1.0], requires_grad=True)
    with np.errstate(all="ignore"):
        y = x.log()
    assert np.isnan(y.data).all()


def test_detect_anomaly_is_thread_local():
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with np.errstate(all="ignore"):
                Tensor([-1.0], requires_grad=True).log()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    with ad.detect_anomaly():
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(5)
    assert errors == []


def test_detect_anomaly_restores_state():
    with ad.detect_anomaly():
        pass
    with np.errstate(all="ignore"):
        Tensor([-1.0], requires_grad=True).log()  # no error outside
