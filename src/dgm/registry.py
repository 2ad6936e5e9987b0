"""One explicit table: model name -> model class (which carries its config class)."""

from __future__ import annotations

from typing import Any


def _models() -> dict[str, type]:
    from dgm.models.vae import VAE

    return {"vae": VAE}


MODEL_NAMES = ("vae",)


def model_class(name: str) -> type:
    models = _models()
    if name not in models:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(models)}")
    return models[name]


def build_model(name: str, config: dict[str, Any] | Any, input_shape: tuple[int, ...],
                seed: int | None = None):
    """Build a registered model; with ``seed``, its parameters are initialized from it."""
    cls = model_class(name)
    cfg = config if isinstance(config, cls.Config) else cls.Config.from_dict(dict(config))
    model = cls(cfg, input_shape)
    return model if seed is None else model.reset_parameters(seed)
