"""Markov networks: ``P(x) = prod_k phi_k(D_k) / Z`` over cliques ``D_k``.

The partition function is computed by variable elimination in the cheapest of
the min-fill, min-degree and sweep orders, with rescaled tables, never by
multiplying all factors into one table.

>>> from dgm.pgm.examples import misconception
>>> mn = misconception()
>>> round(mn.partition_function())
7201840
>>> round(mn.probability({"A": 0, "B": 1, "C": 1, "D": 0}) * 7201840)
5000000
>>> mn.markov_blanket("A")
['B', 'D']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from dgm.pgm.bayesnet import Independence
from dgm.pgm.elimination import (
    TRUST,
    contract,
    log_contract,
    log_sum_product,
    log_tables,
    sum_product,
)
from dgm.pgm.factor import Factor
from dgm.pgm.inference import ExactInference
from dgm.pgm.ordering import candidate_orders, greedy_order, induced_width, interaction_graph


class MarkovNetwork(ExactInference):
    """An undirected graphical model given by its factors; immutable."""

    def __init__(self, factors: Iterable[Factor], name: str = "network") -> None:
        self.name = name
        self.factors: tuple[Factor, ...] = tuple(factors)
        states: dict[str, tuple[str, ...]] = {}
        for f in self.factors:
            for v in f.variables:
                if v in states and states[v] != f.state_names[v]:
                    raise ValueError(
                        f"variable {v!r} has states {list(states[v])} in one factor and "
                        f"{list(f.state_names[v])} in another"
                    )
                states[v] = f.state_names[v]
        self.states = states
        self.variables = tuple(states)
        self.graph = interaction_graph(f.variables for f in self.factors)
        for v in self.variables:
            self.graph.setdefault(v, set())
        self._tables = [(f.variables, f.values) for f in self.factors]

    def __repr__(self) -> str:
        size = f"{len(self.variables)} variables, {len(self.factors)} factors"
        return f"MarkovNetwork({self.name!r}, {size})"

    @property
    def cardinality(self) -> dict[str, int]:
        """The number of states of every variable."""
        return {v: len(s) for v, s in self.states.items()}

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Undirected edges ``(u, v)`` with ``u`` before ``v`` in ``variables``."""
        pos = {v: i for i, v in enumerate(self.variables)}
        return sorted(
            ((u, v) for u in self.graph for v in self.graph[u] if pos[u] < pos[v]),
            key=lambda e: (pos[e[0]], pos[e[1]]),
        )

    def _raw_tables(self) -> list[tuple[tuple[str, ...], np.ndarray]]:
        return self._tables

    def _relevant_tables(self, variables: set[str]) -> list[int]:
        return list(range(len(self._tables)))

    def _log_normalizer(self) -> float:
        return self.log_partition_function()

    # ------------------------------------------------------ partition function
    def log_partition_function(self, heuristic: str = "auto") -> float:
        """``log Z`` by variable elimination (rescaled; exact up to rounding)."""
        cached = self.__dict__.get("_logz")
        if cached is not None and heuristic == "auto":
            return cached
        card = self.cardinality
        order = greedy_order(self.graph, self.variables, heuristic, card)
        rest, log_scale = sum_product(self._tables, order, rescale=True)
        total = float(contract(rest, ()))
        if TRUST < total < np.inf and np.isfinite(log_scale):  # lost mass < 1e-290 of Z
            logz = float(np.log(total) + log_scale)
        else:  # underflow (couplings too strong to sum in linear space) or truly Z = 0
            logz = float(log_contract(log_sum_product(log_tables(self._tables), order), ()))
        if not logz > -np.inf:
            raise ValueError("the factors give every joint state weight 0 (Z = 0)")
        if heuristic == "auto":
            self.__dict__["_logz"] = logz
        return logz

    def partition_function(self) -> float:
        """``Z = sum_x prod_k phi_k(x)`` (may overflow to inf; prefer the log)."""
        return float(np.exp(self.log_partition_function()))

    def treewidth_bound(self) -> int:
        """The smallest induced width of the min-fill, min-degree and sweep orders.

        Each order's induced width is an upper bound on the treewidth; this is the
        tightest of the three (:func:`~dgm.pgm.ordering.candidate_orders`).
        """
        orders = candidate_orders(self.graph, self.variables, self.cardinality)
        return min(induced_width(self.graph, order) for order in orders)

    # ------------------------------------------------------ probabilities
    def log_unnormalized(self, table: Any) -> np.ndarray:
        """``sum_k log phi_k(row)`` for every row of a complete table."""
        return self._sum_log_tables(table)

    def log_probability(self, table: Any) -> np.ndarray:
        """``log P(row)`` for every row of a complete table."""
        return self.log_unnormalized(table) - self.log_partition_function()

    def probability(self, assignment: Mapping[str, Any]) -> float:
        """``P(x)`` for a full assignment ``{variable: state}``."""
        return float(np.exp(self.log_probability([dict(assignment)])[0]))

    # ------------------------------------------------------ independencies
    def markov_blanket(self, v: str) -> list[str]:
        """The neighbours of ``v`` (sorted)."""
        self._check_vars([v], "")
        return sorted(self.graph[v])

    def local_independencies(self) -> list[Independence]:
        """``X ⟂ U - {X} - MB(X) | MB(X)`` for every variable (empty ones omitted)."""
        out = []
        for v in self.variables:
            mb = set(self.graph[v])
            others = set(self.variables) - mb - {v}
            if others:
                out.append(Independence(v, frozenset(others), frozenset(mb)))
        return out

    def is_separated(
        self, x: str | Iterable[str], y: str | Iterable[str], z: str | Iterable[str] = ()
    ) -> bool:
        """Whether every path from ``x`` to ``y`` passes through ``z``.

        Each argument is a variable name or several.  A variable in both ``x``
        and ``y`` but not in ``z`` is never separated from itself.
        """
        xs, ys, zs = ({a} if isinstance(a, str) else set(a) for a in (x, y, z))
        self._check_vars(sorted(xs | ys | zs), "")
        seen = xs - zs  # the shared variables of x and y outside z count as reached
        stack = list(seen)
        while stack:
            for u in self.graph[stack.pop()]:
                if u not in seen and u not in zs:
                    seen.add(u)
                    stack.append(u)
        return not (seen & ys)
