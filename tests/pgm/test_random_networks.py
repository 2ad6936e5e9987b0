"""Random small networks against enumeration of their joint: queries, separation, blankets.

Each seed draws a DAG (Bayesian network with Dirichlet CPDs) or an undirected model
(Markov network with positive random factors) over 4-7 variables of 2-3 states, so the
joint has at most 3**7 entries and every answer can be checked by brute force.  Random
parameters are faithful to the graph with probability 1: every dependence the graph allows
shows up numerically.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dgm.pgm import BayesianNetwork, Factor, MarkovNetwork, cpd

SEEDS = range(10)  # none draws a graph so dense that no pair is separated by <= 2 others


def random_bn(seed: int, raw: bool = False):
    """A random DAG (each earlier node is a parent with probability 1/2, at most 3); with
    ``raw``, also the (scope, table) pairs it was built from (scope: parents, then v)."""
    rng = np.random.default_rng(seed)
    names = [f"v{i}" for i in range(int(rng.integers(4, 8)))]
    card = {v: int(rng.integers(2, 4)) for v in names}
    states = {v: tuple(f"s{k}" for k in range(c)) for v, c in card.items()}
    order = [names[i] for i in rng.permutation(len(names))]
    cpds, tables = [], []
    for pos, v in enumerate(order):
        parents = [p for p in order[:pos] if rng.random() < 0.5][:3]
        table = rng.dirichlet(np.ones(card[v]), size=[card[p] for p in parents])
        cpds.append(cpd(v, table, parents, states))
        tables.append(([*parents, v], table))
    shuffled = [cpds[i] for i in rng.permutation(len(cpds))]  # listed in no particular order
    bn = BayesianNetwork(shuffled, name=f"random{seed}")
    return (bn, tables) if raw else bn


def random_mn(seed: int, raw: bool = False):
    """Random pairs (probability 0.35) and one triple; a unary factor for any variable left out.

    Table entries are Dirichlet(1) draws: positive, and contrasted enough that a dependence
    along a path of several factors stays above 1e-6 (with exp(N(0, 1)) entries some fell
    to 1e-7 in a scan of 300 seeds; these held for all 300).
    """
    rng = np.random.default_rng(seed)
    names = [f"v{i}" for i in range(int(rng.integers(4, 8)))]
    card = {v: int(rng.integers(2, 4)) for v in names}
    scopes = [list(e) for e in itertools.combinations(names, 2) if rng.random() < 0.35]
    scopes.append(rng.choice(names, size=3, replace=False).tolist())
    scopes += [[v] for v in names if not any(v in s for s in scopes)]
    shapes = [[card[v] for v in s] for s in scopes]
    tables = [rng.dirichlet(np.ones(int(np.prod(shape)))).reshape(shape) for shape in shapes]
    mn = MarkovNetwork(map(Factor, scopes, shapes, tables), name=f"random{seed}")
    return (mn, list(zip(scopes, tables))) if raw else mn


MODELS = {"bayes": random_bn, "markov": random_mn}


CASES = [(kind, seed) for kind in MODELS for seed in SEEDS]


@pytest.fixture(params=CASES, ids=[f"{kind}-{seed}" for kind, seed in CASES])
def case(request) -> tuple[str, int]:
    return request.param


@pytest.fixture
def model(case):
    kind, seed = case
    return MODELS[kind](seed)


def unnormalized_joint(model) -> np.ndarray:
    """The product of the model's tables at every joint state (one axis per variable)."""
    cards = [len(model.states[v]) for v in model.variables]
    grid = np.array(list(itertools.product(*(range(c) for c in cards))))
    weigh = model.log_unnormalized if isinstance(model, MarkovNetwork) else model.log_probability
    return np.exp(weigh(grid)).reshape(cards)


def test_the_joint_is_the_product_of_the_tables_the_model_was_built_from(case):
    """The reference every other test here uses (``unnormalized_joint``, from the model's
    own log_probability / log_unnormalized) against the raw tables indexed by hand: a CPD
    read with its parent axes permuted would fail here, not everywhere at once."""
    kind, seed = case
    model, tables = MODELS[kind](seed, raw=True)
    cards = [len(model.states[v]) for v in model.variables]
    grid = np.array(list(itertools.product(*(range(c) for c in cards))))  # (S, n)
    expected = np.ones(len(grid))
    for scope, table in tables:
        cols = [model.variables.index(v) for v in scope]
        expected *= table[tuple(grid[:, cols].T)]
    assert np.allclose(unnormalized_joint(model).reshape(-1), expected, rtol=1e-12, atol=0)


