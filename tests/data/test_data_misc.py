"""digits, load_dataset dispatch, dynamic_binarize, the CLI, and import hygiene."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest

from dgm.data import DATASETS, ArrayDataset, dynamic_binarize, load_dataset
from dgm.data import digits as digits_mod
from dgm.data import mnist as mnist_mod
from dgm.data.cli import add_data_subparser, main, run_data


def test_digits_splits():
    b, g, p = (load_dataset(s) for s in ("digits", "digits:gray", "digits:pm1"))
    assert (len(b.train), len(b.valid), len(b.test)) == (1297, 250, 250)
    for (_, bs), (_, gs), (_, ps) in zip(b.items(), g.items(), p.items()):
        assert bs.shape == (1, 8, 8) and bs.kind == "binary" and gs.kind == "unit"
        assert set(np.unique(bs.x)) <= {0.0, 1.0}
        assert np.array_equal(bs.y, gs.y) and np.array_equal(gs.y, ps.y)
        assert len(np.unique(bs.y)) == 10
        np.testing.assert_allclose(ps.x, 2 * gs.x - 1)
        assert not bs.x[gs.x == 0].any() and bs.x[gs.x == 1].all()
    assert abs(b.train.x.mean() - g.train.x.mean()) < 0.01
    # splits partition the 1797 images (multiset of labels adds up)
    counts = sum(np.bincount(ds.y, minlength=10) for _, ds in g.items())
    from sklearn.datasets import load_digits

    assert np.array_equal(counts, np.bincount(load_digits().target))


def test_digits_fixed_across_loads():
    a = load_dataset("digits").train.x.copy()
    digits_mod._arrays.cache_clear()
    assert np.array_equal(load_dataset("digits").train.x, a)


def test_dynamic_binarize_is_seeded_and_calibrated_per_intensity():
    """P(bit = 1 | x) = x: on skewed intensities x = u^3 (mean 1/4, so Bernoulli(1 - x)
    misses the global mean by 1/2), in every tenth of [0, 1] the bits' mean is within 4
    standard errors (sqrt(E[x(1 - x)] / n) in the bin) of the intensities' mean; a threshold
    at 1/2 or any other miscalibration fails bin by bin."""
    x = (np.random.default_rng(0).random((4000, 50)) ** 3).astype(np.float32)
    a, b = dynamic_binarize(x, 1), dynamic_binarize(x, 1)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, dynamic_binarize(x, 2))
    rng = np.random.default_rng(5)  # a generator advances: two batches differ
    assert not np.array_equal(dynamic_binarize(x, rng), dynamic_binarize(x, rng))
    bins = np.minimum((x * 10).astype(int), 9)
    for k in range(10):
        xs, bits = x[bins == k], a[bins == k]
        assert len(xs) > 5000  # the sparsest bin, [0.9, 1), holds about 7,000 values
        se = np.sqrt((xs * (1 - xs)).mean() / len(xs))
        assert abs(bits.mean() - xs.mean()) < 4 * se, (k, bits.mean(), xs.mean(), se)


def test_unknown_spec_suggests():
    with pytest.raises(ValueError, match="Did you mean 'mnist:gray'"):
        load_dataset("mnist:grey")


_X = np.zeros((2, 2), np.float32)


@pytest.mark.parametrize("args, message", [
    ((np.zeros((2, 3), np.float32), None, (2,), "real", False), r"x/train: per-example shape "
     r"\(2,\) does not match D=3"),
    ((_X, None, (2,), "gray", False), r"x/train: kind must be one of .*, got 'gray'"),
    ((_X.astype(np.float64), None, (2,), "real", False),
     r"x/train: x must be a 2-D float32 array \(N, D\), got ndarray float64 \(2, 2\)"),
    ((_X[0], None, (2,), "real", False), r"x must be a 2-D float32 array .* \(2,\)"),
    ((_X, np.zeros(3, np.int64), (2,), "real", False), r"x/train: y must have shape \(2,\), "
     r"got \(3,\)"),
    ((_X, None, (2,), "binary", True), r"x/train: dynamic_binarize needs kind 'unit', "
     r"got 'binary'"),
], ids=["shape", "kind", "float64", "1-d", "labels", "dynamic-binary"])
def test_arraydataset_validates(args, message):
    with pytest.raises(ValueError, match=message):
        ArrayDataset(*args, "x", "train")


def test_arraydataset_repr_names_the_split_and_dynamic_binarization():
    ds = ArrayDataset(_X, None, (1, 2), "unit", True, "mnist:dynamic", "train")
    assert repr(ds) == ("ArrayDataset(name='mnist:dynamic', split='train', n=2, shape=(1, 2), "
                        "kind='unit', dynamic_binarize=True)")
    assert repr(ArrayDataset(_X, None, (2,), "real", False, "ring8")) == \
        "ArrayDataset(name='ring8', n=2, shape=(2,), kind='real')"
    assert ds.model_kind == "binary"


@pytest.mark.parametrize("load, message", [
    (lambda: digits_mod.load_digits_splits("grey"), "unknown digits variant 'grey'"),
    (lambda: mnist_mod.load_mnist("grey"), "unknown MNIST variant 'grey'"),
])
def test_a_loader_called_with_an_unknown_variant_names_it_and_the_choices(load, message):
    with pytest.raises(ValueError, match=message + r"; expected one of \("):
        load()


@pytest.mark.parametrize("seed, error, message", [
    (-1, ValueError, "seed must be a non-negative integer, got -1"),
    ("3", TypeError, r"seed must be an int, a numpy Generator or None, got '3' \(str\)"),
    (1.5, TypeError, r"got 1.5 \(float\)"),
])
def test_dynamic_binarize_names_a_bad_seed(seed, error, message):
    with pytest.raises(error, match=message):
        dynamic_binarize(np.full((2, 2), 0.5, np.float32), seed)


def test_dynamic_binarize_of_a_scalar_or_an_empty_batch_keeps_the_shape():
    assert dynamic_binarize(np.float32(1.0), 0).shape == ()
    assert dynamic_binarize(np.float32(1.0), 0) == 1 and dynamic_binarize(np.float32(0.0), 0) == 0
    empty = dynamic_binarize(np.zeros((0, 5), np.float32), 0)
    assert empty.shape == (0, 5) and empty.dtype == np.float32
    bits = [dynamic_binarize(np.float32(0.5), s) for s in range(200)]  # fresh draws per seed
    assert 60 < sum(bits) < 140


def test_cli_info_and_list(capsys):
    assert main(["info", "ring8"]) == 0
    out = capsys.readouterr().out
    assert "train: n=50000, shape=(2,), kind=real" in out and "test : n=5000" in out
    assert main(["list"]) == 0
    assert capsys.readouterr().out.split() == DATASETS


def test_cli_info_missing_mnist(tmp_path, capsys):
    assert main(["info", "mnist", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dgm data info: error: MNIST was not found")
    assert "dgm data download mnist" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "digitz"], "unknown data set 'digitz'. Did you mean"),
        (["download", "mnist", "--data-dir", "FILE"], "Not a directory: FILE/mnist"),
        (["download", "mnist", "--data-dir", "FILE/sub"], "Not a directory: FILE/sub"),
        (["info", "mnist", "--data-dir", "FILE"], "MNIST was not found"),
    ],
    ids=["unknown-spec", "data-dir-is-a-file", "data-dir-under-a-file", "info-in-a-file"],
)
def test_cli_errors_name_the_command_and_path_and_exit_2(argv, message, tmp_path, capsys):
    """Unwritable or unusable --data-dir, unknown spec: `dgm data CMD: error: ...`, status 2."""
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    argv = [a.replace("FILE", str(afile)) for a in argv]
    try:
        status = main([*argv, "--mirror", "http://127.0.0.1:9/"] if "download" in argv else argv)
    except OSError as err:
        pytest.fail(f"{type(err).__name__} escaped: {err}")
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dgm data {argv[0]}: error: " + message.replace("FILE", str(afile)))
    assert "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_cli_download_into_a_read_only_directory_names_it(tmp_path, capsys):
    ro = tmp_path / "ro"
    (ro / "mnist").mkdir(parents=True)
    (ro / "mnist").chmod(0o555)
    try:
        argv = ["download", "mnist", "--data-dir", str(ro), "--mirror", "http://127.0.0.1:9/"]
        assert main(argv) == 2
    finally:
        (ro / "mnist").chmod(0o755)
    err = capsys.readouterr().err
    assert err == f"dgm data download: error: Permission denied: {ro / 'mnist'}\n"


def test_closed_stdout_pipe_exits_quietly_with_status_0():
    """`dgm data info digits | head -1`: no error text, status 0 (as `dgm` itself)."""
    for argv in (["list"], ["info", "digits"]):
        code = f"from dgm.data.cli import main; raise SystemExit(main({argv!r}))"
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        proc.stdout.close()  # the reader is gone before anything is written
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert (proc.wait(), err) == (0, ""), argv


@pytest.mark.parametrize(
    ("argv", "where"),
    [(["info", "digits"], "load_dataset"), (["download", "mnist"], "download_mnist")],
    ids=["info", "download"],
)
def test_ctrl_c_prints_one_line_and_exits_130(argv, where, tmp_path, monkeypatch, capsys):
    import dgm.data

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dgm.data, where, interrupted)
    try:
        status = main([*argv, "--data-dir", str(tmp_path)])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped (a traceback for the user)")
    assert status == 130
    assert capsys.readouterr().err == f"dgm data {argv[0]}: interrupted\n"


def test_cli_wires_into_a_parent_parser(capsys):
    parser = argparse.ArgumentParser(prog="dgm")
    add_data_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "info", "tiny:bn"])
    assert args.func is run_data and args.func(args) == 0
    assert "kind=binary" in capsys.readouterr().out


def test_import_needs_no_torch_or_sklearn():
    code = (
        "import sys, dgm.data\n"
        "dgm.data.load_dataset('ring8'); dgm.data.load_dataset('tiny:rbm')\n"
        "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "x, match",
    [
        ([[0.5, -1.0]], r"value -1 at row 0, column 1"),  # [-1, 1] data (mnist:pm1)
        ([[2.0, 255.0]], r"value 2 at row 0, column 0"),  # raw 0..255 pixels
        ([[0.5, 0.5], [0.5, np.nan]], r"1 non-finite value\(s\) .* nan at row 1, column 1"),
        ([0.5, 1.5], r"value 1.5 at index 1"),
    ],
)
def test_dynamic_binarize_refuses_values_outside_0_1(x, match):
    with pytest.raises(ValueError, match=r"dynamic_binarize input x: .*" + match):
        dynamic_binarize(np.asarray(x, np.float32), 0)


def test_data_dir_help_names_the_xdg_cache(capsys):
    """--data-dir's default is $DGM_DATA, else $XDG_CACHE_HOME/dgm, else ~/.cache/dgm."""
    parser = argparse.ArgumentParser(prog="dgm")
    add_data_subparser(parser.add_subparsers(dest="command"))
    for cmd in ("download", "info"):
        with pytest.raises(SystemExit):
            parser.parse_args(["data", cmd, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "(default: $DGM_DATA, else $XDG_CACHE_HOME/dgm, else ~/.cache/dgm)" in out, cmd
