r"""Frechet distance between feature Gaussians, and the predicted-class histogram.

With features of real images :math:`(\mu_r, \Sigma_r)` and of samples :math:`(\mu_g, \Sigma_g)`
(means and covariances), the Frechet (2-Wasserstein) distance between the Gaussians is

    FD = ||mu_r - mu_g||^2 + tr(Sigma_r + Sigma_g - 2 (Sigma_r Sigma_g)^{1/2}).

FID (Heusel et al. 2017) takes Inception features; here they are the penultimate layer of
the MNIST classifier dgm trains (:mod:`dgm.eval.classifier`), so values are comparable
only with the same classifier file (its hash is reported with every score).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3)) + [1.0, 0, 0]
>>> round(frechet_distance(*feature_stats(a), *feature_stats(a)), 6)
0.0
>>> 0.9 < frechet_distance(*feature_stats(a), *feature_stats(b)) < 1.1
True
>>> class_histogram(np.array([0, 0, 1, 1]), n_classes=2)["kl_to_uniform"]
0.0
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (d,), covariance (d, d)) of (N, d) features, in float64."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrt(S1 S2)).

    tr sqrt(S1 S2) = sum_i sqrt(lambda_i) with lambda the eigenvalues of the symmetric PSD
    S1^{1/2} S2 S1^{1/2} (similar to S1 S2), which is stable where a general sqrtm is not.
    """
    diff = np.asarray(mu1, float) - np.asarray(mu2, float)
    w, v = linalg.eigh(np.asarray(sigma1, float))
    s1h = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # S1^{1/2}
    lam = linalg.eigvalsh(s1h @ np.asarray(sigma2, float) @ s1h)
    tr_covmean = np.sqrt(np.clip(lam, 0, None)).sum()
    return float(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean, 0.0))


def class_histogram(predicted: np.ndarray, n_classes: int = 10) -> dict[str, Any]:
    """Shares of the predicted classes, the smallest one, classes present, and KL(shares || U).

    ``predicted`` holds at least one class index in ``0..n_classes-1``.
    """
    pred = np.asarray(predicted, dtype=np.int64).ravel()
    if pred.size == 0:
        raise ValueError("class_histogram: no predictions (the histogram of nothing has no "
                         "shares)")
    bad = np.flatnonzero((pred < 0) | (pred >= n_classes))
    if bad.size:
        raise ValueError(f"class_histogram: predicted class {pred[bad[0]]} at index {bad[0]} is "
                         f"outside 0..{n_classes - 1} (n_classes={n_classes}; {bad.size} such "
                         f"prediction{'s' if bad.size > 1 else ''})")
    counts = np.bincount(pred, minlength=n_classes)
    q = counts / counts.sum()
    nz = q > 0
    return {"class_shares": q.round(6).tolist(), "min_class_share": float(q.min()),
            "classes_present": int(nz.sum()),
            "kl_to_uniform": float((q[nz] * np.log(q[nz] * n_classes)).sum())}
