"""Argument checks shared by the whole package (NumPy only, so ``dgm.pgm`` imports without
torch): each error names the argument and its value.

>>> check_count("steps", 3, allow_zero=True)
3
>>> check_count("steps", 2.5)
Traceback (most recent call last):
...
ValueError: steps must be an integer > 0, got 2.5
>>> check_positive("lr", "0.1")  # a string from a config file is not a number
Traceback (most recent call last):
...
ValueError: lr must be a finite number > 0, got '0.1'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    """``value`` > 0 (>= 0 with ``allow_zero``) and finite, else a ValueError naming it."""
    bound = ">= 0" if allow_zero else "> 0"
    try:
        finite = not isinstance(value, bool) and math.isfinite(value)
    except TypeError:
        finite = False
    if not finite:
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {bound}, got {value!r}")


def check_count(name: str, value: Any, allow_zero: bool = False) -> int:
    """An integer count (a Python or NumPy int, not a bool or float) > 0 (>= 0 with
    ``allow_zero``); returns it as an int, else a ValueError naming it."""
    if (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
            or value < 0 or (value == 0 and not allow_zero)):
        raise ValueError(f"{name} must be an integer {'>= 0' if allow_zero else '> 0'}, "
                         f"got {value!r}")
    return int(value)


def check_distribution(name: str, value: Any, n: int, atol: float = 1e-9) -> np.ndarray:
    """``value`` as a float array when it is a probability vector over ``n`` outcomes.

    The message says which condition failed: the shape, a non-finite or negative
    entry, or the sum.
    """
    p = np.asarray(value, dtype=np.float64)
    if p.shape != (n,):
        raise ValueError(
            f"{name} must be a distribution over {n} states: shape {p.shape}, not {(n,)}"
        )
    bad = np.flatnonzero(~np.isfinite(p))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name} must be a distribution: entry {name}[{i}] = {p[i]} is not finite")
    bad = np.flatnonzero(p < 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name} must be a distribution: negative entry {name}[{i}] = {p[i]}")
    total = float(p.sum())
    if abs(total - 1) > atol:
        raise ValueError(f"{name} must be a distribution: it sums to {total:.12g}, not 1")
    return p
