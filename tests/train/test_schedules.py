"""Learning-rate schedules: where a run stands, by the epoch or by the time budget."""

from __future__ import annotations

import json
import math

import pytest

from dgm.data import load_dataset
from dgm.models.vae import VAE, VAEConfig
from dgm.train import TrainConfig, Trainer
from dgm.train.config import lr_factor, schedule_position


def test_the_time_clock_runs_ahead_of_a_slow_run_never_behind_a_fast_one():
    slow = schedule_position("time", 5, 100, train_seconds=90.0, max_minutes=2.0)
    assert slow == pytest.approx(75.0)  # 3/4 of the budget spent at epoch 5 of 100
    assert schedule_position("time", 60, 100, train_seconds=12.0, max_minutes=2.0) == 60
    assert schedule_position("time", 5, 100, train_seconds=1e9, max_minutes=2.0) == 100
    assert schedule_position("epoch", 5, 100, train_seconds=90.0, max_minutes=2.0) == 5
    assert lr_factor("exp", 37.5, 100, 0.02) == pytest.approx(math.exp(-0.02 * 37.5))


def test_time_clock_needs_a_budget():
    with pytest.raises(ValueError, match="set max_minutes"):
        TrainConfig.from_dict({"schedule_clock": "time"})


def test_a_run_planned_too_long_still_decays_its_rate_within_its_budget(tmp_path):
    """Planned for 10,000 epochs, stopped by a one-second budget: on the time clock the
    exponential schedule still reaches (nearly) its final rate; on the epoch clock it would
    barely have moved."""
    cfg = TrainConfig(epochs=10_000, batch_size=100, max_train=300, lr=1e-3, schedule="exp",
                      lr_decay=math.log(10) / 10_000, max_minutes=1 / 60,
                      schedule_clock="time", picture_every=0, progress=False, seed=1)
    model = VAE(VAEConfig(latent=2, hidden=(8,)), (1, 8, 8)).reset_parameters(0)
    Trainer(model, cfg, load_dataset("digits"), tmp_path / "run").fit()
    lines = [json.loads(s) for s in (tmp_path / "run" / "metrics.jsonl").read_text().split("\n")
             if s]
    lrs = [r["lr"] for r in lines]
    assert lines[-1]["time_limit"] and len(lines) < 10_000
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] < 1.5e-4
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_iwae_ends_at_a_tenth_and_an_unknown_schedule_is_named():
    """The time clock reaches ``epochs`` itself when the budget is spent: past the last
    stage the IWAE schedule stays at lr / 10."""
    assert lr_factor("iwae", 99.99, 100) == lr_factor("iwae", 100, 100) == pytest.approx(0.1)
    assert lr_factor("iwae", 150.0, 100) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown schedule 'step'; choose constant, iwae, "
                                         "cosine or exp"):
        lr_factor("step", 1, 10)
