"""Shared fixtures: the data directory, tiny configs for every registered model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

def data_dir() -> Path:
    env = os.environ.get("DGM_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = data_dir()
    if not (d / "mnist").is_dir():
        pytest.skip(f"no shared data folder at {d} (set DGM_DATA)")
    return d


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Test tensors are tiny: one intra-op thread is faster than two on a shared CPU."""
    import torch

    torch.set_num_threads(1)
