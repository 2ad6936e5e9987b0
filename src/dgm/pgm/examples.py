"""Small models with known answers: the student network, the misconception loop, Ising grids.

>>> student().variables
('I', 'D', 'G', 'S', 'L')
>>> ising_grid(3, seed=0).treewidth_bound()
3
"""

from __future__ import annotations

import numpy as np

from dgm._rng import SeedLike, as_numpy_rng
from dgm.pgm.bayesnet import BayesianNetwork, cpd
from dgm.pgm.factor import Factor
from dgm.pgm.markovnet import MarkovNetwork


def student() -> BayesianNetwork:
    """Koller & Friedman's student network: Intelligence, Difficulty, Grade, SAT, Letter."""
    names = {
        "I": ("0", "1"),
        "D": ("0", "1"),
        "G": ("g1", "g2", "g3"),
        "S": ("0", "1"),
        "L": ("0", "1"),
    }
    return BayesianNetwork(
        [
            cpd("I", [0.7, 0.3], state_names=names),
            cpd("D", [0.6, 0.4], state_names=names),
            cpd(
                "G",
                [[0.3, 0.4, 0.3], [0.05, 0.25, 0.7], [0.9, 0.08, 0.02], [0.5, 0.3, 0.2]],
                ["I", "D"],
                names,
            ),
            cpd("S", [[0.95, 0.05], [0.2, 0.8]], ["I"], names),
            cpd("L", [[0.1, 0.9], [0.4, 0.6], [0.99, 0.01]], ["G"], names),
        ],
        name="student",
    )


def misconception() -> MarkovNetwork:
    """Koller & Friedman's four-node loop A-B-C-D (Z = 7,201,840)."""
    return MarkovNetwork(
        [
            Factor(["A", "B"], [2, 2], [[30, 5], [1, 10]]),
            Factor(["B", "C"], [2, 2], [[100, 1], [1, 100]]),
            Factor(["C", "D"], [2, 2], [[1, 100], [100, 1]]),
            Factor(["D", "A"], [2, 2], [[100, 1], [1, 100]]),
        ],
        name="misconception",
    )


_MAX_EXP = float(np.log(np.finfo(np.float64).max))  # exp(x) overflows for x above this (709.78)


def _exp_potential(weight: float, values: np.ndarray, what: str, where: str) -> np.ndarray:
    """``exp(weight * values)`` for spins ``values``; a weight that overflows is named."""
    if not abs(weight) <= _MAX_EXP:
        raise ValueError(
            f"ising_grid: the {what} drew the weight {weight:.6g} for {where}; exp of it "
            f"overflows a float (|weight| must stay below {_MAX_EXP:.0f}): use a smaller {what}"
        )
    return np.exp(weight * values)


def ising_grid(
    n: int, seed: SeedLike = None, coupling: float = 1.0, field: float = 0.0
) -> MarkovNetwork:
    """An ``n x n`` grid of spins ``s in {-1, +1}`` (states "-1", "+1").

    ``phi(s_i, s_j) = exp(J_ij s_i s_j)`` with ``J_ij ~ N(0, coupling^2)`` on grid
    edges and ``psi(s_i) = exp(h_i s_i)`` with ``h_i ~ N(0, field^2)``.  A
    weight whose ``exp`` overflows a float (``|J| > 709``) is a ValueError
    that names it.
    """
    for what, value in (("coupling", coupling), ("field", field)):
        if not np.isfinite(value):
            raise ValueError(f"ising_grid: {what} must be a finite number, got {value!r}")
    rng = as_numpy_rng(seed)
    spins = np.array([-1.0, 1.0])
    pair = np.outer(spins, spins)
    states = ("-1", "+1")
    factors = []
    name = [[f"x{r}_{c}" for c in range(n)] for r in range(n)]
    for r in range(n):
        for c in range(n):
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr < n and c + dc < n:
                    a, b = name[r][c], name[r + dr][c + dc]
                    j = coupling * rng.standard_normal()
                    phi = _exp_potential(j, pair, "coupling", f"the edge {a} - {b}")
                    factors.append(Factor([a, b], [2, 2], phi, {a: states, b: states}))
            if field:
                h = field * rng.standard_normal()
                v = name[r][c]
                psi = _exp_potential(h, spins, "field", f"the spin {v}")
                factors.append(Factor([v], [2], psi, {v: states}))
    return MarkovNetwork(factors, name=f"ising{n}")
