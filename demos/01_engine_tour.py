"""A tour of the autodiff engine in four short stops.

1. A scalar graph (the micrograd README expression): backward, and each gradient
   checked against central differences (`ad.numerical_grad`).
2. A tensor graph (a small two-layer network with broadcasting): gradients of every
   parameter, again checked against central differences.
3. Second derivatives: `ad.grad(..., create_graph=True)` twice, against the hand formula.
4. Safety: a derivative helper that overwrites cached activations is stopped with an
   error naming the tensor, instead of giving silently wrong gradients.

Run: python demos/01_engine_tour.py   (a second or two; prints what it shows)
"""

import time

import numpy as np

import autodiff as ad
from autodiff import Tensor


def worst_difference(autodiff_grads, numeric_grads):
    return max(
        float(np.max(np.abs(a - n))) for a, n in zip(autodiff_grads, numeric_grads, strict=True)
    )


def scalar_graph(a, b):
    """The expression of micrograd's README, written with 0-d Tensors."""
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    return g + 10.0 / f


def stop_1_scalar_graph():
    print("1. A scalar graph (micrograd's README example)")
    a = Tensor(-4.0, requires_grad=True, name="a")
    b = Tensor(2.0, requires_grad=True, name="b")
    g = scalar_graph(a, b)
    g.backward()
    print(f"   g = {g.item():.4f}   dg/da = {a.grad.item():.4f}   dg/db = {b.grad.item():.4f}")
    print("   (micrograd prints 24.7041, 138.8338, 645.5773)")
    numeric = ad.numerical_grad(scalar_graph, [a.data, b.data])
    print(f"   central differences: dg/da = {numeric[0]:.4f}   dg/db = {numeric[1]:.4f}")
    worst = worst_difference([a.grad, b.grad], numeric)
    print(f"   largest difference: {worst:.1e}")
    assert worst < 1e-4


def stop_2_tensor_graph():
    print("\n2. A tensor graph: a 3-4-2 network, tanh hidden layer, softmax cross-entropy")
    rng = np.random.default_rng(0)
    X = Tensor(rng.standard_normal((5, 3)), name="X")  # 5 samples (rows), 3 features
    labels = np.array([0, 1, 1, 0, 1])
    params = {
        "W1": Tensor(rng.standard_normal((4, 3)) * 0.5, requires_grad=True, name="W1"),
        "b1": Tensor(np.zeros(4), requires_grad=True, name="b1"),
        "W2": Tensor(rng.standard_normal((2, 4)) * 0.5, requires_grad=True, name="W2"),
        "b2": Tensor(np.zeros(2), requires_grad=True, name="b2"),
    }

    def loss_fn(W1, b1, W2, b2):
        hidden = (X @ W1.T + b1).tanh()  # b1 broadcasts over the 5 rows
        log_probs = (hidden @ W2.T + b2).log_softmax(axis=1)
        return -log_probs[np.arange(5), labels].mean()

    loss = loss_fn(**params)
    loss.backward()
    print(f"   loss = {loss.item():.6f}")
    numeric = ad.numerical_grad(loss_fn, [p.data for p in params.values()])
    for (name, p), n in zip(params.items(), numeric, strict=True):
        diff = float(np.max(np.abs(p.grad - n)))
        print(f"   d loss/d {name}: shape {p.grad.shape}, |grad| max {np.abs(p.grad).max():.4f}, "
              f"differs from central differences by {diff:.1e}")  # fmt: skip
    assert worst_difference([p.grad for p in params.values()], numeric) < 1e-6
    print("   db1 sums over the batch because b1 was broadcast to the 5 rows:")
    print(f"   {params['b1'].grad.round(4)}")


def stop_3_second_derivatives():
    print("\n3. Second derivatives with create_graph=True")
    x = Tensor([-1.0, 0.0, 0.5, 2.0], requires_grad=True)
    (dy,) = ad.grad(x.tanh().sum(), x, create_graph=True)
    (d2y,) = ad.grad(dy.sum(), x)
    t = np.tanh(x.data)
    print(f"   x               = {x.data}")
    print(f"   d tanh/dx       = {dy.data.round(6)}   (1 - tanh^2 = {(1 - t**2).round(6)})")
    print(f"   d2 tanh/dx2     = {d2y.data.round(6)}   (-2 tanh (1 - tanh^2) = "
          f"{(-2 * t * (1 - t**2)).round(6)})")  # fmt: skip
    assert np.allclose(d2y.data, -2 * t * (1 - t**2))


def stop_4_inplace_safety():
    print("\n4. In-place safety: a derivative helper that overwrites cached activations")

    def relu_deriv(z):
        z[z > 0] = 1
        z[z <= 0] = 0
        return z

    W = Tensor([[1.0, -2.0], [0.5, 1.5]], requires_grad=True, name="W")
    Z = Tensor([[1.0, 2.0]]) @ W.T
    Z.name = "Z1"
    loss = Z.relu().sum()
    try:
        relu_deriv(Z.data)
    except ad.InplaceModificationError as error:
        print(f"   refused: {str(error)[:96]}...")
    print(f"   relu_deriv(Z.data.copy()) works: {relu_deriv(Z.data.copy())}")
    loss.backward()
    print(f"   backward still gives the right dW: {W.grad.tolist()}")
    W.data -= 0.1 * W.grad  # after backward the graph is released: updates work
    print(f"   and an SGD step after backward is fine: W = {W.data.round(4).tolist()}")


def main():
    start = time.perf_counter()
    stop_1_scalar_graph()
    stop_2_tensor_graph()
    stop_3_second_derivatives()
    stop_4_inplace_safety()
    print(f"\nAll gradients match central differences ({time.perf_counter() - start:.2f} s).")


if __name__ == "__main__":
    main()
