"""Variable elimination: sum-product and max-product over plain tables.

A *table* is a pair ``(variables, array)``; the array has one axis per variable.
The special variable :data:`BATCH` stands for a batch of evidence rows: it is
never eliminated and its axis is always last, so one pass answers many rows.

Sum-product elimination, as in the textbook::

    for X in order:
        psi  = product of the factors that mention X
        tau  = sum over X of psi
        replace those factors by tau

The arrays stay in linear space; with ``rescale=True`` every table, the input
factors first, is divided by its largest entry (per batch row) and the log of
that scale is kept aside, so a product of thousands of factors cannot overflow.
It can still underflow when the tables' largest entries do not line up (strong,
frustrated couplings): the callers then redo the sum in log space with
:func:`log_sum_product` and :func:`log_contract` (logsumexp over each variable;
slower: each step materializes its whole clique).

>>> t = [(("A", "B"), np.array([[30.0, 5.0], [1.0, 10.0]])),
...      (("B", "C"), np.array([[100.0, 1.0], [1.0, 100.0]]))]
>>> rest, log_scale = sum_product(t, ["A", "B"], rescale=True)
>>> (np.exp(log_scale) * contract(rest, ("C",))).round(6).tolist()
[3115.0, 1531.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dgm.pgm.factor import MAX_OPERANDS

BATCH = "\x00batch"
Table = tuple[tuple[str, ...], np.ndarray]
_BIG = 1 << 16  # union size above which einsum looks for a contraction path
# A rescaled sum above TRUST (its tables' largest entries are 1) lost at most ~1e-290 of
# itself to underflow; below it, the callers redo the sum in log space
TRUST = 1e-150


def _einsum(tables: Sequence[Table], out: Sequence[str]) -> np.ndarray:
    """The product of ``tables`` summed down to the variables ``out`` (einsum)."""
    if len(tables) > MAX_OPERANDS:
        tables, _ = merge_tables(tables, rescale=False)
    label: dict[str, int] = {}
    args: list[Any] = []
    size = 1
    for vars_, arr in tables:
        subs = []
        for v, n in zip(vars_, arr.shape):
            if v not in label:
                label[v] = len(label)
                size *= n
            subs.append(label[v])
        args += [arr, subs]
    if len(tables) == 1 and tuple(out) == tables[0][0]:
        return tables[0][1]
    if len(tables) > 2 and size > _BIG:
        # multiply the small tables together first, then meet the big one once
        big = max(range(len(tables)), key=lambda i: tables[i][1].size)
        small = [t for i, t in enumerate(tables) if i != big]
        merged = _out_vars(small, set())
        return _einsum([tables[big], (merged, _einsum(small, merged))], out)
    return np.einsum(*args, [label[v] for v in out], optimize=size > _BIG)


def merge_tables(tables: Sequence[Table], rescale: bool) -> tuple[list[Table], Any]:
    """Multiply ``tables`` in groups until einsum can take them all at once.

    Each group becomes one table over the union of its scopes (nothing is
    summed out); with ``rescale`` it is rescaled, and the log scale factored
    out is returned as in :func:`sum_product`.  Use it on the tables left by
    :func:`sum_product` before :func:`contract` when they may be many.
    """
    pool, log_scale = list(tables), 0.0
    while len(pool) > MAX_OPERANDS:
        groups = [pool[k : k + MAX_OPERANDS] for k in range(0, len(pool), MAX_OPERANDS)]
        pool = []
        for group in groups:
            table, ls = _product(group, _out_vars(group, set()), rescale)
            log_scale = log_scale + ls
            pool.append(table)
    return pool, log_scale


def _product(tables: Sequence[Table], out: tuple[str, ...], rescale: bool) -> tuple[Table, Any]:
    """The product of ``tables`` summed down to ``out``, divided by its largest entry when
    ``rescale``: the new table and the log scale taken out (0 without rescaling)."""
    arr = _einsum(tables, out)
    if not rescale:
        return (out, arr), 0.0
    arr, log_scale = _rescale(out, arr)
    return (out, arr), log_scale


def _out_vars(tables: Sequence[Table], drop: set[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for vars_, _ in tables:
        for v in vars_:
            if v not in drop and v != BATCH:
                seen[v] = None
    out = tuple(seen)
    if any(BATCH in vars_ for vars_, _ in tables):
        out += (BATCH,)
    return out


def _rescale(vars_: tuple[str, ...], arr: np.ndarray) -> tuple[np.ndarray, Any]:
    """Divide by the largest entry (per batch row); return the new array and log scale."""
    if BATCH in vars_:
        m = arr.reshape(-1, arr.shape[-1]).max(axis=0) if arr.ndim > 1 else arr.copy()
    else:
        m = np.asarray(arr.max() if arr.size else 1.0)
    m = np.where(m > 0, m, 1.0)
    return arr / m, np.log(m)


def sum_product(
    tables: Sequence[Table], order: Sequence[str], rescale: bool = False
) -> tuple[list[Table], Any]:
    """Sum the variables ``order`` out of the product of ``tables``, one at a time.

    Returns the remaining tables and the log scale factored out (a float, or one
    number per batch row) so that ``product(remaining) * exp(log_scale)`` equals
    the sum of the product.
    """
    pool: list[Table] = list(tables)
    log_scale: Any = 0.0
    if rescale:  # the factors themselves first: their product must not overflow
        pool = []
        for vars_, arr in tables:
            arr, ls = _rescale(vars_, arr)
            pool.append((vars_, arr))
            log_scale = log_scale + ls
    for x in order:
        psi = [t for t in pool if x in t[0]]
        if not psi:
            continue
        pool = [t for t in pool if x not in t[0]]
        psi, ls = merge_tables(psi, rescale)
        tau, ls_tau = _product(psi, _out_vars(psi, {x}), rescale)
        log_scale = log_scale + ls + ls_tau
        pool.append(tau)
    return pool, log_scale


def contract(tables: Sequence[Table], keep: Sequence[str]) -> np.ndarray:
    """The product of ``tables`` summed down to ``keep`` (plus the batch axis, last)."""
    out = tuple(keep)
    if any(BATCH in vars_ for vars_, _ in tables):
        out += (BATCH,)
    if not tables:
        return np.ones(())
    extra = {v for vars_, _ in tables for v in vars_} - set(out)
    if extra:
        raise ValueError(f"variables {sorted(extra)} were not eliminated")
    return _einsum(tables, out)


def log_tables(tables: Sequence[Table]) -> list[Table]:
    """The tables with their arrays in log space (``log 0 = -inf``)."""
    with np.errstate(divide="ignore"):
        return [(vars_, np.log(arr)) for vars_, arr in tables]


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    e, m = exp_shifted(a, axis)
    with np.errstate(divide="ignore"):  # (an axis of -inf only: log 0 = -inf, as it should)
        return np.log(e.sum(axis=axis)) + np.squeeze(m, axis)


def exp_shifted(log_arr: np.ndarray, axis: int | None = None) -> tuple[np.ndarray, Any]:
    """``(exp(log_arr - m), m)``, ``m`` the largest entry (over ``axis``, kept as an axis of
    length 1), or 0 where every entry is ``-inf``: a log table back in linear space, scaled
    as :func:`sum_product`'s tables are, with its log scale."""
    m = log_arr.max(axis=axis, keepdims=axis is not None)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.exp(log_arr - m), m


