"""Mini-batches and the toy datasets: shapes, seeds, geometry."""

import numpy as np
import pytest

import nn
from nn import data


def test_batches_cover_everything_once_last_partial():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    parts = list(data.batches(X, y, 4, seed=0))
    assert [len(xb) for xb, _ in parts] == [4, 4, 2]
    seen = np.concatenate([yb for _, yb in parts])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    for xb, yb in parts:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # rows stay paired with labels


def test_batches_seed_and_no_shuffle():
    X, y = np.zeros((9, 1)), np.arange(9)
    a = [yb.tolist() for _, yb in data.batches(X, y, 3, seed=5)]
    b = [yb.tolist() for _, yb in data.batches(X, y, 3, seed=5)]
    assert a == b
    ordered = [yb.tolist() for _, yb in data.batches(X, y, 4, shuffle=False)]
    assert ordered == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    assert [len(yb) for _, yb in data.batches(X, y, None)] == [9]


def test_batches_errors_are_eager():
    with pytest.raises(ValueError, match="10 rows but y has 9"):
        data.batches(np.zeros((10, 2)), np.zeros(9), 2)
    with pytest.raises(ValueError, match="batch_size"):
        data.batches(np.zeros((10, 2)), np.zeros(10), 0)


@pytest.mark.parametrize("make", [data.make_moons, data.make_circles, data.make_xor])
def test_datasets_shapes_seeds_labels(make):
    X, y = make(101, noise=0.1, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and y.dtype.kind == "i" and set(y.tolist()) == {0, 1}
    X2, y2 = make(101, noise=0.1, seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(101, noise=0.1, seed=4)
    assert not np.array_equal(X, X3)


def test_moons_geometry_without_noise():
    X, y = data.make_moons(200, seed=0)
    upper, lower = X[y == 0], X[y == 1]
    assert len(upper) == len(lower) == 100
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert upper[:, 1].min() >= -1e-12 and lower[:, 1].max() <= 0.5 + 1e-12


def test_circles_geometry_without_noise():
    X, y = data.make_circles(100, seed=0)
    radius = np.hypot(*X.T)
    np.testing.assert_allclose(radius[y == 0], 1.0)
    np.testing.assert_allclose(radius[y == 1], 0.5)


def test_xor_labels_follow_signs():
    X, y = data.make_xor(300, seed=0)
    np.testing.assert_array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))


def test_spirals_classes_and_counts():
    X, y = data.make_spirals(301, classes=3, noise=0.02, seed=0)
    assert X.shape == (301, 2) and np.bincount(y).tolist() == [101, 100, 100]
    assert np.abs(X).max() < 1.2
    with pytest.raises(ValueError, match="classes"):
        data.make_spirals(10, classes=1)


def test_bad_n_and_noise():
    with pytest.raises(ValueError, match="n must be"):
        nn.data.make_moons(0)
    with pytest.raises(ValueError, match="noise"):
        nn.data.make_circles(10, noise=-1.0)
