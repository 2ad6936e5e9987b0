"""Toy 2-D data of the mode-collapse literature: ``ring8``, ``grid25``, ``moons``.

* ``ring8``: 8 equally likely Gaussians, means ``(cos 2 pi i/8, sin 2 pi i/8)``, std 0.01.
* ``grid25``: 25 equally likely Gaussians, means ``(-4 + 2i, -4 + 2j)``, i, j in 0..4, std 0.05.
* ``moons``: two interleaving half circles (as ``sklearn.datasets.make_moons``), each
  point's moon chosen with probability 1/2, Gaussian noise std 0.05.

Splits hold 50,000 / 5,000 / 5,000 points, drawn with the seeds
``derive_seed(TOY_SEED, name, split)``. Labels ``y`` are the mode (or moon) index.

>>> x = sample_toy("ring8", 4, seed=0)
>>> x.shape, x.dtype
((4, 2), dtype('float32'))
>>> means, stds = grid25_modes()
>>> means.shape, float(stds[0])
((25, 2), 0.05)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from dgm._rng import as_numpy_rng, derive_seed
from dgm.data.base import DataSplits, make_dataset

TOY_SEED = 2016
TOY_SIZES = {"train": 50_000, "valid": 5_000, "test": 5_000}
TOY_NAMES = ("ring8", "grid25", "moons")
MOONS_NOISE = 0.05


def ring8_modes() -> tuple[np.ndarray, np.ndarray]:
    """``(means (8, 2), stds (8,))`` of the ``ring8`` mixture (float64)."""
    t = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(t), np.sin(t)], axis=1), np.full(8, 0.01)


def grid25_modes() -> tuple[np.ndarray, np.ndarray]:
    """``(means (25, 2), stds (25,))`` of the ``grid25`` mixture (float64), row-major in (i, j)."""
    i, j = np.meshgrid(np.arange(5), np.arange(5), indexing="ij")
    means = np.stack([-4.0 + 2 * i.ravel(), -4.0 + 2 * j.ravel()], axis=1)
    return means, np.full(25, 0.05)


def _mixture(modes, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    means, stds = modes
    k = rng.integers(0, len(means), size=n)
    x = means[k] + stds[k, None] * rng.standard_normal((n, 2))
    return x, k


def _moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k = rng.integers(0, 2, size=n)
    t = rng.uniform(0.0, np.pi, size=n)
    outer = np.stack([np.cos(t), np.sin(t)], axis=1)
    inner = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(k[:, None] == 0, outer, inner) + MOONS_NOISE * rng.standard_normal((n, 2))
    return x, k


def sample_toy(name: str, n: int, seed: Any = None, return_labels: bool = False):
    """``n`` points (float32 ``(n, 2)``) of toy data set ``name``; with
    ``return_labels`` also the mode/moon index of each point (int64)."""
    rng = as_numpy_rng(seed)
    if name == "ring8":
        x, k = _mixture(ring8_modes(), n, rng)
    elif name == "grid25":
        x, k = _mixture(grid25_modes(), n, rng)
    elif name == "moons":
        x, k = _moons(n, rng)
    else:
        raise ValueError(f"unknown toy data set {name!r}; expected one of {TOY_NAMES}")
    x = x.astype(np.float32)
    return (x, k.astype(np.int64)) if return_labels else x


@functools.lru_cache(maxsize=len(TOY_NAMES))
def load_toy(name: str) -> DataSplits:
    """The fixed train/valid/test splits of a toy data set (kind "real", shape (2,))."""
    parts = []
    for split, n in TOY_SIZES.items():
        x, y = sample_toy(name, n, derive_seed(TOY_SEED, name, split), return_labels=True)
        parts.append(make_dataset(x, y, (2,), "real", name, split))
    return DataSplits(*parts)
