"""MNIST loading: splits, fixed binarization, variants, sources, missing-data errors."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from dgm.data import check_data, dynamic_binarize, load_dataset, resolve_data_dir
from dgm.data import mnist as mnist_mod
from dgm.data.idx import write_idx

# sha256 of np.packbits of the fixed bits: changing the seed, the split or the
# sampling protocol changes every published number, so it must be deliberate.
PINNED = {
    "train": "f6fa44c5b9f7c6b4cc762dddf6d3d524907ca1c7f7e4b5065f30854c87488b86",
    "valid": "7d5d9dcbdb4cf93a0c6285488c8933a22ef44314baf61d14c9ad3767c60f309a",
    "test": "60ceaebff72ef7002b5ee38bf01e9107c882776d3dd87bd5bb4a0f9f2e5789e0",
}


def bits_hash(x: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(x.astype(np.uint8)).tobytes()).hexdigest()


def test_split_sizes_kinds_shapes(mnist_dir):
    expect = {
        "mnist": ("binary", False, (50_000, 10_000, 10_000)),
        "mnist:gray": ("unit", False, (50_000, 10_000, 10_000)),
        "mnist:pm1": ("pm1", False, (50_000, 10_000, 10_000)),
        "mnist:dynamic": ("unit", True, (50_000, 10_000, 10_000)),
        "mnist:dynamic60k": ("unit", True, (60_000, None, 10_000)),
    }
    for spec, (kind, dyn, sizes) in expect.items():
        s = load_dataset(spec, mnist_dir)
        assert s.train.kind == kind and s.train.dynamic_binarize is dyn, spec
        assert s.train.model_kind == ("binary" if dyn else kind)
        got = (len(s.train), None if s.valid is None else len(s.valid), len(s.test))
        assert got == sizes, spec
        for _, ds in s.items():
            assert ds.shape == (1, 28, 28) and ds.x.shape[1] == 784
            assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
            assert ds.name == spec
            assert not ds.x.flags.writeable


def test_fixed_binarization_is_pinned_and_repeatable(mnist_dir):
    first = {k: bits_hash(v.x) for k, v in load_dataset("mnist", mnist_dir).items()}
    mnist_mod.clear_cache()
    second = {k: bits_hash(v.x) for k, v in load_dataset("mnist", mnist_dir).items()}
    assert first == second
    assert first == PINNED


def test_fixed_binarization_same_in_another_process(mnist_dir):
    code = (
        "import hashlib, numpy as np, sys\n"
        "from dgm.data import load_dataset\n"
        "x = load_dataset('mnist', sys.argv[1]).test.x\n"
        "print(hashlib.sha256(np.packbits(x.astype(np.uint8)).tobytes()).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(mnist_dir)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == bits_hash(load_dataset("mnist", mnist_dir).test.x)


def test_bits_follow_intensities(mnist_dir):
    gray, bits = load_dataset("mnist:gray", mnist_dir), load_dataset("mnist", mnist_dir)
    for (split, g), (_, b) in zip(gray.items(), bits.items()):
        check_data(b.x, "binary", f"mnist/{split}")
        assert np.array_equal(g.y, b.y)
        # E[bit] = intensity: the mean over ~8M (or 39M) pixels is within a few 1e-4
        assert abs(float(b.x.mean()) - float(g.x.mean())) < 1e-3, split
        assert not b.x[g.x == 0].any()  # intensity 0 never gives a 1
        # per-pixel-bin calibration: pixels of intensity ~0.5 are 1 about half the time
        mid = (g.x > 0.45) & (g.x < 0.55)
        assert abs(float(b.x[mid].mean()) - float(g.x[mid].mean())) < 0.02


def test_other_seed_gives_other_bits(mnist_dir):
    g = load_dataset("mnist:gray", mnist_dir).test.x
    fixed = load_dataset("mnist", mnist_dir).test.x
    assert np.array_equal(dynamic_binarize(g, mnist_mod.binarize_seed("test")), fixed)
    other = dynamic_binarize(g, 12345)
    frac = float((other != fixed).mean())
    assert 0.01 < frac < 0.2
    seeds = {mnist_mod.binarize_seed(s) for s in ("train", "valid", "test")}
    assert len(seeds) == 3


def test_dynamic_variants_share_the_fixed_eval_bits(mnist_dir):
    fixed = load_dataset("mnist", mnist_dir)
    gray = load_dataset("mnist:gray", mnist_dir)
    dyn = load_dataset("mnist:dynamic", mnist_dir)
    assert np.array_equal(dyn.train.x, gray.train.x)
    assert np.array_equal(dyn.valid.x, fixed.valid.x) and dyn.valid.kind == "binary"
    assert np.array_equal(dyn.test.x, fixed.test.x) and dyn.test.kind == "binary"
    d60 = load_dataset("mnist:dynamic60k", mnist_dir)
    assert d60.valid is None
    assert np.array_equal(d60.train.x[:50_000], gray.train.x)
    assert np.array_equal(d60.train.x[50_000:], gray.valid.x)
    assert np.array_equal(d60.train.y[50_000:], gray.valid.y)
    assert np.array_equal(d60.test.x, fixed.test.x)
    # the training loop's per-batch bits change with the seed
    xb = d60.train.x[:256]
    assert not np.array_equal(dynamic_binarize(xb, 1), dynamic_binarize(xb, 2))
    check_data(dynamic_binarize(xb, 1), d60.train.model_kind, "mnist:dynamic60k")


def test_pm1_is_affine_image_of_gray(mnist_dir):
    g = load_dataset("mnist:gray", mnist_dir).valid.x
    p = load_dataset("mnist:pm1", mnist_dir).valid.x
    np.testing.assert_allclose(p, 2 * g - 1, atol=1e-6)
    check_data(p, "pm1", "mnist:pm1")
    assert p.min() == -1.0 and p.max() <= 1.0


def test_idx_source_matches_pickle(mnist_dir, tmp_path):
    """The IDX path (pixel/256, first 50k / last 10k) reproduces the pickle bit for bit."""
    gray = load_dataset("mnist:gray", mnist_dir)
    train = np.concatenate([gray.train.x, gray.valid.x])
    ytrain = np.concatenate([gray.train.y, gray.valid.y])
    to_u8 = lambda x: np.round(x * 256).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
    sub = tmp_path / "mnist"
    sub.mkdir()
    write_idx(tmp_path / "train-images-idx3-ubyte", to_u8(train))
    write_idx(sub / "train-labels-idx1-ubyte.gz", ytrain)
    write_idx(sub / "t10k-images-idx3-ubyte", to_u8(gray.test.x))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", gray.test.y)
    assert mnist_mod.find_mnist(tmp_path)[0] == "idx"
    try:
        from_idx = load_dataset("mnist", tmp_path)
        fixed = load_dataset("mnist", mnist_dir)
        for (split, a), (_, b) in zip(from_idx.items(), fixed.items()):
            assert np.array_equal(a.x, b.x), split
            assert np.array_equal(a.y, b.y), split
    finally:
        mnist_mod.clear_cache()


def test_missing_mnist_message_says_where_and_what(tmp_path, monkeypatch):
    monkeypatch.delenv("DGM_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as e:
        load_dataset("mnist", tmp_path)
    msg = str(e.value)
    for needle in (
        str(tmp_path / "mnist" / "mnist.pkl.gz"),
        str(tmp_path / "mnist.pkl.gz"),
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "DGM_DATA",
        "--data-dir",
        "dgm data download mnist",
        "download=True",
    ):
        assert needle in msg, needle


def test_missing_message_names_missing_idx_files(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(FileNotFoundError, match="missing: train-labels-idx1-ubyte"):
        load_dataset("mnist:gray", tmp_path)


def test_resolve_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("DGM_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("DGM_DATA")
    assert resolve_data_dir() == tmp_path / "xdg" / "dgm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "dgm"


def test_env_var_is_used(mnist_dir, monkeypatch):
    monkeypatch.setenv("DGM_DATA", str(mnist_dir))
    assert len(load_dataset("mnist:gray").test) == 10_000


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling this would create the marker file
        return (open, (str(self.marker), "w"))


def test_a_pickle_naming_anything_but_numpy_arrays_is_refused_unrun(tmp_path):
    import gzip
    import pickle

    marker = tmp_path / "ran"
    (tmp_path / "mnist").mkdir()
    with gzip.open(tmp_path / "mnist" / "mnist.pkl.gz", "wb") as f:
        pickle.dump((_Payload(marker), None, None), f)
    with pytest.raises(ValueError, match=r"mnist.pkl.gz: could not read .*refusing to load "
                                         r"(builtins|io)\.open"):
        load_dataset("mnist", data_dir=tmp_path)
    assert not marker.exists()


class _Raw(bytes):
    """Pickle bytes written as they are (a malformed pickle no ``pickle.dump`` would make)."""


PAIR = r"expected an \(images, labels\) pair of arrays of shapes \(50000, 784\) and \(50000,\)"


@pytest.mark.parametrize("content, match", [
    ((np.zeros((3, 784)), np.zeros(3)),
     r"expected a \(train, valid, test\) tuple, found a 2-item tuple"),
    (((np.zeros((10, 100)), np.zeros(10)), None, None),
     r"unexpected train arrays: images \(10, 100\), labels \(10,\) "
     r"\(expected \(50000, 784\) and \(50000,\)\)"),
    ((1, 2, 3), rf"the train split is a value of type int; {PAIR}"),
    ([[1, 2, 3]] * 3, rf"the train split is a 3-item list; {PAIR}"),
    (((None, None), None, None),
     r"the train split holds a value of type NoneType and a value of type NoneType, not "
     rf"numbers \(.*\); {PAIR}"),
    (((np.zeros((50000, 784), np.float32), np.full(50000, 12)), None, None),
     r"train label 12 at index 0 is not a digit 0..9"),
    # numpy's _reconstruct (an allowed name) called with one argument instead of three
    (_Raw(b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nK\x01\x85R."),
     r"could not read the MNIST pickle \(TypeError: _reconstruct\(\) takes exactly 3 .*\)"),
    (_Raw(b"\x80\x02K\x01R."),
     r"could not read the MNIST pickle \(UnpicklingError: unpickling stack underflow\)"),
], ids=["not-three-splits", "wrong-image-size", "ints", "three-3-item-lists", "nones",
        "label-12", "reconstruct-arguments", "stack-underflow"])
def test_a_pickle_of_another_layout_is_named_with_the_fix(tmp_path, content, match):
    import gzip
    import pickle

    path = tmp_path / "mnist" / "mnist.pkl.gz"
    path.parent.mkdir()
    with gzip.open(path, "wb") as f:
        f.write(content if isinstance(content, _Raw) else pickle.dumps(content))
    try:
        with pytest.raises(ValueError, match=f"^{path}: {match}; delete or replace {path}"):
            load_dataset("mnist:gray", data_dir=tmp_path)
    finally:
        mnist_mod.clear_cache()


def test_a_corrupt_gzip_trailer_is_an_error_not_silent_data(mnist_dir, tmp_path):
    """pickle stops at its STOP opcode; reading on to the end lets gzip check its CRC."""
    data = bytearray((mnist_dir / "mnist" / "mnist.pkl.gz").read_bytes())
    data[-8] ^= 0x01  # the CRC-32 of the uncompressed data: the pixels decode unchanged
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "mnist.pkl.gz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"could not read the MNIST pickle .*CRC"):
        load_dataset("mnist", data_dir=tmp_path)


def _idx_set(d, n_train=10_001, n_test=3, train_labels=None, test_labels=None, names=None):
    """Small fake IDX files in ``d`` (all four, or only ``names``)."""
    d.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": np.zeros((n_train, 28, 28), np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10 if train_labels is None
                                       else train_labels),
        "t10k-images-idx3-ubyte.gz": np.zeros((n_test, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test) % 10 if test_labels is None else test_labels,
    }
    for name, a in arrays.items():
        if names is None or name in names:
            write_idx(d / name, a)


@pytest.mark.parametrize(
    "root_names, sub_names, expect",
    [
        (None, None, "mnist"),  # a download into mnist/ wins over stray copies in the root
        (None, ("train-images-idx3-ubyte.gz",), "root"),  # a complete set beats a mix
        (("train-images-idx3-ubyte.gz",), None, "mnist"),
    ],
)
def test_a_complete_idx_set_is_preferred_mnist_folder_first(tmp_path, root_names, sub_names,
                                                             expect):
    _idx_set(tmp_path, names=root_names)
    _idx_set(tmp_path / "mnist", names=sub_names)
    kind, paths = mnist_mod.find_mnist(tmp_path)
    want = tmp_path / "mnist" if expect == "mnist" else tmp_path
    assert kind == "idx" and {p.parent for p in paths.values()} == {want}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"train_labels": np.r_[np.arange(10_000) % 10, 255]},
         r"train-labels-idx1-ubyte.gz: label 255 at index 10000 is not a digit 0..9 "
         r"\(1 such label\)"),
        ({"test_labels": np.array([0, 10, 12])},
         r"t10k-labels-idx1-ubyte.gz: label 10 at index 1 is not a digit 0..9 \(2 such labels\)"),
        ({"n_test": 0, "test_labels": np.zeros(0)},
         r"t10k-images-idx3-ubyte.gz: no test images"),
        ({"train_labels": np.zeros(5)},
         r"train-images-idx3-ubyte.gz / .*train-labels-idx1-ubyte.gz: images \(10001, 28, 28\) "
         r"and labels \(5,\) do not form an MNIST set"),
        ({"n_train": 10_000},
         r"train-images-idx3-ubyte.gz: only 10000 training images; need more than 10000"),
    ],
)
def test_idx_labels_outside_0_to_9_or_inconsistent_sizes_are_refused(tmp_path, kwargs, match):
    _idx_set(tmp_path, **kwargs)
    try:
        with pytest.raises(ValueError, match=match):
            load_dataset("mnist:gray", tmp_path)
    finally:
        mnist_mod.clear_cache()


def test_idx_files_of_other_sizes_load_with_a_warning_giving_the_splits(tmp_path):
    _idx_set(tmp_path, n_train=10_003, n_test=7)
    try:
        with pytest.warns(UserWarning, match=r"10003 training and 7 test images: not the "
                                             r"official MNIST sizes .* splits are 3/10000/7"):
            s = load_dataset("mnist:gray", tmp_path)
        assert (len(s.train), len(s.valid), len(s.test)) == (3, 10_000, 7)
    finally:
        mnist_mod.clear_cache()
