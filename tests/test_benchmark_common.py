"""The benchmarks' shared helpers: the --resume check and the selection on validation."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from dgm.models.made import MADEConfig
from dgm.train import TrainConfig

_spec = importlib.util.spec_from_file_location(
    "bench_common", Path(__file__).parents[1] / "benchmarks" / "_common.py")
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)


@pytest.fixture
def run_dir(tmp_path):
    saved = {"train": TrainConfig(epochs=10, lr=0.01).to_dict(),
             "model_config": MADEConfig(hidden_sizes=(16, 8), dropout=0.3).to_dict()}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    return tmp_path


def test_the_same_run_passes_and_free_settings_may_change(run_dir):
    saved = common.saved_train_config(run_dir)
    mine = TrainConfig(epochs=10, lr=0.01, data_dir="/elsewhere").to_dict()  # free
    common.check_same_run(run_dir, mine, saved,
                          model_config=MADEConfig(hidden_sizes=(16, 8), dropout=0.3).to_dict())


@pytest.mark.parametrize("train, model, named", [
    ({"lr": 0.02}, {}, "'lr': (0.02, 0.01)"),
    ({"device": "cuda"}, {}, "'device': ('cuda', 'auto')"),  # a time measured on one machine
    ({}, {"dropout": 0.5}, "'model.dropout': (0.5, 0.3)"),
    ({}, {"hidden_sizes": (16,)}, "'model.hidden_sizes': ([16], [16, 8])"),
])
def test_a_changed_setting_is_refused_by_name(run_dir, train, model, named):
    saved = common.saved_train_config(run_dir)
    mine = TrainConfig(**{"epochs": 10, "lr": 0.01, **train}).to_dict()
    config = MADEConfig(**{"hidden_sizes": (16, 8), "dropout": 0.3, **model}).to_dict()
    with pytest.raises(SystemExit, match="describe another run") as err:
        common.check_same_run(run_dir, mine, saved, model_config=config)
    assert named in str(err.value)


def test_no_saved_run_is_a_clear_exit(tmp_path):
    with pytest.raises(SystemExit, match=r"--resume: no run in .* \(no config.json\)"):
        common.saved_train_config(tmp_path / "missing")


def test_a_worse_rerun_of_the_chosen_variant_gives_way_to_the_best_stored_one(tmp_path,
                                                                             monkeypatch):
    """Selection on validation over every stored variant: a rerun of the chosen variant
    that scores worse does not keep its place over a better one stored earlier."""
    monkeypatch.setattr(common, "RESULTS", tmp_path)

    def run(key, valid, test):
        common.select_variant("r", "vae", key, {"valid": valid}, {"vae_test": test}, "valid")
        return json.loads((tmp_path / "r.json").read_text())

    run("vae_a", 90.0, 1.0)
    run("vae_b", 91.0, 2.0)
    data = run("vae_a", 95.0, 3.0)
    assert data["selected"]["vae"] == "vae_b" and data["vae_test"] == 2.0
    data = run("vae_c", 89.0, 4.0)
    assert data["selected"]["vae"] == "vae_c" and data["vae_test"] == 4.0


@pytest.mark.parametrize("stored_by_name", [True, False], ids=["figure-keys", "figures_of"])
def test_stored_variants_recorded_before_their_figures_can_still_take_over(
        tmp_path, monkeypatch, stored_by_name):
    """Records written before variants carried ``figures``/``variant_of`` (the committed
    results): a worse rerun of the chosen variant still gives way to the best of them."""
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    old = {"valid": 89.0, "machine": {"cores": 2, "cuda": None}}
    old.update({"vae_test": 7.0} if stored_by_name else {"test_nll_nats": 7.0})
    (tmp_path / "r.json").write_text(json.dumps({
        "stages": {"vae_old": old, "vae_other_stage": {"valid": 1.0}, "vaex": {"valid": 1.0},
                   "vae_a": {"valid": 90.0, "variant_of": "vae", "figures": {"vae_test": 1.0},
                             "device_label": "cpu"}},
        "selected": {"vae": "vae_a"}, "vae_test": 1.0}))
    figures_of = None if stored_by_name else (lambda r: {"vae_test": r["test_nll_nats"]})
    common.select_variant("r", "vae", "vae_a", {"valid": 95.0}, {"vae_test": 3.0}, "valid",
                          figures_of=figures_of)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["selected"]["vae"] == "vae_old" and data["vae_test"] == 7.0
    assert data["figure_device"]["vae_test"] == "2-core CPU"


def test_the_readme_results_table_matches_the_results_files():
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "make_table.py"),
                           "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("cores", "threads", "label"), [
    (2, 2, "2-core CPU"),
    (2, 1, "2-core CPU, 1 torch thread"),
    (16, 4, "16-core CPU, 4 torch threads"),
])
def test_a_cpu_figure_says_how_many_threads_measured_it(cores, threads, label, monkeypatch):
    import torch

    monkeypatch.setattr(common.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    assert common.device_label("cpu") == label
    # a stored record says the same from its machine (records written before labels)
    assert common.record_label({"machine": {"cores": cores, "torch_threads": threads}}) == label


SCRIPTS = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py")
                 if not p.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_script_has_a_parser_that_refuses_a_stray_flag(script, tmp_path):
    """A script without a parser ran its benchmark on ``--help`` and rewrote its results."""
    import subprocess
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / script
    results = path.parent / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    # the stray flag beside a placeholder for a script's required positional (keep_weights.py
    # takes run folders), so that what is refused is the flag, not a missing argument
    refused = subprocess.run([sys.executable, str(path), "--no-such-flag", "placeholder"],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "usage:" in refused.stderr and "--no-such-flag" in refused.stderr
    assert {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")} == before


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A finished tiny VAE run on digits, trained with a KL warm-up (its step-count buffer
    belongs to that schedule) and a moving average of the weights."""
    from dgm.data import load_dataset
    from dgm.models.vae import VAE, VAEConfig
    from dgm.train import Trainer

    run = tmp_path_factory.mktemp("warm") / "source"
    model = VAE(VAEConfig(latent=2, hidden=(16,), kl_warmup=5), (1, 8, 8)).reset_parameters(0)
    cfg = TrainConfig(data="digits", epochs=1, batch_size=64, max_train=128, ema=0.9,
                      picture_every=0, progress=False)
    Trainer(model, cfg, load_dataset("digits"), run).fit()
    return run


