"""Gibbs sampling: the explicit kernel obeys detailed balance, samples converge, reducibility."""

from __future__ import annotations

import numpy as np
import pytest

from dgm.pgm import Factor, MarkovNetwork
from dgm.pgm.examples import misconception, student
from dgm.pgm.gibbs import GibbsReducibleError, GibbsSampler, gibbs_transition_matrix

from .conftest import load


def joint_ratio_kernel(model, states, scan, q):
    """The Gibbs kernel written from the joint alone: ``P(y_i | x_-i) = P(y) / P(x_-i)``."""
    p = np.exp(model.log_probability(np.array(states)))
    index = {s: k for k, s in enumerate(states)}
    kernels = []
    for i, v in enumerate(model.variables):
        k = np.zeros((len(states), len(states)))
        for a, x in enumerate(states):
            ys = (x[:i] + (s,) + x[i + 1 :] for s in range(len(model.states[v])))
            nbrs = [index[y] for y in ys if y in index]
            k[a, nbrs] = p[nbrs] / p[nbrs].sum()
        kernels.append(k)
    if scan == "systematic":
        return np.linalg.multi_dot(kernels)
    q = np.full(len(kernels), 1 / len(kernels)) if q is None else q
    return sum(qi * k for qi, k in zip(q, kernels))


SKEWED_Q = np.array([0.4, 0.1, 0.2, 0.2, 0.1])  # student: I, D, G, S, L
KERNELS = {
    "bayes-random": (student, "random", None),
    "markov-random": (misconception, "random", None),
    "bayes-random-skewed-q": (student, "random", SKEWED_Q),
    "bayes-systematic": (student, "systematic", None),
    "markov-systematic": (misconception, "systematic", None),
}
RANDOM_SCAN = {k: c for k, c in KERNELS.items() if c[1] == "random"}


@pytest.mark.parametrize("case", KERNELS.values(), ids=KERNELS.keys())
def test_samplers_kernel_equals_the_joint_ratio_kernel_and_leaves_the_joint_invariant(case):
    model, scan, q = case
    m = model()
    states, joint, chain = gibbs_transition_matrix(m, scan=scan, q=q)
    assert np.abs(joint - np.exp(m.log_probability(np.array(states)))).max() < 1e-12
    assert np.abs(chain.T - joint_ratio_kernel(m, states, scan, q)).max() < 1e-12
    assert np.abs(joint @ chain.T - joint).max() < 1e-14


@pytest.mark.parametrize("case", RANDOM_SCAN.values(), ids=RANDOM_SCAN.keys())
def test_random_scan_kernel_satisfies_detailed_balance_with_the_joint(case):
    model, scan, q = case
    _, joint, chain = gibbs_transition_matrix(model(), scan=scan, q=q)
    assert chain.detailed_balance_violation(joint) < 1e-15
    assert np.allclose(chain.stationary(), joint, atol=1e-12)
    assert chain.is_irreducible() and chain.is_aperiodic()


def test_conditional_is_the_joint_conditional_and_uses_only_the_markov_blanket():
    bn = load("alarm")
    g = GibbsSampler(bn, check=False)
    i = g.variables.index("HR")
    card = len(bn.states["HR"])
    x = bn.sample(5, seed=0)
    # brute force: log P(x) for every state of HR, the rest fixed, normalized over HR's states
    rows = np.repeat(x, card, axis=0)
    rows[:, i] = np.tile(np.arange(card), len(x))
    logp = bn.log_probability(rows).reshape(len(x), card)
    exact = logp - np.logaddexp.reduce(logp, axis=1, keepdims=True)
    logc = g.log_conditional(x, i)
    assert np.abs(logc - np.logaddexp.reduce(logc, axis=1, keepdims=True) - exact).max() < 1e-12
    blanket = bn.markov_blanket("HR")
    y = x.copy()
    outside = [j for j, v in enumerate(g.variables) if v not in blanket and v != "HR"]
    y[:, outside] = 0
    assert np.allclose(g.log_conditional(x, i), g.log_conditional(y, i))
    for v in blanket:  # every blanket variable moves the conditional for some row and state
        j = g.variables.index(v)
        moved = []
        for s in range(len(bn.states[v])):
            z = x.copy()
            z[:, j] = s
            moved.append(np.abs(g.conditional(z, i) - g.conditional(x, i)).max())
        assert max(moved) > 1e-3, v


