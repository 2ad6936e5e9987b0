"""Shared fixtures: the bnlearn networks under $DGM_DATA (default ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NETWORKS = ["asia", "cancer", "earthquake", "survey", "sachs", "child", "insurance", "alarm"]
REPO = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    root = os.environ.get("DGM_DATA")
    base = Path(root) if root else REPO / ".." / "shared" / "data"
    if not base.is_absolute():
        base = REPO / base
    return base / "bnlearn"


def bif_path(name: str) -> Path:
    path = data_dir() / f"{name}.bif.gz"
    if not path.exists():
        pytest.skip(f"bnlearn data not found: {path} (set DGM_DATA to the data directory)")
    return path


_CACHE: dict[str, object] = {}


def load(name: str):
    """Our model of a bnlearn network (cached across tests)."""
    from dgm.pgm import read_bif

    if name not in _CACHE:
        _CACHE[name] = read_bif(bif_path(name))
    return _CACHE[name]


@pytest.fixture(params=NETWORKS)
def network_name(request) -> str:
    return request.param
