"""The same loop under torchrun: 2 CPU processes (gloo) against one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ARGS = ["train", "vae", "--preset", "tiny", "--data", "digits", "--epochs", "3",
        "--batch-size", "64", "--seed", "1", "--picture-every", "0", "--no-progress"]


def _run(cmd, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_cpu_ranks_hold_identical_parameters_and_match_one_process(tmp_path):
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
          "-m", "dgm.cli", *ARGS, "--out", str(tmp_path / "ddp")], tmp_path)
    _run([sys.executable, "-m", "dgm.cli", *ARGS, "--out", str(tmp_path / "one")], tmp_path)
    ddp = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert ddp["world_size"] == 2 and one["world_size"] == 1
    assert ddp["rank_parameter_spread"] == 0.0  # all-gathered from both ranks after training
    rows = [json.loads(x) for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3  # rank 0 alone wrote the metrics
    assert ddp["best_valid_loss"] == pytest.approx(one["best_valid_loss"], rel=0.03)


EXACT = ["train", "nade", "--preset", "tiny", "--data", "digits", "--epochs", "2",
         "--batch-size", "64", "--max-train", "1280", "--optimizer", "sgd", "--lr", "0.05",
         "--seed", "1", "--picture-every", "0", "--no-progress"]


def test_two_ranks_take_the_same_steps_as_one_process(tmp_path):
    """A model with no noise (NADE, natural ordering) and SGD, on 20 whole batches: the two
    ranks' half-batches together are one process's batch and their all-reduced gradient its
    mean, so the weights agree tensor by tensor (a sum instead of a mean, or a rank batch
    of the whole size, would move them)."""
    import torch

    import dgm

    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
          "-m", "dgm.cli", *EXACT, "--out", str(tmp_path / "ddp")], tmp_path)
    _run([sys.executable, "-m", "dgm.cli", *EXACT, "--out", str(tmp_path / "one")], tmp_path)
    ddp, one = (dgm.load(tmp_path / r, which="last").state_dict() for r in ("ddp", "one"))
    assert ddp.keys() == one.keys()
    start = dgm.load(tmp_path / "one", which="last").reset_parameters(1).state_dict()
    for k in one:
        torch.testing.assert_close(ddp[k], one[k], rtol=0, atol=1e-5)
    assert any(not torch.equal(one[k], start[k]) for k in one)  # it did train
    losses = [[json.loads(x)["train_loss"] for x in (tmp_path / r / "metrics.jsonl")
               .read_text().splitlines()] for r in ("ddp", "one")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


WORKER = """
import os, sys
import numpy as np
from dgm.data import load_dataset
from dgm.models.rbm import RBM, RBMConfig
from dgm.train import TrainConfig, Trainer

model = RBM(RBMConfig(hidden=8, pcd=True, chains=16), (1, 8, 8)).reset_parameters(0)
start = model.chains.clone()
cfg = TrainConfig(data="digits", epochs=1, batch_size=64, max_train=512, picture_every=0,
                  progress=False, optimizer="sgd", lr=0.05)
summary = Trainer(model, cfg, load_dataset("digits"), sys.argv[1]).fit()
np.savez(os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.npz"), chains=model.chains.numpy(),
         start=start.numpy(), data_mean=model.data_mean.numpy(), W=model.W.detach().numpy(),
         spread=summary["rank_parameter_spread"])
"""


def test_each_rank_keeps_its_own_persistent_chains(tmp_path):
    """PCD under DDP: parameters agree on every rank, but the chains and the data statistics
    are each process's own (broadcasting buffers from rank 0 would run one set of chains on
    every process)."""
    import numpy as np

    from dgm.data import load_dataset

    (tmp_path / "worker.py").write_text(WORKER)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
          str(tmp_path / "worker.py"), str(tmp_path / "run")], tmp_path)
    r0, r1 = (np.load(tmp_path / "run" / f"rank{r}.npz") for r in (0, 1))
    assert float(r0["spread"]) == 0.0 and np.array_equal(r0["W"], r1["W"])
    assert not np.array_equal(r0["chains"], r1["chains"])
    assert not np.array_equal(r0["chains"], r0["start"])
    # each rank's data mean is its own shard's (256 examples each): their average is the mean
    # of all 512 (rank 0's mean copied into rank 1 before every step would not average so)
    whole = np.asarray(load_dataset("digits").train.x[:512], dtype=np.float64).mean(0)
    assert np.allclose((r0["data_mean"] + r1["data_mean"]) / 2, whole)
