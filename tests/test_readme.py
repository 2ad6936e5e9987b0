"""The README's Python examples run as written (on tiny stand-ins for its trained runs), and
the figures its comments state are what the code returns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    """The README's ```python blocks, in order."""
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def block(holding: str) -> str:
    """The one README python block whose code holds ``holding``."""
    found = [code for code in python_blocks() if holding in code]
    assert len(found) == 1, f"one README python block holding {holding!r}, found {len(found)}"
    return found[0]


def test_readme_graphical_models_block_runs_and_its_stated_figures_hold(tmp_path, monkeypatch,
                                                                      shared_data):
    code = block("from dgm.pgm import")
    monkeypatch.setenv("DGM_DATA", str(shared_data))
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "README.md (dgm.pgm)", "exec"), ns)
    # the comments' figures: P(I=1, D=0, G=g2, S=1, L=0) and the misconception network's Z
    stated_p = float(re.search(r"# ([0-9.]+), the factorized joint", code).group(1))
    stated_z = float(re.search(r"# Z = ([0-9,]+)", code).group(1).replace(",", ""))
    p = ns["bn"].probability({"I": 1, "D": 0, "G": "g2", "S": 1, "L": 0})
    assert p == pytest.approx(stated_p, abs=5e-7)
    assert ns["examples"].misconception().partition_function() == pytest.approx(stated_z)
    assert len(ns["alarm"].variables) == 37  # bnlearn's ALARM, found by name


def test_readme_python_api_blocks_run_on_tiny_stand_ins(tmp_path, monkeypatch, shared_data):
    """'Training from Python' as written (fewer epochs), then the API blocks on its run and
    on a small RBM standing in for runs/rbm-mnist."""
    import torch

    from dgm.data import load_dataset
    from dgm.registry import build_model
    from dgm.train import TrainConfig, Trainer

    monkeypatch.setenv("DGM_DATA", str(shared_data))
    monkeypatch.chdir(tmp_path)
    train = block("Trainer(model")
    assert "TrainConfig(epochs=50" in train
    ns: dict = {}
    exec(compile(train.replace("epochs=50", "epochs=2, progress=False, picture_every=0"),
                 "README.md (training)", "exec"), ns)
    assert (tmp_path / "runs" / "my-vae" / "checkpoint.safetensors").is_file()

    mnist = load_dataset("mnist")
    rbm = build_model("rbm", {"hidden": 8}, mnist.train.shape, seed=0)
    Trainer(rbm, TrainConfig(epochs=1, max_train=500, progress=False, picture_every=0),
            mnist, "runs/rbm-mnist").fit()

    api = block("dgm.load(\"runs/vae-digits\")").replace("runs/vae-digits", "runs/my-vae")
    exec(compile(api, "README.md (API)", "exec"), ns)
    assert ns["mu"].shape == (len(ns["x"]), 2)
    models = block("from dgm.models import")
    models = models.replace("rbm.ais(runs=100", "rbm.ais(betas=200, runs=4")
    models = models.replace("nade.log_prob(x)", "nade.log_prob(x[:50])")
    exec(compile(models, "README.md (models)", "exec"), ns)
    assert torch.isfinite(ns["nade"].log_prob(ns["x"][:5])).all()


def cli_lines() -> list[list[str]]:
    """The ``dgm ...`` commands of the README's command-line block, split as a shell would."""
    import shlex

    text = README.read_text()
    code = re.search(r"## Command line\n+```bash\n(.*?)```", text, re.S).group(1)
    return [shlex.split(line.split(" #")[0])[1:] for line in code.splitlines()
            if line.startswith("dgm ")]


def test_readme_command_line_block_parses_flag_by_flag(capsys):
    """Every command the README shows is one ``dgm`` accepts as written: each flag exists for
    that command (and model), and a resumed run's flags are ones a resume may change."""
    from dgm.cli import _parse, _resume_flag_error, build_parser

    lines = cli_lines()
    assert len(lines) >= 20
    parser = build_parser(models=True)
    for argv in lines:
        assert _resume_flag_error(argv) is None, argv
        try:
            args = _parse(parser, argv)
        except SystemExit:
            pytest.fail(f"README: dgm {' '.join(argv)}: {capsys.readouterr().err}")
        assert callable(args.func), argv


def test_readme_preset_table_lists_each_model_s_presets():
    from dgm.registry import MODEL_NAMES, model_class

    text = README.read_text()
    rows = dict(re.findall(r"^\| (\w+) \| (`.*`) \|$", text, re.M))
    assert set(rows) == set(MODEL_NAMES)
    for name, cell in rows.items():
        listed = re.findall(r"`([\w-]+)`", cell)
        assert listed == list(model_class(name).Config.presets), name
