"""The models (torch). Each lives in its own module; names are imported on first use.

>>> from dgm.models import VAE
>>> VAE.name
'vae'
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "VAE": "dgm.models.vae", "VAEConfig": "dgm.models.vae",
    "RBM": "dgm.models.rbm", "RBMConfig": "dgm.models.rbm",
    "NADE": "dgm.models.nade", "NADEConfig": "dgm.models.nade",
    "MADE": "dgm.models.made", "MADEConfig": "dgm.models.made",
    "GAN": "dgm.models.gan", "GANConfig": "dgm.models.gan",
    "DCGAN": "dgm.models.dcgan", "DCGANConfig": "dgm.models.dcgan",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dgm.models' has no attribute {name!r}")
