"""A training step compiled with `ad.compile`: recorded once, replayed as numpy code.

The step is plain eager code: zero the gradients, forward, loss, backward, update. The
first call runs it eagerly and records every kernel; later calls replay the recording
with preallocated buffers, no Tensors and no graph. `step.source` prints what runs:
backprop written out, one numpy line per kernel. The compiled and the eager step give
the same losses and weights, and the replay is several times faster.

Run: python demos/08_compiled_step.py
"""

import time

import numpy as np

import autodiff as ad
import nn


def make_step(model, opt):
    def step(X, y):
        opt.zero_grad()
        loss = nn.binary_cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        return loss

    return step


def train(step, X, y, epochs):
    start, losses = time.perf_counter(), []
    for _ in range(epochs):
        for xb, yb in nn.data.batches(X, y, 32, seed=0):
            losses.append(float(step(xb, yb).data))
    return losses, time.perf_counter() - start


def main() -> None:
    X, y = nn.data.make_moons(250, noise=0.1, seed=0)
    models = [nn.MLP([2, 16, 16, 1], activation="relu", output="sigmoid", seed=0) for _ in "ab"]
    opts = [nn.optim.Adam(m.parameters(), lr=0.01) for m in models]
    eager = make_step(models[0], opts[0])
    compiled = ad.compile(make_step(models[1], opts[1]))

    eager_losses, eager_time = train(eager, X, y, 20)
    compiled_losses, compiled_time = train(compiled, X, y, 20)
    print(compiled.source)
    print()
    worst = max(abs(a - b) / abs(b) for a, b in zip(compiled_losses, eager_losses))
    same = all(
        np.allclose(p.data, q.data, rtol=1e-12, atol=1e-14)
        for p, q in zip(models[0].parameters(), models[1].parameters())
    )
    print(f"{len(eager_losses)} steps: eager {eager_time * 1e3:.0f} ms, compiled "
          f"{compiled_time * 1e3:.0f} ms ({compiled.recordings} recordings: full and last "
          f"partial batch)")  # fmt: skip
    print(f"largest relative difference of the losses: {worst:.1e}; same weights: {same}")


if __name__ == "__main__":
    main()
