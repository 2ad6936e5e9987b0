"""``dgm pgm`` outputs at the edges: samples with nothing left to sample, a sample too large
for memory, picture formats, a network with Z = 0, and write errors that name the output."""

from __future__ import annotations

import csv
import errno
from pathlib import Path

import numpy as np
import pytest

import dgm._files
import dgm.pgm._memory
from dgm.pgm.cli import main

from .conftest import bif_path

ASIA_ALL_YES = ["asia=yes", "tub=yes", "smoke=yes", "lung=yes", "bronc=yes", "either=yes",
                "xray=yes", "dysp=yes"]
ZEROS_UAI = "MARKOV\n2\n2 2\n1\n2 0 1\n4\n0 0 0 0\n"


def _net(spec: str, tmp_path: Path) -> str:
    """NET for a test: asia's file, or a UAI network written from its text."""
    if spec == "asia":
        return str(bif_path("asia"))
    path = tmp_path / "net.uai"
    path.write_text(spec)
    return str(path)


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
@pytest.mark.parametrize(("net", "evidence", "row"), [
    ("asia", ASIA_ALL_YES, ["yes"] * 8),
    ("MARKOV\n0\n\n0\n", [], []),  # no variables at all
    ("MARKOV\n2\n2 3\n1\n2 0 1\n6\n1 2 3 4 5 6\n", ["x0=1", "x1=2"], ["1", "2"]),
], ids=["bayes-all-observed", "no-variables", "markov-all-observed"])
def test_samples_with_every_variable_observed_all_equal_the_evidence(
        net, evidence, row, suffix, tmp_path, capsys):
    out = tmp_path / f"s{suffix}"
    argv = ["sample", _net(net, tmp_path), "-n", "7", "-o", str(out)]
    assert main(argv + (["--evidence", *evidence] if evidence else [])) == 0
    assert "wrote 7 Gibbs samples" in capsys.readouterr().out
    if suffix == ".npy":
        codes = np.load(out)
        assert codes.shape == (7, len(row)) and codes.dtype == np.int64
        # "yes" is state 0 of every asia variable; x0=1, x1=2 are state indices themselves
        expected = [0] * len(row) if row == ["yes"] * len(row) else [int(r) for r in row]
        assert (codes == np.array(expected)).all()
    else:
        with out.open(newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[1:] == [row] * 7


@pytest.mark.parametrize(("argv", "message"), [
    (["-n", "10000000000000"],
     "-n 10000000000000: 10,000,000,000,000 samples of 8 variables need about 2,560,000.0 GB "
     "of memory, more than this machine's 16.0 GB"),
    (["-n", "10", "--gibbs", "--chains", "10000000000000"],
     "-n 10 with --chains 10000000000000: 10,000,000,000,000 samples of 8 variables"),
], ids=["forward", "gibbs-chains"])
def test_a_sample_larger_than_memory_is_refused_before_drawing(
        argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dgm.pgm._memory, "physical_memory", lambda: 16 * 10**9)
    assert main(["sample", str(bif_path("asia")), "-o", str(tmp_path / "s.npy"), *argv]) == 2
    err = capsys.readouterr().err
    assert f"dgm pgm sample: error: {message}" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "written", "magic"), [
    ("n.svg", "n.svg", b"<?xml"),
    ("n.pdf", "n.pdf", b"%PDF"),
    ("n.jpg", "n.jpg", b"\xff\xd8\xff"),
    ("n.JPEG", "n.JPEG", b"\xff\xd8\xff"),
    ("n.png", "n.png", b"\x89PNG"),
    ("n", "n.png", b"\x89PNG"),
], ids=["svg", "pdf", "jpg", "JPEG", "png", "no-suffix"])
def test_draw_writes_the_format_its_suffix_names(name, written, magic, tmp_path, capsys):
    assert main(["draw", str(bif_path("asia")), "-o", str(tmp_path / name)]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / written}\n"
    assert (tmp_path / written).read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["net.xyz", "sub/net.tiff", "net.v2"])
def test_draw_refuses_a_suffix_it_cannot_write_listing_those_it_can(name, tmp_path, capsys):
    assert main(["draw", str(bif_path("asia")), "-o", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err == (f"dgm pgm draw: error: {tmp_path / name}: cannot write a {Path(name).suffix} "
                   "picture; give a file ending in .png, .svg, .pdf, .jpg, .jpeg (or no suffix, "
                   "for .png)\n")
    assert list(tmp_path.iterdir()) == []  # not even the folder


@pytest.mark.parametrize("argv", [
    ["query", "NET", "--target", "x0"],
    ["query", "NET", "--target", "x0", "--json"],
    ["query", "NET", "--target", "x0", "--evidence", "x1=1"],
    ["query", "NET", "--target", "x0", "--evidence-csv", "e.csv"],
    ["query", "NET", "--target", "x0", "--evidence-csv", "x0.csv"],  # only the target: the prior
    ["sample", "NET", "-o", "s.csv"],
], ids=["query", "json", "evidence", "evidence-csv", "prior-csv", "sample"])
def test_a_network_with_z_0_is_blamed_not_the_evidence(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("e.csv").write_text("x1\n0\n1\n")
    Path("x0.csv").write_text("x0\n0\n")
    net = _net(ZEROS_UAI, tmp_path)
    assert main([net if a == "NET" else a for a in argv]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == (f"dgm pgm {argv[0]}: error: {net}: the factors give every joint state "
                   "weight 0 (Z = 0): the model defines no distribution")


@pytest.mark.parametrize("argv", [
    ["query", "NET", "--target", "lung", "--evidence-csv", "e.csv", "-o", "out/p.csv"],
    ["sample", "NET", "-n", "3", "-o", "out/s.npy"],
    ["draw", "NET", "-o", "out/n.svg"],
], ids=["query", "sample", "draw"])
def test_a_write_error_names_the_output_not_the_temporary_file(argv, tmp_path, capsys,
                                                               monkeypatch):
    def read_only(dir, prefix, suffix):  # called as mkstemp is, with its keywords
        raise OSError(errno.EROFS, "Read-only file system", f"{dir}/{prefix}x1y2z3w4{suffix}")

    monkeypatch.chdir(tmp_path)
    Path("e.csv").write_text("smoke\nyes\n")
    monkeypatch.setattr(dgm._files.tempfile, "mkstemp", read_only)
    assert main([str(bif_path("asia")) if a == "NET" else a for a in argv]) == 2
    assert capsys.readouterr().err == (f"dgm pgm {argv[0]}: error: Read-only file system: "
                                       f"{argv[-1]}\n")
