"""Optional round trips: pgmpy models and networkx graphs (imported only when used).

Neither library is a dependency of ``dgm.pgm``; these functions import them lazily.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dgm.pgm.bayesnet import BayesianNetwork
from dgm.pgm.factor import Factor
from dgm.pgm.markovnet import MarkovNetwork


def to_networkx(model: BayesianNetwork | MarkovNetwork) -> Any:
    """A ``networkx.DiGraph`` (Bayesian) or ``Graph`` (Markov) with ``states`` node data."""
    import networkx as nx

    g = nx.DiGraph() if isinstance(model, BayesianNetwork) else nx.Graph()
    for v in model.variables:
        g.add_node(v, states=list(model.states[v]))
    g.add_edges_from(model.edges)
    return g


def to_pgmpy(bn: BayesianNetwork) -> Any:
    """A ``pgmpy`` ``DiscreteBayesianNetwork`` with the same CPDs and state names."""
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    model = DiscreteBayesianNetwork(bn.edges)
    model.add_nodes_from(bn.variables)
    for v in bn.variables:
        f = bn.cpds[v]
        ps = list(bn.parents[v])
        values = f.values.reshape(len(bn.states[v]), -1)
        model.add_cpds(
            TabularCPD(
                v,
                len(bn.states[v]),
                values,
                evidence=ps or None,
                evidence_card=[len(bn.states[p]) for p in ps] or None,
                state_names={u: list(bn.states[u]) for u in (v, *ps)},
            )
        )
    return model


def from_pgmpy(model: Any) -> BayesianNetwork:
    """Our BayesianNetwork from a pgmpy Bayesian network with tabular CPDs."""
    cpds = []
    for c in model.get_cpds():
        scope = list(c.variables)  # child first, then evidence
        card = list(c.cardinality)
        names = {u: [str(s) for s in c.state_names[u]] for u in scope}
        cpds.append(Factor(scope, card, np.asarray(c.values).reshape(card), names))
    return BayesianNetwork(cpds, name=str(getattr(model, "name", "") or "network"))
