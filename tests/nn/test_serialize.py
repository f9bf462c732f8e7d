"""save / nn.load: round trips, the file layout, and the atomic-write guarantee."""

import json
import os

import numpy as np
import pytest

import autodiff as ad
import nn
from autodiff import Tensor


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

        def half_then_boom(file, arrays):  # writes some bytes, then dies mid-save
            file.write(b"PK partial")
            boom()

        monkeypatch.setattr(nn.serialize, "_write_npz", half_then_boom)
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

    def interrupted(file, arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(nn.serialize, "_write_npz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nn.MLP([2, 3, 1], seed=1).save(path)
    monkeypatch.undo()
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["model.npz"]


def test_save_keeps_permissions_of_existing_file(tmp_path):
    _, path, _ = _write_previous(tmp_path)
    os.chmod(path, 0o640)
    nn.MLP([2, 3, 1], seed=1).save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640


# ---- any parameter name, and errors that name the path ----


class Named(nn.Module):
    """Parameters named like np.savez's own arguments."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.file = Tensor(rng.normal(size=3), requires_grad=True)
        self.allow_pickle = Tensor(rng.normal(size=(2, 2)), requires_grad=True)
        self.args = [Tensor(rng.normal(size=1), requires_grad=True)]

    def forward(self, x):
        return x


def test_parameters_named_like_savez_arguments_save_and_load(tmp_path):
    saved = Named(0)
    path = saved.save(tmp_path / "named.npz")
    with np.load(path) as npz:
        assert sorted(npz.files) == ["allow_pickle", "args.0", "file"]
    fresh = Named(1)
    fresh.load_state_dict(np.load(path))
    _same_parameters(saved, fresh)


def test_saving_into_a_missing_folder_names_the_folder(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=r"folder '.*no/such' does not exist") as info:
        nn.MLP([2, 1]).save(missing / "m.npz")
    assert ".tmp" not in str(info.value) and "makedirs" in str(info.value)
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        nn.MLP([2, 1]).save(tmp_path / "dir.npz")


def test_saving_into_a_read_only_folder_names_the_folder(tmp_path, monkeypatch):
    def refused(prefix, suffix, dir):  # what a folder without write permission does
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "x" + suffix))

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(nn.serialize.tempfile, "mkstemp", refused)
    with pytest.raises(PermissionError, match=r"cannot write into the folder '.*ro'") as info:
        nn.MLP([2, 1]).save(tmp_path / "ro" / "m.npz")
    assert ".tmp" not in str(info.value)


def _saved(tmp_path):
    return nn.MLP([2, 3, 1], seed=0).save(tmp_path / "good.npz")


def test_load_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file '.*nothing'.*nothing\.npz"):
        nn.load(tmp_path / "nothing")


def test_load_text_file_names_the_path_and_never_suggests_pickle(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("layers.0.W = [[1, 2]]\n")
    with pytest.raises(ValueError, match=r"notes\.npz is not an \.npz archive") as info:
        nn.load(path)
    assert "pickle" not in str(info.value)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.npz is empty"):
        nn.load(empty)


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.99])
def test_load_truncated_file_names_the_path(tmp_path, cut):
    data = open(_saved(tmp_path), "rb").read()
    path = tmp_path / "cut.npz"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ValueError, match=r"cut\.npz is damaged") as info:
        nn.load(path)
    assert "pickle" not in str(info.value)


def test_load_corrupt_file_names_the_path(tmp_path):
    data = bytearray(open(_saved(tmp_path), "rb").read())
    middle = len(data) // 3
    data[middle : middle + 40] = bytes(40)  # zeros over an array's bytes: a CRC mismatch
    path = tmp_path / "bad.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"bad\.npz is damaged"):
        nn.load(path)


def test_load_a_pickled_member_is_refused_without_advice_to_allow_it(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"layers.0.W": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match=r"evil\.npz is damaged.*pickled Python objects") as info:
        nn.load(path)
    assert "allow_pickle" not in str(info.value)


# ---- load_state_dict: all or nothing ----


def _params(model):
    return [p.data.copy() for p in model.parameters()]


def _unchanged(model, before):
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, b)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("layers.1.b"), r"missing parameters: layers\.1\.b.*received:"),
        (lambda d: d.update(extra=np.ones(2)), "unexpected parameters: extra"),
        (lambda d: d.update({"layers.1.W": np.ones((3, 3))}), r"layers\.1\.W: expected shape"),
        (lambda d: d.update({"layers.1.b": np.array(["x"])}), r"layers\.1\.b: expected numbers"),
        (lambda d: d.update({"layers.1.b": np.array([1 + 2j])}), "got dtype complex128"),
    ],
)
def test_load_state_dict_refuses_before_changing_anything(change, message):
    model = nn.MLP([2, 3, 1], seed=0)
    before = _params(model)
    state = nn.MLP([2, 3, 1], seed=1).state_dict()
    change(state)
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(state)
    _unchanged(model, before)


def test_load_state_dict_names_every_problem_at_once():
    model = nn.MLP([2, 3, 1], seed=0)
    state = {"layers.0.W": np.ones((1, 1)), "dw1": np.ones(3)}
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    text = str(info.value)
    assert "layers.0.b, layers.1.W, layers.1.b" in text and "unexpected parameters: dw1" in text
    assert "layers.0.W: expected shape (3, 2), got (1, 1)" in text
    assert "received: layers.0.W, dw1" in text


def test_load_state_dict_casts_floats_to_the_parameter_dtype():
    model = nn.MLP([2, 3, 1], seed=0, dtype=np.float32)
    state = nn.MLP([2, 3, 1], seed=1).state_dict()  # float64
    model.load_state_dict(state)
    assert all(p.dtype == np.float32 for p in model.parameters())
    np.testing.assert_allclose(model.layers[0].W.data, state["layers.0.W"], rtol=1e-7)


def test_load_state_dict_under_a_stale_graph_succeeds_and_that_graph_then_refuses_backward():
    model = nn.MLP([2, 3, 1], seed=0)
    out = model(Tensor(np.ones((1, 2)))).sum()  # a graph that used the old values
    state = nn.MLP([2, 3, 1], seed=1).state_dict()
    model.load_state_dict(state)  # as in PyTorch, the update itself succeeds
    np.testing.assert_array_equal(model.layers[0].W.data, state["layers.0.W"])
    with pytest.raises(ad.InplaceModificationError, match="layers"):
        out.backward()  # ...and the stale graph says which tensor changed under it


def test_load_state_dict_interrupted_midway_leaves_everything_as_it_was(monkeypatch):
    model = nn.MLP([2, 3, 1], seed=0)
    before = _params(model)
    target = model.layers[1].W
    real = type(target).data

    def refusing_set(self, value):
        if self is target:
            raise KeyboardInterrupt  # anything stopping the load after layers.0 was written
        real.fset(self, value)

    monkeypatch.setattr(type(target), "data", property(real.fget, refusing_set))
    with pytest.raises(KeyboardInterrupt):
        model.load_state_dict(nn.MLP([2, 3, 1], seed=1).state_dict())
    monkeypatch.undo()
    _unchanged(model, before)  # layers.0, loaded before the interruption, was put back


def test_torch_layout_keys_loaded_by_name_say_what_to_use():
    model = nn.MLP([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match=r"PyTorch's layout: use nn\.MLP\.from_state_dict"):
        model.load_state_dict(model.state_dict(layout="torch"))
