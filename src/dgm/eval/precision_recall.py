r"""Improved precision and recall with k-nearest-neighbour manifolds (Kynkaanniemi et al. 2019).

The manifold of a feature set :math:`\Phi` is the union of balls around each of its points
with radius the distance to that point's k-th nearest neighbour in :math:`\Phi` (k = 3):

    f(phi, Phi) = 1 if ||phi - phi'|| <= ||phi' - NN_k(phi', Phi)|| for some phi' in Phi.

precision = mean_{g in samples} f(g, reals): the share of samples on the real manifold;
recall    = mean_{r in reals} f(r, samples): the share of real points the samples cover.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> r = rng.normal(size=(500, 2))
>>> pr = precision_recall(r, rng.normal(size=(500, 2)))
>>> pr["precision"] > 0.9, pr["recall"] > 0.9
(True, True)
>>> pr = precision_recall(r, 0.05 * rng.normal(size=(500, 2)))  # collapsed samples
>>> pr["precision"] > 0.9, pr["recall"] < 0.3
(True, True)
"""

from __future__ import annotations

import numpy as np
import torch


def _pairwise(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048):
    """Yield (start, distances (chunk, len(b))) row blocks of the Euclidean distances."""
    for s in range(0, a.shape[0], chunk):
        yield s, torch.cdist(a[s : s + chunk], b)


def knn_radii(feats: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Distance of each point to its k-th nearest neighbour in the set (itself excluded)."""
    out = torch.empty(feats.shape[0], dtype=feats.dtype)
    for s, d in _pairwise(feats, feats):
        out[s : s + d.shape[0]] = d.kthvalue(k + 1, dim=1).values  # +1: the point itself
    return out


def coverage(query: torch.Tensor, support: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each query point: 1 if inside some support ball, else 0."""
    out = torch.empty(query.shape[0], dtype=torch.bool)
    for s, d in _pairwise(query, support):
        out[s : s + d.shape[0]] = (d <= radii[None, :]).any(1)
    return out


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict[str, float]:
    """k-NN precision and recall of ``fake`` features against ``real`` features (N, d).

    Needs ``1 <= k < N`` for both sets (a point's k-th neighbour other than itself) and the
    same feature dimension d.
    """
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2:
        raise ValueError(f"precision_recall needs (N, d) feature arrays, got real {real.shape} "
                         f"and fake {fake.shape}")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"precision_recall: real features have {real.shape[1]} dimensions but "
                         f"fake features have {fake.shape[1]}")
    if not 1 <= k < min(len(real), len(fake)):
        raise ValueError(f"precision_recall: k must be at least 1 and less than the number of "
                         f"real ({len(real)}) and fake ({len(fake)}) feature vectors, got k={k}")
    r, f = torch.as_tensor(real), torch.as_tensor(fake)
    precision = coverage(f, r, knn_radii(r, k)).double().mean().item()
    recall = coverage(r, f, knn_radii(f, k)).double().mean().item()
    return {"precision": precision, "recall": recall, "k": k}
