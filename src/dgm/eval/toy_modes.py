r"""Mode-collapse metrics on the toy 2-D mixtures, as VEEGAN and PacGAN define them.

For samples :math:`x_1..x_n` and a mixture with means :math:`\mu_j` and standard
deviations :math:`\sigma_j`:

* a sample is *high-quality* when it lies within ``n_std = 3`` standard deviations of its
  nearest mode: ``||x - mu_j*|| <= 3 sigma_j*``, ``j* = argmin_j ||x - mu_j||``;
* a mode is *captured* when it is the nearest mode of at least one high-quality sample;
* the *reverse KL* (PacGAN) is ``KL(q || u) = sum_j q_j log(q_j K)`` between the
  distribution ``q`` of the high-quality samples over the K modes and the uniform ``u``
  (0 for a perfectly balanced sampler, log K when every sample sits on one mode; NaN
  when no sample is high-quality).

The papers use 2,500 samples per evaluation (:data:`N_EVAL`).

>>> import numpy as np
>>> from dgm.data import sample_toy
>>> m = toy_metrics("ring8", sample_toy("ring8", 2500, seed=0))
>>> m["modes"], m["high_quality"] > 0.97, m["reverse_kl"] < 0.01
(8, True, True)
>>> bool(toy_metrics("ring8", np.tile([[1.0, 0.0]], (100, 1)))["reverse_kl"] == np.log(8))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_EVAL = 2500
N_STD = 3.0


def toy_modes(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(means (K, 2), stds (K,)) of ``ring8`` or ``grid25``."""
    from dgm.data import grid25_modes, ring8_modes

    if name == "ring8":
        return ring8_modes()
    if name == "grid25":
        return grid25_modes()
    raise ValueError(f"mode metrics are defined for 'ring8' and 'grid25', got {name!r}")


def mode_metrics(samples: Any, means: np.ndarray, stds: np.ndarray,
                 n_std: float = N_STD) -> dict[str, Any]:
    """Modes captured, share of high-quality samples, reverse KL, and per-mode counts."""
    means, stds = np.asarray(means, dtype=np.float64), np.asarray(stds, dtype=np.float64)
    if means.ndim != 2 or len(means) == 0:
        raise ValueError(f"mode_metrics: means must be a (K >= 1, d) array, got shape "
                         f"{means.shape}")
    if stds.shape != (len(means),):
        raise ValueError(f"mode_metrics: stds has shape {stds.shape} but there are {len(means)} "
                         f"modes; expected ({len(means)},)")
    x = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples,
                   dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != means.shape[1] or len(x) == 0:
        raise ValueError(f"mode metrics need samples of shape (n >= 1, {means.shape[1]}), got "
                         f"{x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or inf")
    d2 = ((x[:, None, :] - means[None, :, :]) ** 2).sum(-1)  # (n, K)
    nearest = d2.argmin(1)  # (n,)
    dist = np.sqrt(d2[np.arange(len(x)), nearest])
    hq = dist <= n_std * stds[nearest]
    counts = np.bincount(nearest[hq], minlength=len(means))  # high-quality samples per mode
    k = len(means)
    if counts.sum() == 0:
        rkl = float("nan")
    else:
        q = counts / counts.sum()
        nz = q > 0
        rkl = float((q[nz] * np.log(q[nz] * k)).sum())
    return {"modes": int((counts > 0).sum()), "high_quality": float(hq.mean()),
            "reverse_kl": rkl, "n_samples": int(len(x)), "counts": counts.tolist()}


def toy_metrics(name: str, samples: Any, n_std: float = N_STD) -> dict[str, Any]:
    """:func:`mode_metrics` for the toy data set ``name`` (``ring8`` or ``grid25``)."""
    means, stds = toy_modes(name)
    return mode_metrics(samples, means, stds, n_std)


def toy_floor(name: str, n: int = N_EVAL, seed: int = 0) -> dict[str, Any]:
    """The metrics of ``n`` true samples: what a perfect generator scores (its floor/ceiling)."""
    from dgm.data import sample_toy

    return toy_metrics(name, sample_toy(name, n, seed=seed))
