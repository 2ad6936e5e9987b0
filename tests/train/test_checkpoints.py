"""Checkpoints: bitwise resume, atomic writes, clear errors for corrupt or foreign files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import dgm
from dgm.data import load_dataset
from dgm.models.vae import VAE, VAEConfig
from dgm.train import CheckpointError, TrainConfig, Trainer, TrainingInterrupted
from dgm.train.checkpoint import read_checkpoint


@pytest.fixture(scope="module")
def splits():
    return load_dataset("digits")


def _model(shape):
    return VAE(VAEConfig(latent=3, hidden=(32,)), shape).reset_parameters(0)


CFG = dict(epochs=3, batch_size=64, max_train=640, picture_every=0, progress=False, seed=5)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_interrupted_and_resumed_run_equals_uninterrupted_run_bitwise(splits, tmp_path, ema):
    cfg = TrainConfig(**CFG, ema=ema)
    ref = _model(splits.train.shape)
    Trainer(ref, cfg, splits, tmp_path / "ref").fit()

    cut = _model(splits.train.shape)
    with pytest.raises(TrainingInterrupted):  # stop in the middle of epoch 2
        Trainer(cut, cfg, splits, tmp_path / "cut", stop_after_steps=13).fit()
    assert dgm.load(tmp_path / "cut") is not None  # a run can be loaded mid-way
    fresh = _model(splits.train.shape)
    Trainer(fresh, cfg, splits, tmp_path / "cut", resume=True).fit()

    for (k, a), (_, b) in zip(ref.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), k
    for name in ("checkpoint.safetensors", "best.safetensors"):  # the averages too
        want, _ = read_checkpoint(tmp_path / "ref" / name)
        got, _ = read_checkpoint(tmp_path / "cut" / name)
        assert sorted(want) == sorted(got)
        for k in want:
            if not k.startswith("rng."):
                assert torch.equal(want[k], got[k]), (name, k)
    lines = [json.loads(x) for x in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]
    lines2 = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    drop = ("train_seconds", "train_examples_per_s")
    strip = [{k: v for k, v in r.items() if k not in drop} for r in lines]
    strip2 = [{k: v for k, v in r.items() if k not in drop} for r in lines2]
    assert strip == strip2


def test_checkpoint_holds_optimizer_and_rng_state_without_pickle(splits, tmp_path):
    Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, "epochs": 1}), splits, tmp_path).fit()
    tensors, header = read_checkpoint(tmp_path / "checkpoint.safetensors")
    assert any(k.startswith("optim.main.") and k.endswith("exp_avg") for k in tensors)
    assert "rng.noise" in tensors
    assert header["state"]["loop"]["epoch"] == 1
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_corrupt_checkpoint_gets_a_clear_error(splits, tmp_path):
    Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, "epochs": 1}), splits, tmp_path).fit()
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_checkpoint(path)


def test_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a dgm checkpoint"):
        read_checkpoint(path)


def test_missing_run_directory_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="not a dgm run directory"):
        dgm.load(tmp_path / "nope")


def test_early_stopping_stops_and_keeps_the_best_weights(splits, tmp_path):
    model = VAE(VAEConfig(latent=8, hidden=(256,)), splits.train.shape).reset_parameters(0)
    cfg = TrainConfig(epochs=200, batch_size=32, lr=3e-3, max_train=200, patience=3,
                      picture_every=0, progress=False)
    summary = Trainer(model, cfg, splits, tmp_path).fit()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert summary["epochs"] < 200 and rows[-1].get("early_stop")
    best = min(r["valid_loss"] for r in rows)
    assert summary["best_valid_loss"] == best
    assert len(rows) - summary["best_epoch"] == 3


def test_a_run_without_validation_keeps_the_last_weights_and_writes_strict_json(
        splits, tmp_path):
    import dataclasses

    no_valid = dataclasses.replace(splits, valid=None)
    summary = Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, "epochs": 2}),
                      no_valid, tmp_path).fit()
    assert summary["best_valid_loss"] is None  # no score to compare, not inf
    text = (tmp_path / "summary.json").read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in summary.json")) \
        == json.loads(json.dumps(summary))


def test_a_finished_run_resumed_with_a_looser_stop_goes_on(splits, tmp_path):
    """Stopped by patience (or a time budget): resuming with a larger one continues the run
    from its last state, and config.json records the new settings."""
    def make():
        return VAE(VAEConfig(latent=8, hidden=(256,)), splits.train.shape).reset_parameters(0)

    cfg = TrainConfig(epochs=200, batch_size=32, lr=3e-3, max_train=200, patience=3,
                      picture_every=0, progress=False)
    first = Trainer(make(), cfg, splits, tmp_path).fit()
    assert first["epochs"] < 200
    same = Trainer(make(), cfg, splits, tmp_path, resume=True).fit()
    assert same["epochs"] == first["epochs"]  # the stop still holds: nothing more
    more = TrainConfig(**{**cfg.to_dict(), "patience": 0, "epochs": first["epochs"] + 2})
    after = Trainer(make(), more, splits, tmp_path, resume=True).fit()
    assert after["epochs"] == first["epochs"] + 2
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, first["epochs"] + 3))
    saved = json.loads((tmp_path / "config.json").read_text())["train"]
    assert saved["patience"] == 0 and saved["epochs"] == first["epochs"] + 2


def test_sparse_checkpoints_still_hold_the_best_weights_and_the_last_state(splits, tmp_path):
    """``checkpoint_minutes``: no checkpoint until the interval passes, but the final epoch
    always writes one, and the best weights written then are the best epoch's."""
    cfg = TrainConfig(**{**CFG, "epochs": 4, "checkpoint_minutes": 60.0})
    model = _model(splits.train.shape)
    trainer = Trainer(model, cfg, splits, tmp_path)
    trainer.fit()
    _, header = read_checkpoint(tmp_path / "checkpoint.safetensors")
    assert header["state"]["loop"]["epoch"] == 4
    tensors, best = read_checkpoint(tmp_path / "best.safetensors")
    assert best["state"]["epoch"] == trainer.state.best_epoch >= 1
    every = tmp_path / "every"
    ref = _model(splits.train.shape)
    Trainer(ref, TrainConfig(**{**CFG, "epochs": 4}), splits, every).fit()
    ref_best, _ = read_checkpoint(every / "best.safetensors")
    for k, v in ref_best.items():  # the same weights as a run that saved every epoch
        assert torch.equal(v, tensors[k]), k
