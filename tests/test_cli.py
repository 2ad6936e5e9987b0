"""The command line, end to end on the embedded digits data."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dgm.cli import main
from dgm.data import load_dataset
from dgm.registry import MODEL_NAMES

FAST = ["--preset", "tiny", "--data", "digits", "--picture-every", "1", "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "vae"
    assert main(["train", "vae", *FAST, "--epochs", "3", "--latent", "2", "--out", str(out)]) == 0
    return out


def test_train_leaves_a_complete_run_directory(run):
    for name in ("config.json", "metrics.jsonl", "checkpoint.safetensors", "best.safetensors",
                 "curves.png", "samples.png", "reconstructions.png", "summary.json",
                 "latent_manifold.png", "latent_scatter.png"):
        assert (run / name).is_file(), name
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert {"train_loss", "valid_loss", "train_kl", "train_examples_per_s"} <= set(rows[0])


def test_eval_json_reports_nll_with_stderr(run, capsys):
    assert main(["eval", str(run), "--iwae-k", "50", "--json", "--max-examples", "40"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_examples"] == 40 and out["iwae_k"] == 50
    assert main(["eval", str(run), "--json", "--max-examples", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["iwae_k"] == 5000  # the default, stated
    # --seed draws the estimate's importance samples: replicates differ, a seed repeats
    est = []
    for seed in ("0", "1", "1"):
        assert main(["eval", str(run), "--iwae-k", "5", "--json", "--max-examples", "20",
                     "--seed", seed]) == 0
        est.append(json.loads(capsys.readouterr().out)["nll_nats"])
    assert est[0] != est[1] == est[2]
    assert out["nll_nats"] > 0 and out["nll_stderr"] > 0
    assert out["neg_elbo_nats"] >= out["nll_nats"] - 3 * out["nll_stderr"]


def test_eval_json_is_strict_json_when_a_figure_is_not_finite(run, capsys):
    assert main(["eval", str(run), "--iwae-k", "5", "--json", "--max-examples", "1"]) == 0
    text = capsys.readouterr().out
    out = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))
    assert out["nll_stderr"] is None and out["nll_nats"] > 0  # one example: no stderr


def test_sample_writes_png_grids_and_npy_arrays(run, tmp_path):
    assert main(["sample", str(run), "-n", "10", "-o", str(tmp_path / "s.npy"), "--seed", "4"]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (10, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert main(["sample", str(run), "-n", "10", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 100
    assert main(["sample", str(run), "-n", "3", "-o", str(tmp_path / "s.txt")]) == 2


def test_info_describes_the_run(run, capsys, tmp_path):
    assert main(["info", str(run)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "vae" and info["epochs_done"] == 3 and info["parameters"] > 0
    assert info["preset"] == "tiny"  # the run's --preset, recorded in its config.json
    # a run directory written before the preset was recorded still loads: no preset
    old = tmp_path / "old"
    shutil.copytree(run, old)
    record = json.loads((old / "config.json").read_text())
    del record["preset"]
    (old / "config.json").write_text(json.dumps(record))
    assert main(["info", str(old)]) == 0
    assert json.loads(capsys.readouterr().out)["preset"] is None


def test_existing_run_directory_is_not_overwritten(run, capsys):
    assert main(["train", "vae", *FAST, "--epochs", "1", "--out", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_grayscale_data_for_a_bernoulli_decoder_is_refused(tmp_path, capsys):
    code = main(["train", "vae", "--preset", "tiny", "--data", "digits:gray", "--out",
                 str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "binary" in err and "--decoder gaussian" in err and "VAEConfig(" not in err
    assert main(["train", "gan", "--data", "ring8", "--out", str(tmp_path / "g")]) == 2
    assert "--output decides" in capsys.readouterr().err
    assert main(["train", "gan", "--data", "ring8", "--output", str(tmp_path / "g")]) == 2
    assert "the run directory is --out/-o" in capsys.readouterr().err


def test_unknown_preset_and_bad_option_are_named(tmp_path, capsys):
    assert main(["train", "vae", "--preset", "huge", "--out", str(tmp_path / "x")]) == 2
    assert "huge" in capsys.readouterr().err
    assert main(["train", "vae", "--latent", "0", "--out", str(tmp_path / "y")]) == 2
    assert "--latent must be > 0" in capsys.readouterr().err
    assert main(["train", "vae", "--batch-size", "0", "--out", str(tmp_path / "y")]) == 2
    assert "--batch-size must be > 0" in capsys.readouterr().err  # the flag, not batch_size


@pytest.mark.parametrize("argv,usage,hint", [
    (["train", "vae", "--lattent", "3"], "usage: dgm train vae", "did you mean --latent?"),
    (["train", "vae", "--lat", "3"], "usage: dgm train vae", "did you mean --latent?"),
    (["sample", "RUN", "-o", "x.png", "--sed", "1"], "usage: dgm sample", "--seed"),
], ids=["misspelt", "abbreviated", "sample"])
def test_an_unknown_flag_is_reported_by_its_command_with_the_closest_flag(argv, usage, hint,
                                                                          capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and usage in err and hint in err


def test_file_system_errors_and_interrupts_are_one_line_not_tracebacks(run, tmp_path, capsys,
                                                                        monkeypatch):
    (tmp_path / "a_dir.npy").mkdir()
    (tmp_path / "a_file").write_text("x")
    for argv in (["sample", str(run), "-n", "4", "-o", str(tmp_path / "a_dir.npy")],
                 ["sample", str(run), "-n", "4", "-o", str(tmp_path / "a_file" / "s.npy")],
                 ["train", "vae", *FAST, "--epochs", "1", "--out", str(tmp_path / "a_file")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and str(tmp_path) in err, err
    import dgm.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(dgm.cli, "cmd_info", interrupted)
    assert main(["info", str(run)]) == 130
    assert capsys.readouterr().err == "dgm info: interrupted\n"


def test_a_missing_gpu_and_bad_classifier_counts_are_clear_errors(tmp_path, capsys):
    import torch

    if not torch.cuda.is_available():
        assert main(["train", "vae", *FAST, "--device", "cuda", "--out",
                     str(tmp_path / "c")]) == 2
        assert "torch sees no CUDA device" in capsys.readouterr().err
    for flag in ("--threads", "--epochs"):
        assert main(["classifier", flag, "0"]) == 2
        assert f"{flag} must be an integer > 0, got 0" in capsys.readouterr().err


def test_eval_names_a_bad_seed_and_sends_a_gan_to_sample_metrics(tmp_path, capsys):
    out = tmp_path / "gan"
    assert main(["train", "gan", "--preset", "toy", "--data", "ring8", "--epochs", "1",
                 "--max-train", "200", "--no-progress", "--picture-every", "0", "--out",
                 str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out)]) == 2
    assert "--samples N measures the quality of its samples" in capsys.readouterr().err
    assert main(["eval", str(out), "--samples", "100", "--seed", "-3"]) == 2
    assert "--seed must be an integer >= 0, got -3" in capsys.readouterr().err


def test_a_gan_on_data_without_a_feature_network_gets_raw_value_metrics_and_their_floor(
        tmp_path, capsys):
    out = tmp_path / "gan"
    assert main(["train", "gan", "--data", "digits", "--epochs", "1", "--no-progress",
                 "--picture-every", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--samples", "200", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["space"].startswith("raw data values")
    # real test digits against the training digits are far closer than a 1-epoch GAN's samples
    assert 0 < rec["floor_fd_raw"] < rec["fd_raw"]
    assert 0.5 < rec["floor_recall"] <= 1 and 0 <= rec["recall"] <= 1


def test_missing_mnist_says_where_it_looked(tmp_path, capsys):
    code = main(["train", "vae", "--data", "mnist", "--data-dir", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "empty") in err and "DGM_DATA" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM],  # Ctrl-C; timeout, pre-emption
                         ids=lambda s: s.name)
def test_a_stop_signal_saves_a_checkpoint_and_resume_finishes(tmp_path, sig):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "dgm.cli", "train", "vae", "--preset", "tiny", "--data",
           "digits", "--epochs", "400", "--picture-every", "0", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    metrics = out / "metrics.jsonl"
    while time.time() < deadline and (not metrics.exists() or
                                      len(metrics.read_text().splitlines()) < 2):
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err[-2000:]  # 130 for Ctrl-C, 143 for SIGTERM
    assert "--resume" in err and sig.name in err
    assert (out / "checkpoint.safetensors").is_file()
    assert not list(out.glob(".*.tmp"))
    done = len(metrics.read_text().splitlines())
    assert 2 <= done < 400
    resumed = subprocess.run([sys.executable, "-m", "dgm.cli", "train", "--resume", str(out),
                              "--more-epochs", "2"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    epochs = [json.loads(x)["epoch"] for x in metrics.read_text().splitlines()]
    assert epochs == list(range(1, done + 3))


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_train_flag_is_described_in_help(model):
    """The comment beside each config field is its --help text; none may be missing."""
    from dgm.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices["train"]
    parser = sub._subparsers._group_actions[0].choices[model]
    flags = [a for a in parser._actions if a.dest in _config_fields(model)]
    assert len(flags) == len(_config_fields(model))
    for a in flags:
        assert not a.help.startswith("(default"), f"{model} --{a.dest} has no description"


def _config_fields(model: str) -> set[str]:
    import dataclasses

    from dgm.registry import model_class
    from dgm.train import TrainConfig

    return {f.name for cls in (model_class(model).Config, TrainConfig)
            for f in dataclasses.fields(cls)}


def test_eval_of_a_dynamically_binarized_split_uses_one_seeded_draw(tmp_path, capsys):
    """mnist:dynamic's train split is grayscale (training redraws its bits): eval binarizes
    it once, from --seed, and says so; a binary model never sees grayscale."""
    try:
        load_dataset("mnist:dynamic")
    except FileNotFoundError:
        pytest.skip("MNIST not available (set DGM_DATA)")
    run = tmp_path / "run"
    assert main(["train", "vae", "--preset", "tiny", "--data", "mnist:dynamic", "--epochs", "1",
                 "--max-train", "100", "--picture-every", "0", "--no-progress",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    args = ["eval", str(run), "--split", "train", "--max-examples", "20", "--iwae-k", "5",
            "--json"]
    outs = []
    for seed in ("1", "1", "2"):
        assert main([*args, "--seed", seed]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0]["binarized"] == "one Bernoulli draw, seed 1"
    assert outs[0]["nll_nats"] == outs[1]["nll_nats"] != outs[2]["nll_nats"]
    assert outs[0]["nll_nats"] > 0


def test_bad_counts_and_outputs_are_errors_before_any_work(run, tmp_path, capsys):
    for args in (["sample", str(run), "-n", "0", "-o", str(tmp_path / "a.png")],
                 ["sample", str(run), "-o", str(tmp_path / "a.jpg")],
                 ["eval", str(run), "--samples", "3"],
                 ["eval", str(run), "--max-examples", "-1"],
                 ["eval", str(run), "--iwae-k", "0"]):
        assert main(args) == 2, args
        assert "error" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()


def test_another_model_s_eval_option_is_refused_not_ignored(run, capsys):
    assert main(["eval", str(run), "--masks", "8", "--max-examples", "5"]) == 2
    assert "--masks is an option of made, not of this vae run" in capsys.readouterr().err


def test_resume_refuses_new_flags_and_a_bad_epoch_count_without_touching_the_run(run, capsys):
    before = (run / "config.json").read_text()
    assert main(["train", "--resume", str(run), "vae", "--lr", "0.5"]) == 2
    assert "cannot change it" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--more-epochs", "-4"]) == 2
    assert "--more-epochs must be an integer > 0, got -4" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--patience", "-1"]) == 2
    assert "--patience must be" in capsys.readouterr().err
    assert main(["train", "--more-epochs", "3", "vae", "--preset", "tiny"]) == 2
    assert "--more-epochs continues a run: use it with --resume" in capsys.readouterr().err
    # a training flag after --resume (argparse alone took "5" for a model name)
    assert main(["train", "--resume", str(run), "--epochs", "5"]) == 2
    assert "--epochs cannot change when resuming a run: use --more-epochs N" in \
        capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--lr=0.1"]) == 2
    assert "--lr cannot change when resuming a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--no-lr"]) == 2  # only a switch has a no-
    assert "--no-lr cannot change" in capsys.readouterr().err
    # a finished run says so instead of "training" nothing in silence
    assert main(["train", "--resume", str(run)]) == 0
    assert "has already trained all its 3 epochs; --more-epochs N" in capsys.readouterr().err
    for switch in ("--no-progress", "--progress"):  # a switch may change, either way
        assert main(["train", "--resume", str(run), switch]) == 0
        assert "has already trained all its 3 epochs" in capsys.readouterr().err
    assert (run / "config.json").read_text() == before


@pytest.mark.parametrize(("argv", "message"), [
    (["trian", "vae"], "dgm: error: unknown command 'trian'; did you mean 'train'?"),
    (["train", "vea"], "dgm train: error: unknown model 'vea'; did you mean 'vae'?"),
])
def test_a_misspelled_command_or_model_gets_the_closest_name(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_command_list_used_for_suggestions_is_the_parser_s():
    import argparse

    from dgm.cli import COMMANDS, build_parser

    sub = next(a for a in build_parser(models=False)._actions
               if isinstance(a, argparse._SubParsersAction))
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_version(capsys):
    import dgm

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"dgm {dgm.__version__}\n"


def test_more_epochs_adds_to_the_checkpoint_s_and_resume_takes_its_run_time_flags(tmp_path,
                                                                                  capsys):
    out = tmp_path / "run"
    assert main(["train", "vae", *FAST, "--epochs", "2", "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out), "--more-epochs", "1", "--picture-every", "0",
                 "--max-minutes", "5", "--progress"]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    record = json.loads((out / "config.json").read_text())
    saved = record["train"]
    assert (saved["epochs"], saved["picture_every"], saved["max_minutes"]) == (3, 0, 5.0)
    assert record["preset"] == "tiny"  # kept by the resumed run
    assert "2 epochs done; training up to 3" in capsys.readouterr().err


def test_a_broken_run_directory_is_an_error_naming_the_file(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{not json")
    for cmd in (["info", str(tmp_path)], ["sample", str(tmp_path), "-o", str(tmp_path / "x.png")],
                ["eval", str(tmp_path)]):
        assert main(cmd) == 2, cmd
        assert "config.json is not a valid dgm run config" in capsys.readouterr().err


def test_pm1_samples_come_out_in_0_1_and_the_model_s_pictures_are_drawn(tmp_path, capsys):
    """The README: `dgm sample -o x.npy` gives images in [0, 1], from a tanh GAN too; and
    `dgm train` leaves each model's own pictures (here a GAN's D(x) / D(G(z)) curves)."""
    def tanh_gan_samples(data: str, n: int) -> np.ndarray:
        out = tmp_path / data
        assert main(["train", "gan", "--preset", "tiny", "--data", data, "--output", "tanh",
                     "--epochs", "1", "--max-train", "200", "--no-progress", "--out",
                     str(out)]) == 0
        assert main(["sample", str(out), "-n", str(n), "-o", str(out / "s.npy")]) == 0
        return np.load(out / "s.npy")

    s = tanh_gan_samples("digits:pm1", 16)
    assert s.shape == (16, 1, 8, 8) and s.min() >= 0 and s.max() <= 1
    assert (tmp_path / "digits:pm1" / "gan_curves.png").is_file()
    # a tanh generator trained on [0, 1] images: its samples are clipped to the data's range
    s01 = tanh_gan_samples("digits", 64)
    assert s01.min() >= 0 and s01.max() <= 1
    capsys.readouterr()
    gan = ["train", "gan", "--preset", "tiny", "--data", "digits:pm1", "--output", "tanh"]
    assert main([*gan, "--lr", "5",
                 "--out", str(tmp_path / "g2")]) == 2
    assert "--lr-g/--lr-d" in capsys.readouterr().err
    assert main([*gan, "--optimizer", "sgd", "--out", str(tmp_path / "g3")]) == 2
    assert "train it with optimizer 'adam'" in capsys.readouterr().err


def test_a_2d_latent_vae_on_non_image_data_finishes_and_samples_to_npy_only(tmp_path, capsys):
    run = tmp_path / "v"
    assert main(["train", "vae", "--preset", "tiny", "--latent", "2", "--data", "tiny:bn",
                 "--epochs", "1", "--no-progress", "--out", str(run)]) == 0
    png, npy = tmp_path / "s.png", tmp_path / "s.npy"
    assert main(["sample", str(run), "-n", "4", "-o", str(png)]) == 2
    assert f"{png}: a .png grid needs image data, but this vae draws examples of shape (8,); " \
        "write a .npy instead" in capsys.readouterr().err
    assert not png.exists()
    assert main(["sample", str(run), "-n", "4", "-o", str(npy)]) == 0
    assert np.load(npy).shape == (4, 8)


def test_train_without_out_picks_a_new_run_directory_and_survives_failed_pictures(
        tmp_path, monkeypatch, capsys):
    """runs/<model>-<data>, then -2, -3, ... beside the ones there; a final picture that
    fails is a warning, not a failed run."""
    import dgm.cli

    def no_pictures(run_dir, splits):
        raise RuntimeError("no display")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(dgm.cli, "_final_pictures", no_pictures)
    (tmp_path / "runs" / "vae-digits-gray").mkdir(parents=True)
    argv = ["train", "vae", *FAST, "--data", "digits:gray", "--decoder", "gaussian",
            "--epochs", "1", "--picture-every", "0"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    run = tmp_path / "runs" / "vae-digits-gray-2"
    assert (run / "checkpoint.safetensors").is_file()
    assert f"run directory: {run.relative_to(tmp_path)}" in out
    assert "warning: final pictures failed: RuntimeError('no display')" in err


def test_train_needs_a_model_and_a_resume_needs_a_checkpoint(run, tmp_path, capsys):
    assert main(["train"]) == 2
    assert capsys.readouterr().err.startswith("dgm train: name a model (rbm, ")
    started = tmp_path / "started"  # killed before its first epoch ended
    started.mkdir()
    (started / "config.json").write_text((run / "config.json").read_text())
    assert main(["train", "--resume", str(started)]) == 2
    assert f"{started} has no checkpoint yet: the run stopped before its first epoch ended" \
        in capsys.readouterr().err


def test_eval_prints_a_table_and_names_a_split_the_data_lacks(run, capsys, monkeypatch):
    assert main(["eval", str(run), "--iwae-k", "5", "--max-examples", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{'split':>24}: test" in lines and f"{'n_examples':>24}: 4" in lines
    import dataclasses

    import dgm.data

    digits = load_dataset("digits")
    monkeypatch.setattr(dgm.data, "load_dataset",
                        lambda *a, **k: dataclasses.replace(digits, valid=None))
    assert main(["eval", str(run), "--split", "valid"]) == 2
    assert capsys.readouterr().err == ("dgm eval: the run's data digits has no 'valid' split "
                                       "(it has: train, test); choose one with --split\n")


def test_rbm_ais_options_ask_for_ais_and_its_pictures_are_drawn(tmp_path, capsys):
    out = tmp_path / "rbm"
    assert main(["train", "rbm", *FAST, "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "filters.png").is_file()
    capsys.readouterr()
    import warnings

    with warnings.catch_warnings():  # 8 runs: Z-hat - 3 sd may reach 0, an infinite bound
        warnings.simplefilter("error")
        assert main(["eval", str(out), "--ais-runs", "8", "--ais-betas", "100", "--json",
                     "--max-examples", "20"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["nll_lo3_nats"] is None or rec["nll_lo3_nats"] < rec["nll_nats"]
    assert rec["nll_stderr_with_log_z"] == pytest.approx(
        (rec["nll_stderr"] ** 2 + rec["log_z_stderr"] ** 2) ** 0.5)
    assert "log_z_stderr" in rec and "nll_exact_nats" in rec  # AIS ran, beside the exact
    assert rec["ais_trace"] == str(out / "ais_trace.png") and (out / "ais_trace.png").is_file()
    assert (rec["log_z_method"], rec["ais_betas"], rec["ais_runs"]) == ("ais", 100, 8)
    assert main(["eval", str(out), "--json", "--max-examples", "5"]) == 0  # 16 hidden: exact
    rec = json.loads(capsys.readouterr().out)
    assert rec["log_z_method"] == "exact" and "ais_runs" not in rec


def _readme_train_commands() -> list[list[str]]:
    """The ``dgm train MODEL ...`` lines of the README's command-line block, as argv
    (comments dropped, ``[--opt A|B]`` alternatives taking their first choice)."""
    import re
    import shlex
    from pathlib import Path

    text = (Path(__file__).parents[1] / "README.md").read_text()
    block = text.split("## Command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    out = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if not re.match(r"dgm train \w", line) or "--resume" in line:
            continue
        line = re.sub(r"([^\s|\]]+)(\|[^\s|\]]+)+", r"\1", line)  # digits|mnist|... -> digits
        line = re.sub(r"\[([^\]]*)\]", lambda m: "" if re.search(r"\b[A-Z]+\b", m.group(1))
                      else m.group(1), line)  # [--epochs N] dropped, [--preset x] kept
        line = line.replace("...", "")
        out.append(shlex.split(line)[1:])
    return out


@pytest.mark.parametrize("argv", _readme_train_commands(), ids=lambda a: " ".join(a[:2]))
def test_every_train_command_shown_in_the_readme_is_accepted(argv):
    from dgm.cli import build_parser, train_configs

    args = build_parser().parse_args(argv)
    cls, tcfg, mcfg = train_configs(args)
    assert cls.name == argv[1]
    assert tcfg.data == (argv[argv.index("--data") + 1] if "--data" in argv else "digits")


def test_the_readme_shows_a_train_command_for_every_model():
    """(Outside the parametrized test: an empty list would run nothing there.)"""
    shown = {argv[1] for argv in _readme_train_commands() if len(argv) > 1}
    assert set(MODEL_NAMES) <= shown


def test_a_default_grbm_names_the_data_it_takes_and_its_likelihood_is_computable(tmp_path,
                                                                                capsys):
    out = tmp_path / "g"
    assert main(["train", "grbm", "--epochs", "1", "--out", str(out)]) == 2  # digits: binary
    assert "--data digits:gray or mnist:gray" in capsys.readouterr().err
    assert main(["train", "grbm", "--data", "digits:gray", "--epochs", "1", "--no-progress",
                 "--picture-every", "0", "--out", str(out)]) == 0
    trained = capsys.readouterr().out  # early stopping's score is named: here the exact NLL
    assert "best valid NLL (exact, a density)" in trained
    assert main(["eval", str(out), "--json", "--max-examples", "20"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["log_z_method"] == "exact" and math.isfinite(rec["nll_nats"])
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["valid_loss"] == pytest.approx(rows[-1]["valid_free_energy"] + rec["log_z"])


# -- error handling: nothing lost, every message one line naming the file or the flag --------
def _files(folder) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes: what a failed command must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("files", [
    {"config.json": '{"my": "important settings"}', "samples.png": "precious"},
    {"notes.txt": "mine"},
], ids=["foreign-config", "project"])
@pytest.mark.parametrize("as_dot", [False, True], ids=["out-dir", "out-dot"])
def test_out_refuses_a_folder_that_is_not_a_run_and_loses_nothing(tmp_path, capsys, monkeypatch,
                                                                  files, as_dot):
    proj = tmp_path / "proj"
    proj.mkdir()
    for name, text in files.items():
        (proj / name).write_text(text)
    if as_dot:  # `--out .` in a project folder
        monkeypatch.chdir(proj)
    out = "." if as_dot else str(proj)
    assert main(["train", "vae", *FAST, "--epochs", "1", "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"{out} is not empty and is not a dgm run directory" in err
    assert ", ".join(sorted(files)) in err and "give --out a new or empty folder" in err
    assert _files(proj) == {k: v.encode() for k, v in files.items()}


def test_out_may_be_a_run_that_stopped_before_its_first_epoch(run, tmp_path):
    started = tmp_path / "started"  # its config.json only: nothing to lose
    started.mkdir()
    (started / "config.json").write_text((run / "config.json").read_text())
    assert main(["train", "vae", *FAST, "--epochs", "1", "--out", str(started)]) == 0
    assert (started / "checkpoint.safetensors").is_file()


def test_a_run_without_its_checkpoint_keeps_its_best_weights(run, tmp_path, capsys):
    """best.safetensors but no checkpoint (deleted or lost): no resume, and no advice to
    start the run again (a new run in that folder would delete the best weights)."""
    lost = tmp_path / "lost"
    shutil.copytree(run, lost)
    (lost / "checkpoint.safetensors").unlink()
    before = _files(lost)
    assert main(["train", "--resume", str(lost)]) == 2
    err = capsys.readouterr().err
    assert f"{lost} has no checkpoint.safetensors to resume from" in err
    assert "start it again" not in err and "another --out" in err
    assert main(["train", "vae", *FAST, "--epochs", "1", "--out", str(lost)]) == 2
    assert "holds a run's best weights (best.safetensors)" in capsys.readouterr().err
    assert _files(lost) == before


def test_info_counts_the_epochs_the_checkpoint_holds(run, tmp_path, capsys):
    """Not the metrics' lines: here metrics.jsonl is gone, the checkpoint holds 3 epochs."""
    bare = tmp_path / "bare"
    shutil.copytree(run, bare)
    (bare / "metrics.jsonl").unlink()
    assert main(["info", str(bare)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["epochs_done"] == 3 and info["last"] is None


def test_a_resume_whose_time_budget_is_spent_says_which_flag_extends_it(tmp_path, capsys):
    """Stopped by --max-minutes: --more-epochs alone would train nothing; it is an error
    that names --max-minutes, and the run is left as it was."""
    out = tmp_path / "run"
    assert main(["train", "vae", *FAST, "--epochs", "5", "--max-minutes", "1e-6",
                 "--picture-every", "0", "--out", str(out)]) == 0
    before = _files(out)
    capsys.readouterr()
    for more in ([], ["--more-epochs", "5"]):
        assert main(["train", "--resume", str(out), *more]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "training up to" not in err
        assert f"{out} cannot train beyond epoch 1: its time budget is spent" in err
        assert "give --max-minutes M above" in err
        assert _files(out) == before
    assert main(["train", "--resume", str(out), "--more-epochs", "1", "--max-minutes", "5"]) \
        == 0
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()] \
        == [1, 2]


def _edit_record(run, **change) -> None:
    record = json.loads((run / "config.json").read_text())
    for key, value in change.items():
        section, _, name = key.partition("__")
        if name:
            record[section][name] = value
        else:
            record[section] = value
    (run / "config.json").write_text(json.dumps(record))


@pytest.mark.parametrize("damage, commands, file, message", [
    (lambda r: _edit_record(r, data=None), ("info", "eval", "resume"), "config.json",
     "is not a valid dgm run config: 'data' must be an object, got null"),
    (lambda r: _edit_record(r, data={}), ("eval",), "config.json",
     "'data' must name the run's data set in 'spec'"),
    (lambda r: _edit_record(r, train="oops"), ("info", "resume"), "config.json",
     "'train' must be an object, got \"oops\""),
    (lambda r: (r / "config.json").write_text(json.dumps(
        "model model_config input_shape train data")), ("info", "resume"), "config.json",
     "is not a valid dgm run config: it must hold a JSON object"),
    (lambda r: (r / "config.json").write_bytes(b"\x89PNG\x00\xff"), ("info", "resume"),
     "config.json", "is not a valid dgm run config: 'utf-8' codec can't decode"),
    (lambda r: (r / "metrics.jsonl").write_bytes(b"\x89PNG\x00\xff\n{}\n"), ("info", "resume"),
     "metrics.jsonl", ", line 1: not a JSON record"),
    (lambda r: (r / "metrics.jsonl").write_text('garbage\n{"epoch": 2}\n'), ("resume",),
     "metrics.jsonl", ", line 1: not a JSON record"),
    (lambda r: _edit_record(r, train__bogus=1), ("resume",), "config.json",
     "the saved training settings ('train') are damaged: TrainConfig: unknown option(s)"),
    (lambda r: _edit_record(r, train__lr="fast"), ("resume",), "config.json",
     "the saved training settings ('train') are damaged: lr must be a finite number"),
], ids=["data-null", "data-empty", "train-str", "json-str", "binary-config", "binary-metrics",
        "garbage-metrics", "unknown-saved-option", "bad-saved-value"])
def test_a_damaged_run_directory_is_one_line_naming_the_file_and_loses_nothing(
        run, tmp_path, capsys, damage, commands, file, message):
    """No traceback, the damaged file named; a resume that fails changes no file (the
    config.json it would rewrite for --more-epochs included)."""
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    damage(bad)
    before = _files(bad)
    argv = {"info": ["info", str(bad)], "eval": ["eval", str(bad), "--max-examples", "2"],
            "resume": ["train", "--resume", str(bad), "--more-epochs", "1"]}
    for command in commands:
        assert main(argv[command]) == 2, command
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{bad / file}" in err and message in err, err
        assert _files(bad) == before, command


@pytest.mark.parametrize("argv, message", [
    (["train", "--resume", "vae", "--epochs", "5"], "--epochs cannot change when resuming"),
    (["train", "--resume", "run", "--data-dir", "gan", "--lr", "1"],
     "--lr cannot change when resuming"),
    (["train", "--resume", "gan", "--more-epochs", "2", "--batch-size", "5"],
     "--batch-size cannot change"),
], ids=["run-named-vae", "data-dir-named-gan", "run-named-gan"])
def test_a_resume_flag_check_is_not_fooled_by_a_folder_named_like_a_model(argv, message,
                                                                          capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("patched, argv", [
    ("build_parser", ["eval", "RUN"]),
    ("_resume_flag_error", ["train", "--resume", "RUN"]),
], ids=["eval", "train-resume"])
def test_ctrl_c_while_the_parser_imports_torch_is_one_line(monkeypatch, capsys, patched, argv):
    """The parser of train and eval (and the resume check) import torch: seconds in which
    Ctrl-C used to print a traceback."""
    import dgm.cli

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(dgm.cli, patched, interrupted)
    assert main(argv) == 130
    assert capsys.readouterr().err == f"dgm {argv[0]}: interrupted\n"


@pytest.mark.parametrize("argv, message", [
    (["train", "vae", "--seed", str(2**64 + 1)], "--seed must be at most 2**63 - 1"),
    (["train", "vae", "--schedule-clock", "time"],
     "--schedule-clock 'time' reads the schedule off the time budget: set --max-minutes"),
    (["train", "vae", *FAST, "--activation", "foo"], "--activation must be one of"),
    (["train", "gan", "--data", "ring8", "--d-activation", "foo"],
     "--d-activation must be one of"),
    (["sample", "RUN", "-o", "x.png", "--seed", str(2**64 + 1)],
     "--seed must be at most 2**63 - 1"),
    (["sample", "RUN", "-o", "x.png", "--seed", "-1"], "--seed must be an integer >= 0"),
    (["eval", "RUN", "--seed", str(2**63)], "--seed must be at most 2**63 - 1"),
    (["classifier", "--seed", str(2**63)], "--seed must be at most 2**63 - 1"),
], ids=["train-seed", "schedule-clock", "activation", "gan-activation", "sample-seed",
        "sample-seed-negative", "eval-seed", "classifier-seed"])
def test_a_bad_value_is_named_by_its_flag_before_any_work(run, tmp_path, capsys, argv,
                                                          message):
    argv = [str(run) if a == "RUN" else a for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "x")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "x").exists()


TORCH_NO_MEMORY = RuntimeError("[enforce fail at alloc_cpu.cpp:118] data. DefaultCPUAllocator: "
                               "can't allocate memory: you tried to allocate 80000000000 bytes. "
                               "Error code 12 (Cannot allocate memory)")


@pytest.mark.parametrize("error, size", [(TORCH_NO_MEMORY, " (an allocation of 80 GB failed)"),
                                         (MemoryError(), "")], ids=["torch", "MemoryError"])
@pytest.mark.parametrize("method, argv, message", [
    ("sample", ["sample", "RUN", "-n", "100000000", "-o", "OUT/s.npy"],
     "dgm sample: error: drawing 100000000 samples needs more memory than there is{}: "
     "lower -n"),
    ("__init__", ["train", "vae", *FAST, "--latent", "100000000", "--out", "OUT/r"],
     "dgm train: error: the vae model needs more memory than there is{}: lower --latent "
     "(given 100000000)"),
], ids=["sample-n", "train-latent"])
def test_running_out_of_memory_names_the_size_and_the_option_to_lower(
        run, tmp_path, capsys, monkeypatch, error, size, method, argv, message):
    from dgm.models.vae import VAE

    def no_memory(*args, **kw):
        raise error

    monkeypatch.setattr(VAE, method, no_memory)
    argv = [a.replace("RUN", str(run)).replace("OUT", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    assert capsys.readouterr().err == message.format(size) + "\n"
    assert list(tmp_path.iterdir()) == []


def test_the_classifier_module_is_the_dgm_classifier_command(tmp_path):
    """``python -m dgm.eval.classifier`` checks and reports as ``dgm classifier``: a bad
    value or missing data is one line and exit 2, never a traceback."""
    env = {**os.environ, "DGM_DATA": str(tmp_path)}
    for argv, message in [(["--epochs", "0"], "--epochs must be an integer > 0"),
                          ([], "MNIST was not found")]:
        done = subprocess.run([sys.executable, "-m", "dgm.eval.classifier", *argv], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
