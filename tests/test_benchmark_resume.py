"""The benchmarks' ``--resume`` check: a continued run must be the saved run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

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
    mine = TrainConfig(epochs=10, lr=0.01, device="cuda").to_dict()  # device is free
    common.check_same_run(run_dir, mine, saved,
                          model_config=MADEConfig(hidden_sizes=(16, 8), dropout=0.3).to_dict())


@pytest.mark.parametrize("train, model, named", [
    ({"lr": 0.02}, {}, "'lr': (0.02, 0.01)"),
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
