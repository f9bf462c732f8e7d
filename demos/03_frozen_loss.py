"""Why the loss froze at 0.693: the same deep tanh network, two initialisations.

With weights drawn as randn * 0.01 ("small"), every layer shrinks its input about a
hundredfold, so the output is sigmoid(~0) = 0.5 for every sample and the loss sits at
-log(0.5) = 0.693; the gradients of the early layers are smaller still, so gradient descent
barely moves. The course notes' initialisation ("xavier": randn * sqrt(1 / fan_in)) keeps
the signal's scale from layer to layer and the same network trains.

Prints the gradient norm of every layer at the start, for both, and the loss as each
trains; with matplotlib installed it writes the loss curves to demos/out/03_frozen_loss.png.

Run: python demos/03_frozen_loss.py
"""

import os

import numpy as np

import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
SIZES = [2, 20, 20, 20, 20, 20, 1]  # five hidden tanh layers
EPOCHS = 300


def gradient_norms(model, X, y):
    """|dW| of every layer for one full-batch backward at the current weights."""
    model.zero_grad()
    nn.binary_cross_entropy(model(X), y).backward()
    norms = [float(np.linalg.norm(layer.W.grad)) for layer in model.layers]
    model.zero_grad()
    return norms


def main():
    X, y = nn.data.make_moons(512, noise=0.1, seed=0)
    histories = {}
    norms = {}
    for init in ("small", "xavier"):
        model = nn.MLP(SIZES, activation="tanh", output="sigmoid", init=init, seed=1)
        norms[init] = gradient_norms(model, X, y)
        opt = nn.optim.SGD(model.parameters(), lr=0.5)
        histories[init] = nn.fit(
            model, X, y, loss="bce", optimizer=opt, epochs=EPOCHS, progress=False
        )
    print(f"network {SIZES}: tanh hidden layers, sigmoid output, full-batch gradient descent")
    print("\ngradient norm |dW| per layer at initialisation:")
    print(f"  {'layer':>8}  {'small (randn*0.01)':>20}  {'xavier':>12}")
    for i, (a, b) in enumerate(zip(norms["small"], norms["xavier"], strict=True)):
        print(f"  {f'layers.{i}':>8}  {a:20.3e}  {b:12.3e}")
    print("\nloss (and training accuracy) during training:")
    print(f"  {'epoch':>6}  {'small':>16}  {'xavier':>16}")
    for epoch in (0, 9, 49, 99, 199, EPOCHS - 1):
        cells = [
            f"{histories[k].loss[epoch]:.4f} ({histories[k].accuracy[epoch]:.2f})"
            for k in ("small", "xavier")
        ]
        print(f"  {epoch + 1:6d}  {cells[0]:>16}  {cells[1]:>16}")
    print(f"\n-log(0.5) = {-np.log(0.5):.4f}: the 'small' network outputs 0.5 for everyone.")
    plot(histories)


def plot(histories):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipped the PNG (pip install matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, history in histories.items():
        ax.plot(history.loss, label=f"init={name!r}")
    ax.axhline(np.log(2), color="gray", linestyle=":", label="log 2 = 0.693")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (bce)")
    ax.legend()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "03_frozen_loss.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
