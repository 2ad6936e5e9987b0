"""The two containers every loader returns: :class:`ArrayDataset` and :class:`DataSplits`.

>>> import numpy as np
>>> ds = ArrayDataset(np.zeros((3, 2), np.float32), None, (2,), "real", False, "toy")
>>> len(ds), ds.dim
(3, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("binary", "unit", "pm1", "real")
"""Value kinds: exactly 0/1, in [0, 1], in [-1, 1], any finite real."""


@dataclass(frozen=True, eq=False)
class ArrayDataset:
    """A split of a data set held in memory as one ``(N, D)`` float32 array.

    ``x`` and ``y`` are shared between loads (in-process cache) and therefore
    read-only; copy (``x.copy()``) or index (``x[idx]``) before changing them.
    ``dynamic_binarize=True`` means ``x`` is grayscale in [0, 1] and the
    training loop must draw fresh bits (:func:`dgm.data.dynamic_binarize`)
    for every batch; ``kind`` then describes ``x`` itself ("unit") while
    :attr:`model_kind` is what the model sees ("binary").
    """

    x: np.ndarray
    y: np.ndarray | None
    shape: tuple[int, ...]
    kind: str
    dynamic_binarize: bool
    name: str
    split: str = ""

    def __post_init__(self) -> None:
        x, y = self.x, self.y
        label = f"{self.name}/{self.split}" if self.split else self.name
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype != np.float32:
            raise ValueError(
                f"{label}: x must be a 2-D float32 array (N, D), got "
                f"{type(x).__name__} {getattr(x, 'dtype', '')} {getattr(x, 'shape', '')}"
            )
        if math.prod(self.shape) != x.shape[1]:
            raise ValueError(
                f"{label}: per-example shape {self.shape} does not match D={x.shape[1]}"
            )
        if y is not None and (y.ndim != 1 or len(y) != len(x)):
            raise ValueError(f"{label}: y must have shape ({len(x)},), got {y.shape}")
        if self.kind not in KINDS:
            raise ValueError(f"{label}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.dynamic_binarize and self.kind != "unit":
            raise ValueError(f"{label}: dynamic_binarize needs kind 'unit', got {self.kind!r}")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def dim(self) -> int:
        """Number of features D of one flattened example."""
        return int(self.x.shape[1])

    @property
    def model_kind(self) -> str:
        """The kind of data a model is trained on: "binary" when bits are drawn per batch."""
        return "binary" if self.dynamic_binarize else self.kind

    def __repr__(self) -> str:
        extra = ", dynamic_binarize=True" if self.dynamic_binarize else ""
        split = f", split={self.split!r}" if self.split else ""
        return (
            f"ArrayDataset(name={self.name!r}{split}, n={len(self)}, shape={self.shape}, "
            f"kind={self.kind!r}{extra})"
        )


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Train, validation (may be None) and test splits of one data set spec."""

    train: ArrayDataset
    valid: ArrayDataset | None
    test: ArrayDataset

    def items(self) -> list[tuple[str, ArrayDataset]]:
        """``[(split name, dataset), ...]`` for the splits that exist."""
        out = [("train", self.train), ("valid", self.valid), ("test", self.test)]
        return [(k, v) for k, v in out if v is not None]


def readonly(a: np.ndarray) -> np.ndarray:
    """Mark ``a`` read-only (in place) and return it; cached arrays are shared."""
    a.setflags(write=False)
    return a


def make_dataset(
    x: np.ndarray,
    y: np.ndarray | None,
    shape: tuple[int, ...],
    kind: str,
    name: str,
    split: str,
    dynamic: bool = False,
) -> ArrayDataset:
    """Build an :class:`ArrayDataset` with contiguous, read-only float32/int64 arrays."""
    x = readonly(np.ascontiguousarray(x, dtype=np.float32))
    if y is not None:
        y = readonly(np.ascontiguousarray(y, dtype=np.int64))
    return ArrayDataset(x, y, tuple(int(s) for s in shape), kind, dynamic, name, split)
