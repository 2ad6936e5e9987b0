"""Data sets as in-memory NumPy arrays: MNIST variants, 8x8 digits, toy 2-D, exact tiny sets.

NumPy only (scikit-learn is imported lazily for ``digits``; torch never).

Specs (train / valid / test sizes):

* ``mnist`` (50k/10k/10k, one fixed binarization, seed ``MNIST_BINARIZE_SEED``),
  ``mnist:gray`` ([0, 1]), ``mnist:pm1`` ([-1, 1]), ``mnist:dynamic`` (grayscale train
  with ``dynamic_binarize=True``; valid/test are the fixed bits of ``mnist``),
  ``mnist:dynamic60k`` (60k dynamic train, no valid, fixed-bit test).
* ``digits`` / ``digits:gray`` / ``digits:pm1``: scikit-learn 8x8 digits, 1297/250/250.
* ``ring8``, ``grid25``, ``moons``: toy 2-D, 50k/5k/5k, kind "real".
* ``tiny:bn``, ``tiny:rbm``: 8-bit data with an exact distribution, 20k/5k/5k.

>>> s = load_dataset("ring8")
>>> len(s.train), len(s.valid), len(s.test), s.train.shape, s.train.kind
(50000, 5000, 5000, (2,), 'real')
>>> "mnist:dynamic" in DATASETS
True
"""

from __future__ import annotations

import difflib
import os

from dgm.data.base import KINDS, ArrayDataset, DataSplits
from dgm.data.binarize import dynamic_binarize
from dgm.data.digits import load_digits_splits
from dgm.data.download import MNIST_FILES, MNIST_MIRRORS, DownloadError, download_mnist
from dgm.data.exact import (
    sample_tiny,
    states_to_index,
    tiny_exact_distribution,
    tiny_rbm_log_partition,
)
from dgm.data.idx import IdxFormatError, read_idx
from dgm.data.mnist import MNIST_BINARIZE_SEED, find_mnist, load_mnist
from dgm.data.paths import ENV_VAR, resolve_data_dir
from dgm.data.toy import grid25_modes, load_toy, ring8_modes, sample_toy
from dgm.data.validate import check_data

DATASETS: list[str] = [
    "mnist",
    "mnist:gray",
    "mnist:pm1",
    "mnist:dynamic",
    "mnist:dynamic60k",
    "digits",
    "digits:gray",
    "digits:pm1",
    "ring8",
    "grid25",
    "moons",
    "tiny:bn",
    "tiny:rbm",
]
"""Every spec :func:`load_dataset` accepts (for the CLI's help)."""

NEEDS_FILES = ("mnist",)
"""Spec families read from the data directory (the others are built in)."""

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "KINDS",
    "MNIST_BINARIZE_SEED",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "ArrayDataset",
    "DataSplits",
    "DownloadError",
    "IdxFormatError",
    "check_data",
    "download_mnist",
    "dynamic_binarize",
    "find_mnist",
    "grid25_modes",
    "load_dataset",
    "read_idx",
    "resolve_data_dir",
    "ring8_modes",
    "sample_tiny",
    "sample_toy",
    "states_to_index",
    "tiny_exact_distribution",
    "tiny_rbm_log_partition",
]


def load_dataset(
    spec: str, data_dir: str | os.PathLike | None = None, *, download: bool = False
) -> DataSplits:
    """Load the train/valid/test splits named by ``spec`` (one of :data:`DATASETS`).

    ``data_dir`` overrides ``$DGM_DATA`` and the per-user cache (see
    :func:`resolve_data_dir`); only MNIST reads files. With ``download=True``
    MNIST's IDX files are fetched when missing, corrupt or inconsistent; otherwise a missing
    MNIST raises ``FileNotFoundError`` saying where it looked and what to put there, and a
    broken file a ``ValueError`` naming it and how to replace it (see :mod:`dgm.data.mnist`).
    Arrays are cached in memory and read-only.
    """
    key = spec.strip().lower()
    if key not in DATASETS:
        close = difflib.get_close_matches(key, DATASETS, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown data set {spec!r}.{hint} Known: {', '.join(DATASETS)}")
    family, _, variant = key.partition(":")
    if family == "mnist":
        return load_mnist(variant, data_dir, download=download)
    if family == "digits":
        return load_digits_splits(variant)
    if family == "tiny":
        from dgm.data.exact import load_tiny

        return load_tiny(key)
    return load_toy(key)
