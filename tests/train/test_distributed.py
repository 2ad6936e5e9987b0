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


WORKER = """
import json, sys
import torch, torch.distributed as dist
from dgm.data import load_dataset
from dgm.models.rbm import RBM, RBMConfig
from dgm.train import TrainConfig, Trainer

model = RBM(RBMConfig(hidden=8, pcd=True, chains=16), (1, 8, 8)).reset_parameters(0)
start = model.chains.clone()
cfg = TrainConfig(data="digits", epochs=1, batch_size=64, max_train=512, picture_every=0,
                  progress=False, optimizer="sgd", lr=0.05)
digits = load_dataset("digits")
summary = Trainer(model, cfg, digits, sys.argv[1]).fit()
dist.init_process_group("gloo")  # the loop tore its group down: one more, to compare
chains = [torch.empty_like(model.chains) for _ in range(2)]
dist.all_gather(chains, model.chains.contiguous())
means = [torch.empty_like(model.data_mean) for _ in range(2)]
dist.all_gather(means, model.data_mean)
if dist.get_rank() == 0:
    # each rank's data mean is its own shard's (256 examples each): their average is the
    # mean of all 512; rank 0's mean copied into rank 1 at every step would not average so
    whole = torch.from_numpy(digits.train.x[:512]).double().mean(0)
    print(json.dumps({"spread": summary["rank_parameter_spread"],
                      "same_chains": torch.equal(chains[0], chains[1]),
                      "moved": not torch.equal(chains[0], start),
                      "own_statistics": torch.allclose((means[0] + means[1]) / 2, whole)}))
dist.destroy_process_group()
"""


def test_each_rank_keeps_its_own_persistent_chains(tmp_path):
    """PCD under DDP: parameters agree on every rank, but the chains are each process's own
    (broadcasting buffers from rank 0 would run one set of chains on every process)."""
    (tmp_path / "worker.py").write_text(WORKER)
    proc = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                 "--nproc_per_node=2", str(tmp_path / "worker.py"), str(tmp_path / "run")],
                tmp_path)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"spread": 0.0, "same_chains": False, "moved": True, "own_statistics": True}
