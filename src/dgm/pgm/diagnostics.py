"""MCMC diagnostics on ``(chains, draws)`` arrays: split R-hat and effective sample size.

>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((4, 1000))
>>> bool(abs(split_rhat(x) - 1) < 0.01), bool(3000 < ess(x) < 5000)
(True, True)
"""

from __future__ import annotations

import numpy as np


def split_rhat(x: np.ndarray) -> float:
    """Gelman-Rubin R-hat with each chain split in two halves (1 = converged)."""
    x = np.asarray(x, dtype=np.float64)
    half = x.shape[1] // 2
    if half < 2:
        raise ValueError("R-hat needs at least 4 draws per chain")
    parts = np.concatenate([x[:, :half], x[:, half : 2 * half]], axis=0)
    n = parts.shape[1]
    w = parts.var(axis=1, ddof=1).mean()
    b = n * parts.mean(axis=1).var(ddof=1)
    if w == 0:
        return 1.0 if b == 0 else float("inf")
    var_hat = (n - 1) / n * w + b / n
    return float(np.sqrt(var_hat / w))


def _autocov(x: np.ndarray) -> np.ndarray:
    """Autocovariance of each chain (rows), lags 0..n-1, by FFT."""
    n = x.shape[1]
    centered = x - x.mean(axis=1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(centered, n=size, axis=1)
    return np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n] / n


def ess(x: np.ndarray) -> float:
    """Effective sample size over all chains (Geyer's initial positive sequence)."""
    x = np.asarray(x, dtype=np.float64)
    m, n = x.shape
    if n < 4:
        raise ValueError("ESS needs at least 4 draws per chain")
    acov = _autocov(x)
    w = acov[:, 0].mean() * n / (n - 1)
    var_hat = w * (n - 1) / n + (x.mean(axis=1).var(ddof=1) if m > 1 else 0.0)
    if var_hat <= 0:
        return float(m * n)
    rho = 1.0 - (w - acov.mean(axis=0)) / var_hat
    rho[0] = 1.0
    total = 0.0
    for t in range(0, n - 1, 2):
        pair = rho[t] + rho[t + 1]
        if pair < 0:
            break
        total += pair
    tau = max(2.0 * total - 1.0, 1.0 / np.log10(max(m * n, 10)))
    return float(m * n / tau)
