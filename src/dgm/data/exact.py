"""Small binary data sets whose distribution is known exactly, for exactness tests.

* ``tiny:bn``: a fixed Bayesian network over 8 binary variables (CPTs below).
* ``tiny:rbm``: a fixed RBM with 8 visible and 4 hidden units (weights below).

:func:`tiny_exact_distribution` gives every one of the 256 binary vectors with its
exact probability; state ``k`` is the binary expansion of ``k`` with ``x[0]`` the
most significant bit (see :func:`states_to_index`). Samples are drawn by an
independent route (ancestral sampling for the BN; hidden units from their exact
marginal, then visible units given hidden, for the RBM), so comparing samples
with the enumerated distribution checks both. Splits: 20,000 / 5,000 / 5,000,
seeds ``derive_seed(TINY_SEED, name, split)``.

>>> states, probs = tiny_exact_distribution("tiny:bn")
>>> states.shape, round(float(probs.sum()), 12)
((256, 8), 1.0)
>>> int(states_to_index(states[[5]])[0])
5
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from dgm._rng import as_numpy_rng, derive_seed
from dgm.data.base import DataSplits, make_dataset
from dgm.data.validate import check_data

TINY_SEED = 1988
TINY_SIZES = {"train": 20_000, "valid": 5_000, "test": 5_000}
TINY_NAMES = ("tiny:bn", "tiny:rbm")
TINY_DIM = 8

# Bayesian network: variable -> (parents, P(x=1 | parent configuration)); a parent
# configuration is indexed by the parents' bits with the first parent most significant.
TINY_BN: dict[int, tuple[tuple[int, ...], tuple[float, ...]]] = {
    0: ((), (0.3,)),
    1: ((0,), (0.2, 0.85)),
    2: ((0,), (0.6, 0.1)),
    3: ((1, 2), (0.05, 0.5, 0.7, 0.95)),
    4: ((3,), (0.25, 0.8)),
    5: ((), (0.55,)),
    6: ((4, 5), (0.1, 0.6, 0.4, 0.9)),
    7: ((6, 0), (0.8, 0.3, 0.15, 0.65)),
}

# RBM energy E(v, h) = -b.v - c.h - v.W.h ; p(v, h) = exp(-E) / Z.
TINY_RBM_W = np.array(
    [
        [1.5, -1.0, 0.5, 0.0],
        [1.2, 0.8, -1.5, 0.3],
        [-0.7, 1.4, 0.2, -1.1],
        [0.4, -0.6, 1.3, 0.9],
        [-1.3, 0.5, 0.7, 1.2],
        [0.9, 1.1, -0.4, -0.8],
        [-0.2, -1.2, 1.0, 0.6],
        [0.6, 0.3, -0.9, 1.4],
    ]
)
TINY_RBM_B = np.array([-0.5, 0.2, -0.3, 0.1, -0.2, 0.4, -0.6, 0.0])
TINY_RBM_C = np.array([-0.4, 0.3, -0.2, 0.1])


def all_states(d: int) -> np.ndarray:
    """All ``2**d`` binary vectors as an int64 ``(2**d, d)`` array, ``x[0]`` most significant."""
    k = np.arange(2**d)
    return (k[:, None] >> np.arange(d - 1, -1, -1)[None, :]) & 1


def states_to_index(x: np.ndarray, d: int | None = None) -> np.ndarray:
    """Row index into :func:`all_states` of each binary row of ``x`` (an ``(n, d)`` array of
    0/1; ``d``, if given, is the width required). Anything else is a ``ValueError``: a
    probability or a -1/+1 value would otherwise land in the wrong state."""
    x = np.asarray(x)
    check_data(x, "real", "states_to_index", ndim=2)  # 2-D and finite
    bad = np.flatnonzero((x != 0) & (x != 1))
    if bad.size:
        r, c = np.unravel_index(bad[0], x.shape)
        raise ValueError(f"states_to_index: expected 0/1 values (binary states) but found "
                         f"{float(x[r, c]):g} at row {r}, column {c} ({bad.size} such "
                         f"value{'s' if bad.size > 1 else ''})")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"states_to_index: expected rows of {d} bits but got shape {x.shape}")
    if x.shape[1] > 62:
        raise ValueError(f"states_to_index: rows of {x.shape[1]} bits do not fit an int64 index")
    return x.astype(np.int64) @ (1 << np.arange(x.shape[1] - 1, -1, -1))


def _bn_log_prob(x: np.ndarray) -> np.ndarray:
    logp = np.zeros(len(x))
    for i, (parents, table) in TINY_BN.items():
        cfg = np.zeros(len(x), dtype=np.int64)
        for p in parents:
            cfg = cfg * 2 + x[:, p]
        p1 = np.asarray(table)[cfg]
        logp += np.log(np.where(x[:, i] == 1, p1, 1 - p1))
    return logp


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _rbm_log_unnorm_v(v: np.ndarray) -> np.ndarray:
    return v @ TINY_RBM_B + _softplus(TINY_RBM_C + v @ TINY_RBM_W).sum(axis=1)


def _rbm_log_unnorm_h(h: np.ndarray) -> np.ndarray:
    return h @ TINY_RBM_C + _softplus(TINY_RBM_B + h @ TINY_RBM_W.T).sum(axis=1)


def tiny_rbm_log_partition() -> float:
    """Exact ``log Z`` of the ``tiny:rbm`` model (enumeration over the visible units)."""
    lv = _rbm_log_unnorm_v(all_states(TINY_DIM).astype(np.float64))
    return float(np.logaddexp.reduce(lv))


def _canon(name: str) -> str:
    full = name if name.startswith("tiny:") else f"tiny:{name}"
    if full not in TINY_NAMES:
        raise ValueError(f"unknown exact data set {name!r}; expected one of {TINY_NAMES}")
    return full


@functools.lru_cache(maxsize=len(TINY_NAMES))
def _exact(name: str) -> tuple[np.ndarray, np.ndarray]:
    states = all_states(TINY_DIM)
    if name == "tiny:bn":
        logp = _bn_log_prob(states)
    else:
        logp = _rbm_log_unnorm_v(states.astype(np.float64))
        logp = logp - np.logaddexp.reduce(logp)
    probs = np.exp(logp)
    probs /= probs.sum()
    states.setflags(write=False)
    probs.setflags(write=False)
    return states, probs


def tiny_exact_distribution(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(states (256, 8) int64, probs (256,) float64)``: the exact distribution of
    ``tiny:bn`` or ``tiny:rbm`` (``"bn"``/``"rbm"`` also accepted)."""
    return _exact(_canon(name))


