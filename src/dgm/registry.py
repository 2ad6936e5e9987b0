"""One explicit table: model name -> "module:Class" (the class carries its config class).

Modules are imported on first use, so ``dgm --help`` and ``dgm.pgm`` stay light.
"""

from __future__ import annotations

import importlib
from typing import Any

MODELS: dict[str, str] = {
    # -- models: one line each --
    "rbm": "dgm.models.rbm:RBM",
    "grbm": "dgm.models.grbm:GRBM",
    "nade": "dgm.models.nade:NADE",
    "made": "dgm.models.made:MADE",
    "gan": "dgm.models.gan:GAN",
    "dcgan": "dgm.models.dcgan:DCGAN",
    "vae": "dgm.models.vae:VAE",
}

MODEL_NAMES = tuple(MODELS)


def model_class(name: str) -> type:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    module, cls = MODELS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_model(name: str, config: dict[str, Any] | Any, input_shape: tuple[int, ...],
                seed: int | None = None):
    """Build a registered model; with ``seed``, its parameters are initialized from it
    (building leaves torch's global generator alone: see ``GenerativeModel``)."""
    cls = model_class(name)
    cfg = config if isinstance(config, cls.Config) else cls.Config.from_dict(dict(config))
    model = cls(cfg, input_shape)
    return model if seed is None else model.reset_parameters(seed)