def marginal(joint: np.ndarray, variables, keep) -> np.ndarray:
    """The joint summed over every variable outside ``keep``, axes in the order of ``keep``."""
    t = joint.sum(axis=tuple(i for i, v in enumerate(variables) if v not in keep))
    left = [v for v in variables if v in keep]
    return t.transpose([left.index(v) for v in keep])


def conditional(joint: np.ndarray, variables, v: str, given) -> np.ndarray:
    """``P(v | given)`` at every joint state (broadcasts against ``joint``)."""
    drop = tuple(i for i, u in enumerate(variables) if u != v and u not in given)
    m = joint.sum(axis=drop, keepdims=True)
    return m / m.sum(axis=variables.index(v), keepdims=True)


def dependence(joint: np.ndarray, variables, x: str, y: str, zs) -> float:
    """``max |P(x, y | z) - P(x | z) P(y | z)|`` over all states of ``x``, ``y`` and ``zs``."""
    t = marginal(joint, variables, [x, y, *zs])
    pz = t.sum(axis=(0, 1), keepdims=True)
    assert pz.min() > 0  # positive models: every assignment of Z is possible
    pxy = t / pz
    return float(np.abs(pxy - pxy.sum(1, keepdims=True) * pxy.sum(0, keepdims=True)).max())


def test_variable_elimination_equals_enumeration(model, case):
    rng = np.random.default_rng(case[1])  # the queries: targets, evidence variables and states
    joint = unnormalized_joint(model)
    if isinstance(model, MarkovNetwork):
        logz = np.log(joint.sum())
        assert model.log_partition_function() == pytest.approx(logz, rel=1e-12)
    else:
        assert joint.sum() == pytest.approx(1.0, rel=1e-12)
    joint = joint / joint.sum()
    names = list(model.variables)
    for _ in range(6):
        picked = rng.permutation(names)[: int(rng.integers(1, 6))].tolist()
        targets, observed = picked[: 1 + len(picked) % 2], picked[1 + len(picked) % 2 :]
        ev = {v: int(rng.integers(len(model.states[v]))) for v in observed}
        table = marginal(joint, names, targets + observed)[(..., *ev.values())]
        assert model.probability_of_evidence(ev) == pytest.approx(table.sum(), rel=1e-12)
        got = model.query(targets, ev).values
        assert np.abs(got - table / table.sum()).max() < 1e-12, (targets, ev)


def test_separation_in_the_graph_is_conditional_independence_in_the_joint(model):
    names = list(model.variables)
    joint = unnormalized_joint(model)
    joint = joint / joint.sum()
    separated = model.is_separated if isinstance(model, MarkovNetwork) else model.is_dseparated
    wrong, counts = [], [0, 0]
    for x, y in itertools.combinations(names, 2):
        rest = [v for v in names if v not in (x, y)]
        for zs in itertools.chain.from_iterable(itertools.combinations(rest, k) for k in range(3)):
            sep = separated(x, y, list(zs))
            gap = dependence(joint, names, x, y, zs)
            counts[sep] += 1
            if (sep and gap >= 1e-12) or (not sep and gap <= 1e-6):
                wrong.append((x, y, zs, sep, gap))
    assert not wrong, wrong[:5]
    assert min(counts) > 0  # the model has both separated and connected pairs


def test_markov_blanket_is_the_smallest_set_that_screens_off_the_rest(model):
    names = list(model.variables)
    joint = unnormalized_joint(model)
    for v in names:
        mb = model.markov_blanket(v)
        exact = joint / joint.sum(axis=names.index(v), keepdims=True)  # P(v | all others)
        assert np.abs(conditional(joint, names, v, mb) - exact).max() < 1e-12, v
        for m in mb:
            smaller = conditional(joint, names, v, set(mb) - {m})
            assert np.abs(smaller - exact).max() > 1e-6, (v, m)
