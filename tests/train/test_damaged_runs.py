"""Resuming a damaged run directory, or one from another dgm version: an error naming the file
and what is wrong (never a KeyError or a torch message alone), before anything there changes."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from dgm.data import load_dataset
from dgm.models.vae import VAE, VAEConfig
from dgm.train import CheckpointError, TrainConfig, Trainer
from dgm.train.checkpoint import MAGIC

CFG = dict(epochs=2, batch_size=64, max_train=64, picture_every=0, progress=False, seed=5)


@pytest.fixture(scope="module")
def splits():
    return load_dataset("digits")


def _model(shape):
    return VAE(VAEConfig(latent=3, hidden=(32,)), shape).reset_parameters(0)


@pytest.fixture(scope="module")
def two_epoch_run(splits, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "run"
    Trainer(_model(splits.train.shape), TrainConfig(**CFG), splits, run).fit()
    return run


def _edit_checkpoint(run, edit) -> None:
    """Rewrite the run's checkpoint after ``edit(header, tensors)``, which returns them."""
    path = run / "checkpoint.safetensors"
    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()[MAGIC])
    header, tensors = edit(header, load_file(str(path)))
    save_file(tensors, str(path), metadata={"format": "pt", MAGIC: json.dumps(header)})


def _loop(change):
    """An edit of the checkpoint's loop state: ``change(loop)`` in place."""
    def edit(header, tensors):
        change(header["state"]["loop"])
        return header, tensors
    return edit


def _extra_param_group(header, tensors):
    groups = header["optimizers"]["main"]["param_groups"]
    groups.append(dict(groups[0]))
    return header, tensors


def _short_noise_state(header, tensors):
    tensors["rng.noise"] = tensors["rng.noise"][:100].clone()
    return header, tensors


@pytest.mark.parametrize("damage, file, error, message", [
    (lambda r: _edit_checkpoint(r, lambda h, t: ({**h, "state": {}}, t)),
     "checkpoint.safetensors", CheckpointError, "the dgm header holds no loop state"),
    (lambda r: _edit_checkpoint(r, _loop(lambda loop: loop.update(bogus=1))),
     "checkpoint.safetensors", CheckpointError,
     r"loop state's fields differ from this dgm's \(written by another dgm version\?\): "
     r"unknown \['bogus'\], missing \[\]"),
    (lambda r: _edit_checkpoint(r, _loop(lambda loop: loop.update(epoch="two"))),
     "checkpoint.safetensors", CheckpointError, "the loop state's 'epoch' is damaged: 'two'"),
    (lambda r: _edit_checkpoint(r, lambda h, t: ({"state": h["state"]}, t)),
     "checkpoint.safetensors", CheckpointError,
     "the dgm header is damaged: no optimizers object in it"),
    (lambda r: _edit_checkpoint(r, lambda h, t: ([1, 2], t)),
     "checkpoint.safetensors", CheckpointError,
     "the dgm header is damaged: a JSON object is expected, got '\\[1, 2\\]'"),
    (lambda r: _edit_checkpoint(r, _extra_param_group), "checkpoint.safetensors",
     CheckpointError, "the state of optimizer 'main' is damaged or does not fit"),
    (lambda r: _edit_checkpoint(r, _short_noise_state), "checkpoint.safetensors",
     CheckpointError, "random generator 'noise': its saved state is damaged"),
    (lambda r: (r / "metrics.jsonl").write_text('garbage\n{"epoch": 2}\n'), "metrics.jsonl",
     ValueError, "line 1: not a JSON record"),
], ids=["no-loop", "extra-loop-field", "epoch-not-int", "no-optimizers", "header-list",
        "optimizer-groups", "noise-state-size", "metrics-garbage"])
def test_a_resume_from_damaged_files_names_the_file_and_changes_nothing(
        splits, two_epoch_run, tmp_path, damage, file, error, message):
    """The resumed run asks for more epochs: its config.json would change, and must not
    when the resume fails."""
    run = tmp_path / "run"
    shutil.copytree(two_epoch_run, run)
    damage(run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    more = TrainConfig(**{**CFG, "epochs": 3})
    with pytest.raises(error, match=message) as err:
        Trainer(_model(splits.train.shape), more, splits, run, resume=True).fit()
    assert str(run / file) in str(err.value)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_header_that_is_not_the_loop_s_gives_no_epoch_count(two_epoch_run, tmp_path):
    """``checkpoint_epochs`` (dgm info) of a damaged loop state: the file named, not int()'s
    ``invalid literal``."""
    from dgm.train.checkpoint import checkpoint_epochs

    run = tmp_path / "run"
    shutil.copytree(two_epoch_run, run)
    assert checkpoint_epochs(run / "checkpoint.safetensors") == 2
    _edit_checkpoint(run, _loop(lambda loop: loop.update(epoch="two")))
    with pytest.raises(CheckpointError, match="its epoch count is 'two', not an integer"):
        checkpoint_epochs(run / "checkpoint.safetensors")
