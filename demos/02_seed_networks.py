"""Two small networks on the two-moons data, built and trained with `nn`.

- a 4-layer tanh network with a sigmoid output (binary cross-entropy);
- a 2x10 relu network (two hidden layers of 10 units), also with a sigmoid output.

Prints the loss and accuracy as they train and the time per epoch; with matplotlib
installed it also writes the decision boundaries and loss curves to
demos/out/02_seed_networks.png.

Run: python demos/02_seed_networks.py
"""

import os
import time

import numpy as np

import autodiff as ad
import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def accuracy(model, X, y):
    model.eval()
    with ad.no_grad():
        return float(np.mean((model(X).data[:, 0] > 0.5) == y))


def train(name, model, X, y, epochs=150):
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    start = time.perf_counter()
    history = nn.fit(
        model, X, y, loss="bce", optimizer=opt, epochs=epochs, batch_size=64, progress=False,
        seed=0,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    print(f"\n{name}: {model}")
    for epoch in (0, 9, 49, epochs - 1):
        print(f"  epoch {epoch + 1:4d}  loss {history.loss[epoch]:.4f}  "
              f"accuracy {history.accuracy[epoch]:.3f}")  # fmt: skip
    print(f"  final training accuracy (eval mode): {accuracy(model, X, y):.3f}")
    print(f"  {seconds / epochs * 1000:.1f} ms per epoch ({len(X)} samples, batches of 64)")
    return history


def plot(models, histories, X, y):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\nmatplotlib is not installed: skipped the PNG (pip install matplotlib)")
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    xx, yy = np.meshgrid(np.linspace(-1.5, 2.5, 200), np.linspace(-1.0, 1.5, 200))
    grid = np.c_[xx.ravel(), yy.ravel()]
    for ax, (name, model) in zip(axes[:2], models.items(), strict=True):
        model.eval()
        with ad.no_grad():
            probs = model(grid).data.reshape(xx.shape)
        ax.contourf(xx, yy, probs, levels=20, cmap="RdBu", alpha=0.6)
        ax.contour(xx, yy, probs, levels=[0.5], colors="k")
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", edgecolors="k", s=12)
        ax.set_title(name)
    for name, history in histories.items():
        axes[2].plot(history.loss, label=name)
    axes[2].set_yscale("log")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("training loss (bce)")
    axes[2].legend()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "02_seed_networks.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"\nwrote {path}")


def main():
    X, y = nn.data.make_moons(512, noise=0.1, seed=0)
    print(f"two moons: X {X.shape}, y {y.shape}, {int(y.sum())} of class 1")
    models = {
        "4-layer tanh": nn.MLP([2, 16, 16, 16, 1], activation="tanh", output="sigmoid", seed=0),
        "2x10 relu": nn.MLP([2, 10, 10, 1], activation="relu", output="sigmoid", seed=0),
    }
    histories = {name: train(name, model, X, y) for name, model in models.items()}
    plot(models, histories, X, y)


if __name__ == "__main__":
    main()
