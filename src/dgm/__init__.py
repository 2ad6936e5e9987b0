"""dgm: deep generative models and the probabilistic graphical models they rest on."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(run_dir, map_location="cpu", which="best"):
    """The trained model of a run directory, in eval mode: the early-stopping best weights
    (``which="best"``, when the run kept them) or the last checkpoint's (``"last"``); see
    :func:`dgm.train.load_model`."""
    from dgm.train.checkpoint import load_model

    return load_model(run_dir, map_location=map_location, which=which)
