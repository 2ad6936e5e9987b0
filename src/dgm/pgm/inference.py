"""Exact queries shared by Bayesian and Markov networks: posteriors, P(e), MAP, batches.

:class:`ExactInference` is a mixin; a model provides ``variables``, ``states``,
``_raw_tables()`` (its factors as ``(variables, array)`` pairs) and
``_relevant_tables(variables)`` (the factors a query over those variables
needs: a Bayesian network drops barren nodes, the non-ancestors).

Each query reduces the relevant factors by the evidence, keeps the connected
components that mention the query, and eliminates the rest in a cached
min-fill order (restricted to the variables present, it never gets wider).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dgm.pgm._hints import did_you_mean
from dgm.pgm.data import encode_table
from dgm.pgm.elimination import (
    BATCH,
    TRUST,
    Table,
    contract,
    exp_shifted,
    log_contract,
    log_sum_product,
    log_tables,
    max_product,
    merge_tables,
    sum_product,
)
from dgm.pgm.factor import Factor, state_index
from dgm.pgm.ordering import best_order, greedy_order, interaction_graph

_SAFE = (1e-250, 1e250)  # totals outside this range are recomputed with rescaling


class ImpossibleEvidenceError(ValueError):
    """The evidence has probability zero under the model.

    From a batch query, ``rows`` lists (0-based) rows whose evidence is impossible.
    """

    def __init__(self, message: str, rows: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.rows = list(rows)


class ZeroPartitionError(ImpossibleEvidenceError):
    """The model's factors give every joint state weight 0 (``Z = 0``): it defines no
    distribution, whatever the evidence (which is not to blame, and may be empty)."""


ZERO_Z = "the factors give every joint state weight 0 (Z = 0): the model defines no distribution"


def _components(tables: Sequence[Table]) -> list[list[int]]:
    """Indices of the tables in each connected component (shared variables)."""
    parent = list(range(len(tables)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, (vars_, _) in enumerate(tables):
        for v in vars_:
            if v == BATCH:
                continue
            j = owner.setdefault(v, i)
            parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(tables)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


class ExactInference:
    """Variable-elimination queries (mixin for BayesianNetwork and MarkovNetwork)."""

    variables: tuple[str, ...]
    states: dict[str, tuple[str, ...]]

    # ----------------------------------------------------------- model hooks
    def _raw_tables(self) -> list[Table]:  # pragma: no cover - provided by the model
        raise NotImplementedError

    def _relevant_tables(self, variables: set[str]) -> list[int]:  # pragma: no cover
        raise NotImplementedError

    def elimination_order(self) -> list[str]:
        """The cached weighted-min-fill order over all variables."""
        cached = self.__dict__.get("_order_cache")
        if cached is None:
            graph = interaction_graph(v for v, _ in self._raw_tables())
            card = {v: len(s) for v, s in self.states.items()}
            cached = greedy_order(graph, self.variables, "weighted_min_fill", card)
            self.__dict__["_order_cache"] = cached
        return cached

    # --------------------------------------------------------------- helpers
    def _sum_log_tables(self, table: Any) -> np.ndarray:
        """``sum_k log phi_k(row)`` over the model's tables (CPDs or clique factors) for
        every row of a complete table (see :mod:`dgm.pgm.data`); -inf where a value is 0."""
        cols, codes = encode_table(table, self.states, allow_missing=False)
        missing = [v for v in self.variables if v not in cols]
        if missing:
            raise ValueError(f"the table lacks columns {missing}")
        col = {c: j for j, c in enumerate(cols)}
        total = np.zeros(codes.shape[0])
        with np.errstate(divide="ignore"):
            for variables, values in self._raw_tables():
                total += np.log(values[tuple(codes[:, col[v]] for v in variables)])
        return total

    def _check_vars(self, variables: Sequence[str], what: str) -> None:
        unknown = [v for v in variables if v not in self.states]
        if unknown:
            kind = f"{what} variables" if what else "variables"
            raise ValueError(
                f"unknown {kind} {unknown}; the model has {len(self.states)} variables"
                + did_you_mean(unknown[0] if len(unknown) == 1 else unknown, self.states)
            )

    def _evidence_index(self, evidence: Mapping[str, Any] | None) -> dict[str, int]:
        evidence = dict(evidence or {})
        self._check_vars(list(evidence), "evidence")
        return {v: state_index(v, s, self.states[v]) for v, s in evidence.items()}

    def _hard_and_soft(
        self, evidence: Mapping[str, Any] | None, soft_evidence: Mapping[str, Any] | None
    ) -> tuple[dict[str, int], list[Table]]:
        """Evidence indices and soft-evidence tables; a variable may have only one kind."""
        ev = self._evidence_index(evidence)
        both = sorted(set(ev) & set(soft_evidence or {}))
        if both:
            raise ValueError(
                f"variables {both} have both hard and soft evidence; give one or the other"
            )
        return ev, self._soft_tables(soft_evidence, batch=None)

    def _reduced(self, keep_vars: set[str], ev: Mapping[str, int]) -> list[Table]:
        tables = self._raw_tables()
        out: list[Table] = []
        for i in self._relevant_tables(keep_vars):
            vars_, arr = tables[i]
            if any(v in ev for v in vars_):
                idx = tuple(ev.get(v, slice(None)) for v in vars_)
                arr = arr[idx]
                vars_ = tuple(v for v in vars_ if v not in ev)
            out.append((vars_, arr))
        return out

    def _zero_partition(self) -> bool:
        """Whether the model itself gives every state weight 0 (asked only once a query has
        found no mass: it costs a partition function)."""
        try:
            self._log_normalizer()  # a Markov network's log Z: a ValueError when Z = 0
        except ValueError:
            return True
        return False

    def _impossible(self, evidence: Mapping[str, Any] | None) -> ImpossibleEvidenceError:
        """The error for a query that found no mass: the evidence has probability 0 -- or,
        when the model has ``Z = 0`` (say, a factor of zeros), that; else a query with no
        evidence at all would blame "the evidence {}"."""
        if self._zero_partition():
            return ZeroPartitionError(ZERO_Z)
        return ImpossibleEvidenceError(f"the evidence {dict(evidence or {})} has probability 0")

    def _order_for(self, eliminate: set[str]) -> list[str]:
        return [v for v in self.elimination_order() if v in eliminate]

    def _log_mass(self, tables: list[Table], keep: Sequence[str]) -> tuple[np.ndarray, Any]:
        """``(table over keep, log scale)`` of the sum of the product; safe scaling."""
        elim = {v for vars_, _ in tables for v in vars_} - set(keep) - {BATCH}
        order = self._order_for(elim)
        for rescale in (False, True):
            rest, log_scale = sum_product(tables, order, rescale=rescale)
            rest, merged_scale = merge_tables(rest, rescale)
            joint = contract(rest, keep)
            total = joint.sum()
            if _SAFE[0] < total < _SAFE[1] or (rescale and TRUST < total < np.inf):
                return joint, log_scale + merged_scale
        # underflow (couplings too strong for linear space) or probability 0: in log space
        joint, log_scale = exp_shifted(log_contract(log_sum_product(log_tables(tables), order),
                                                    keep))
        return joint, float(log_scale)

    # ------------------------------------------------------------- queries
    def query(
        self,
        variables: str | Sequence[str],
        evidence: Mapping[str, Any] | None = None,
        soft_evidence: Mapping[str, Any] | None = None,
    ) -> Factor:
        """The posterior ``P(variables | evidence)`` as a normalized :class:`Factor`.

        ``evidence`` maps variables to state names (or indices); ``soft_evidence``
        maps variables to likelihood vectors (one non-negative number per state).
        """
        q = [variables] if isinstance(variables, str) else list(variables)
        self._check_vars(q, "query")
        ev, soft = self._hard_and_soft(evidence, soft_evidence)
        clash = sorted(set(q) & (set(ev) | {t[0][0] for t in soft}))
        if clash:
            raise ValueError(f"variables {clash} are both queried and observed")
        tables = self._reduced(set(q) | set(ev) | {t[0][0] for t in soft}, ev) + soft
        keep: list[Table] = []
        for comp in _components(tables):
            part = [tables[i] for i in comp]
            if set(q) & {v for vars_, _ in part for v in vars_}:
                keep += part
            elif self._log_mass(part, ())[0] <= 0:
                raise self._impossible(evidence)
        keep += [(tuple(q), np.ones([len(self.states[v]) for v in q]))]
        joint, _ = self._log_mass(keep, q)
        total = joint.sum()
        if not total > 0:
            raise self._impossible(evidence)
        return Factor(q, joint.shape, joint / total, {v: self.states[v] for v in q})

    def log_probability_of_evidence(
        self, evidence: Mapping[str, Any], soft_evidence: Mapping[str, Any] | None = None
    ) -> float:
        """``log P(e)`` (for a Markov network, ``log Z(e) - log Z``)."""
        ev, soft = self._hard_and_soft(evidence, soft_evidence)
        tables = self._reduced(set(ev) | {t[0][0] for t in soft}, ev) + soft
        total = 0.0
        for comp in _components(tables):
            joint, log_scale = self._log_mass([tables[i] for i in comp], ())
            with np.errstate(divide="ignore"):
                total += float(np.log(joint)) + float(log_scale)
        return total - self._log_normalizer()

    def probability_of_evidence(self, evidence: Mapping[str, Any]) -> float:
        """``P(e)``."""
        return float(np.exp(self.log_probability_of_evidence(evidence)))

    def _log_normalizer(self) -> float:
        return 0.0

    def map_query(
        self, variables: Sequence[str] | None = None, evidence: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """The most probable joint state of ``variables`` given the evidence.

        With ``variables=None`` this is the MPE over every unobserved variable;
        otherwise the other variables are summed out first (marginal MAP).
        """
        ev = self._evidence_index(evidence)
        targets = (
            [v for v in self.variables if v not in ev] if variables is None else list(variables)
        )
        self._check_vars(targets, "MAP")
        clash = sorted(set(targets) & set(ev))
        if clash:
            raise ValueError(f"variables {clash} are both queried and observed")
        tables = self._reduced(set(self.variables), ev)
        free = {v for vars_, _ in tables for v in vars_} - set(targets)
        rest, _ = sum_product(tables, self._order_for(free), rescale=True)
        best, idx = max_product(log_tables(rest), self._order_for(set(targets)))
        if not best > np.log(TRUST):  # underflow may have hidden the best: in log space
            rest = log_sum_product(log_tables(tables), self._order_for(free))
            best, idx = max_product(rest, self._order_for(set(targets)))
        if not np.isfinite(best):
            raise self._impossible(evidence)
        return {v: self.states[v][idx[v]] for v in targets}

    # -------------------------------------------------------------- batches
    def _soft_tables(self, soft: Mapping[str, Any] | None, batch: int | None) -> list[Table]:
        out: list[Table] = []
        for v, lik in (soft or {}).items():
            self._check_vars([v], "soft-evidence")
            arr = np.asarray(lik, dtype=np.float64)
            card = len(self.states[v])
            if arr.shape[-1] != card or np.any(arr < 0) or not np.all(np.isfinite(arr)):
                raise ValueError(f"soft evidence for {v!r} needs {card} non-negative numbers")
            if arr.ndim == 2 and batch is not None:
                if arr.shape[0] != batch:
                    raise ValueError(
                        f"soft evidence for {v!r} has {arr.shape[0]} rows, not {batch}"
                    )
                out.append(((v, BATCH), np.ascontiguousarray(arr.T)))
            elif arr.ndim == 1:
                out.append(((v,), arr))
            else:
                raise ValueError(
                    f"soft evidence for {v!r} has shape {arr.shape}; give ({card},) likelihoods"
                    + (" (or one row per example, with query_batch)" if batch is None else
                       f" or ({batch}, {card}), one row per example")
                )
        return out

    def query_batch(
        self,
        target: str,
        evidence: Any = None,
        soft_evidence: Mapping[str, Any] | None = None,
        chunk_size: int = 4096,
    ) -> np.ndarray:
        """``P(target | row)`` for every row of an evidence table, as an ``(N, card)`` array.

        ``evidence`` is a table (see :func:`dgm.pgm.data.encode_table`); a missing
        entry leaves that variable unobserved in that row.  ``soft_evidence``
        maps variables to ``(N, card)`` (or ``(card,)``) likelihoods.
        """
        self._check_vars([target], "target")
        cols, codes = encode_table(evidence if evidence is not None else {}, self.states)
        n = codes.shape[0] if cols else None
        for lik in (soft_evidence or {}).values():
            if np.ndim(lik) == 2:
                n = n if n is not None else np.shape(lik)[0]
        if n is None:
            raise ValueError("query_batch needs an evidence table or per-row soft evidence")
        if not cols:
            codes = np.empty((n, 0), dtype=np.int64)
        if target in cols or target in (soft_evidence or {}):
            raise ValueError(f"the target {target!r} is also an evidence column")
        out = np.empty((n, len(self.states[target])))
        for start in range(0, n, chunk_size):
            rows = slice(start, min(n, start + chunk_size))
            soft = {
                v: (lik[rows] if np.ndim(lik) == 2 else lik)
                for v, lik in (soft_evidence or {}).items()
            }
            out[rows] = self._batch_chunk(target, cols, codes[rows], soft, start)
        return out

    def _batch_chunk(
        self, target: str, cols: list[str], codes: np.ndarray, soft: Mapping[str, Any], offset: int
    ) -> np.ndarray:
        n = codes.shape[0]
        tables = self._soft_tables(soft, batch=n)
        for j, v in enumerate(cols):
            card = len(self.states[v])
            ind = np.zeros((card, n))
            seen = codes[:, j] >= 0
            ind[:, ~seen] = 1.0
            ind[codes[seen, j], np.flatnonzero(seen)] = 1.0
            tables.append(((v, BATCH), ind))
        watched = {target} | set(cols) | set(soft)
        raw = self._raw_tables()
        tables = [raw[i] for i in self._relevant_tables(watched)] + tables
        tables.append(((target, BATCH), np.ones((len(self.states[target]), n))))
        order = self._batch_order(tables, target, n)
        rest, _ = sum_product(tables, order, rescale=False)
        joint = contract(rest, (target,)).T
        total = joint.sum(axis=1)
        bad = ~((total > _SAFE[0]) & (total < _SAFE[1]))
        if bad.any():
            idx = np.flatnonzero(bad)
            redo = [(vs, arr[..., idx] if BATCH in vs else arr) for vs, arr in tables]
            rest, _ = sum_product(redo, order, rescale=True)
            rest, _ = merge_tables(rest, rescale=True)
            joint[idx] = contract(rest, (target,)).T
            total[idx] = joint[idx].sum(axis=1)
            still = ~((total[idx] > TRUST) & (total[idx] < np.inf))
            if still.any():  # underflow even so, or probability 0: these rows in log space
                idx = idx[still]
                redo = [(vs, arr[..., idx] if BATCH in vs else arr) for vs, arr in tables]
                log_joint = log_contract(log_sum_product(log_tables(redo), order), (target,)).T
                joint[idx] = exp_shifted(log_joint, axis=1)[0]  # (rows, card), each row scaled
                total[idx] = joint[idx].sum(axis=1)
        if not np.all(total > 0):
            rows = (np.flatnonzero(~(total > 0)) + offset)[:10].tolist()
            if self._zero_partition():  # no row is to blame
                raise ZeroPartitionError(ZERO_Z)
            raise ImpossibleEvidenceError(f"evidence rows {rows} have probability 0", rows)
        return joint / total[:, None]

    def _batch_order(self, tables: list[Table], target: str, n: int) -> list[str]:
        graph = interaction_graph(vs for vs, _ in tables)
        card = {v: len(s) for v, s in self.states.items()}
        card[BATCH] = n
        elim = set(graph) - {target, BATCH}
        return best_order(graph, elim, card)
