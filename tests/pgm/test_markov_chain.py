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
        # state 0's class {0, 1} has period 2; the absorbing state 2's self-loop is outside it
        ([[0, 1, 0], [0.5, 0, 0.5], [0, 0, 1]], False, 2),
    ],
)
def test_irreducibility_and_period(matrix, irreducible, period):
    mc = MarkovChain(matrix)
    assert mc.is_irreducible() is irreducible
    assert mc.period() == period


@pytest.mark.parametrize(
    ("matrix", "count"),
    [([[1, 0], [0, 1]], 2), ([[1, 0, 0], [0.2, 0.6, 0.2], [0, 0, 1]], 2), (np.eye(3), 3)],
)
def test_several_closed_classes_have_no_unique_stationary_distribution(matrix, count):
    with pytest.raises(ValueError, match=f"{count} closed communicating classes"):
        MarkovChain(matrix).stationary()


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        ([[0.5, 0.5], [0, 1]], [0, 1]),  # one absorbing state, reached from the transient one
        ([[0.2, 0.4, 0.4], [0, 0.5, 0.5], [0, 0.25, 0.75]], [0, 1 / 3, 2 / 3]),
    ],
)
def test_one_closed_class_gives_the_unique_stationary_distribution(matrix, expected):
    pi = MarkovChain(matrix).stationary()
    assert pi == pytest.approx(expected, rel=1e-12, abs=0)


def birth_death(n: int, up: float) -> MarkovChain:
    """A walk on 0..n-1: one step up with probability ``up``, down otherwise (held at the ends)."""
    t = np.zeros((n, n))
    for i in range(n):
        if i + 1 < n:
            t[i, i + 1] = up
        if i > 0:
            t[i, i - 1] = 1 - up
        t[i, i] = 1 - t[i].sum()
    return MarkovChain(t)


@pytest.mark.parametrize(("n", "up"), [(12, 0.01), (60, 0.001), (5, 0.5)])
def test_stationary_distribution_has_relative_accuracy_in_every_entry(n, up):
    exact = (up / (1 - up)) ** np.arange(n)  # detailed balance: pi_k proportional to r^k
    exact /= exact.sum()
    assert birth_death(n, up).stationary() == pytest.approx(exact, rel=1e-12, abs=0)


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


CYCLE = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda mc: mc.distribution([1, 0, 0], -1), "k must be an integer >= 0, got -1"),
        (lambda mc: mc.distribution([1, 0, 0], 2.9), "k must be an integer >= 0, got 2.9"),
        (lambda mc: mc.distributions([1, 0, 0], -1), "steps must be an integer >= 0, got -1"),
        (lambda mc: mc.tv_curve([1, 0, 0], -2), "steps must be an integer >= 0, got -2"),
        (lambda mc: mc.sample_path(-1, seed=0), "steps must be an integer >= 0, got -1"),
        (
            lambda mc: mc.sample_path(3, x0=-1, seed=0),
            r"x0 must be a state index in 0\.\.2, got -1",
        ),
        (lambda mc: mc.sample_path(3, x0=5, seed=0), r"x0 must be a state index in 0\.\.2, got 5"),
        (lambda mc: mc.distribution([np.nan] * 3, 1), "mu0 .* not finite"),
        (lambda mc: mc.tv_curve([1, 0, 0], 2, pi=[np.nan] * 3), "pi .* not finite"),
        (lambda mc: mc.distribution([1.5, -0.5, 0], 1), r"mu0 .* negative entry mu0\[1\] = -0.5"),
        (lambda mc: mc.distribution([0.5, 0.6, 0], 1), "mu0 .* sums to 1.1, not 1"),
        (lambda mc: mc.distribution([1, 0], 1), r"mu0 .* shape \(2,\), not \(3,\)"),
        (lambda mc: mc.satisfies_detailed_balance([0, 0, 0]), "pi .* sums to 0, not 1"),
        (lambda mc: mc.detailed_balance_violation([0.5, 0.5]), r"pi .* shape \(2,\)"),
    ],
    ids=[
        "negative-k",
        "fractional-k",
        "negative-steps",
        "negative-tv-steps",
        "negative-path-steps",
        "negative-x0",
        "x0-too-large",
        "nan-mu0",
        "nan-pi",
        "negative-mu0",
        "mu0-sum",
        "mu0-shape",
        "zero-pi",
        "pi-shape",
    ],
)
def test_bad_arguments_are_rejected_with_a_message_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call(MarkovChain(CYCLE))


def test_simulated_path_visits_states_in_stationary_proportions():
    mc = MarkovChain(WEATHER)
    path = mc.sample_path(20000, seed=0)
    freq = np.bincount(path, minlength=3) / len(path)
    assert np.abs(freq - mc.stationary()).max() < 0.03
    assert np.array_equal(path, mc.sample_path(20000, seed=0))
