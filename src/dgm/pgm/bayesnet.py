"""Bayesian networks: a DAG with one conditional probability table per node.

The joint factorizes as ``P(X_1..X_n) = prod_i P(X_i | Pa(X_i))``.  A CPD is a
:class:`~dgm.pgm.factor.Factor` whose first variable is the child and whose
other variables are its parents; :func:`cpd` builds one from rows, one row per
parent configuration (as a BIF file lists them).

>>> from dgm.pgm.examples import student
>>> bn = student()
>>> round(bn.probability({"I": 1, "D": 0, "G": "g2", "S": 1, "L": 0}), 6)
0.004608
>>> bn.markov_blanket("I")
['D', 'G', 'S']
>>> bn.is_dseparated("D", "S", [])
True
>>> bn.is_dseparated("D", "S", ["G"])
False
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dgm._checks import check_count
from dgm._rng import SeedLike, as_numpy_rng
from dgm.pgm.factor import Factor, default_states
from dgm.pgm.inference import ExactInference
from dgm.pgm.structure import ancestors, find_cycle, topological_order

if TYPE_CHECKING:
    from dgm.pgm.markovnet import MarkovNetwork

ROW_TOL = 1e-4


def cpd(
    variable: str,
    table: Any,
    parents: Sequence[str] = (),
    state_names: Mapping[str, Sequence[str]] | None = None,
) -> Factor:
    """A CPD ``P(variable | parents)`` from rows: ``table[parent config][child state]``.

    Parent configurations run in C order (the last parent changes fastest);
    ``table`` may also be shaped ``(*parent_cards, card)``.

    >>> f = cpd("S", [[0.95, 0.05], [0.2, 0.8]], ["I"])
    >>> f.variables, f.values[1, :].tolist()
    (('S', 'I'), [0.05, 0.8])
    """
    names = dict(state_names or {})
    arr = np.asarray(table, dtype=np.float64)
    card = len(names[variable]) if variable in names else arr.shape[-1]
    pcards = [
        len(names[p]) if p in names else (arr.shape[i] if arr.ndim == len(parents) + 1 else 2)
        for i, p in enumerate(parents)
    ]
    configs = math.prod(pcards)  # a Python int: an int64 product could wrap to 0
    if arr.size != configs * card:
        raise ValueError(
            f"CPD of {variable!r} given {list(parents)} needs {configs * card} numbers "
            f"({configs} parent configurations x {card} states), got {arr.size}"
        )
    values = np.moveaxis(arr.reshape(*pcards, card), -1, 0)
    for v, c in zip((variable, *parents), (card, *pcards)):
        names.setdefault(v, default_states(c))
    return Factor((variable, *parents), (card, *pcards), values, names)


def _renormalized(f: Factor) -> Factor:
    """The CPD with every row (a distribution over the child) divided by its sum.

    Rows are accepted within ``ROW_TOL`` of 1 (BIF files round: 0.3333 x 3);
    dividing makes ``probability``, ``query`` and ``sample`` describe one joint.
    """
    sums = f.values.sum(axis=0, keepdims=True)
    if np.all(sums == 1.0):
        return f
    return Factor(f.variables, f.cardinality, f.values / sums, f.state_names)


@dataclass(frozen=True)
class Independence:
    """``(x ⟂ others | given)``."""

    x: str
    others: frozenset[str]
    given: frozenset[str]

    def __str__(self) -> str:
        given = ", ".join(sorted(self.given))
        return f"({self.x} ⟂ {', '.join(sorted(self.others))}" + (f" | {given})" if given else ")")


def _names(arg: str | Iterable[str]) -> set[str]:
    """One variable name or several, as a set (a str is one name, not its characters)."""
    return {arg} if isinstance(arg, str) else set(arg)


class BayesianNetwork(ExactInference):
    """A discrete Bayesian network, validated on construction; immutable."""

    def __init__(self, cpds: Iterable[Factor], name: str = "network") -> None:
        self.name = name
        self.cpds: dict[str, Factor] = {}
        for f in cpds:
            if f.variables[0] in self.cpds:
                raise ValueError(f"two CPDs for variable {f.variables[0]!r}")
            self.cpds[f.variables[0]] = f
        self.parents = {v: f.variables[1:] for v, f in self.cpds.items()}
        for v, ps in self.parents.items():
            unknown = [p for p in ps if p not in self.cpds]
            if unknown:
                raise ValueError(f"CPD of {v!r} has parents {unknown} that have no CPD")
        cycle = find_cycle(self.parents)
        if cycle:
            raise ValueError("the graph has a cycle: " + " -> ".join(cycle + [cycle[0]]))
        self.variables = tuple(topological_order(self.parents))
        self.states = {v: self.cpds[v].state_names[v] for v in self.variables}
        self.children: dict[str, tuple[str, ...]] = {v: () for v in self.variables}
        for v in self.variables:
            for p in self.parents[v]:
                self.children[p] += (v,)
        for v in self.variables:
            self._validate_cpd(v)
            self.cpds[v] = _renormalized(self.cpds[v])
        self._tables = [(self.cpds[v].variables, self.cpds[v].values) for v in self.variables]
        self._pos = {v: i for i, v in enumerate(self.variables)}

    def _validate_cpd(self, v: str) -> None:
        f = self.cpds[v]
        for p in self.parents[v]:
            if f.state_names[p] != self.states[p]:
                raise ValueError(
                    f"CPD of {v!r}: parent {p!r} has states {list(f.state_names[p])}, "
                    f"but its own CPD says {list(self.states[p])}"
                )
        sums = f.values.reshape(f.cardinality[0], -1).sum(axis=0)
        bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_TOL)
        if bad.size:
            idx = np.unravel_index(int(bad[0]), f.cardinality[1:])
            config = {p: self.states[p][int(i)] for p, i in zip(self.parents[v], idx)}
            where = f"the row for parents {config}" if config else "the table"
            raise ValueError(f"CPD of {v!r}: {where} sums to {float(sums[bad[0]]):.6g}, not 1")

    def __repr__(self) -> str:
        edges = sum(len(p) for p in self.parents.values())
        return f"BayesianNetwork({self.name!r}, {len(self.variables)} nodes, {edges} edges)"

    @property
    def edges(self) -> list[tuple[str, str]]:
        """The arcs ``(parent, child)``."""
        return [(p, v) for v in self.variables for p in self.parents[v]]

    @property
    def cardinality(self) -> dict[str, int]:
        """The number of states of every variable."""
        return {v: len(s) for v, s in self.states.items()}

    # ------------------------------------------------------ inference hooks
    def _raw_tables(self) -> list[tuple[tuple[str, ...], np.ndarray]]:
        return self._tables

    def _relevant_tables(self, variables: set[str]) -> list[int]:
        keep = ancestors(self.parents, variables)
        return [self._pos[v] for v in self.variables if v in keep]

    # ------------------------------------------------------ the joint
    def probability(self, assignment: Mapping[str, Any]) -> float:
        """``P(x)`` for a full assignment ``{variable: state}``."""
        return float(np.exp(self.log_probability([dict(assignment)])[0]))

    def log_probability(self, table: Any) -> np.ndarray:
        """``log P(row)`` for every row of a complete table (see :mod:`dgm.pgm.data`)."""
        return self._sum_log_tables(table)

    def log_likelihood(self, table: Any) -> float:
        """The data log-likelihood ``sum_rows log P(row)``."""
        return float(self.log_probability(table).sum())

    # ------------------------------------------------------ independencies
    def local_independencies(self) -> list[Independence]:
        """``X ⟂ NonDescendants(X) | Pa(X)`` for every node (empty ones omitted)."""
        out = []
        for v in self.variables:
            desc = self.descendants(v)
            others = set(self.variables) - desc - {v} - set(self.parents[v])
            if others:
                out.append(Independence(v, frozenset(others), frozenset(self.parents[v])))
        return out

    def descendants(self, v: str) -> set[str]:
        """All nodes reachable from ``v`` along arcs (``v`` excluded)."""
        return ancestors(self.children, {v}) - {v}

    def markov_blanket(self, v: str) -> list[str]:
        """Parents, children and the children's other parents of ``v`` (sorted)."""
        self._check_vars([v], "")
        mb = set(self.parents[v]) | set(self.children[v])
        for c in self.children[v]:
            mb |= set(self.parents[c])
        return sorted(mb - {v})

    def is_dseparated(
        self, x: str | Iterable[str], y: str | Iterable[str], z: str | Iterable[str] = ()
    ) -> bool:
        """Whether every trail between ``x`` and ``y`` is blocked by ``z`` (Bayes ball).

        A variable in both ``x`` and ``y`` but not in ``z`` is never separated from itself.
        """
        xs, ys, zs = (_names(a) for a in (x, y, z))
        self._check_vars(sorted(xs | ys | zs), "")
        if (xs & ys) - zs:
            return False
        return not (self.reachable(xs, zs) & ys)

    def reachable(self, xs: str | Iterable[str], zs: str | Iterable[str] = ()) -> set[str]:
        """Nodes with an active trail from ``xs`` given ``zs`` (Koller & Friedman 3.1).

        Each argument is a variable name or several; ``xs`` itself is left out.
        """
        sources, given = _names(xs), _names(zs)
        self._check_vars(sorted(sources | given), "")
        anc_z = ancestors(self.parents, given)
        stack = [(x, "up") for x in sources]
        visited: set[tuple[str, str]] = set()
        found: set[str] = set()
        while stack:
            node, direction = stack.pop()
            if (node, direction) in visited:
                continue
            visited.add((node, direction))
            if node not in given:
                found.add(node)
            if direction == "up" and node not in given:
                stack += [(p, "up") for p in self.parents[node]]
                stack += [(c, "down") for c in self.children[node]]
            elif direction == "down":
                if node not in given:
                    stack += [(c, "down") for c in self.children[node]]
                if node in anc_z:
                    stack += [(p, "up") for p in self.parents[node]]
        return found - sources

    def moralize(self) -> MarkovNetwork:
        """The moral graph with the CPDs as factors (same joint, Z = 1)."""
        from dgm.pgm.markovnet import MarkovNetwork

        return MarkovNetwork(self.cpds.values(), name=self.name)

    # ------------------------------------------------------ sampling
    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """``n`` ancestral samples as an ``(n, len(variables))`` array of state indices.

        Node by node in topological order, all samples at once: the parents'
        sampled states index a row of the cumulative CPD, and one uniform per
        sample picks the state (inverse CDF).
        """
        n = check_count("n", n, allow_zero=True)
        rng = as_numpy_rng(seed)
        plans = self.__dict__.get("_sample_plans")
        if plans is None:
            plans = self.__dict__["_sample_plans"] = [self._sample_plan(v) for v in self.variables]
        out = np.empty((len(self.variables), n), dtype=np.int64)
        u = rng.random((len(self.variables), n))
        for j, (cum, parent_pos, strides) in enumerate(plans):
            card = cum.shape[1]
            if parent_pos:
                row = out[parent_pos[0]] * strides[0]
                for p, s in zip(parent_pos[1:], strides[1:]):
                    row += out[p] * s
                base = row * card
            else:
                base = np.zeros(n, dtype=np.int64)
            flat = cum.ravel()
            state = np.zeros(n, dtype=np.int64)
            for k in range(card - 1):  # count the cumulative bounds below u
                state += u[j] >= flat[base + k]
            out[j] = state
        return out.T.copy()

    def _sample_plan(self, v: str) -> tuple[np.ndarray, list[int], list[int]]:
        f = self.cpds[v]
        table = np.moveaxis(f.values, 0, -1).reshape(-1, f.cardinality[0])
        cum = np.cumsum(table, axis=1)
        cum /= cum[:, -1:]
        pcards = f.cardinality[1:]
        strides = [int(np.prod(pcards[k + 1 :], dtype=np.int64)) for k in range(len(pcards))]
        return cum, [self._pos[p] for p in self.parents[v]], strides

    def decode(self, codes: np.ndarray) -> dict[str, list[str]]:
        """Columns of state names from an array of state indices (columns = variables)."""
        return {
            v: np.asarray(self.states[v], dtype=object)[codes[:, j]].tolist()
            for j, v in enumerate(self.variables)
        }

    def states_product(self, variables: Sequence[str]) -> Iterable[tuple[int, ...]]:
        """All joint state indices of ``variables`` (C order)."""
        return itertools.product(*(range(len(self.states[v])) for v in variables))
