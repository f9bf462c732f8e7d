"""A model trained with `nn` moves to PyTorch, and back, without code of its own.

`model.state_dict(layout="torch")` holds the arrays under the keys of the equivalent
`torch.nn.Sequential` of `Linear` and activation modules ("0.weight", "0.bias",
"2.weight", ...), and `nn.torch_layout.torch_modules(model)` names those modules. A
`Linear` computes `x @ weight.T + bias` with `weight` of shape (out, in), the layout of
`Dense.W`, so the arrays carry over unchanged. `nn.MLP.from_state_dict` goes the other
way. Without PyTorch installed the demo still checks the mapping with PyTorch's Linear
formula in numpy, and says that it skipped the real thing.

Run: python demos/07_to_pytorch.py
"""

import importlib.util

import numpy as np

import nn
from nn.torch_layout import torch_modules


def train() -> nn.MLP:
    X, y = nn.data.make_moons(512, noise=0.1, seed=0)
    model = nn.MLP([2, 16, 16, 1], activation="tanh", output="sigmoid", seed=0)
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    history = nn.fit(model, X, y, loss="bce", optimizer=opt, epochs=100, batch_size=64,
                     progress=False)  # fmt: skip
    print(f"trained with nn: {history}")
    return model.eval()


def by_linear_formula(model: nn.MLP, state: dict, x: np.ndarray) -> np.ndarray:
    """The torch-layout dict run through PyTorch's formulas, in numpy."""
    for i, (name, _) in enumerate(torch_modules(model)):
        if name == "Linear":
            x = x @ state[f"{i}.weight"].T + state[f"{i}.bias"]
        elif name == "Tanh":
            x = np.tanh(x)
        elif name == "Sigmoid":
            x = 1 / (1 + np.exp(-x))
    return x


def in_pytorch(model: nn.MLP, state: dict, x: np.ndarray) -> None:
    import torch

    net = torch.nn.Sequential(*(getattr(torch.nn, n)(**kw) for n, kw in torch_modules(model)))
    net = net.double().eval()  # nn's default dtype is float64
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    print(f"in PyTorch {torch.__version__}:\n{net}")
    with torch.no_grad():
        theirs = net(torch.from_numpy(x)).numpy()
    gap = np.abs(theirs - model(x).data).max()
    print(f"PyTorch's outputs vs nn's: largest difference {gap:.1e}")
    back = nn.MLP.from_state_dict(net.state_dict(), "tanh", "sigmoid").eval()
    print(f"and back from torch's state_dict: {back.layer_sizes}, largest difference "
          f"{np.abs(back(x).data - theirs).max():.1e}")  # fmt: skip


def main() -> None:
    model = train()
    print(model)
    state = model.state_dict(layout="torch")
    print("torch-layout keys:", ", ".join(f"{k} {v.shape}" for k, v in state.items()))
    x = nn.data.make_moons(8, noise=0.1, seed=1)[0]
    gap = np.abs(by_linear_formula(model, state, x) - model(x).data).max()
    print(
        f"x @ weight.T + bias on the torch-layout dict vs the model: largest difference {gap:.1e}"
    )
    if importlib.util.find_spec("torch") is None:
        print("PyTorch is not installed: skipped loading the model into torch.nn.Sequential "
              "(pip install torch to see it)")  # fmt: skip
        return
    in_pytorch(model, state, x)


if __name__ == "__main__":
    main()