def sample_tiny(name: str, n: int, seed: Any = None) -> np.ndarray:
    """``n`` exact samples (float32 ``(n, 8)`` of 0/1) of ``tiny:bn`` or ``tiny:rbm``."""
    name = _canon(name)
    rng = as_numpy_rng(seed)
    x = np.zeros((n, TINY_DIM), dtype=np.int64)
    if name == "tiny:bn":
        for i, (parents, table) in TINY_BN.items():  # keys are in topological order
            cfg = np.zeros(n, dtype=np.int64)
            for p in parents:
                cfg = cfg * 2 + x[:, p]
            x[:, i] = rng.random(n) < np.asarray(table)[cfg]
    else:
        hs = all_states(TINY_RBM_C.size).astype(np.float64)
        lh = _rbm_log_unnorm_h(hs)
        ph = np.exp(lh - np.logaddexp.reduce(lh))
        h = hs[rng.choice(len(hs), size=n, p=ph / ph.sum())]
        pv = 1.0 / (1.0 + np.exp(-(TINY_RBM_B + h @ TINY_RBM_W.T)))
        x[:] = rng.random((n, TINY_DIM)) < pv
    return x.astype(np.float32)


@functools.lru_cache(maxsize=len(TINY_NAMES))
def load_tiny(name: str) -> DataSplits:
    """Fixed train/valid/test samples of ``tiny:bn`` / ``tiny:rbm`` (kind "binary", shape (8,))."""
    name = _canon(name)
    parts = [
        make_dataset(
            sample_tiny(name, n, derive_seed(TINY_SEED, name, split)),
            None,
            (TINY_DIM,),
            "binary",
            name,
            split,
        )
        for split, n in TINY_SIZES.items()
    ]
    return DataSplits(*parts)
