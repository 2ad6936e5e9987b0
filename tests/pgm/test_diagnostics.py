"""MCMC diagnostics against processes whose answers are known: AR(1) chains and shifted
or drifting chains."""

from __future__ import annotations

import numpy as np
import pytest

from dgm.pgm.diagnostics import ess, split_rhat


def ar1(phi: float, chains: int, n: int, seed: int) -> np.ndarray:
    """Stationary AR(1) chains x_t = phi x_{t-1} + e_t (unit marginal variance)."""
    rng = np.random.default_rng(seed)
    x = np.empty((chains, n))
    x[:, 0] = rng.standard_normal(chains)
    e = rng.standard_normal((chains, n)) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_ess_of_ar1_chains_is_draws_over_the_autocorrelation_time(phi):
    """tau = (1 + phi) / (1 - phi): ESS = m n (1 - phi) / (1 + phi)."""
    x = ar1(phi, chains=4, n=20000, seed=int(phi * 10))
    expected = x.size * (1 - phi) / (1 + phi)
    assert ess(x) == pytest.approx(expected, rel=0.12)


def test_split_rhat_is_one_for_mixed_chains_and_flags_shifted_or_drifting_ones():
    x = ar1(0.5, chains=4, n=4000, seed=1)
    assert abs(split_rhat(x) - 1) < 0.01
    shifted = x + np.array([0.0, 0.0, 0.0, 1.5])[:, None]  # one chain stuck elsewhere
    assert split_rhat(shifted) > 1.1
    # every chain drifts the same way: the chain means agree, so only splitting each chain
    # in two halves reveals it
    drift = x + np.linspace(-1.5, 1.5, x.shape[1])[None, :]
    means = drift.mean(axis=1)
    assert np.ptp(means) < 0.2 and split_rhat(drift) > 1.1


def test_constant_and_too_short_chains():
    same = np.ones((3, 10))
    assert split_rhat(same) == 1.0 and ess(same) == 30.0
    stuck = np.vstack([np.zeros(10), np.ones(10)])  # no spread within, all between: never mixed
    assert split_rhat(stuck) == float("inf")
    for f, what in ((split_rhat, "R-hat"), (ess, "ESS")):
        with pytest.raises(ValueError, match=f"{what} needs at least 4 draws per chain"):
            f(np.ones((2, 3)))
