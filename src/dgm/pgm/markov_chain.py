"""Finite, time-homogeneous Markov chains: ``P(X_k = b | X_{k-1} = a) = T[a, b]``.

>>> mc = MarkovChain([[0.9, 0.1], [0.5, 0.5]])
>>> mc.stationary().round(4).tolist()
[0.8333, 0.1667]
>>> mc.distribution([1.0, 0.0], 2).round(3).tolist()
[0.86, 0.14]
>>> mc.is_irreducible(), mc.period(), mc.satisfies_detailed_balance()
(True, 1, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dgm._checks import check_count, check_distribution
from dgm._rng import SeedLike, as_numpy_rng


def gth_stationary(p: Any) -> np.ndarray:
    """The stationary distribution of an irreducible stochastic matrix (GTH elimination).

    Grassmann, Taksar & Heyman (1985): censor the states out one at a time,
    last first (folding the paths through state ``k`` into the transitions
    among ``0..k-1``), then build ``pi`` back up from ``pi_0 = 1``.  Only sums,
    products and quotients of non-negative numbers occur, never a
    difference, so every entry, however small, has a small *relative* error.
    The diagonal is never read: rows need not sum to exactly 1.

    >>> gth_stationary([[0.9, 0.1], [0.5, 0.5]]).round(4).tolist()
    [0.8333, 0.1667]
    """
    a = np.array(p, dtype=np.float64)
    n = a.shape[0]
    for k in range(n - 1, 0, -1):
        leave = a[k, :k].sum()  # > 0 in an irreducible chain: k reaches the states below it
        a[:k, k] /= leave
        a[:k, :k] += np.outer(a[:k, k], a[k, :k])
    pi = np.zeros(n)
    pi[0] = 1.0
    for k in range(1, n):
        pi[k] = pi[:k] @ a[:k, k]
    return pi / pi.sum()


class MarkovChain:
    """A validated transition matrix over ``n`` states (rows sum to 1)."""

    def __init__(
        self, transition: Any, states: Sequence[Any] | None = None, atol: float = 1e-9
    ) -> None:
        t = np.array(transition, dtype=np.float64)
        if t.ndim != 2 or t.shape[0] != t.shape[1]:
            raise ValueError(f"a transition matrix must be square, got shape {t.shape}")
        if not np.all(np.isfinite(t)) or (t < 0).any():
            r, c = np.argwhere(~np.isfinite(t) | (t < 0))[0]
            raise ValueError(f"transition T[{r}, {c}] = {t[r, c]} is not a probability")
        sums = t.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1) > atol * t.shape[0] + 1e-12)
        if bad.size:
            raise ValueError(
                f"row {bad[0]} of the transition matrix sums to {sums[bad[0]]:.12g}, not 1"
            )
        t.flags.writeable = False
        self.T = t
        self.states = list(states) if states is not None else list(range(t.shape[0]))
        if len(self.states) != t.shape[0]:
            raise ValueError(f"{len(self.states)} state labels for {t.shape[0]} states")

    @property
    def n_states(self) -> int:
        """The number of states."""
        return self.T.shape[0]

    def _mu(self, mu0: Any) -> np.ndarray:
        return check_distribution("mu0", mu0, self.n_states)

    def _pi(self, pi: Any) -> np.ndarray:
        return self.stationary() if pi is None else check_distribution("pi", pi, self.n_states)

    def _state(self, name: str, x: Any) -> int:
        index = x if isinstance(x, (int, np.integer)) and not isinstance(x, bool) else -1
        if not 0 <= index < self.n_states:
            raise ValueError(f"{name} must be a state index in 0..{self.n_states - 1}, got {x!r}")
        return int(index)

    def distribution(self, mu0: Any, k: int) -> np.ndarray:
        """``mu0 T^k``: the distribution of ``X_k`` when ``X_0 ~ mu0``."""
        k = check_count("k", k, allow_zero=True)
        return self._mu(mu0) @ np.linalg.matrix_power(self.T, k)

    def distributions(self, mu0: Any, steps: int) -> np.ndarray:
        """``mu0 T^k`` for ``k = 0..steps`` as rows of a ``(steps + 1, n)`` array."""
        steps = check_count("steps", steps, allow_zero=True)
        out = np.empty((steps + 1, self.n_states))
        out[0] = self._mu(mu0)
        for k in range(steps):
            out[k + 1] = out[k] @ self.T
        return out

    # ------------------------------------------------------------ structure
    def _reachability(self) -> np.ndarray:
        """``reach[a, b]``: whether ``b`` can follow ``a`` after zero or more steps."""
        cached = self.__dict__.get("_reach_cache")
        if cached is None:
            cached = (self.T > 0) | np.eye(self.n_states, dtype=bool)
            while True:  # square until stable: paths of length up to 2, 4, 8, ...
                f = cached.astype(np.float64)
                nxt = (f @ f) > 0
                if np.array_equal(nxt, cached):
                    break
                cached = nxt
            self.__dict__["_reach_cache"] = cached
        return cached

    def is_irreducible(self) -> bool:
        """Whether every state reaches every other (one communicating class)."""
        return bool(self._reachability().all())

    def closed_classes(self) -> list[list[int]]:
        """The closed communicating classes (state indices): the ones no transition leaves.

        A finite chain has at least one; its stationary distribution is unique
        exactly when it has one.
        """
        reach = self._reachability()
        closed = ~(reach & ~reach.T).any(axis=1)  # everything a reaches, reaches a back
        classes: list[list[int]] = []
        placed = np.zeros(self.n_states, dtype=bool)
        for a in np.flatnonzero(closed):
            if not placed[a]:
                members = reach[a] & reach[:, a]
                placed |= members
                classes.append(np.flatnonzero(members).tolist())
        return classes

    def period(self) -> int:
        """The period of state 0's communicating class (gcd of its cycle lengths).

        1 means aperiodic.  Only transitions inside that class count, so the
        other classes of a reducible chain do not change it.  A state 0 that
        never returns to itself also gives 1.
        """
        reach = self._reachability()
        inside = reach[0] & reach[:, 0]
        edges = (self.T > 0) & inside[:, None] & inside[None, :]
        level = np.full(self.n_states, -1)
        level[0] = 0
        frontier = [0]
        while frontier:
            nxt = []
            for a in frontier:
                for b in np.flatnonzero(edges[a]):
                    if level[b] < 0:
                        level[b] = level[a] + 1
                        nxt.append(int(b))
            frontier = nxt
        g = 0
        for a, b in np.argwhere(edges):
            g = math.gcd(g, int(level[a] + 1 - level[b]))
        return abs(g) or 1

    def is_aperiodic(self) -> bool:
        """Whether the chain (assumed irreducible) has period 1."""
        return self.period() == 1

    # ------------------------------------------------------------ equilibrium
    def stationary(self) -> np.ndarray:
        """The unique ``pi`` with ``pi T = pi``, each entry to high relative accuracy.

        It exists exactly when the chain has one closed communicating class
        (:meth:`closed_classes`): ``pi`` is then the GTH solution (see
        :func:`gth_stationary`) on that class and 0 on every other state.  With
        several closed classes any mixture of theirs is stationary: a ValueError.
        """
        classes = self.closed_classes()
        if len(classes) > 1:
            shown = "; ".join(str([self.states[i] for i in c]) for c in classes[:4])
            more = ", ..." if len(classes) > 4 else ""
            raise ValueError(
                f"stationary(): the chain has {len(classes)} closed communicating classes "
                f"({shown}{more}), so its stationary distribution is not unique"
            )
        inside = classes[0]
        pi = np.zeros(self.n_states)
        pi[inside] = gth_stationary(self.T[np.ix_(inside, inside)])
        return pi

    def detailed_balance_violation(self, pi: Any = None) -> float:
        """``max |pi(x) T[x, y] - pi(y) T[y, x]|`` (0 for a reversible chain)."""
        flow = self._pi(pi)[:, None] * self.T
        return float(np.max(np.abs(flow - flow.T)))

    def satisfies_detailed_balance(self, pi: Any = None, atol: float = 1e-12) -> bool:
        """Whether ``pi(x) p_xy = pi(y) p_yx`` for all ``x, y``."""
        return self.detailed_balance_violation(pi) <= atol

    def tv_curve(self, mu0: Any, steps: int, pi: Any = None) -> np.ndarray:
        """Total-variation distance ``||mu0 T^k - pi||_TV`` for ``k = 0..steps``."""
        pi = self._pi(pi)
        return 0.5 * np.abs(self.distributions(mu0, steps) - pi).sum(axis=1)

    def sample_path(self, steps: int, x0: int = 0, seed: SeedLike = None) -> np.ndarray:
        """A simulated trajectory ``X_0..X_steps`` (state indices)."""
        steps = check_count("steps", steps, allow_zero=True)
        x0 = self._state("x0", x0)
        rng = as_numpy_rng(seed)
        cum = np.cumsum(self.T, axis=1)
        path = np.empty(steps + 1, dtype=np.int64)
        path[0] = x0
        u = rng.random(steps)
        for k in range(steps):
            row = cum[path[k]]
            path[k + 1] = min(
                int(np.searchsorted(row, u[k] * row[-1], side="right")), self.n_states - 1
            )
        return path
