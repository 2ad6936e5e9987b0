"""Elimination orders: greedy min-fill, weighted min-fill, min-degree, min-weight.

Eliminating a variable connects all its neighbours in the interaction graph
(the *fill*); the largest clique created decides the cost of variable
elimination.  The greedy heuristics below pick, at each step, the variable that
adds the fewest fill edges (``min_fill``), the lightest fill edges, an edge
weighing the product of its ends' cardinalities (``weighted_min_fill``), the
fewest neighbours (``min_degree``) or the smallest clique table (``min_weight``).

>>> g = interaction_graph([("A", "B"), ("B", "C"), ("C", "D"), ("D", "A")])
>>> order = greedy_order(g, ["A", "B", "C", "D"])
>>> sorted(order), induced_width(g, order)
(['A', 'B', 'C', 'D'], 2)
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence

HEURISTICS = ("min_fill", "weighted_min_fill", "min_degree", "min_weight", "sweep")


def interaction_graph(scopes: Iterable[Sequence[str]]) -> dict[str, set[str]]:
    """The undirected graph joining every pair of variables that share a factor."""
    graph: dict[str, set[str]] = {}
    for scope in scopes:
        for v in scope:
            graph.setdefault(v, set()).update(u for u in scope if u != v)
    return graph


def _score(graph: Mapping[str, set[str]], v: str, heuristic: str, card: Mapping[str, int]) -> float:
    nbrs = graph[v]
    if heuristic == "min_degree":
        return float(len(nbrs))
    if heuristic == "min_weight":
        w = float(card.get(v, 2))
        for u in nbrs:
            w *= card.get(u, 2)
        return w
    nb = list(nbrs)
    fill = 0.0
    weighted = heuristic == "weighted_min_fill"
    for i, a in enumerate(nb):
        adj = graph[a]
        for b in nb[i + 1 :]:
            if b not in adj:
                fill += card.get(a, 2) * card.get(b, 2) if weighted else 1.0
    return fill


def greedy_order(
    graph: Mapping[str, set[str]],
    eliminate: Iterable[str],
    heuristic: str = "min_fill",
    card: Mapping[str, int] | None = None,
) -> list[str]:
    """A greedy elimination order for the variables ``eliminate`` of ``graph``.

    Variables of the graph that are not eliminated stay in it (they are the
    query variables); ties break by name so that orders are reproducible.
    """
    if heuristic == "auto":
        return best_order(graph, eliminate, card)
    if heuristic not in HEURISTICS:
        raise ValueError(f"unknown heuristic {heuristic!r}; choose from {HEURISTICS + ('auto',)}")
    if heuristic == "sweep":
        return sweep_order(graph, eliminate)
    card = card or {}
    g = {v: set(n) for v, n in graph.items()}
    todo = set(eliminate)
    for v in todo:
        g.setdefault(v, set())
    heap = [(_score(g, v, heuristic, card), v) for v in sorted(todo)]
    heapq.heapify(heap)
    current = {v: s for s, v in heap}
    order: list[str] = []
    while heap:
        score, v = heapq.heappop(heap)
        if v not in todo or current[v] != score:
            continue  # stale heap entry
        order.append(v)
        todo.discard(v)
        nbrs = g.pop(v)
        touched = set(nbrs)
        for a in nbrs:
            g[a].discard(v)
            new = nbrs - g[a] - {a}
            if new:
                g[a] |= new
                for b in new:
                    touched |= g[b]
        if heuristic in ("min_fill", "weighted_min_fill"):
            for a in nbrs:
                touched |= g[a]
        for u in touched & todo:
            s = _score(g, u, heuristic, card)
            if s != current[u]:
                current[u] = s
                heapq.heappush(heap, (s, u))
    return order


def induced_width(graph: Mapping[str, set[str]], order: Sequence[str]) -> int:
    """The largest neighbourhood met when eliminating ``order`` (clique size - 1)."""
    g = {v: set(n) for v, n in graph.items()}
    width = 0
    for v in order:
        nbrs = g.pop(v, set())
        width = max(width, len(nbrs))
        for a in nbrs:
            g[a].discard(v)
            g[a] |= nbrs - {a}
    return width


def _bfs(graph: Mapping[str, set[str]], root: str) -> list[str]:
    order, seen, i = [root], {root}, 0
    while i < len(order):
        for u in sorted(graph[order[i]]):
            if u not in seen:
                seen.add(u)
                order.append(u)
        i += 1
    return order


def sweep_order(graph: Mapping[str, set[str]], eliminate: Iterable[str]) -> list[str]:
    """Breadth-first sweeps from a pseudo-peripheral node of each component.

    Eliminating a wavefront at a time keeps the cliques as small as the widest
    wavefront: on an ``n x n`` grid that is about ``n``, where greedy min-fill
    often does worse.
    """
    todo = set(eliminate)
    order: list[str] = []
    placed: set[str] = set()
    for start in sorted(graph):
        if start in placed:
            continue
        root = start
        for _ in range(3):  # walk to a far node: a pseudo-peripheral root
            root = _bfs(graph, root)[-1]
        comp = _bfs(graph, root)
        placed.update(comp)
        order += [v for v in comp if v in todo]
    order += sorted(todo - placed)
    return order


def _table_entries(
    graph: Mapping[str, set[str]], order: Sequence[str], card: Mapping[str, int]
) -> int:
    """The exact total number of entries of the tables that eliminating ``order`` builds."""
    g = {v: set(n) for v, n in graph.items()}
    total = 0
    for v in order:
        nbrs = g.pop(v, set())
        size = card.get(v, 2)
        for a in nbrs:
            size *= card.get(a, 2)
            g[a].discard(v)
            g[a] |= nbrs - {a}
        total += size
    return total


def elimination_cost(
    graph: Mapping[str, set[str]], order: Sequence[str], card: Mapping[str, int] | None = None
) -> float:
    """``log2`` of the total size of the tables that eliminating ``order`` builds.

    The sizes are summed exactly (Python integers), so a huge clique gives a
    finite cost rather than ``inf``; ``-inf`` when ``order`` is empty.
    """
    total = _table_entries(graph, order, card or {})
    return math.log2(total) if total else float("-inf")


CANDIDATES = ("min_fill", "min_degree", "sweep")


def candidate_orders(
    graph: Mapping[str, set[str]],
    eliminate: Iterable[str],
    card: Mapping[str, int] | None = None,
) -> list[list[str]]:
    """The min-fill, min-degree and sweep orders (:data:`CANDIDATES`) for ``eliminate``."""
    todo = list(eliminate)
    return [greedy_order(graph, todo, h, card) for h in CANDIDATES]


def best_order(
    graph: Mapping[str, set[str]],
    eliminate: Iterable[str],
    card: Mapping[str, int] | None = None,
) -> list[str]:
    """The cheapest (by :func:`elimination_cost`) of the :func:`candidate_orders`."""
    candidates = candidate_orders(graph, eliminate, card)
    return min(candidates, key=lambda o: _table_entries(graph, o, card or {}))
