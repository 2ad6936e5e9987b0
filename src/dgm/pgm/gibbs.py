"""Gibbs sampling for discrete Bayesian and Markov networks, vectorized over chains.

Each update redraws one variable from ``P(X_i | x_{-i})``, which depends only
on the factors that mention ``X_i`` (its Markov blanket): the sampler gathers
those log-factor entries for all chains at once and never enumerates the other
variables.  Scans: ``"systematic"`` (every variable in turn) or ``"random"``
(variable ``i`` drawn from ``q(i)``, the seed's construction).

Deterministic factors can make single-site Gibbs reducible (asia's ``either``
is the OR of two parents: no single change moves between its supports), which
is detected and reported as :class:`GibbsReducibleError`.

>>> from dgm.pgm.examples import student
>>> res = GibbsSampler(student(), evidence={"L": "1"}).run(200, chains=64, seed=0)
>>> bool(abs(res.marginal("G")[0] - student().query("G", {"L": "1"}).values[0]) < 0.05)
True
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dgm._rng import SeedLike, as_numpy_rng
from dgm.pgm.diagnostics import ess, split_rhat
from dgm.pgm.markov_chain import MarkovChain


class GibbsReducibleError(ValueError):
    """Single-site Gibbs cannot reach all of the support (deterministic factors)."""


@dataclass
class GibbsResult:
    """Draws ``samples[chain, draw, j]`` of the variables ``variables`` (state indices)."""

    variables: tuple[str, ...]
    states: dict[str, tuple[str, ...]]
    samples: np.ndarray
    updates: int
    seconds: float

    def marginal(self, var: str) -> np.ndarray:
        """The estimated marginal distribution of ``var`` (all chains and draws)."""
        if var not in self.variables:
            raise ValueError(
                f"{var!r} was not sampled (observed or not in the model); "
                f"the sampled variables are {list(self.variables)}"
            )
        j = self.variables.index(var)
        counts = np.bincount(self.samples[..., j].ravel(), minlength=len(self.states[var]))
        return counts / counts.sum()

    def marginals(self) -> dict[str, np.ndarray]:
        """Estimated marginals of every sampled variable."""
        return {v: self.marginal(v) for v in self.variables}

    def rhat(self) -> dict[str, float]:
        """Split R-hat of each variable (worst over its state indicators)."""
        return {v: self._worst(j, split_rhat, max) for j, v in enumerate(self.variables)}

    def ess(self) -> dict[str, float]:
        """Effective sample size of each variable (worst over its state indicators)."""
        return {v: self._worst(j, ess, min) for j, v in enumerate(self.variables)}

    def _worst(self, j: int, stat, pick) -> float:
        x = self.samples[..., j]
        vals = [stat((x == s).astype(float)) for s in range(len(self.states[self.variables[j]]))]
        return float(pick(vals))

    @property
    def updates_per_second(self) -> float:
        """Single-site updates per second (all chains counted)."""
        return self.updates / max(self.seconds, 1e-12)


class GibbsSampler:
    """Single-site Gibbs sampler for a BayesianNetwork or MarkovNetwork with evidence."""

    def __init__(self, model: Any, evidence: Mapping[str, Any] | None = None, check: bool = True):
        self.model = model
        self.evidence = model._evidence_index(evidence)
        self.variables = tuple(v for v in model.variables if v not in self.evidence)
        self.states = {v: model.states[v] for v in self.variables}
        col = {v: j for j, v in enumerate(self.variables)}
        self._tables = model._reduced(set(model.variables), self.evidence)
        self._plans: list[list[tuple[np.ndarray, list[tuple[int, int]], int]]] = [
            [] for _ in self.variables
        ]
        for vars_, arr in self._tables:
            with np.errstate(divide="ignore"):
                flat = np.log(np.ascontiguousarray(arr)).ravel()
            strides = [int(np.prod(arr.shape[k + 1 :], dtype=np.int64)) for k in range(len(vars_))]
            for k, v in enumerate(vars_):
                others = [(col[u], strides[m]) for m, u in enumerate(vars_) if m != k]
                self._plans[col[v]].append((flat, others, strides[k]))
        if check:
            self.check_irreducible()

    # ------------------------------------------------------------ the kernel
    def log_conditional(self, x: np.ndarray, i: int) -> np.ndarray:
        """``log P(X_i = s | x_{-i})`` up to a constant, ``(chains, card_i)``, blanket only."""
        card = len(self.states[self.variables[i]])
        out = np.zeros((x.shape[0], card))
        for flat, others, stride in self._plans[i]:
            base = np.zeros(x.shape[0], dtype=np.int64)
            for j, s in others:
                base += x[:, j] * s
            out += flat[base[:, None] + np.arange(card) * stride]
        return out

    def _weights(self, x: np.ndarray, i: int) -> np.ndarray:
        """``P(X_i = s | x_{-i})`` up to each row's constant, ``(chains, card_i)``, max 1."""
        logp = self.log_conditional(x, i)
        return np.exp(logp - logp.max(axis=1, keepdims=True))

    def conditional(self, x: np.ndarray, i: int) -> np.ndarray:
        """``P(X_i = s | x_{-i})``, ``(chains, card_i)``: the distribution an update draws from."""
        p = self._weights(x, i)
        return p / p.sum(axis=1, keepdims=True)

    def _update(self, x: np.ndarray, i: int, rng: np.random.Generator) -> None:
        cum = np.cumsum(self._weights(x, i), axis=1)  # (unnormalized: u is scaled to its total)
        u = rng.random(x.shape[0]) * cum[:, -1]
        x[:, i] = (u[:, None] >= cum).sum(axis=1)

    def initial_states(
        self, chains: int, rng: np.random.Generator, how: str = "auto"
    ) -> np.ndarray:
        """Starting states inside the support.

        ``"uniform"``: independent uniform states (dispersed, for R-hat);
        ``"prior"``: forward samples of a Bayesian network (evidence clamped);
        ``"auto"``: prior for a Bayesian network, uniform otherwise.  States
        of probability 0 are replaced by the MPE.
        """
        if how == "auto":
            how = "prior" if hasattr(self.model, "sample") else "uniform"
        cards = np.array([len(self.states[v]) for v in self.variables])
        if how == "prior":
            full = self.model.sample(chains, seed=rng)
            x = full[:, [self.model.variables.index(v) for v in self.variables]]
        elif how == "uniform":
            x = (rng.random((chains, len(cards))) * cards).astype(np.int64)
        else:
            raise ValueError(f"init must be 'auto', 'prior', 'uniform' or an array, got {how!r}")
        bad = ~np.isfinite(self._log_weight(x))
        if bad.any():
            ev = {v: self.model.states[v][i] for v, i in self.evidence.items()}
            mpe = self.model.map_query(None, ev)
            x[bad] = [self.states[v].index(mpe[v]) for v in self.variables]
        return x

    def _log_weight(self, x: np.ndarray) -> np.ndarray:
        col = {v: j for j, v in enumerate(self.variables)}
        total = np.zeros(x.shape[0])
        with np.errstate(divide="ignore"):
            for vars_, arr in self._tables:
                total += np.log(arr[tuple(x[:, col[v]] for v in vars_)])
        return total

    def run(
        self,
        n_draws: int,
        chains: int = 4,
        burn_in: int = 100,
        thin: int = 1,
        scan: str = "systematic",
        q: Sequence[float] | None = None,
        seed: SeedLike = None,
        init: str | np.ndarray = "auto",
    ) -> GibbsResult:
        """``n_draws`` draws per chain, one every ``thin`` sweeps after ``burn_in`` sweeps.

        A sweep is ``len(variables)`` single-site updates; ``init`` is a starting
        array ``(chains, len(variables))`` or a rule of :meth:`initial_states`.
        """
        for name, value, low in [
            ("n_draws", n_draws, 1),
            ("chains", chains, 1),
            ("burn_in", burn_in, 0),
            ("thin", thin, 1),
        ]:
            if value < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        if scan not in ("systematic", "random"):
            raise ValueError(f"scan must be 'systematic' or 'random', got {scan!r}")
        rng = as_numpy_rng(seed)
        n = len(self.variables)
        qv = self._scan_weights(q) if scan == "random" and n else None
        if isinstance(init, str):
            x = self.initial_states(chains, rng, init)
        else:
            x = self._check_init(init, chains)
        dtype = (
            np.int8 if max((len(s) for s in self.states.values()), default=1) < 128 else np.int32
        )
        out = np.empty((chains, n_draws, n), dtype=dtype)
        start = time.perf_counter()
        sweeps = burn_in + n_draws * thin
        for sweep in range(sweeps):
            order = range(n) if qv is None else rng.choice(n, size=n, p=qv)
            for i in order:
                self._update(x, int(i), rng)
            k = sweep - burn_in
            if k >= 0 and (k + 1) % thin == 0:
                out[:, k // thin] = x
        seconds = time.perf_counter() - start
        return GibbsResult(self.variables, self.states, out, sweeps * n * chains, seconds)

    def _scan_weights(self, q: Sequence[float] | None) -> np.ndarray:
        """The random-scan distribution ``q`` over the unobserved variables, checked."""
        n = len(self.variables)
        if q is None:
            return np.full(n, 1.0 / n)
        qv = np.asarray(q, dtype=np.float64)
        if qv.shape != (n,) or not np.all(np.isfinite(qv)) or abs(qv.sum() - 1) > 1e-9:
            raise ValueError(
                f"q must be a distribution over the {n} unobserved variables "
                f"{list(self.variables)}, got {q!r}"
            )
        bad = np.flatnonzero(qv <= 0)
        if bad.size:
            v = self.variables[int(bad[0])]
            raise ValueError(
                f"q gives variable {v!r} weight {qv[bad[0]]:g}; every unobserved variable needs "
                "q > 0, or it is never updated"
            )
        return qv

    def _check_init(self, init: Any, chains: int) -> np.ndarray:
        """A user-given starting array, checked for shape and state range."""
        x = np.array(init, dtype=np.int64)
        n = len(self.variables)
        if x.shape != (chains, n):
            raise ValueError(f"init must have shape {(chains, n)}, got {x.shape}")
        for j, v in enumerate(self.variables):
            card = len(self.states[v])
            bad = np.flatnonzero((x[:, j] < 0) | (x[:, j] >= card))
            if bad.size:
                raise ValueError(
                    f"init gives variable {v!r} the state {int(x[bad[0], j])} (chain "
                    f"{int(bad[0])}); its states are 0..{card - 1}"
                )
        zero = np.flatnonzero(~np.isfinite(self._log_weight(x)))
        if zero.size:  # its conditionals would be 0/0: the chain could not move correctly
            row = {v: self.states[v][x[zero[0], j]] for j, v in enumerate(self.variables)}
            raise ValueError(
                f"init starts chain {int(zero[0])} in a state of probability 0 (given the "
                f"evidence): {row}; start from a state the model allows, or init='auto'"
            )
        return x

    # ------------------------------------------------------------ reducibility
    def check_irreducible(self) -> None:
        """Raise :class:`GibbsReducibleError` if a factor splits the support.

        Within one factor, the non-zero entries must be connected by single-variable
        changes; if they fall into groups that each have positive probability
        (checked exactly), no single-site chain can move between them.
        """
        for vars_, arr in self._tables:
            if arr.ndim < 2 or arr.all():
                continue
            groups = _support_components(arr)
            if len(groups) < 2:
                continue
            post = self.model.query(
                list(vars_), {v: self.model.states[v][i] for v, i in self.evidence.items()}
            )
            post = post.transpose(vars_).values
            alive = [g for g in groups if post[tuple(np.array(g).T)].sum() > 1e-12]
            if len(alive) > 1:
                example = [{v: self.states[v][i] for v, i in zip(vars_, g[0])} for g in alive[:2]]
                raise GibbsReducibleError(
                    f"single-site Gibbs is reducible: the factor over {list(vars_)} has zeros that "
                    f"split its support into {len(alive)} groups that no single-variable change "
                    "connects "
                    f"(e.g. {example[0]} and {example[1]}), each with positive probability; "
                    "use exact inference (query) or forward sampling instead"
                )


def _support_components(arr: np.ndarray) -> list[list[tuple[int, ...]]]:
    """Connected components of the non-zero cells under single-axis moves."""
    support = {tuple(int(i) for i in idx) for idx in np.argwhere(arr > 0)}
    groups = []
    while support:
        seed = support.pop()
        group, stack = [seed], [seed]
        while stack:
            cell = stack.pop()
            for axis, n in enumerate(arr.shape):
                for s in range(n):
                    nb = cell[:axis] + (s,) + cell[axis + 1 :]
                    if nb in support:
                        support.discard(nb)
                        group.append(nb)
                        stack.append(nb)
        groups.append(group)
    return groups


def gibbs_transition_matrix(
    model: Any, scan: str = "random", q: Sequence[float] | None = None, max_states: int = 4096
) -> tuple[list[tuple[int, ...]], np.ndarray, MarkovChain]:
    """The explicit Gibbs kernel of a tiny model over its support.

    ``p_xy = q(i) P(y_i | x_{-i})`` when ``x`` and ``y`` differ only at ``i``
    (the diagonal collects every ``i``); ``scan="systematic"`` multiplies the
    single-site kernels in variable order.  ``P(y_i | x_{-i})`` is the sampler's
    own :meth:`GibbsSampler.conditional` (what :meth:`GibbsSampler.run` draws
    from), so the kernel checks the sampler's code, not a formula beside it.
    Returns the support states, their exact probabilities and the chain.
    """
    cards = [len(model.states[v]) for v in model.variables]
    size = math.prod(cards)  # a Python int: an int64 product of 64 binary variables is 0
    if size > max_states:
        raise ValueError(f"{size} joint states: too many for an explicit kernel")
    grid = np.array(list(itertools.product(*(range(c) for c in cards))), dtype=np.int64)
    sampler = GibbsSampler(model, check=False)
    logw = sampler._log_weight(grid)
    keep = np.isfinite(logw)
    states = [tuple(int(i) for i in row) for row in grid[keep]]
    p = np.exp(logw[keep] - logw[keep].max())
    p /= p.sum()
    index = {s: k for k, s in enumerate(states)}
    n = len(model.variables)
    qv = np.full(n, 1.0 / n) if q is None else np.asarray(q, dtype=np.float64)
    kernels = []
    for i in range(n):
        cond = sampler.conditional(grid[keep], i)
        k = np.zeros((len(states), len(states)))
        for a, x in enumerate(states):
            for s in range(cards[i]):
                b = index.get(x[:i] + (s,) + x[i + 1 :])
                if b is not None:  # states outside the support have conditional 0
                    k[a, b] = cond[a, s]
        kernels.append(k)
    if scan == "random":
        t = sum(qi * k for qi, k in zip(qv, kernels))
    elif scan == "systematic":
        t = np.linalg.multi_dot(kernels) if n > 1 else kernels[0]
    else:
        raise ValueError(f"scan must be 'systematic' or 'random', got {scan!r}")
    return states, p, MarkovChain(t, states)
