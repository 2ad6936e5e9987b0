"""Graph helpers on ``{node: parents}`` maps: ancestors, cycles, topological order.

>>> parents = {"a": (), "b": ("a",), "c": ("b",)}
>>> sorted(ancestors(parents, {"c"})), topological_order(parents)
(['a', 'b', 'c'], ['a', 'b', 'c'])
>>> find_cycle({"a": ("c",), "b": ("a",), "c": ("b",)})
['a', 'b', 'c']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def ancestors(parents: Mapping[str, Sequence[str]], nodes: Iterable[str]) -> set[str]:
    """``nodes`` and every node with a directed path into them."""
    seen: set[str] = set()
    stack = list(nodes)
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(parents.get(v, ()))
    return seen


def find_cycle(parents: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A directed cycle (listed along the arcs), or None for a DAG."""
    children: dict[str, list[str]] = {v: [] for v in parents}
    for v, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(v)
    color: dict[str, int] = {}
    for root in sorted(children):
        if color.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            v, i = stack.pop()
            if i == 0:
                color[v] = 1
                path.append(v)
            kids = children[v]
            if i < len(kids):
                stack.append((v, i + 1))
                w = kids[i]
                if color.get(w) == 1:
                    cycle = path[path.index(w) :]
                    start = cycle.index(min(cycle))
                    return cycle[start:] + cycle[:start]
                if not color.get(w):
                    stack.append((w, 0))
            else:
                color[v] = 2
                path.pop()
    return None


def topological_order(parents: Mapping[str, Sequence[str]]) -> list[str]:
    """Parents before children; ties keep the insertion order of ``parents``."""
    order: list[str] = []
    done: set[str] = set()
    for root in parents:
        stack = [(root, False)]
        while stack:
            v, expanded = stack.pop()
            if v in done:
                continue
            if expanded:
                done.add(v)
                order.append(v)
                continue
            stack.append((v, True))
            stack.extend((p, False) for p in reversed(parents[v]) if p not in done)
    return order