def log_sum_product(tables: Sequence[Table], order: Sequence[str]) -> list[Table]:
    """:func:`sum_product` on *log* tables, exact in log space: for each ``X`` in
    ``order``, ``tau = logsumexp over X of (sum of the log tables that mention X)``.
    Neither overflows nor underflows, whatever the factors' range."""
    pool: list[Table] = list(tables)
    for x in order:
        psi = [t for t in pool if x in t[0]]
        if not psi:
            continue
        pool = [t for t in pool if x not in t[0]]
        scope = _out_vars(psi, set())
        pool.append((tuple(v for v in scope if v != x),
                     _logsumexp(_broadcast_sum(psi, scope), scope.index(x))))
    return pool


def log_contract(tables: Sequence[Table], keep: Sequence[str]) -> np.ndarray:
    """:func:`contract` on *log* tables: the log of the product summed down to ``keep``
    (plus the batch axis, last)."""
    out = tuple(keep)
    if any(BATCH in vars_ for vars_, _ in tables):
        out += (BATCH,)
    extra = {v for vars_, _ in tables for v in vars_} - set(out)
    if extra:
        raise ValueError(f"variables {sorted(extra)} were not eliminated")
    if not out:
        return np.asarray(sum(float(arr) for _, arr in tables))
    sizes = {v: n for vars_, arr in tables for v, n in zip(vars_, arr.shape)}
    total = _broadcast_sum(tables, out)
    return np.broadcast_to(total, [sizes.get(v, 1) for v in out]).copy()


def max_product(tables: Sequence[Table], order: Sequence[str]) -> tuple[float, dict[str, int]]:
    """Maximize the variables ``order`` out of a product of *log* tables.

    Returns the maximum log value and the maximizing index of every variable
    in ``order`` (found by tracing the eliminations back).
    """
    pool: list[Table] = list(tables)
    trace: list[tuple[str, tuple[str, ...], np.ndarray]] = []
    for x in order:
        psi = [t for t in pool if x in t[0]]
        if not psi:
            trace.append((x, (x,), np.zeros(1)))
            continue
        pool = [t for t in pool if x not in t[0]]
        scope = _out_vars(psi, set()) if x in _out_vars(psi, set()) else (x,)
        total = _broadcast_sum(psi, scope)
        axis = scope.index(x)
        trace.append((x, scope, total))
        rest = tuple(v for v in scope if v != x)
        pool.append((rest, total.max(axis=axis)))
    best = float(sum(float(arr) for vars_, arr in pool if not vars_))
    assignment: dict[str, int] = {}
    for x, scope, total in reversed(trace):
        index = tuple(slice(None) if v == x else assignment[v] for v in scope)
        assignment[x] = int(np.argmax(total[index]))
    return best, assignment


def _broadcast_sum(tables: Sequence[Table], scope: tuple[str, ...]) -> np.ndarray:
    """Sum of log tables broadcast over ``scope``."""
    total = np.zeros((1,) * len(scope))
    for vars_, arr in tables:
        perm = sorted(range(len(vars_)), key=lambda i: scope.index(vars_[i]))
        a = np.transpose(arr, perm)
        shape = [1] * len(scope)
        for i in perm:
            shape[scope.index(vars_[i])] = arr.shape[i]
        total = total + a.reshape(shape)
    return total
