"""MNIST: grayscale, fixed-binarized (the literature's binarized MNIST), dynamic, [-1, 1].

Sources, looked for in the data directory ``DIR`` (see :func:`dgm.data.resolve_data_dir`):

1. ``DIR/mnist/mnist.pkl.gz``, then ``DIR/mnist.pkl.gz``: the classic pickle, 50k/10k/10k.
2. the four official IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
   ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``,
   which is preferred). A folder holding all four is used whole: ``DIR/mnist/`` (where
   ``dgm data download mnist`` writes) first, then ``DIR``; otherwise each file is taken
   from ``DIR/mnist/`` if there, else from ``DIR``. The 60k training images are split
   into the first 50k (train) and the last 10k (valid), as in the pickle; the 10k t10k
   images are the test split.

The IDX files must be consistent: 28x28 images, as many labels as images, labels 0..9,
at least one test image and more than 10k training images. Other sizes than the official
60k/10k still load (train = all but the last 10k training images), with a
:class:`MnistSizeWarning` giving the splits.

A corrupt or inconsistent file is an error naming it and saying how to replace it. For an
IDX file that is ``dgm data download mnist --data-dir DIR`` (its checked copies in
``DIR/mnist/`` are looked at first, so a broken file elsewhere no longer counts), and
``load_dataset(..., download=True)`` downloads them itself (it also fetches a missing
set). A broken pickle comes before any IDX files: delete or replace it.

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
import warnings
from pathlib import Path

import numpy as np

from dgm._rng import derive_seed
from dgm.data.base import DataSplits, make_dataset, readonly
from dgm.data.binarize import dynamic_binarize
from dgm.data.idx import MAGIC_IMAGES, MAGIC_LABELS, IdxFormatError, read_idx
from dgm.data.paths import ENV_VAR, data_dir_source

MNIST_BINARIZE_SEED = 2008
"""Seed of the one fixed binarization (Salakhutdinov & Murray, 2008)."""

MNIST_SHAPE = (1, 28, 28)
N_TRAIN, N_VALID, N_TEST = 50_000, 10_000, 10_000
N_CLASSES = 10
IDX_SCALE = 256.0

PKL_NAMES = ("mnist/mnist.pkl.gz", "mnist.pkl.gz")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
VARIANTS = ("", "gray", "pm1", "dynamic", "dynamic60k")


class MnistSizeWarning(UserWarning):
    """The IDX files hold other numbers of images than the official 60,000 and 10,000."""


def binarize_seed(split: str) -> int:
    """The seed of the fixed binarization of one split ("train", "valid", "test")."""
    return derive_seed(MNIST_BINARIZE_SEED, "mnist", split)


def _idx_dirs(root: Path) -> list[Path]:
    """Where the IDX files are looked for, in order: downloads go to the first."""
    return [root / "mnist", root]


def _idx_files_in(d: Path) -> dict[str, Path]:
    """The IDX files present in ``d`` (``.gz`` before plain), by role."""
    found = {}
    for role, base in IDX_FILES.items():
        for name in (base + ".gz", base):
            if (d / name).is_file():
                found[role] = d / name
                break
    return found


def find_mnist(data_dir: str | os.PathLike | None = None) -> tuple[str, dict[str, Path]]:
    """``("pkl", {"pkl": path})`` or ``("idx", {role: path})`` for the first source found.

    The order is the module docstring's: the pickle, then a complete set of IDX files in
    ``mnist/``, then one in the directory itself, then a set made of files from both.
    Raises ``FileNotFoundError`` listing every place looked and how to fix it.
    """
    root, how = data_dir_source(data_dir)
    for rel in PKL_NAMES:
        p = root / rel
        if p.is_file():
            return "pkl", {"pkl": p}
    found: dict[str, Path] = {}
    for d in _idx_dirs(root):
        here = _idx_files_in(d)
        if len(here) == len(IDX_FILES):
            return "idx", here
        for role, p in here.items():
            found.setdefault(role, p)
    if len(found) == len(IDX_FILES):
        return "idx", dict(sorted(found.items(), key=lambda kv: list(IDX_FILES).index(kv[0])))
    raise FileNotFoundError(_missing_message(root, how, found))


def _replace_advice(kind: str, path: Path, root: Path) -> str:
    """How to replace the broken file ``path`` so that the next load finds a good one."""
    download = f"`dgm data download mnist --data-dir {root}`"
    if kind == "pkl":
        return (f"delete or replace {path} (the pickle is read before any IDX files; "
                f"{download} writes those into {root / 'mnist'})")
    return (f"delete or replace {path}, or run {download}: it writes checked copies of the "
            f"four IDX files into {root / 'mnist'}, where they are looked for first "
            "(load_dataset(..., download=True) does the same)")


def _file_error(msg: str, path: Path) -> ValueError:
    """A ValueError marked with the file to replace (see :func:`load_mnist`)."""
    err = ValueError(msg)
    err.path = path
    return err


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
    # a malformed pickle of allowed names fails anywhere in the unpickler (TypeError from
    # _reconstruct's arguments, IndexError, KeyError, ...): all of them mean a bad file
    except Exception as e:  # noqa: BLE001
        raise _file_error(f"{path}: could not read the MNIST pickle "
                          f"({type(e).__name__}: {e})", path) from e
    if not (isinstance(data, (tuple, list)) and len(data) == 3):
        raise _file_error(f"{path}: expected a (train, valid, test) tuple, found "
                          f"{_describe(data)}", path)
    out = {}
    for split, n, pair in zip(("train", "valid", "test"), (N_TRAIN, N_VALID, N_TEST), data):
        try:
            out[split] = _pkl_split(pair, split, n, path)
        except ValueError as e:
            e.path = path  # the file to replace (see load_mnist)
            raise
    return out


def _describe(value: object) -> str:
    """What a pickle held, in a few words: an array's shape, a tuple's length, a type."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {len(value)}-item {type(value).__name__}"
    return f"a value of type {type(value).__name__}"


