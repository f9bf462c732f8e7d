"""autodiff.strategies: what the strategies draw, and that hypothesis stays optional."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad
from autodiff import strategies as ads

PACKAGE = pathlib.Path(ad.__file__).parent


@given(ads.arrays())
def test_arrays_default_is_small_well_conditioned_float64(x):
    assert isinstance(x, np.ndarray) and x.dtype == np.float64
    assert x.ndim <= 3 and all(1 <= n <= 4 for n in x.shape)
    assert np.all(np.isfinite(x)) and np.all(np.abs(x) <= 2.0)
    assert not np.any((x != 0) & (np.abs(x) < np.finfo(np.float64).tiny))  # no subnormals


@given(ads.arrays((2, 3), dtype=np.float32), ads.arrays(4), ads.arrays(()))
def test_arrays_with_given_shape_and_dtype(a, b, c):
    assert a.shape == (2, 3) and a.dtype == np.float32
    assert b.shape == (4,) and c.shape == ()


@given(ads.arrays(ads.shapes(min_dims=2, max_dims=2, min_side=0, max_side=2)))
def test_arrays_with_shape_strategy_and_empty_axes(x):
    assert x.ndim == 2 and max(x.shape) <= 2


@given(ads.arrays((3,), elements=st.sampled_from([0.5, 1.5])))
def test_arrays_with_custom_elements(x):
    assert set(x.tolist()) <= {0.5, 1.5}


@given(ads.broadcastable_shapes())
def test_broadcastable_shapes_broadcast(pair):
    a, b = pair
    assert isinstance(a, tuple) and isinstance(b, tuple)
    shape = np.broadcast_shapes(a, b)
    assert (np.zeros(a) + np.zeros(b)).shape == shape
    assert max(len(a), len(b)) <= 3


@given(ads.broadcastable_shapes(min_dims=1, max_dims=2, min_side=0, max_side=2))
def test_broadcastable_shapes_options(pair):
    a, b = pair
    assert 1 <= len(a) <= 2 and 1 <= len(b) <= 2
    np.broadcast_shapes(a, b)


@given(ads.broadcastable_pairs())
def test_broadcastable_pairs_are_arrays_that_broadcast(pair):
    a, b = pair
    assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    assert a.dtype == b.dtype == np.float64
    assert (a + b).shape == np.broadcast_shapes(a.shape, b.shape)
    assert max(a.ndim, b.ndim) <= 3 and np.all(np.abs(a) <= 2) and np.all(np.abs(b) <= 2)


@given(
    ads.broadcastable_pairs(
        min_dims=1, max_dims=2, max_side=2, dtype=np.float32, elements=ads.floats(0.5, 1.0)
    )
)
def test_broadcastable_pairs_options(pair):
    a, b = pair
    assert 1 <= a.ndim <= 2 and 1 <= b.ndim <= 2 and max(a.shape + b.shape) <= 2
    assert a.dtype == b.dtype == np.float32
    assert np.all((a >= 0.5) & (a <= 1.0)) and np.all((b >= 0.5) & (b <= 1.0))


@given(ads.broadcastable_pairs(max_dims=2))
def test_broadcastable_pairs_drive_a_gradient_check(pair):
    assert ad.gradcheck(lambda a, b: (a * b).tanh().sum(), list(pair))


@given(ads.mlp_parameters([3, 5, 2, 1]))
def test_mlp_parameters_have_course_layout_and_moderate_values(params):
    assert sorted(params) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    dims = [3, 5, 2, 1]
    for layer in range(1, 4):
        W, b = params[f"W{layer}"], params[f"b{layer}"]
        assert W.shape == (dims[layer], dims[layer - 1]) and b.shape == (dims[layer], 1)
        assert W.dtype == b.dtype == np.float64
        assert np.all(np.abs(W) <= 1 / np.sqrt(dims[layer - 1]) + 1e-12)
        assert np.all(np.abs(b) <= 0.5)


@given(ads.mlp_parameters([2, 3], dtype=np.float32))
def test_mlp_parameters_float32(params):
    assert params["W1"].dtype == params["b1"].dtype == np.float32


def test_mlp_parameters_rejects_bad_layer_sizes():
    with pytest.raises(ValueError, match="layer sizes"):
        ads.mlp_parameters([3])
    with pytest.raises(ValueError, match="layer sizes"):
        ads.mlp_parameters([3, 0, 1])


@given(ads.arrays(elements=ads.floats(-1.0, 1.0)))
def test_strategies_drive_a_users_gradient_property_test(x):
    assert ad.gradcheck(lambda t: (t.tanh() ** 2).sum(), [x])


def test_only_strategies_imports_hypothesis_when_loaded():
    """Module-level imports of hypothesis live in strategies.py alone; check_grads imports
    it inside the function, and only when it is handed a strategy."""
    importers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(
            line.startswith(("import hypothesis", "from hypothesis"))
            for line in path.read_text().splitlines()
        )
    ]
    assert importers == ["strategies.py"]
    code = "import sys, autodiff, nn\nassert 'hypothesis' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_package_imports_without_hypothesis():
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"  # any import of it now fails
        "import numpy as np, autodiff as ad, nn\n"
        "x = ad.Tensor([1.0, 2.0], requires_grad=True); (x * x).sum().backward()\n"
        "assert ad.gradcheck(lambda t: (t * t).sum(), [x.data])\n"
        "assert ad.check_grads(lambda t: np.sum(t * t), lambda a: [2 * a], [x.data])\n"
        "try:\n    import autodiff.strategies\nexcept ImportError:\n    print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
