"""download_mnist against a local HTTP server: checksums, mirror fallback, atomic writes."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from dgm.data import download as dl
from dgm.data import load_dataset
from dgm.data import mnist as mnist_mod
from dgm.data.cli import main
from dgm.data.idx import IdxFormatError, write_idx

N_TRAIN = 10_003  # > 10k so the loader can split off the 10k validation images
N_TEST = 7

# the fake files are not the official 60k/10k: the loader says so, and these tests know it
pytestmark = pytest.mark.filterwarnings("ignore:.*not the official MNIST sizes")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Serve good/ (fake IDX files), bad/ (same names, wrong bytes); missing/ is a 404."""
    root = tmp_path_factory.mktemp("www")
    good, bad = root / "good", root / "bad"
    good.mkdir()
    bad.mkdir()
    rng = np.random.default_rng(0)
    imgs = (rng.random((N_TRAIN, 28, 28)) < 0.1) * rng.integers(0, 256, (N_TRAIN, 28, 28))
    write_idx(good / "train-images-idx3-ubyte.gz", imgs)
    write_idx(good / "train-labels-idx1-ubyte.gz", np.arange(N_TRAIN) % 10)
    write_idx(good / "t10k-images-idx3-ubyte.gz", np.full((N_TEST, 28, 28), 128))
    write_idx(good / "t10k-labels-idx1-ubyte.gz", np.arange(N_TEST))
    table = {}
    for p in sorted(good.iterdir()):
        data = p.read_bytes()
        table[p.name] = dl.FileSpec(
            hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data)
        )
        (bad / p.name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield {"base": base, "table": table, "httpd": httpd, "good": good}
    httpd.shutdown()
    httpd.server_close()


def _no_leftovers(d: Path) -> None:
    assert not [p.name for p in d.iterdir() if p.name.endswith(".part")]


def test_fallback_past_missing_and_corrupt_mirrors(server, tmp_path):
    base = server["base"]
    mirrors = [base + "missing", base + "bad/", base + "good/"]
    out = dl.download_mnist(tmp_path, mirrors, progress=False, files=server["table"])
    assert out == tmp_path / "mnist"
    for name, spec in server["table"].items():
        assert dl.verify_file(out / name, spec) is None
    _no_leftovers(out)
    # the fake files load as MNIST: first N_TRAIN-10k train, last 10k valid
    try:
        s = load_dataset("mnist:gray", tmp_path)
        assert (len(s.train), len(s.valid), len(s.test)) == (N_TRAIN - 10_000, 10_000, N_TEST)
        assert np.allclose(s.test.x, 0.5)
        assert s.valid.y[-1] == (N_TRAIN - 1) % 10
    finally:
        mnist_mod.clear_cache()


def test_present_good_files_are_not_fetched_again(server, tmp_path):
    base = server["base"]
    # one mirror as a plain string (not a sequence of one-letter mirrors), no trailing slash
    dl.download_mnist(tmp_path, base + "good", progress=False, files=server["table"])
    n = len(server["httpd"].requests)
    dl.download_mnist(tmp_path, [base + "good/"], progress=False, files=server["table"])
    assert len(server["httpd"].requests) == n
    # a corrupted local file is replaced
    victim = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    victim.write_bytes(b"junk")
    dl.download_mnist(tmp_path, [base + "good/"], progress=False, files=server["table"])
    assert len(server["httpd"].requests) == n + 1
    assert dl.verify_file(victim, server["table"][victim.name]) is None


def test_checksum_mismatch_everywhere_fails_cleanly(server, tmp_path):
    base = server["base"]
    with pytest.raises(dl.DownloadError) as e:
        dl.download_mnist(
            tmp_path, [base + "bad/", base + "missing/"], progress=False, files=server["table"]
        )
    msg = str(e.value)
    assert "SHA-256 mismatch" in msg and base + "bad/" in msg and "404" in msg
    assert not any((tmp_path / "mnist").glob("*.gz"))  # nothing half-written under a real name
    _no_leftovers(tmp_path / "mnist")


def test_md5_is_checked_too(server, tmp_path):
    name = "t10k-labels-idx1-ubyte.gz"
    spec = server["table"][name]
    table = {name: dl.FileSpec(spec.sha256, "0" * 32, spec.size)}
    with pytest.raises(dl.DownloadError, match="MD5 mismatch"):
        dl.download_mnist(tmp_path, [server["base"] + "good/"], progress=False, files=table)
    assert dl.verify_file(server["good"] / name, table[name]) == \
        f"MD5 mismatch: expected {'0' * 32}, got {spec.md5}"  # a file already on disk


def test_load_dataset_downloads_only_when_asked(server, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "MNIST_FILES", server["table"])
    monkeypatch.setattr(dl, "MNIST_MIRRORS", (server["base"] + "good/",))
    with pytest.raises(FileNotFoundError):
        load_dataset("mnist", tmp_path)
    assert not (tmp_path / "mnist").exists()
    try:
        s = load_dataset("mnist", tmp_path, download=True)
        assert s.train.kind == "binary" and len(s.test) == N_TEST
    finally:
        mnist_mod.clear_cache()


def test_cli_download(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dl, "MNIST_FILES", server["table"])
    argv = ["download", "mnist", "--data-dir", str(tmp_path), "--no-progress"]
    assert main([*argv, "--mirror", server["base"] + "good/"]) == 0
    assert str(tmp_path / "mnist") in capsys.readouterr().out
    assert main([*argv, "--force", "--mirror", server["base"] + "bad/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dgm data download: error: could not download") and "SHA-256" in err


@pytest.fixture(params=["pkl", "idx"])
def usable_mnist(request, server, tmp_path):
    """A data directory where MNIST loads: the shared pickle, or IDX files (not the official
    ones, so a download would replace them) in DIR/mnist/."""
    d = tmp_path / "data"
    (d / "mnist").mkdir(parents=True)
    if request.param == "pkl":
        shared = request.getfixturevalue("mnist_dir")
        pkl = shared / "mnist" / "mnist.pkl.gz"
        (d / "mnist" / "mnist.pkl.gz").symlink_to(pkl if pkl.is_file() else shared / "mnist.pkl.gz")
    else:
        for p in server["good"].iterdir():
            (d / "mnist" / p.name).write_bytes(p.read_bytes())
    yield d
    mnist_mod.clear_cache()


def test_cli_download_of_usable_mnist_says_so_and_fetches_nothing(usable_mnist, server, capsys):
    before = {p.name: p.read_bytes() for p in (usable_mnist / "mnist").iterdir()}
    n = len(server["httpd"].requests)
    argv = ["download", "mnist", "--data-dir", str(usable_mnist), "--no-progress"]
    assert main([*argv, "--mirror", server["base"] + "good/"]) == 0
    out = capsys.readouterr().out
    assert f"MNIST is already usable in {usable_mnist}" in out and "--force" in out
    assert len(server["httpd"].requests) == n
    assert {p.name: p.read_bytes() for p in (usable_mnist / "mnist").iterdir()} == before
    # --force downloads all the same (here from a mirror without the files: an error)
    assert main([*argv, "--force", "--mirror", server["base"] + "missing/"]) == 2
    assert len(server["httpd"].requests) > n


def test_published_checksums_table():
    assert set(dl.MNIST_FILES) == {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }
    for spec in dl.MNIST_FILES.values():
        assert len(spec.sha256) == 64 and len(spec.md5) == 32


def test_no_mirrors_is_refused_before_anything_is_created(tmp_path):
    with pytest.raises(ValueError, match=r"mirrors is empty; give at least one base URL"):
        dl.download_mnist(tmp_path, mirrors=[], progress=False)
    assert not (tmp_path / "mnist").exists()


def _corrupt_copy(server, d: Path) -> Path:
    """The four good files in ``d``, the training images cut in half; returns that file."""
    d.mkdir(parents=True, exist_ok=True)
    for name in server["table"]:
        data = (server["good"] / name).read_bytes()
        (d / name).write_bytes(data[: len(data) // 2] if name.startswith("train-images") else data)
    return d / "train-images-idx3-ubyte.gz"


@pytest.mark.parametrize("where", ["", "mnist"])
def test_a_corrupt_idx_file_is_named_and_the_advised_download_fixes_it(server, tmp_path, where):
    """The error names the file, says to delete it or download with this --data-dir; doing
    the latter works wherever the corrupt file lies (a stray root copy used to win)."""
    victim = _corrupt_copy(server, tmp_path / where)
    with pytest.raises(IdxFormatError) as e:
        load_dataset("mnist:gray", tmp_path)
    msg = str(e.value)
    assert str(victim) in msg and "corrupt or truncated gzip" in msg
    assert f"delete or replace {victim}" in msg
    assert f"dgm data download mnist --data-dir {tmp_path}" in msg
    assert str(tmp_path / "mnist") in msg
    dl.download_mnist(tmp_path, [server["base"] + "good/"], progress=False, files=server["table"])
    try:
        assert len(load_dataset("mnist:gray", tmp_path).test) == N_TEST
    finally:
        mnist_mod.clear_cache()


@pytest.mark.parametrize("where", ["", "mnist"])
def test_download_true_gets_past_a_corrupt_idx_file(server, tmp_path, monkeypatch, where):
    monkeypatch.setattr(dl, "MNIST_FILES", server["table"])
    monkeypatch.setattr(dl, "MNIST_MIRRORS", (server["base"] + "good/",))
    _corrupt_copy(server, tmp_path / where)
    try:
        s = load_dataset("mnist:gray", tmp_path, download=True)
        assert len(s.test) == N_TEST and np.allclose(s.test.x, 0.5)
    finally:
        mnist_mod.clear_cache()
    for name, spec in server["table"].items():  # the fresh copies are where the lookup starts
        assert dl.verify_file(tmp_path / "mnist" / name, spec) is None
