"""Checks models run on their input data, with messages that say what is wrong and where.

>>> import numpy as np
>>> check_data(np.array([[0.0, 1.0]], np.float32), "binary", "toy")
>>> check_data(np.array([[0.0, 0.5]], np.float32), "binary", "toy")
Traceback (most recent call last):
...
ValueError: toy: a Bernoulli model needs 0/1 data but found value 0.5 at row 0, column 1; \
binarize it first (dgm.data.dynamic_binarize) or use a binarized data set
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dgm.data.base import KINDS

_HINTS = {
    "mnist": "use the binarized variant 'mnist' or 'mnist:dynamic'",
    "digits": "use the binarized variant 'digits'",
}


def _as_numpy(x: Any) -> np.ndarray:
    """NumPy view of an array or a torch tensor (torch is never imported here)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, duck-typed
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _where(x: np.ndarray, flat: int) -> str:
    idx = np.unravel_index(flat, x.shape)
    if x.ndim == 2:
        return f"row {idx[0]}, column {idx[1]}"
    if x.ndim == 1:
        return f"index {idx[0]}"
    return f"row {idx[0]}, index {tuple(int(i) for i in idx[1:])}"


def _fmt(v: float) -> str:
    return f"{float(v):.4g}"


def _binary_hint(name: str) -> str:
    base = name.split(":")[0].split("/")[0]
    default = "binarize it first (dgm.data.dynamic_binarize) or use a binarized data set"
    return _HINTS.get(base, default)


def check_data(x: Any, kind: str, name: str = "data", ndim: int | None = None) -> None:
    """Raise ``ValueError`` if ``x`` is not valid data of ``kind`` for a model.

    ``kind`` is one of "binary" (exactly 0/1), "unit" ([0, 1]), "pm1" ([-1, 1])
    or "real" (finite). ``x`` is a NumPy array or a torch tensor with a batch
    dimension first; ``ndim`` demands an exact number of dimensions (default:
    at least 2). Messages name ``name``, the problem, and the first offending
    value with its position.

    >>> check_data(np.zeros((2, 3)), "pm1", "gan-input")
    >>> check_data(np.zeros(3), "real", "flow")
    Traceback (most recent call last):
    ...
    ValueError: flow: expected a batch of examples with at least 2 dimensions \
(batch, features...) but got shape (3,); add a batch dimension, e.g. x[None]
    """
    if kind not in KINDS:
        raise ValueError(f"{name}: unknown data kind {kind!r}; expected one of {KINDS}")
    a = _as_numpy(x)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(
            f"{name}: expected a {ndim}-D array but got shape {tuple(a.shape)} ({a.ndim}-D)"
        )
    if ndim is None and a.ndim < 2:
        raise ValueError(
            f"{name}: expected a batch of examples with at least 2 dimensions "
            f"(batch, features...) but got shape {tuple(a.shape)}; "
            "add a batch dimension, e.g. x[None]"
        )
    if a.size == 0:
        return
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name}: expected numeric data but got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.inexact):
        finite = np.isfinite(a)
        if not finite.all():
            bad = int(a.size - np.count_nonzero(finite))
            first = int(np.flatnonzero(~finite.ravel())[0])
            raise ValueError(
                f"{name}: found {bad} non-finite value(s) (NaN or inf); the first is "
                f"{a.ravel()[first]} at {_where(a, first)}"
            )
    flat = a.ravel()
    if kind == "binary":
        bad_mask = (flat != 0) & (flat != 1)
        if bad_mask.any():
            first = int(np.argmax(bad_mask))
            raise ValueError(
                f"{name}: a Bernoulli model needs 0/1 data but found value "
                f"{_fmt(flat[first])} at {_where(a, first)}; {_binary_hint(name)}"
            )
    elif kind in ("unit", "pm1"):
        lo = 0.0 if kind == "unit" else -1.0
        bad_mask = (flat < lo) | (flat > 1)
        if bad_mask.any():
            first = int(np.argmax(bad_mask))
            hint = (
                "scale it into [0, 1] (e.g. the ':gray' variant)"
                if kind == "unit"
                else "scale it into [-1, 1] (e.g. the ':pm1' variant, 2*x-1)"
            )
            raise ValueError(
                f"{name}: data of kind {kind!r} must lie in [{lo:g}, 1] but found value "
                f"{_fmt(flat[first])} at {_where(a, first)} "
                f"(min {_fmt(flat.min())}, max {_fmt(flat.max())}); {hint}"
            )
