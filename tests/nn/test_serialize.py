"""save / nn.load: round trips, the file layout, and the atomic-write guarantee."""

import json
import os

import numpy as np
import pytest

import nn


def _same_parameters(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype
        np.testing.assert_array_equal(sa[name], sb[name])


@pytest.mark.parametrize(
    "model",
    [
        nn.MLP([2, 5, 3, 1], activation="tanh", output="sigmoid", dropout=0.1, seed=0),
        nn.MLP([3, 4, 2], activation="leaky_relu", seed=1, dtype=np.float32),
        nn.Dense(3, 2, "relu", bias=False, seed=2),
        nn.Sequential(nn.Dense(2, 4, seed=3), nn.ReLU(), nn.Dropout(0.2), nn.Dense(4, 3, seed=4),
                      nn.Softmax(), nn.LeakyReLU(0.2), nn.Tanh(), nn.Sigmoid(), nn.Identity()),
    ],
)  # fmt: skip
def test_round_trip_gives_an_equal_model(tmp_path, model):
    path = model.save(tmp_path / "model.npz")
    loaded = nn.load(path)
    assert type(loaded) is type(model) and repr(loaded) == repr(model)
    _same_parameters(model, loaded)
    first = next(model.parameters())
    x = np.random.default_rng(0).normal(size=(4, first.shape[1])).astype(first.dtype)
    model.eval(), loaded.eval()
    np.testing.assert_array_equal(model(x).data, loaded(x).data)


def test_file_holds_parameter_names_and_architecture(tmp_path):
    model = nn.MLP([2, 3, 1], output="sigmoid", seed=0)
    path = model.save(tmp_path / "m")
    assert path.endswith("m.npz") and os.path.exists(path)
    with np.load(path) as npz:
        assert sorted(npz.files) == sorted(
            ["__architecture__", "layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"]
        )
        spec = json.loads(str(npz["__architecture__"]))
    assert spec["type"] == "MLP" and spec["layer_sizes"] == [2, 3, 1]
    assert nn.load(tmp_path / "m").layer_sizes == [2, 3, 1]  # ".npz" found as numpy does


class Custom(nn.Module):
    def __init__(self, seed):
        self.body = nn.Dense(2, 3, seed=seed)
        self.head = nn.Dense(3, 1, seed=seed + 1)

    def forward(self, x):
        return self.head(self.body(x).tanh())


def test_any_module_loads_state_from_np_load(tmp_path):
    saved = nn.MLP([2, 3, 1], seed=0)
    path = saved.save(tmp_path / "mlp.npz")
    other = nn.MLP([2, 3, 1], seed=5)
    other.load_state_dict(np.load(path))
    _same_parameters(saved, other)
    custom = Custom(0)
    path = custom.save(tmp_path / "custom.npz")
    fresh = Custom(7)
    fresh.load_state_dict(np.load(path))
    _same_parameters(custom, fresh)
    with pytest.raises(ValueError, match="no architecture.*load_state_dict"):
        nn.load(path)


def _write_previous(tmp_path):
    old = nn.MLP([2, 3, 1], seed=0)
    path = old.save(tmp_path / "model.npz")
    return old, path, open(path, "rb").read()


@pytest.mark.parametrize("fail_at", ["savez", "replace"])
def test_failed_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch, fail_at):
    old, path, before = _write_previous(tmp_path)
    new = nn.MLP([2, 3, 1], seed=1)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    if fail_at == "savez":

        def half_then_boom(file, **arrays):  # writes some bytes, then dies mid-save
            file.write(b"PK partial")
            boom()

        monkeypatch.setattr(np, "savez", half_then_boom)
    else:
        monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    _same_parameters(old, nn.load(path))


def test_interrupt_mid_save_also_cleans_up(tmp_path, monkeypatch):
    _, path, before = _write_previous(tmp_path)

    def interrupted(file, **arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nn.MLP([2, 3, 1], seed=1).save(path)
    monkeypatch.undo()
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["model.npz"]


def test_save_keeps_permissions_of_existing_file(tmp_path):
    _, path, _ = _write_previous(tmp_path)
    os.chmod(path, 0o640)
    nn.MLP([2, 3, 1], seed=1).save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640
