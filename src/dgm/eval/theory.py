r"""The seed's theorem on C(G) = max_D V(G, D), computed exactly, and the generator's gradients.

For a fixed generator with density (or mass function) p_g, the best discriminator is

    D*(x) = p_data(x) / (p_data(x) + p_g(x)),

and the value of the game there is

    C(G) = V(G, D*) = E_data log D*(x) + E_g log(1 - D*(x)) = -log 4 + 2 JSD(p_data || p_g),

minimal (-log 4) if and only if p_g = p_data. For discrete distributions every quantity is
an exact finite sum; for 1-D densities, a quadrature on a fine grid.

>>> import numpy as np
>>> p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.2, 0.6])
>>> bool(np.isclose(game_value(p, q, optimal_discriminator(p, q)), -np.log(4) + 2 * jsd(p, q)))
True
>>> float(jsd(p, p)), bool(game_value(p, p, optimal_discriminator(p, p)) == -np.log(4))
(0.0, True)
"""

from __future__ import annotations

import numpy as np
import torch


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x log y with 0 log 0 = 0."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = np.zeros(np.broadcast(x, y).shape)
    nz = np.broadcast_to(x, out.shape) > 0
    out[nz] = (np.broadcast_to(x, out.shape) * np.log(np.where(nz, np.broadcast_to(y, out.shape),
                                                               1.0)))[nz]
    return out


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (0.5 where both vanish)."""
    p, q = np.asarray(p_data, float), np.asarray(p_g, float)
    s = p + q
    return np.divide(p, s, out=np.full_like(s, 0.5), where=s > 0)


def game_value(p_data: np.ndarray, p_g: np.ndarray, d: np.ndarray,
               weights: np.ndarray | float = 1.0) -> float:
    """V(G, D) = sum_x w(x) [p_data(x) log D(x) + p_g(x) log(1 - D(x))].

    ``weights``: 1 for mass functions, the quadrature weights (grid step) for densities.
    """
    p, q, d = (np.asarray(a, float) for a in (p_data, p_g, d))
    return float((weights * (_xlogy(p, d) + _xlogy(q, 1 - d))).sum())


def kl(p: np.ndarray, q: np.ndarray, weights: np.ndarray | float = 1.0) -> float:
    p, q = np.asarray(p, float), np.asarray(q, float)
    return float((weights * (_xlogy(p, p) - _xlogy(p, q))).sum())


def jsd(p: np.ndarray, q: np.ndarray, weights: np.ndarray | float = 1.0) -> float:
    """JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2 (nats)."""
    m = (np.asarray(p, float) + np.asarray(q, float)) / 2
    return 0.5 * kl(p, m, weights) + 0.5 * kl(q, m, weights)


def generator_gradients(d_values: np.ndarray) -> dict[str, np.ndarray]:
    """|d loss / d logit| of the generator at D(G(z)) = d, by autograd through dgm's losses.

    minimax: |d log(1 - D) / dl| = D -> 0 as D -> 0 (saturates);
    nonsaturating: |d (-log D) / dl| = 1 - D -> 1 as D -> 0.
    """
    from dgm.models.gan import OBJECTIVES, generator_loss

    d = torch.as_tensor(np.asarray(d_values, float))
    out = {}
    for obj in OBJECTIVES:
        logit = torch.logit(d).clone().requires_grad_(True)
        generator_loss(logit, obj).sum().backward()
        out[obj] = logit.grad.abs().numpy()
    return out