def _pkl_split(pair: object, split: str, n: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split of the pickle, checked: an (images, labels) pair of arrays of shapes (n, 784)
    and (n,), the labels digits."""
    expected = f"an (images, labels) pair of arrays of shapes ({n}, 784) and ({n},)"
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise ValueError(f"{path}: the {split} split is {_describe(pair)}; expected {expected}")
    try:
        x = np.asarray(pair[0], dtype=np.float32)
        y = np.asarray(pair[1], dtype=np.int64)
    except (TypeError, ValueError) as e:  # None, strings, ragged lists
        raise ValueError(f"{path}: the {split} split holds {_describe(pair[0])} and "
                         f"{_describe(pair[1])}, not numbers ({e}); expected {expected}") from e
    _check_split(x, y, n, split, str(path))
    bad = np.flatnonzero((y < 0) | (y >= N_CLASSES))
    if bad.size:
        raise ValueError(f"{path}: {split} label {int(y[bad[0]])} at index {int(bad[0])} is not "
                         f"a digit 0..{N_CLASSES - 1}")
    return x, y


def _load_idx(paths: dict[str, Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read and check the four IDX files (see the module docstring for what is checked)."""
    arrays = {}
    for role, p in paths.items():
        magic = MAGIC_IMAGES if role.endswith("images") else MAGIC_LABELS
        try:
            arrays[role] = read_idx(p, magic)
        except IdxFormatError as e:
            e.path = p  # the file to replace (see load_mnist)
            raise
    out = {}
    for part in ("train", "test"):
        img, lab = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        img_path, lab_path = paths[f"{part}_images"], paths[f"{part}_labels"]
        if img.ndim != 3 or img.shape[1:] != (28, 28) or len(lab) != len(img):
            raise _file_error(f"{img_path} / {lab_path}: images {img.shape} and labels "
                              f"{lab.shape} do not form an MNIST set of 28x28 images", img_path)
        bad = np.flatnonzero((lab < 0) | (lab >= N_CLASSES))
        if bad.size:
            raise _file_error(f"{lab_path}: label {int(lab[bad[0]])} at index {int(bad[0])} is "
                              f"not a digit 0..{N_CLASSES - 1} ({bad.size} such "
                              f"label{'s' if bad.size > 1 else ''})", lab_path)
        x = img.reshape(len(img), 784).astype(np.float32) / np.float32(IDX_SCALE)
        y = lab.astype(np.int64)
        if part == "test":
            if len(x) == 0:
                raise _file_error(f"{img_path}: no test images (shape {img.shape}); the "
                                  f"official file holds {N_TEST}", img_path)
            out["test"] = (x, y)
        else:
            if len(x) <= N_VALID:
                raise _file_error(f"{img_path}: only {len(x)} training images; need more "
                                  f"than {N_VALID} to split off the validation set", img_path)
            cut = len(x) - N_VALID
            out["train"], out["valid"] = (x[:cut], y[:cut]), (x[cut:], y[cut:])
    n_train, n_test = len(arrays["train_images"]), len(out["test"][0])
    if (n_train, n_test) != (N_TRAIN + N_VALID, N_TEST):
        warnings.warn(
            f"{paths['train_images']} / {paths['test_images']}: {n_train} training and "
            f"{n_test} test images: not the official MNIST sizes ({N_TRAIN + N_VALID} and "
            f"{N_TEST}); the splits are {n_train - N_VALID}/{N_VALID}/{n_test}",
            MnistSizeWarning,
            stacklevel=2,
        )
    return out


def _download(data_dir) -> None:
    from dgm.data.download import download_mnist

    download_mnist(data_dir)


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
    """MNIST splits for ``variant`` in "" (fixed bits), "gray", "pm1", "dynamic", "dynamic60k".

    ``download=True`` fetches the IDX files into ``<data dir>/mnist/`` when no complete
    source is found or when the IDX files found are corrupt or inconsistent.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown MNIST variant {variant!r}; expected one of {VARIANTS}")
    root = data_dir_source(data_dir)[0]
    for attempt in (1, 2):
        try:
            kind, paths = find_mnist(data_dir)
        except FileNotFoundError:
            if not download or attempt == 2:
                raise
            _download(data_dir)
            kind, paths = find_mnist(data_dir)
        key = _file_key(kind, paths)
        try:
            raw = _raw(key)
            break
        except ValueError as e:
            bad = getattr(e, "path", None)
            if bad is None:
                raise
            if download and kind == "idx" and attempt == 1:
                _download(data_dir)  # its files come first in the lookup
                continue
            e.args = (f"{e}; {_replace_advice(kind, bad, root)}",)
            raise
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
