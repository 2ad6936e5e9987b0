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
