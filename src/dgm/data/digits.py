"""scikit-learn's 8x8 digits (1,797 images, shipped inside scikit-learn, no download).

Intensities are ``pixel / 16`` in [0, 1]. The split is a fixed permutation
(seed ``derive_seed(DIGITS_SEED, "digits", "split")``): 1,297 train / 250 valid /
250 test. ``digits`` binarizes every image once, stochastically, with the seed
``derive_seed(DIGITS_SEED, "digits", "binarize")``; ``digits:gray`` keeps [0, 1];
``digits:pm1`` maps to [-1, 1].
"""

from __future__ import annotations

import functools

import numpy as np

from dgm._rng import as_numpy_rng, derive_seed
from dgm.data.base import DataSplits, make_dataset, readonly
from dgm.data.binarize import dynamic_binarize

DIGITS_SEED = 1797
DIGITS_SHAPE = (1, 8, 8)
DIGITS_SIZES = (1297, 250, 250)
VARIANTS = ("", "gray", "pm1")


@functools.lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (np.asarray(d.data, dtype=np.float32) / np.float32(16)).reshape(-1, 64)
    y = np.asarray(d.target, dtype=np.int64)
    perm = as_numpy_rng(derive_seed(DIGITS_SEED, "digits", "split")).permutation(len(x))
    bits = dynamic_binarize(x, derive_seed(DIGITS_SEED, "digits", "binarize"))
    return readonly(x), readonly(y), readonly(perm), readonly(bits)


def load_digits_splits(variant: str = "") -> DataSplits:
    """Splits of ``digits`` (binary), ``digits:gray`` (unit) or ``digits:pm1``.

    >>> s = load_digits_splits("gray")
    >>> len(s.train), len(s.valid), len(s.test), s.train.shape
    (1297, 250, 250, (1, 8, 8))
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown digits variant {variant!r}; expected one of {VARIANTS}")
    x, y, perm, bits = _arrays()
    data, kind = {"": (bits, "binary"), "gray": (x, "unit"), "pm1": (2 * x - 1, "pm1")}[variant]
    name = "digits" + (f":{variant}" if variant else "")
    n0, n1, _ = DIGITS_SIZES
    parts = {"train": perm[:n0], "valid": perm[n0 : n0 + n1], "test": perm[n0 + n1 :]}
    return DataSplits(
        *(make_dataset(data[i], y[i], DIGITS_SHAPE, kind, name, s) for s, i in parts.items())
    )
