"""Markov chains: validation, mu0 T^k, stationary distribution, structure, detailed balance."""

from __future__ import annotations

import numpy as np
import pytest

from dgm.pgm.markov_chain import MarkovChain

WEATHER = [[0.9, 0.1, 0.0], [0.3, 0.5, 0.2], [0.0, 0.4, 0.6]]


def test_distribution_after_k_steps_is_mu0_times_t_to_the_k():
    mc = MarkovChain(WEATHER)
    mu = np.array([1.0, 0.0, 0.0])
    expected = mu @ np.array(WEATHER) @ np.array(WEATHER) @ np.array(WEATHER)
    assert np.allclose(mc.distribution(mu, 3), expected)
    assert np.allclose(mc.distributions(mu, 3)[-1], expected)


def test_stationary_distribution_is_a_fixed_point():
    mc = MarkovChain(WEATHER)
    pi = mc.stationary()
    assert np.allclose(pi @ mc.T, pi) and pi.sum() == pytest.approx(1.0)


def test_tv_curve_decreases_to_zero_for_an_ergodic_chain():
    curve = MarkovChain(WEATHER).tv_curve([0, 0, 1], 200)
    assert curve[0] > 0.3 and curve[-1] < 1e-10
    assert np.all(np.diff(curve) <= 1e-12)


@pytest.mark.parametrize(
    ("matrix", "irreducible", "period"),
    [
        (WEATHER, True, 1),
        ([[0, 1], [1, 0]], True, 2),
        ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], True, 3),
        ([[1, 0], [0.5, 0.5]], False, 1),
    ],
)
def test_irreducibility_and_period(matrix, irreducible, period):
    mc = MarkovChain(matrix)
    assert mc.is_irreducible() is irreducible
    assert mc.period() == period


def test_reducible_chain_has_no_unique_stationary_distribution():
    with pytest.raises(ValueError, match="reducible"):
        MarkovChain([[1, 0], [0, 1]]).stationary()


def test_detailed_balance_holds_for_a_birth_death_chain_but_not_a_cycle():
    assert MarkovChain(WEATHER).satisfies_detailed_balance(atol=1e-12)
    cyc = MarkovChain([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    assert not cyc.satisfies_detailed_balance()
    assert np.allclose(cyc.stationary(), 1 / 3)  # stationary without being reversible


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[0.5, 0.6], [0.5, 0.5]], "row 0 .* sums to 1.1"),
        ([[1, 0]], "square"),
        ([[1.5, -0.5], [0, 1]], "T\\[0, 1\\]"),
    ],
)
def test_invalid_transition_matrices_are_rejected(matrix, message):
    with pytest.raises(ValueError, match=message):
        MarkovChain(matrix)


def test_simulated_path_visits_states_in_stationary_proportions():
    mc = MarkovChain(WEATHER)
    path = mc.sample_path(20000, seed=0)
    freq = np.bincount(path, minlength=3) / len(path)
    assert np.abs(freq - mc.stationary()).max() < 0.03
    assert np.array_equal(path, mc.sample_path(20000, seed=0))
