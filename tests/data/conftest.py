"""Fixtures for the dgm.data tests: where the shared MNIST files are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """$DGM_DATA (CI: ../shared/data), else <repo>/../shared/data."""
    env = os.environ.get("DGM_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    d = shared_data_dir()
    if not ((d / "mnist" / "mnist.pkl.gz").is_file() or (d / "mnist.pkl.gz").is_file()):
        pytest.skip(
            f"MNIST not found in {d} (set DGM_DATA to a directory holding mnist/mnist.pkl.gz)"
        )
    return d
