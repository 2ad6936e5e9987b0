"""Toy 2-D mixtures: mode weights, spreads, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from dgm.data import grid25_modes, load_dataset, ring8_modes, sample_toy


@pytest.mark.parametrize(
    ("name", "modes", "k"), [("ring8", ring8_modes, 8), ("grid25", grid25_modes, 25)]
)
def test_mode_statistics(name, modes, k):
    means, stds = modes()
    assert means.shape == (k, 2) and stds.shape == (k,)
    s = load_dataset(name)
    x, y = s.train.x.astype(np.float64), s.train.y
    assert (len(s.train), len(s.valid), len(s.test)) == (50_000, 5_000, 5_000)
    assert s.train.kind == "real" and s.train.shape == (2,)
    nearest = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.array_equal(nearest, y)  # the modes are well separated
    frac = np.bincount(y, minlength=k) / len(y)
    # binomial sd of a weight is sqrt(p(1-p)/n) < 0.0013; allow ~5 sd
    assert np.abs(frac - 1 / k).max() < 0.007
    resid = x - means[y]
    assert np.abs(resid.std(axis=0) / stds[0] - 1).max() < 0.02
    assert np.abs(resid.mean(axis=0)).max() < 5 * stds[0] / np.sqrt(len(x)) * 2
    assert np.abs(resid).max() < 6 * stds[0]


def test_ring8_means_on_unit_circle():
    means, stds = ring8_modes()
    np.testing.assert_allclose(np.hypot(means[:, 0], means[:, 1]), 1.0)
    np.testing.assert_allclose(means[2], [0.0, 1.0], atol=1e-12)
    assert np.all(stds == 0.01)
    g, gs = grid25_modes()
    assert g.min() == -4 and g.max() == 4 and np.all(gs == 0.05)
    assert len({tuple(m) for m in g}) == 25


def test_moons():
    s = load_dataset("moons")
    x, y = s.train.x, s.train.y
    assert set(np.unique(y)) == {0, 1}
    assert abs(y.mean() - 0.5) < 0.01
    outer = x[y == 0]
    r = np.hypot(outer[:, 0], outer[:, 1])
    assert abs(r.mean() - 1) < 0.01 and outer[:, 1].min() > -0.3


def test_sample_toy_seeding():
    a = sample_toy("grid25", 100, seed=1)
    assert np.array_equal(a, sample_toy("grid25", 100, seed=1))
    assert not np.array_equal(a, sample_toy("grid25", 100, seed=2))
    x, y = sample_toy("ring8", 10, seed=0, return_labels=True)
    assert x.dtype == np.float32 and y.dtype == np.int64 and y.shape == (10,)
    with pytest.raises(ValueError, match="unknown toy"):
        sample_toy("ring9", 3)


def test_splits_differ_and_are_fixed():
    s = load_dataset("ring8")
    assert not np.array_equal(s.valid.x, s.test.x)
    from dgm.data.toy import load_toy

    load_toy.cache_clear()
    assert np.array_equal(load_dataset("ring8").test.x, s.test.x)
