"""The pgm CLI (via main(argv)), pictures, and importing dgm.pgm without torch."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from dgm.pgm.cli import main
from dgm.pgm.draw import draw_network, plot_mixing
from dgm.pgm.examples import misconception
from dgm.pgm.markov_chain import MarkovChain

from .conftest import bif_path, load


def test_info_lists_every_variable(capsys):
    assert main(["info", str(bif_path("asia"))]) == 0
    out = capsys.readouterr().out
    assert "8 variables" in out and "either [yes, no] | lung, tub" in out


def test_query_json_matches_the_python_api(capsys):
    assert (
        main(
            [
                "query",
                str(bif_path("alarm")),
                "--target",
                "HR",
                "--evidence",
                "CVP=LOW",
                "PCWP=HIGH",
                "--json",
            ]
        )
        == 0
    )
    got = json.loads(capsys.readouterr().out)["posterior"]
    expected = load("alarm").query("HR", {"CVP": "LOW", "PCWP": "HIGH"}).values
    assert np.allclose([got[s] for s in ("LOW", "NORMAL", "HIGH")], expected)


def test_sample_then_batch_query_round_trip(tmp_path, capsys):
    net = str(bif_path("asia"))
    samples, posts = tmp_path / "s.csv", tmp_path / "p.csv"
    assert main(["sample", net, "-n", "200", "-o", str(samples), "--seed", "1"]) == 0
    with samples.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 200 and set(rows[0]) == set(load("asia").variables)
    assert (
        main(["query", net, "--target", "lung", "--evidence-csv", str(samples), "-o", str(posts)])
        == 0
    )
    with posts.open() as fh:
        got = np.array([[float(x) for x in r] for r in list(csv.reader(fh))[1:]])
    ev = {k: v for k, v in rows[5].items() if k != "lung"}
    assert np.allclose(got[5], load("asia").query("lung", ev).values)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["query", "NET", "--target", "lung", "--evidence", "smoke=maybe"],
            "unknown state 'maybe'",
        ),
        (["query", "NET", "--target", "lung", "--evidence", "smoke"], "VARIABLE=STATE"),
        (["query", "NET", "--target", "lungs"], "unknown target variable 'lungs'"),
        (["info", "/no/such/net.bif"], "no network file"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(argv, message, capsys):
    argv = [str(bif_path("asia")) if a == "NET" else a for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("model", [lambda: load("child"), misconception], ids=["bayes", "markov"])
def test_network_picture_is_a_png(tmp_path, model):
    path = draw_network(model(), tmp_path / "net.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draw_command_and_mixing_plot_write_pngs(tmp_path):
    assert main(["draw", str(bif_path("asia")), "-o", str(tmp_path / "a.png")]) == 0
    curve = MarkovChain([[0.9, 0.1], [0.5, 0.5]]).tv_curve([1, 0], 30)
    path = plot_mixing({"weather": curve}, tmp_path / "mix.png")
    assert (tmp_path / "a.png").stat().st_size > 1000 and path.stat().st_size > 1000


def test_dgm_pgm_imports_without_torch_or_matplotlib():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import dgm.pgm, dgm.pgm.cli, dgm.pgm.gibbs, dgm.pgm.io.uai, dgm.pgm.examples\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
        "print(round(dgm.pgm.examples.misconception().partition_function()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "7201840"
