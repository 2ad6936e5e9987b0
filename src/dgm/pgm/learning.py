"""Parameter learning from complete data: maximum likelihood and Dirichlet smoothing.

``theta[x | u] = (N[x, u] + alpha[x, u]) / (N[u] + sum_x alpha[x, u])`` with
``alpha = 0`` (maximum likelihood), ``alpha = 1`` (Laplace) or the BDeu prior
``alpha = ess / (card(X) * #parent configurations)``.

>>> data = {"A": ["y", "y", "n", "y"], "B": ["y", "n", "n", "y"]}
>>> bn = fit_parameters([("A", "B")], data, {"A": ("y", "n"), "B": ("y", "n")})
>>> bn.cpds["B"].values[:, 0].tolist()  # P(B | A = y)
[0.6666666666666666, 0.3333333333333333]
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from dgm.pgm.bayesnet import BayesianNetwork
from dgm.pgm.data import encode_table
from dgm.pgm.factor import Factor

PRIORS = ("mle", "laplace", "bdeu")


def fit_parameters(
    edges: Iterable[tuple[str, str]],
    data: Any,
    states: Mapping[str, Sequence[str]],
    prior: str = "mle",
    equivalent_sample_size: float = 1.0,
    name: str = "learned",
) -> BayesianNetwork:
    """A BayesianNetwork with the DAG ``edges`` and CPDs estimated from ``data``.

    Every variable in ``states`` is a node (isolated ones too).  With
    ``prior="mle"`` a parent configuration never seen in the data gets a
    uniform row (its likelihood is flat there).
    """
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; choose from {PRIORS}")
    ess = equivalent_sample_size
    is_number = isinstance(ess, numbers.Real) and not isinstance(ess, bool)
    if prior == "bdeu" and not (is_number and np.isfinite(ess) and ess > 0):
        raise ValueError(
            f"equivalent_sample_size of the bdeu prior must be a finite number > 0, got {ess!r}"
        )
    parents = _parents(edges, states)
    cols, codes = encode_table(data, states, allow_missing=False)
    missing = [v for v in states if v not in cols]
    if missing:
        raise ValueError(f"the data lacks columns {missing}")
    col = {c: j for j, c in enumerate(cols)}
    cpds = []
    for v, ps in parents.items():
        scope = [v, *ps]
        shape = [len(states[u]) for u in scope]
        flat = np.ravel_multi_index(tuple(codes[:, col[u]] for u in scope), shape)
        counts = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(float)
        if prior == "laplace":
            counts += 1.0
        elif prior == "bdeu":
            counts += ess / np.prod(shape)
        totals = counts.sum(axis=0, keepdims=True)
        table = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 1.0 / shape[0])
        cpds.append(Factor(scope, shape, table, {u: states[u] for u in scope}))
    return BayesianNetwork(cpds, name=name)


def _parents(
    edges: Iterable[tuple[str, str]], states: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Each variable's parents; an edge to an unknown variable, a self-loop or a repeat is named."""
    parents: dict[str, list[str]] = {v: [] for v in states}
    for p, c in edges:
        for v in (p, c):
            if v not in states:
                raise ValueError(f"edge ({p!r}, {c!r}) uses variable {v!r} that has no states")
        if p == c:
            raise ValueError(
                f"edge ({p!r}, {c!r}) is a self-loop: a variable cannot be its own parent"
            )
        if p in parents[c]:
            raise ValueError(f"edge ({p!r}, {c!r}) is given twice")
        parents[c].append(p)
    return parents


def refit(
    bn: BayesianNetwork, data: Any, prior: str = "mle", equivalent_sample_size: float = 1.0
) -> BayesianNetwork:
    """The same structure and states as ``bn``, with parameters learned from ``data``."""
    return fit_parameters(bn.edges, data, bn.states, prior, equivalent_sample_size, bn.name)
