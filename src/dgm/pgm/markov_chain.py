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

from dgm._rng import SeedLike, as_numpy_rng


class MarkovChain:
    """A validated transition matrix over ``n`` states (rows sum to 1)."""

    def __init__(self, transition: Any, states: Sequence[Any] | None = None, atol: float = 1e-9):
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
        mu = np.asarray(mu0, dtype=np.float64)
        if mu.shape != (self.n_states,) or (mu < 0).any() or abs(mu.sum() - 1) > 1e-9:
            raise ValueError(f"mu0 must be a distribution over {self.n_states} states")
        return mu

    def distribution(self, mu0: Any, k: int) -> np.ndarray:
        """``mu0 T^k``: the distribution of ``X_k`` when ``X_0 ~ mu0``."""
        return self._mu(mu0) @ np.linalg.matrix_power(self.T, int(k))

    def distributions(self, mu0: Any, steps: int) -> np.ndarray:
        """``mu0 T^k`` for ``k = 0..steps`` as rows of a ``(steps + 1, n)`` array."""
        out = np.empty((steps + 1, self.n_states))
        out[0] = self._mu(mu0)
        for k in range(steps):
            out[k + 1] = out[k] @ self.T
        return out

    # ------------------------------------------------------------ structure
    def _reach(self, start: int, matrix: np.ndarray) -> np.ndarray:
        seen = np.zeros(self.n_states, dtype=bool)
        seen[start] = True
        frontier = seen.copy()
        while frontier.any():
            frontier = (matrix[frontier].any(axis=0)) & ~seen
            seen |= frontier
        return seen

    def is_irreducible(self) -> bool:
        """Whether every state reaches every other (one communicating class)."""
        edges = self.T > 0
        return bool(self._reach(0, edges).all() and self._reach(0, edges.T).all())

    def period(self) -> int:
        """The period of state 0's class (gcd of its cycle lengths); 1 means aperiodic."""
        edges = self.T > 0
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
            if level[a] >= 0 and level[b] >= 0:
                g = math.gcd(g, int(level[a] + 1 - level[b]))
        return abs(g) or 1

    def is_aperiodic(self) -> bool:
        """Whether the chain (assumed irreducible) has period 1."""
        return self.period() == 1

    # ------------------------------------------------------------ equilibrium
    def stationary(self) -> np.ndarray:
        """The unique ``pi`` with ``pi T = pi`` (a linear solve); needs irreducibility."""
        if not self.is_irreducible():
            raise ValueError("the chain is reducible: its stationary distribution is not unique")
        n = self.n_states
        a = np.vstack([self.T.T - np.eye(n), np.ones((1, n))])
        b = np.zeros(n + 1)
        b[-1] = 1.0
        pi, *_ = np.linalg.lstsq(a, b, rcond=None)
        pi = np.clip(pi, 0.0, None)
        return pi / pi.sum()

    def detailed_balance_violation(self, pi: Any = None) -> float:
        """``max |pi(x) T[x, y] - pi(y) T[y, x]|`` (0 for a reversible chain)."""
        pi = self.stationary() if pi is None else np.asarray(pi, dtype=np.float64)
        flow = pi[:, None] * self.T
        return float(np.max(np.abs(flow - flow.T)))

    def satisfies_detailed_balance(self, pi: Any = None, atol: float = 1e-12) -> bool:
        """Whether ``pi(x) p_xy = pi(y) p_yx`` for all ``x, y``."""
        return self.detailed_balance_violation(pi) <= atol

    def tv_curve(self, mu0: Any, steps: int, pi: Any = None) -> np.ndarray:
        """Total-variation distance ``||mu0 T^k - pi||_TV`` for ``k = 0..steps``."""
        pi = self.stationary() if pi is None else np.asarray(pi, dtype=np.float64)
        return 0.5 * np.abs(self.distributions(mu0, steps) - pi).sum(axis=1)

    def sample_path(self, steps: int, x0: int = 0, seed: SeedLike = None) -> np.ndarray:
        """A simulated trajectory ``X_0..X_steps`` (state indices)."""
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