def test_a_warm_start_takes_the_source_runs_averaged_weights(vae_run):
    import dgm
    from dgm.models.vae import VAE, VAEConfig

    fresh = VAE(VAEConfig(latent=2, hidden=(16,)), (1, 8, 8)).reset_parameters(1)
    source = common.warm_start(fresh, vae_run)
    want = dgm.load(vae_run, which="last").state_dict()  # the average: what was evaluated
    got = fresh.state_dict()
    assert "steps" in want and "steps" not in got  # the warm-up's counter stays behind
    for name, value in got.items():
        assert torch.equal(value, want[name]), name
    summary = json.loads((vae_run / "summary.json").read_text())
    assert source["epochs"] == 1 and source["run"] == "source"
    assert source["train_seconds"] == summary["train_seconds"] > 0


def test_a_warm_start_from_another_model_or_no_run_is_a_clear_exit(vae_run, tmp_path):
    from dgm.models.vae import VAE, VAEConfig

    wider = VAE(VAEConfig(latent=2, hidden=(32,)), (1, 8, 8)).reset_parameters(0)
    with pytest.raises(SystemExit, match=r"--init-from: the weights in .*source do not fit"):
        common.warm_start(wider, vae_run)
    with pytest.raises(SystemExit, match=r"--init-from: no finished run in .*nowhere"):
        common.warm_start(wider, tmp_path / "nowhere")


def test_a_kept_copy_holds_the_weights_only_and_loads_and_warm_starts_as_the_run(vae_run,
                                                                                 tmp_path):
    import dgm
    from dgm.models.vae import VAE, VAEConfig
    from dgm.train.checkpoint import BEST, CHECKPOINT, CheckpointError
    from dgm.train.metrics import read_metrics
    from dgm.train.state import saved_loop_state

    kept = common.keep_weights(vae_run, tmp_path)
    assert kept == tmp_path / "source" and (vae_run / BEST).is_file()
    rows = read_metrics(kept)  # the history comes along (dgm info's "last")
    assert rows == read_metrics(vae_run) and len(rows) > 0
    for which in ("best", "last"):
        want, got = dgm.load(vae_run, which=which).state_dict(), dgm.load(kept, which=which)
        assert all(torch.equal(v, want[k]) for k, v in got.state_dict().items()), which
    # no optimizer moments, no second copy of the weights beside their average
    assert (kept / CHECKPOINT).stat().st_size < 0.4 * (vae_run / CHECKPOINT).stat().st_size
    with pytest.raises(CheckpointError, match=r"weights only .*kept from .*cannot resume"):
        saved_loop_state(kept / CHECKPOINT)
    a, b = (VAE(VAEConfig(latent=2, hidden=(16,)), (1, 8, 8)).reset_parameters(s) for s in (1, 2))
    assert common.warm_start(a, kept) == common.warm_start(b, vae_run)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_init_from_takes_this_machines_run_else_the_kept_copy(vae_run, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(common, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(common, "KEPT", tmp_path / "weights")
    with pytest.raises(SystemExit, match=r"no finished run 'source' in .*runs nor a kept copy"):
        common.run_source("source")
    common.keep_weights(vae_run, common.KEPT)
    assert common.run_source("source") == tmp_path / "weights" / "source"
    shutil.copytree(vae_run, tmp_path / "runs" / "source")
    assert common.run_source("source") == tmp_path / "runs" / "source"


def _rbm_run(test, train10k, valid=None):
    run = {"test_nll_nats": test, "test_nll_stderr": 0.2, "test_nll_stderr_includes_log_z": True,
           "train10k_nll_nats": train10k, "train_seconds": 1.0, "device_label": "cpu"}
    return run if valid is None else {**run, "valid_nll_nats": valid}


def test_the_best_rbm_is_chosen_on_validation_not_on_the_training_images_nll():
    spec = importlib.util.spec_from_file_location(
        "bench_rbm", Path(__file__).parents[1] / "benchmarks" / "rbm_mnist.py")
    rbm_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rbm_bench)
    # an overfit run without a validation figure has the lowest training-images NLL
    runs = {"overfit": _rbm_run(89.0, 85.0), "a": _rbm_run(88.3, 86.2, valid=89.0),
            "b": _rbm_run(87.7, 85.4, valid=88.4)}
    data = {"stages": {"quality": {"runs": runs}}}
    rbm_bench.select_best(data)
    assert (data["best_method"], data["best_test_nll_nats"]) == ("b", 87.7)
    assert data["stages"]["quality"]["selected_by"] == "valid_nll_nats"
    data = {"stages": {"quality": {"runs": {k: runs[k] for k in ("overfit",)} | {
        "c": _rbm_run(90.0, 86.0)}}}}
    rbm_bench.select_best(data)  # none validated: the training images' NLL is all there is
    assert data["best_method"] == "overfit"
    assert data["stages"]["quality"]["selected_by"] == "train10k_nll_nats"
