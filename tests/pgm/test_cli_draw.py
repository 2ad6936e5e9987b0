"""The pgm CLI (via main(argv)), pictures, and importing dgm.pgm without torch."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dgm.pgm import load_network
from dgm.pgm.cli import main
from dgm.pgm.draw import draw_network, plot_mixing
from dgm.pgm.examples import misconception, student
from dgm.pgm.io.bif import write_bif
from dgm.pgm.io.uai import write_uai
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
    # the same draw as state indices: an (N, variables) int64 array in the network's order
    assert main(["sample", net, "-n", "200", "-o", str(tmp_path / "s.npy"), "--seed", "1"]) == 0
    codes = np.load(tmp_path / "s.npy")
    bn = load("asia")
    assert codes.dtype == np.int64 and codes.shape == (200, len(bn.variables))
    assert [[bn.states[v][c] for v, c in zip(bn.variables, row)] for row in codes] == \
        [[r[v] for v in bn.variables] for r in rows]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["query", "NET", "--target", "lung", "--evidence", "smoke=maybe"],
            "unknown state 'maybe'",
        ),
        (["query", "NET", "--target", "lung", "--evidence", "smoke"], "VARIABLE=STATE"),
        (
            ["query", "NET", "--target", "lung", "--evidence", "smoke=yes", "smoke=no"],
            "evidence for 'smoke' given twice ('yes' and 'no')",
        ),
        (["query", "NET", "--target", "lungs"], "unknown target variable 'lungs'"),
        (["info", "/no/such/net.bif"], "no network file"),
        (["query", "NET", "--target", "lung", "-o", "p.csv"], "-o/--output needs --evidence-csv"),
        (
            ["query", "NET", "--target", "tub", "--evidence-csv", "e.csv", "--evidence", "asia=no"],
            "--evidence cannot be combined with --evidence-csv",
        ),
        (
            ["query", "NET", "--target", "lung", "--evidence-csv", "e.csv", "--json"],
            "--json cannot be combined with --evidence-csv",
        ),
        (["sample", "NET", "-n", "0", "-o", "s.csv"], "-n must be at least 1, got 0"),
        (["sample", "NET", "-n", "-3", "-o", "s.csv"], "-n must be at least 1, got -3"),
        (["info", "TRUNCATED.bif.gz"], "TRUNCATED.bif.gz: truncated or corrupt file"),
        (
            ["query", "NET", "--target", "lungg"],
            "unknown target variable 'lungg'; did you mean 'lung'?",
        ),
        (
            ["query", "NET", "--target", "lung", "--evidence", "smokee=yes"],
            "unknown evidence variables ['smokee']; the model has 8 variables; "
            "did you mean 'smoke'?",
        ),
        (["info", "asai"], "no network file or bnlearn network 'asai'"),
        (["info", "asai"], "did you mean 'asia'?"),
        (["info", "asai.bif"], "no network file 'asai.bif'; did you mean 'asia'?"),
        (["info", "asia.bif.gz"], "no network file 'asia.bif.gz'; did you mean 'asia'?"),
        (["sample", "NET", "-o", "adir"], "-o must end in .csv (state names) or .npy"),
        (["sample", "NET", "-o", "s.txt"], "-o must end in .csv (state names) or .npy"),
        (["sample", "NET", "-o", "s.csv", "--chains", "2"],
         "--chains and --burn-in set up Gibbs sampling: add --gibbs"),
        (["sample", "NET", "-o", "s.csv", "--gibbs", "--chains", "0"],
         "--chains must be at least 1 and --burn-in at least 0, got 0 and 1000"),
        (["sample", "NET", "-o", "s.csv", "--evidence", "dysp=yes"],  # 'either' is an OR
         "single-site Gibbs is reducible"),
        (["query", "NET", "--target", "LUNG"], "did you mean 'lung'?"),
        (["query", "NET", "--target", "lung", "--evidence-csv", "e.csv", "-o", "adir"],
         "error: Is a directory: adir"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths (outputs, the truncated file) land here
    monkeypatch.setenv("DGM_DATA", str(bif_path("asia").parents[1]))  # bnlearn names resolve
    Path("adir").mkdir()
    Path("TRUNCATED.bif.gz").write_bytes(bif_path("asia").read_bytes()[:300])
    Path("e.csv").write_text("asia\nyes\n")
    argv = [str(bif_path("asia")) if a == "NET" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert ".bif.bif" not in err and ".gz.bif" not in err
    assert not Path("p.csv").exists() and not Path("s.csv").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("smoke,xray\nyes,yes\nmaybe,no\n", "e.csv, line 3, column 'smoke': unknown state 'maybe'"),
        ('smoke,xray\n"yes\n",yes\n\nmaybe,no\n', "e.csv, line 5, column 'smoke': unknown state"),
        ("smoke,Xray\nyes,yes\n", "e.csv: unknown variables ['Xray']"),
        ("tub,either\nyes,yes\nyes,no\n", "e.csv, line 3: the evidence has probability 0"),
        (b"smoke,xray\nyes,yes\nno,\xff\n", "e.csv, line 3: not UTF-8 text (byte 0xff"),
        (b"\xff\xfes\x00m\x00", "e.csv, line 1: not UTF-8 text (byte 0xff"),
        ("\n\n", "e.csv: empty CSV file (no header line)"),
    ],
    ids=[
        "unknown-state",
        "after-blank-and-quoted-lines",
        "unknown-column",
        "impossible-row",
        "not-utf8",
        "utf16",
        "empty",
    ],
)
def test_evidence_csv_errors_name_the_file_and_line(text, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("e.csv").write_bytes(text if isinstance(text, bytes) else text.encode())
    argv = ["query", str(bif_path("asia")), "--target", "lung", "--evidence-csv", "e.csv"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_evidence_csv_with_only_the_target_column_gives_the_prior(tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text("lung\nyes\nno\n")
    net = str(bif_path("asia"))
    assert main(["query", net, "--target", "lung", "--evidence-csv", str(rows)]) == 0
    lines = capsys.readouterr().out.splitlines()
    got = np.array([[float(x) for x in line.split(",")] for line in lines[1:]])
    assert lines[0] == "P(lung=yes),P(lung=no)"
    assert got.shape == (2, 2) and np.allclose(got, load("asia").query("lung").values)


def test_info_on_a_uai_network_without_variables(tmp_path, capsys):
    path = tmp_path / "e.uai"
    path.write_text("MARKOV\n0\n\n0\n")
    assert main(["info", str(path)]) == 0
    assert "0 variables, 0 edges" in capsys.readouterr().out


def test_info_on_an_empty_bif_is_an_error_naming_the_file(tmp_path, capsys):
    path = tmp_path / "e.bif"
    path.write_text("network e {\n}\n")
    assert main(["info", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"dgm pgm info: error: {path}: no variables")


@pytest.mark.parametrize("net", ["asia", "FILE"], ids=["bnlearn-name", "file"])
def test_info_names_a_bnlearn_network_after_its_file(net, capsys, monkeypatch):
    monkeypatch.setenv("DGM_DATA", str(bif_path("asia").parents[1]))
    assert main(["info", str(bif_path("asia")) if net == "FILE" else net]) == 0
    assert capsys.readouterr().out.startswith("asia: BayesianNetwork, 8 variables")


def test_closed_stdout_pipe_exits_quietly_with_status_0(tmp_path):
    """`dgm pgm info alarm | head -1`: no error text, status 0 (as `dgm` itself)."""
    for argv in (["info", "NET"], ["query", "NET", "--target", "lung"]):
        argv = [str(bif_path("asia")) if a == "NET" else a for a in argv]
        proc = subprocess.Popen(
            [sys.executable, "-m", "dgm.pgm.cli", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        proc.stdout.close()  # the reader is gone before anything is written
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert (proc.wait(), err) == (0, ""), argv


@pytest.mark.parametrize("captured", [False, True], ids=["file", "captured"])
def test_broken_pipe_ends_with_0_and_sends_later_output_to_dev_null(captured, tmp_path,
                                                                    monkeypatch, capsys):
    """The reader of stdout went away: status 0, no error text, and what is printed later (at
    exit) goes to /dev/null instead of failing again; a stdout without a descriptor is kept."""
    from dgm._errors import run_command

    def body():
        raise BrokenPipeError(32, "Broken pipe")

    path = tmp_path / "out.txt"
    with io.StringIO() if captured else path.open("w") as out:
        monkeypatch.setattr(sys, "stdout", out)
        assert run_command("dgm pgm info", body) == 0
        print("after the reader left", flush=True)
        monkeypatch.undo()
    assert capsys.readouterr().err == ""
    assert captured or path.read_text() == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["info"],
        ["query", "--target", "lung"],
        ["sample", "-o", "s.csv"],
        ["draw", "-o", "n.png"],
    ],
    ids=lambda argv: argv[0],
)
def test_ctrl_c_prints_one_line_and_exits_130(argv, capsys, monkeypatch, tmp_path):
    import dgm.pgm.cli as cli

    def interrupted(spec):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "load_network", interrupted)
    try:
        status = main([argv[0], str(bif_path("asia")), *argv[1:]])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped (a traceback for the user)")
    assert status == 130
    assert capsys.readouterr().err == f"dgm pgm {argv[0]}: interrupted\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "NET", "-n", "5", "-o", "new/sub/s.csv"],
        ["draw", "NET", "-o", "new/sub/s.png"],
        ["query", "NET", "--target", "lung", "--evidence-csv", "e.csv", "-o", "new/sub/s.csv"],
    ],
    ids=lambda argv: argv[0],
)
def test_output_file_in_a_missing_folder_is_written(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("e.csv").write_text("smoke\nyes\n")
    assert main([str(bif_path("asia")) if a == "NET" else a for a in argv]) == 0
    assert next(Path("new/sub").glob("s.*")).stat().st_size > 0


@pytest.mark.parametrize(
    "tail",
    [["NET"], ["NET", "--json"], ["--json", "NET"]],
    ids=["last", "before-json", "after-json"],
)
def test_net_after_the_evidence_list_is_the_network(tail, capsys):
    head = ["query", "--target", "lung", "--evidence", "smoke=yes", "xray=no"]
    assert main([*head, *[str(bif_path("asia")) if a == "NET" else a for a in tail]]) == 0
    out = capsys.readouterr().out
    expected = load("asia").query("lung", {"smoke": "yes", "xray": "no"}).values
    got = json.loads(out)["posterior"] if "--json" in tail else {
        line.split("=")[1].split()[0]: float(line.split()[-1]) for line in out.splitlines()
    }
    assert np.allclose([got["yes"], got["no"]], expected, atol=1e-6)


def test_missing_net_error_says_that_net_comes_first(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["query", "--target", "lung", "--evidence", "smoke=yes", "no-such-net.bif"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "NET" in err and "dgm pgm query NET --target" in err


@pytest.mark.parametrize("argv", [[], ["info"], ["query"], ["sample"], ["draw"]])
def test_help_says_net_is_a_file_or_a_bnlearn_name_in_the_data_directory(argv, capsys):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "bnlearn" in out and "$DGM_DATA" in out and ".bif.gz" in out, argv


def test_draw_without_a_suffix_writes_and_reports_a_png(tmp_path, capsys):
    assert main(["draw", str(bif_path("asia")), "-o", str(tmp_path / "net")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'net.png'}\n"
    assert plot_mixing({"weather": [0.5, 0.1]}, tmp_path / "mix") == tmp_path / "mix.png"
    for name in ("net.png", "mix.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


@pytest.mark.parametrize("argv", [
    ["pgm", "info", "NET"], ["pgm", "query", "NET", "--target", "lung", "--evidence", "smoke=yes"],
    ["--help"], ["pgm", "--help"], ["data", "list"]])
def test_the_dgm_command_runs_pgm_data_and_help_without_torch(argv):
    """`dgm pgm ...`, `dgm data ...` and `dgm --help` never import torch (its import alone
    takes seconds): torch is blocked, and the command must still run."""
    argv = [str(bif_path("asia")) if a == "NET" else a for a in argv]
    code = ("import sys; sys.modules['torch'] = None\n"
            "from dgm.cli import main\n"
            "try:\n"
            f"    rc = main({argv!r})\n"
            "except SystemExit as stop:  # --help\n"
            "    rc = stop.code\n"
            "sys.exit(rc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def _csv_marginal(path: Path, var: str, states) -> np.ndarray:
    with path.open() as fh:
        values = [row[var] for row in csv.DictReader(fh)]
    return np.array([values.count(s) for s in states]) / len(values)


def test_gibbs_samples_of_a_markov_network_and_of_a_posterior_match_exact_marginals(
        tmp_path, capsys):
    """A Markov network (UAI) has no forward sampler: ``sample`` runs Gibbs; a Bayesian
    network given --evidence gives P(. | evidence), its observed column fixed. Both within
    0.03 in total variation of the exact marginals; R-hat and ESS go to stderr."""
    mn, bn = misconception(), student()
    write_uai(mn, tmp_path / "m.uai")
    write_bif(bn, tmp_path / "s.bif")
    assert main(["sample", str(tmp_path / "m.uai"), "-n", "8000", "-o",
                 str(tmp_path / "m.csv"), "--burn-in", "200"]) == 0
    out, err = capsys.readouterr()
    assert "wrote 8000 Gibbs samples" in out and "worst split R-hat" in err
    loaded = load_network(tmp_path / "m.uai")
    for v in loaded.variables:
        exact = loaded.query(v).values
        tv = 0.5 * np.abs(_csv_marginal(tmp_path / "m.csv", v, loaded.states[v]) - exact).sum()
        assert tv < 0.03, (v, tv)
    assert main(["sample", str(tmp_path / "s.bif"), "-n", "8000", "-o",
                 str(tmp_path / "s.csv"), "--evidence", "L=0", "--seed", "3"]) == 0
    assert "wrote 8000 Gibbs samples given {'L': '0'} to" in capsys.readouterr().out
    assert _csv_marginal(tmp_path / "s.csv", "L", bn.states["L"]).tolist() == [1.0, 0.0]
    for v in ("I", "G"):
        exact = bn.query(v, {"L": "0"}).values
        tv = 0.5 * np.abs(_csv_marginal(tmp_path / "s.csv", v, bn.states[v]) - exact).sum()
        assert tv < 0.03, (v, tv)
