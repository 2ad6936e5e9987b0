"""MNIST: grayscale, fixed-binarized (the literature's binarized MNIST), dynamic, [-1, 1].

Sources, looked for in the data directory (see :func:`dgm.data.resolve_data_dir`):

1. ``mnist/mnist.pkl.gz`` or ``mnist.pkl.gz``: the classic pickle, 50k/10k/10k.
2. the four official IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
   ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``)
   in the directory or its ``mnist/`` subfolder. The 60k training images are
   split into the first 50k (train) and the last 10k (valid), as in the pickle.

Intensities are ``pixel / 256`` -- exactly the values stored in ``mnist.pkl.gz``
(which holds multiples of 1/256 in [0, 255/256]) -- so both sources give
identical arrays and identical bits.

Fixed binarization: bit = 1 with probability equal to the intensity, drawn once
by :func:`dgm.data.dynamic_binarize` with the seed
``derive_seed(MNIST_BINARIZE_SEED, "mnist", split)`` for split in train/valid/test.
Every model and every run sees the same bits.
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
from pathlib import Path

import numpy as np

from dgm._rng import derive_seed
from dgm.data.base import DataSplits, make_dataset, readonly
from dgm.data.binarize import dynamic_binarize
from dgm.data.idx import MAGIC_IMAGES, MAGIC_LABELS, read_idx
from dgm.data.paths import ENV_VAR, data_dir_source

MNIST_BINARIZE_SEED = 2008
"""Seed of the one fixed binarization (Salakhutdinov & Murray, 2008)."""

MNIST_SHAPE = (1, 28, 28)
N_TRAIN, N_VALID, N_TEST = 50_000, 10_000, 10_000
IDX_SCALE = 256.0

PKL_NAMES = ("mnist/mnist.pkl.gz", "mnist.pkl.gz")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
VARIANTS = ("", "gray", "pm1", "dynamic", "dynamic60k")


def binarize_seed(split: str) -> int:
    """The seed of the fixed binarization of one split ("train", "valid", "test")."""
    return derive_seed(MNIST_BINARIZE_SEED, "mnist", split)


def _idx_dirs(root: Path) -> list[Path]:
    return [root, root / "mnist"]


def find_mnist(data_dir: str | os.PathLike | None = None) -> tuple[str, dict[str, Path]]:
    """``("pkl", {"pkl": path})`` or ``("idx", {role: path})`` for the first source found.

    Raises ``FileNotFoundError`` listing every place looked and how to fix it.
    """
    root, how = data_dir_source(data_dir)
    for rel in PKL_NAMES:
        p = root / rel
        if p.is_file():
            return "pkl", {"pkl": p}
    found: dict[str, Path] = {}
    for role, base in IDX_FILES.items():
        for d in _idx_dirs(root):
            for name in (base + ".gz", base):
                if (d / name).is_file() and role not in found:
                    found[role] = d / name
    if len(found) == len(IDX_FILES):
        return "idx", found
    raise FileNotFoundError(_missing_message(root, how, found))


def _missing_message(root: Path, how: str, found: dict[str, Path]) -> str:
    looked = [str(root / rel) for rel in PKL_NAMES]
    for base in IDX_FILES.values():
        for d in _idx_dirs(root):
            looked.append(f"{d / base}[.gz]")
    lines = [
        f"MNIST was not found in the data directory {root} ({how}).",
        "Looked for:",
        *(f"  {p}" for p in looked),
    ]
    if found:
        missing = [IDX_FILES[r] for r in IDX_FILES if r not in found]
        lines.append(
            "Found only some IDX files ("
            + ", ".join(str(p) for p in found.values())
            + "); missing: "
            + ", ".join(missing)
        )
    lines += [
        "To fix, do one of:",
        f"  - download it: `dgm data download mnist --data-dir {root}` "
        "(or load_dataset(spec, download=True))",
        f"  - put mnist.pkl.gz (the 50k/10k/10k pickle) in {root / 'mnist'}/ or {root}/",
        "  - put the four IDX files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz in {root / 'mnist'}/ or {root}/",
        f"  - point to a directory that has them: --data-dir DIR or the {ENV_VAR} "
        "environment variable",
    ]
    return "\n".join(lines)


def _file_key(kind: str, paths: dict[str, Path]) -> tuple:
    items = []
    for role, p in sorted(paths.items()):
        p = p.resolve()
        st = p.stat()
        items.append((role, str(p), st.st_mtime_ns, st.st_size))
    return (kind, tuple(items))


def _check_split(x: np.ndarray, y: np.ndarray, n: int | None, what: str, src: str) -> None:
    if x.ndim != 2 or x.shape[1] != 784 or len(y) != len(x) or (n is not None and len(x) != n):
        raise ValueError(
            f"{src}: unexpected {what} arrays: images {x.shape}, labels {y.shape} "
            f"(expected ({n}, 784) and ({n},))"
        )


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a pickle naming any other callable (which
    could run code) is refused. ``mnist.pkl.gz`` needs just these three."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"),
               ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy "
                                         f"arrays are allowed)")
        if module == "numpy.core.multiarray":  # numpy 2 moved it; the old path warns
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _load_pkl(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        with gzip.open(path, "rb") as f:
            data = _ArraysOnly(f, encoding="latin1").load()
            f.read()  # to the end, so gzip checks its CRC: a flipped bit is an error
    except (OSError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: could not read the MNIST pickle ({e})") from e
    if not (isinstance(data, (tuple, list)) and len(data) == 3):
        raise ValueError(f"{path}: expected a (train, valid, test) tuple")
    out = {}
    for split, n, (x, y) in zip(("train", "valid", "test"), (N_TRAIN, N_VALID, N_TEST), data):
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        _check_split(x, y, n, split, str(path))
        out[split] = (x, y)
    return out


def _load_idx(paths: dict[str, Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    arrays = {}
    for role, p in paths.items():
        magic = MAGIC_IMAGES if role.endswith("images") else MAGIC_LABELS
        arrays[role] = read_idx(p, magic)
    out = {}
    for part in ("train", "test"):
        img, lab = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if img.ndim != 3 or img.shape[1:] != (28, 28) or len(lab) != len(img):
            raise ValueError(
                f"{paths[f'{part}_images']} / {paths[f'{part}_labels']}: images {img.shape} "
                f"and labels {lab.shape} do not form an MNIST set of 28x28 images"
            )
        x = img.reshape(len(img), 784).astype(np.float32) / np.float32(IDX_SCALE)
        y = lab.astype(np.int64)
        if part == "test":
            out["test"] = (x, y)
        else:
            if len(x) <= N_VALID:
                raise ValueError(
                    f"{paths['train_images']}: only {len(x)} training images; need more than "
                    f"{N_VALID} to split off the validation set"
                )
            cut = len(x) - N_VALID
            out["train"], out["valid"] = (x[:cut], y[:cut]), (x[cut:], y[cut:])
    return out


@functools.lru_cache(maxsize=4)
def _raw(key: tuple) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    kind, items = key
    paths = {role: Path(p) for role, p, _, _ in items}
    data = _load_pkl(paths["pkl"]) if kind == "pkl" else _load_idx(paths)
    return {s: (readonly(x), readonly(y)) for s, (x, y) in data.items()}


@functools.lru_cache(maxsize=4)
def _fixed_bits(key: tuple) -> dict[str, np.ndarray]:
    raw = _raw(key)
    return {s: readonly(dynamic_binarize(raw[s][0], binarize_seed(s))) for s in raw}


@functools.lru_cache(maxsize=2)
def _pm1(key: tuple) -> dict[str, np.ndarray]:
    raw = _raw(key)
    return {s: readonly(raw[s][0] * np.float32(2) - np.float32(1)) for s in raw}


@functools.lru_cache(maxsize=2)
def _train60k(key: tuple) -> tuple[np.ndarray, np.ndarray]:
    raw = _raw(key)
    x = np.concatenate([raw["train"][0], raw["valid"][0]])
    y = np.concatenate([raw["train"][1], raw["valid"][1]])
    return readonly(x), readonly(y)


def clear_cache() -> None:
    """Forget the MNIST arrays held in memory."""
    for f in (_raw, _fixed_bits, _pm1, _train60k):
        f.cache_clear()


def load_mnist(
    variant: str = "",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> DataSplits:
    """MNIST splits for ``variant`` in "" (fixed bits), "gray", "pm1", "dynamic", "dynamic60k"."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown MNIST variant {variant!r}; expected one of {VARIANTS}")
    try:
        kind, paths = find_mnist(data_dir)
    except FileNotFoundError:
        if not download:
            raise
        from dgm.data.download import download_mnist

        download_mnist(data_dir)
        kind, paths = find_mnist(data_dir)
    key = _file_key(kind, paths)
    raw = _raw(key)
    name = "mnist" + (f":{variant}" if variant else "")
    splits = ("train", "valid", "test")

    def ds(x, s, k, dynamic=False, y=None):
        return make_dataset(x, raw[s][1] if y is None else y, MNIST_SHAPE, k, name, s, dynamic)

    if variant == "":
        bits = _fixed_bits(key)
        return DataSplits(*(ds(bits[s], s, "binary") for s in splits))
    if variant == "gray":
        return DataSplits(*(ds(raw[s][0], s, "unit") for s in splits))
    if variant == "pm1":
        pm = _pm1(key)
        return DataSplits(*(ds(pm[s], s, "pm1") for s in splits))
    bits = _fixed_bits(key)
    if variant == "dynamic":
        return DataSplits(
            ds(raw["train"][0], "train", "unit", dynamic=True),
            ds(bits["valid"], "valid", "binary"),
            ds(bits["test"], "test", "binary"),
        )
    x60, y60 = _train60k(key)
    return DataSplits(
        ds(x60, "train", "unit", dynamic=True, y=y60), None, ds(bits["test"], "test", "binary")
    )