@pytest.mark.parametrize("name", ["child", "insurance", "alarm"])
def test_gibbs_marginals_converge_to_exact_ones(name):
    bn = load(name)
    res = GibbsSampler(bn).run(40, chains=3000, burn_in=5, seed=11)
    tv = {v: 0.5 * np.abs(res.marginal(v) - bn.query(v).values).sum() for v in res.variables}
    assert max(tv.values()) <= 0.02, max(tv, key=tv.get)


@pytest.mark.parametrize("scan", ["systematic", "random"])
def test_gibbs_with_evidence_from_dispersed_starts_converges(scan):
    bn = load("child")
    ev = {"LowerBodyO2": "<5", "CO2Report": ">=7.5"}
    res = GibbsSampler(bn, evidence=ev).run(
        400, chains=64, burn_in=200, seed=2, scan=scan, init="uniform"
    )
    tv = [0.5 * np.abs(res.marginal(v) - bn.query(v, ev).values).sum() for v in res.variables]
    assert max(tv) < 0.05
    assert max(res.rhat().values()) < 1.2
    assert min(res.ess().values()) > 100


def test_runs_are_reproducible_from_the_seed():
    g = GibbsSampler(student())
    a = g.run(10, chains=3, burn_in=2, seed=5, scan="random").samples
    b = g.run(10, chains=3, burn_in=2, seed=5, scan="random").samples
    assert np.array_equal(a, b)


def test_asia_deterministic_or_is_reported_as_reducible():
    with pytest.raises(GibbsReducibleError, match=r"\['either', 'lung', 'tub'\]"):
        GibbsSampler(load("asia"))


def test_evidence_that_pins_the_deterministic_node_removes_the_obstruction():
    res = GibbsSampler(load("asia"), evidence={"either": "no"}).run(20, chains=50, seed=0)
    assert np.all(np.isfinite(res.marginal("lung")))
    assert res.marginal("lung")[0] == 0.0  # either = no forces lung = no


BAD_INIT = np.zeros((2, 5), dtype=np.int64)  # student: I, D, G, S, L; G has 3 states


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scan": "diagonal"}, "scan"),
        ({"scan": "random", "q": [1.0]}, "q must be"),
        ({"scan": "random", "q": [0.25, 0.25, 0.25, 0.0, 0.25]}, "q gives variable 'S' weight 0"),
        ({"scan": "random", "q": [0.5, 0.25, 0.5, -0.5, 0.25]}, "'S' weight -0.5"),
        ({"n_draws": 0}, "n_draws must be at least 1, got 0"),
        ({"chains": 0}, "chains must be at least 1, got 0"),
        ({"thin": 0}, "thin must be at least 1, got 0"),
        ({"burn_in": -1}, "burn_in must be at least 0, got -1"),
        ({"init": BAD_INIT + [0, 0, 3, 0, 0]}, r"variable 'G' the state 3 \(chain 0\); its states"),
        ({"init": BAD_INIT - [0, 0, 0, 0, 1]}, "variable 'L' the state -1"),
        ({"init": BAD_INIT[:, :4]}, "init must have shape"),
    ],
)
def test_bad_run_arguments_are_rejected(kwargs, message):
    args = {"n_draws": 5, "chains": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        GibbsSampler(student()).run(**args)


def test_a_given_start_of_probability_zero_is_rejected():
    # (A, B) = (0, 0) has weight 0; the other three states are connected by single flips
    mn = MarkovNetwork([Factor(["A", "B"], [2, 2], [[0.0, 1.0], [1.0, 1.0]])])
    with pytest.raises(ValueError, match=r"chain 1 in a state of probability 0.*'A': '0', 'B'"):
        GibbsSampler(mn).run(5, chains=2, init=[[1, 1], [0, 0]], seed=0)
    res = GibbsSampler(mn).run(5, chains=2, init=[[1, 1], [0, 1]], seed=0)
    assert not np.any((res.samples[..., 0] == 0) & (res.samples[..., 1] == 0))


@pytest.mark.parametrize("scan", ["systematic", "random"])
def test_every_variable_observed_gives_draws_of_nothing(scan):
    bn = student()
    everything = {v: bn.states[v][0] for v in bn.variables}
    res = GibbsSampler(bn, evidence=everything).run(10, chains=2, seed=0, scan=scan)
    assert res.samples.shape == (2, 10, 0)


@pytest.mark.parametrize("var", ["L", "Z"], ids=["observed", "unknown"])
def test_marginal_of_a_variable_that_was_not_sampled_is_a_clear_error(var):
    res = GibbsSampler(student(), evidence={"L": "1"}).run(5, chains=2, burn_in=0, seed=0)
    with pytest.raises(ValueError, match=f"'{var}' was not sampled"):
        res.marginal(var)
