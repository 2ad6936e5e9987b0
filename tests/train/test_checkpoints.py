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
from dgm.train.checkpoint import AVERAGE, model_state, read_checkpoint
from dgm.train.loop import NonFiniteLoss


@pytest.fixture(scope="module")
def splits():
    return load_dataset("digits")


def _model(shape):
    return VAE(VAEConfig(latent=3, hidden=(32,)), shape).reset_parameters(0)


CFG = dict(epochs=3, batch_size=64, max_train=640, picture_every=0, progress=False, seed=5)


def test_a_resumed_run_continues_the_weight_average_bitwise(splits, tmp_path,
                                                           resume_is_bitwise):
    """With ``ema`` the checkpoint holds the average (``average.*``) beside the weights; the
    run resumed mid-epoch ends with the uninterrupted run's average, best weights (the
    average's) and validation losses (the average's), bitwise. Without ``ema``: the contract
    test of every model (tests/test_contracts.py)."""
    cfg = TrainConfig(**CFG, ema=0.9)
    resume_is_bitwise(lambda: _model(splits.train.shape), cfg, splits, tmp_path, stop_after=13)
    tensors, _ = read_checkpoint(tmp_path / "ref" / "checkpoint.safetensors")
    average, weights = model_state(tensors, AVERAGE), model_state(tensors)
    assert average.keys() == weights.keys()  # the average was there to compare...
    assert not torch.equal(average["decoder.0.weight"], weights["decoder.0.weight"])  # ...apart


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
    # dgm.load gives the best weights; which="last" the weights training ended with
    last, kept = dgm.load(tmp_path, which="last"), dgm.load(tmp_path)
    for k, v in model.state_dict().items():
        assert torch.equal(last.state_dict()[k], v), k
    assert not torch.equal(kept.state_dict()["decoder.0.weight"],
                           model.state_dict()["decoder.0.weight"])
    with pytest.raises(ValueError, match="which must be 'best' or 'last'"):
        dgm.load(tmp_path, which="final")


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
    from its last state, and config.json records the new settings; resuming under the same
    stop returns at once, training nothing and changing no file (`dgm train --resume` says
    why instead: tests/test_cli.py)."""
    def make():
        return VAE(VAEConfig(latent=8, hidden=(256,)), splits.train.shape).reset_parameters(0)

    cfg = TrainConfig(epochs=200, batch_size=32, lr=3e-3, max_train=200, patience=3,
                      picture_every=0, progress=False)
    first = Trainer(make(), cfg, splits, tmp_path).fit()
    assert first["epochs"] < 200
    record = (tmp_path / "config.json").read_text()
    metrics = (tmp_path / "metrics.jsonl").read_text()
    again = Trainer(make(), cfg, splits, tmp_path, resume=True).fit()  # the same stop holds
    assert again["epochs"] == first["epochs"]
    assert (tmp_path / "config.json").read_text() == record
    assert (tmp_path / "metrics.jsonl").read_text() == metrics
    more = TrainConfig(**{**cfg.to_dict(), "patience": 0, "epochs": first["epochs"] + 2})
    after = Trainer(make(), more, splits, tmp_path, resume=True).fit()
    assert after["epochs"] == first["epochs"] + 2
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, first["epochs"] + 3))
    record = json.loads((tmp_path / "config.json").read_text())
    saved = record["train"]
    assert saved["patience"] == 0 and saved["epochs"] == first["epochs"] + 2
    assert record["preset"] is None  # a model built without a preset


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


def _poisoned(model, after: int, error: type[BaseException] | None = None):
    """``model`` whose training step, from call ``after + 1`` on, leaves NaN weights (or
    raises ``error``)."""
    step, calls = model.training_step, [0]

    def wrapped(*args, **kw):
        calls[0] += 1
        out = step(*args, **kw)
        if calls[0] > after:
            if error is not None:
                raise error("injected")
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))
        return out

    model.training_step = wrapped
    return model


def test_an_interrupt_after_the_weights_diverged_keeps_the_last_good_checkpoint(splits, tmp_path):
    cfg = TrainConfig(**{**CFG, "epochs": 2})
    Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, "epochs": 1}), splits,
            tmp_path / "run").fit()
    good = (tmp_path / "run" / "checkpoint.safetensors").read_bytes()
    model = _poisoned(_model(splits.train.shape), after=2)  # steps 1-2 of epoch 2 are fine
    with pytest.raises(NonFiniteLoss,
                       match=r"last good checkpoint \(after epoch 1\) is kept") as err:
        Trainer(model, cfg, splits, tmp_path / "run", resume=True, stop_after_steps=14).fit()
    assert "by step 4" in str(err.value)  # interrupted at epoch 2's 4th step
    assert (tmp_path / "run" / "checkpoint.safetensors").read_bytes() == good


@pytest.mark.parametrize("max_train", [64, 640])
def test_an_interrupt_in_an_epoch_s_last_step_stops_at_the_epoch_end(splits, tmp_path,
                                                                     max_train,
                                                                     resume_is_bitwise):
    """With one step per epoch (full batch) the stop used to wait for the end of the run."""
    cfg = TrainConfig(**{**CFG, "max_train": max_train, "epochs": 4})
    steps = -(-max_train // CFG["batch_size"])
    _, _, stop = resume_is_bitwise(lambda: _model(splits.train.shape), cfg, splits, tmp_path,
                                   stop_after=steps)
    assert stop.where == "interrupted after epoch 1"


def test_metrics_written_after_the_checkpoint_are_not_repeated_on_resume(splits, tmp_path):
    """Sparse checkpoints: a crash in epoch 4 leaves epochs 2-3 in metrics.jsonl but not in
    the checkpoint (epoch 1, step 3); the resumed run writes them again, once."""
    cfg = TrainConfig(**{**CFG, "epochs": 4, "checkpoint_minutes": 30.0})
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        Trainer(_model(splits.train.shape), cfg, splits, run, stop_after_steps=13).fit()
    with pytest.raises(RuntimeError, match="injected"):
        Trainer(_poisoned(_model(splits.train.shape), after=25, error=RuntimeError), cfg,
                splits, run, resume=True).fit()
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 4, "train_lo')  # and a line cut off by a kill
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()[:-1]
            ] == [1, 2, 3]
    Trainer(_model(splits.train.shape), cfg, splits, run, resume=True).fit()
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def test_a_new_run_in_a_used_directory_does_not_inherit_its_weights(splits, tmp_path):
    Trainer(_model(splits.train.shape), TrainConfig(**CFG), splits, tmp_path / "run").fit()
    assert (tmp_path / "run" / "best.safetensors").exists()
    no_valid = type(splits)(train=splits.train, valid=None, test=splits.test)
    Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, "epochs": 1}), no_valid,
            tmp_path / "run").fit()
    assert not (tmp_path / "run" / "best.safetensors").exists()


def test_checkpoints_are_readable_as_the_umask_allows(splits, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, "epochs": 1}), splits,
                tmp_path / "run").fit()
    finally:
        os.umask(old)
    for name in ("checkpoint.safetensors", "best.safetensors", "config.json", "summary.json"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name


def test_resume_refuses_a_changed_training_setting_but_takes_more_epochs(splits, tmp_path):
    cfg = TrainConfig(**CFG)
    with pytest.raises(TrainingInterrupted):
        Trainer(_model(splits.train.shape), cfg, splits, tmp_path / "run",
                stop_after_steps=13).fit()
    for change in ({"lr": 0.01}, {"batch_size": 32}, {"seed": 6}):
        name = next(iter(change))
        with pytest.raises(ValueError, match=f"differ from the saved run's .*'{name}'"):
            Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, **change}), splits,
                    tmp_path / "run", resume=True).fit()
    summary = Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, "epochs": 4}), splits,
                      tmp_path / "run", resume=True).fit()
    assert summary["epochs"] == 4


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    from dgm.train.checkpoint import atomic_write, atomic_write_bytes

    target = tmp_path / "checkpoint.safetensors"
    atomic_write_bytes(target, b"good")

    def half_then_crash(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_crash)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_checkpoint_the_disk_refuses_is_an_os_error_naming_it(tmp_path, monkeypatch):
    """safetensors' own error (a full or read-only disk) names no file: it becomes an OSError
    naming the checkpoint, which the CLI prints in one line; the old file stays."""
    from safetensors import SafetensorError

    from dgm.train import checkpoint

    target = tmp_path / "checkpoint.safetensors"
    checkpoint.atomic_write_bytes(target, b"good")

    def full_disk(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    with pytest.raises(OSError, match=f"{target}: the checkpoint could not be written: .*space"):
        checkpoint.save_checkpoint(target, torch.nn.Linear(2, 2))
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_wall_time_covers_validation_and_checkpoints_and_survives_a_resume(splits, tmp_path):
    """train_seconds is the steps' clock; wall_seconds all of fit's time, kept on resume."""
    run = tmp_path / "run"
    Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, "epochs": 2}), splits, run).fit()
    summary = Trainer(_model(splits.train.shape), TrainConfig(**CFG), splits, run,
                      resume=True).fit()
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    walls = [r["wall_seconds"] for r in rows]
    assert walls == sorted(walls) and len(walls) == 3
    assert summary["wall_seconds"] >= walls[-1] >= rows[-1]["train_seconds"] > 0


# -- damaged, foreign or mismatched files: an error naming the file and what is wrong --------
@pytest.fixture(scope="module")
def one_epoch_run(splits, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "run"
    Trainer(_model(splits.train.shape), TrainConfig(**{**CFG, "epochs": 1, "max_train": 64}),
            splits, run).fit()
    return run


def _edit_config(run, **change):
    record = json.loads((run / "config.json").read_text())
    for key, value in change.items():
        *path, last = key.split("__")
        d = record
        for k in path:
            d = d[k]
        if value is None:
            del d[last]
        else:
            d[last] = value
    (run / "config.json").write_text(json.dumps(record))


def _header_not_json(run):
    tensors, _ = read_checkpoint(run / "checkpoint.safetensors")
    save_file(tensors, str(run / "checkpoint.safetensors"),
              metadata={"format": "pt", "dgm-checkpoint-v1": '{"state": {'})


@pytest.mark.parametrize("damage, file, message", [
    (lambda run: _edit_config(run, train=None), "config.json",
     r"config.json is not a valid dgm run config: no \['train'\]"),
    (lambda run: _edit_config(run, model="vea"), "config.json",
     r"config.json does not describe a model dgm can build: unknown model 'vea'"),
    (lambda run: _edit_config(run, model_config__width=3), "config.json",
     r"config.json does not describe a model dgm can build: VAEConfig: unknown option\(s\) "
     r"\['width'\]"),
    (lambda run: _edit_config(run, model_config__latent=4), "checkpoint.safetensors",
     r"(?s)checkpoint.safetensors does not fit the model in .*config.json: .*size mismatch"),
    (lambda run: (run / "checkpoint.safetensors").unlink(), "checkpoint.safetensors",
     r"^no checkpoint at .*checkpoint.safetensors$"),
    (_header_not_json, "checkpoint.safetensors",
     r"checkpoint.safetensors: the dgm header is not valid JSON"),
], ids=["config-without-train", "unknown-model", "unknown-option", "other-shape",
        "no-checkpoint", "header-not-json"])
def test_a_damaged_run_directory_is_an_error_naming_the_file(one_epoch_run, tmp_path, damage,
                                                             file, message):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    damage(run)
    with pytest.raises(CheckpointError, match=message) as err:
        dgm.load(run, which="last")
    assert str(run / file) in str(err.value)


@pytest.mark.parametrize("what, message", [
    ("model", r"(?s)does not fit this model: .*size mismatch for weight"),
    ("optimizer", r"has no state for optimizer 'critic'"),
    ("generator", r"has no state for random generator 'extra'"),
])
def test_load_checkpoint_names_what_the_checkpoint_lacks(tmp_path, what, message):
    from dgm.train.checkpoint import load_checkpoint, save_checkpoint

    path = tmp_path / "c.safetensors"
    net = torch.nn.Linear(2, 2)
    save_checkpoint(path, net, {"main": torch.optim.SGD(net.parameters(), lr=0.1)},
                    {"noise": torch.Generator()})
    other = torch.nn.Linear(3, 2) if what == "model" else net
    optimizers = {"critic": torch.optim.SGD(net.parameters(), lr=0.1)} if what == "optimizer" \
        else None
    generators = {"extra": torch.Generator()} if what == "generator" else None
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(path, other, optimizers, generators)
    assert str(err.value).startswith(str(path))


def test_an_optimizer_s_non_tensor_state_round_trips_through_the_json_header(tmp_path):
    """PyTorch's own optimizers keep tensors only; a Python number in a param's state (an
    optimizer of another library) goes to the header and comes back."""
    from dgm.train.checkpoint import load_checkpoint, save_checkpoint

    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    opt.state[net.weight]["restarts"] = 3
    save_checkpoint(tmp_path / "c.safetensors", net, {"main": opt})
    again = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    load_checkpoint(tmp_path / "c.safetensors", net, {"main": again})
    assert again.state[net.weight]["restarts"] == 3
    assert torch.equal(again.state[net.weight]["momentum_buffer"],
                       opt.state[net.weight]["momentum_buffer"])


def test_metrics_of_a_run_without_metrics_are_empty_and_trimming_them_writes_nothing(tmp_path):
    from dgm.train.metrics import read_metrics, trim_metrics

    assert read_metrics(tmp_path) == []
    trim_metrics(tmp_path, 3)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("lines, line_no, message", [
    (['{"epoch": 1}', '{"epoch": 2, "train_lo', '{"epoch": 3}'], 2, "not a JSON record"),
    (['{"epoch": 1}', '[1, 2]', '{"epoch": 3}'], 2, "a record is a JSON object, got '\\[1, 2\\]'"),
])
def test_a_metrics_line_damaged_before_the_last_is_an_error_naming_the_file_and_line(
        tmp_path, lines, line_no, message):
    """Only the last line can be cut short by a kill (and is skipped); skipping a damaged
    line before it would lose an epoch's record, and a resume would rewrite the file
    without it."""
    from dgm.train.metrics import read_metrics, trim_metrics

    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n")
    for call in (lambda: read_metrics(tmp_path), lambda: trim_metrics(tmp_path, 3)):
        with pytest.raises(ValueError, match=f"^{path}, line {line_no}: {message}"):
            call()
    assert path.read_text() == "\n".join(lines) + "\n"  # nothing lost
    path.write_text('{"epoch": 1}\n\n{"epoch": 2}\n{"epoch": 3, "tra')  # blank, cut last
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2]
