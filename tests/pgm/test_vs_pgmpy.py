"""Posteriors agree with pgmpy's VariableElimination on every bnlearn network."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest

from dgm.pgm import BayesianNetwork, ImpossibleEvidenceError

from .conftest import NETWORKS, bif_path, load

pgmpy = pytest.importorskip("pgmpy")

_PGMPY: dict[str, object] = {}


def pgmpy_model(name: str):
    from pgmpy.readwrite import BIFReader

    if name not in _PGMPY:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = gzip.open(bif_path(name), "rt").read()
            _PGMPY[name] = BIFReader(string=text).get_model()
    return _PGMPY[name]


def random_queries(bn: BayesianNetwork, n: int, seed: int):
    """(target, evidence) pairs; evidence taken from forward samples so P(e) > 0."""
    rng = np.random.default_rng(seed)
    samples = bn.sample(n, seed=seed)
    for row in samples:
        vs = rng.permutation(len(bn.variables))
        k = max(1, len(vs) // 4)
        target = bn.variables[vs[0]]
        ev = {bn.variables[j]: bn.states[bn.variables[j]][row[j]] for j in vs[1 : 1 + k]}
        yield target, ev


@pytest.mark.parametrize("name", NETWORKS)
def test_posteriors_match_pgmpy_within_1e6(name):
    from pgmpy.inference import VariableElimination

    bn = load(name)
    ve = VariableElimination(pgmpy_model(name))
    for target, ev in random_queries(bn, 15, seed=len(name)):
        ours = bn.query(target, ev)
        theirs = ve.query([target], evidence=ev, show_progress=False)
        order = [theirs.state_names[target].index(s) for s in bn.states[target]]
        assert np.max(np.abs(ours.values - theirs.values[order])) <= 1e-6, (target, ev)


@pytest.mark.parametrize("name", ["asia", "child", "alarm"])
def test_joint_posterior_matches_pgmpy(name):
    from pgmpy.inference import VariableElimination

    bn = load(name)
    ve = VariableElimination(pgmpy_model(name))
    for target, ev in random_queries(bn, 4, seed=1):
        other = next(v for v in bn.variables if v != target and v not in ev)
        ours = bn.query([target, other], ev)
        theirs = ve.query([target, other], evidence=ev, joint=True, show_progress=False)
        theirs = theirs.copy()
        theirs_vals = np.transpose(
            theirs.values, [theirs.variables.index(v) for v in (target, other)]
        )
        idx = np.ix_(
            [theirs.state_names[target].index(s) for s in bn.states[target]],
            [theirs.state_names[other].index(s) for s in bn.states[other]],
        )
        assert np.max(np.abs(ours.values - theirs_vals[idx])) <= 1e-6


@pytest.mark.parametrize("name", ["asia", "insurance"])
def test_probability_of_evidence_matches_pgmpy_elimination(name):
    from pgmpy.inference import VariableElimination

    bn = load(name)
    ve = VariableElimination(pgmpy_model(name))
    for _, ev in random_queries(bn, 3, seed=7):
        ev_vars = list(ev)
        theirs = ve.query(ev_vars, joint=True, show_progress=False)
        idx = tuple(theirs.state_names[v].index(ev[v]) for v in theirs.variables)
        assert bn.probability_of_evidence(ev) == pytest.approx(theirs.values[idx], rel=1e-9)


def test_map_matches_pgmpy_on_asia():
    from pgmpy.inference import VariableElimination

    bn = load("asia")
    ve = VariableElimination(pgmpy_model("asia"))
    ev = {"xray": "yes", "dysp": "yes"}
    ours = bn.map_query(["lung", "bronc"], ev)
    theirs = ve.map_query(["lung", "bronc"], evidence=ev, show_progress=False)
    assert ours == theirs


def test_impossible_evidence_raises_instead_of_nan():
    bn = load("asia")
    with pytest.raises(ImpossibleEvidenceError, match="probability 0"):
        bn.query("dysp", {"lung": "yes", "either": "no"})
