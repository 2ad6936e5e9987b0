"""dgm: deep generative models and the probabilistic graphical models they rest on."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(run_dir, map_location="cpu"):
    """Load the trained model stored in a run directory (see :func:`dgm.train.load_run`)."""
    from dgm.train.checkpoint import load_model

    return load_model(run_dir, map_location=map_location)
