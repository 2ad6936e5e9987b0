"""Tables of observations: columns of state names (or state indices) to integer codes.

A *table* is a mapping ``{column: values}`` (a dict or a pandas DataFrame), a
list of row mappings, or a 2-D integer array whose columns are given.  Missing
entries (``None``, ``NaN``, ``-1`` in integer columns, or one of the strings
``""``, ``"nan"``, ``"NaN"``, ``"NA"``, ``"?"`` that is not a state of the
variable) become ``-1``.

>>> states = {"A": ("yes", "no"), "B": ("lo", "mid", "hi")}
>>> cols, codes = encode_table({"A": ["no", None], "B": ["hi", "lo"]}, states)
>>> cols, codes.tolist()
(['A', 'B'], [[1, 2], [-1, 0]])
>>> encode_table([{"A": "maybe"}], states)
Traceback (most recent call last):
...
ValueError: row 0, column 'A': unknown state 'maybe'; states are ['yes', 'no']
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MISSING_STRINGS = frozenset({"", "nan", "NaN", "NA", "?"})


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and value in MISSING_STRINGS


def _encode_column(
    name: str, values: Any, states: Sequence[str], allow_missing: bool
) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        codes = arr.astype(np.int64)
        bad = np.flatnonzero((codes < -1) | (codes >= len(states)))
        if bad.size:
            r = int(bad[0])
            raise ValueError(
                f"row {r}, column {name!r}: state index {codes[r]} out of range "
                f"for {len(states)} states {list(states)}"
            )
    elif arr.dtype.kind == "U":  # vectorized: look each distinct string up once
        uniq, inverse = np.unique(arr, return_inverse=True)
        lookup = {s: i for i, s in enumerate(states)}
        mapped = np.empty(len(uniq), dtype=np.int64)
        for k, value in enumerate(uniq.tolist()):
            if value in lookup:  # a state named like a missing marker ("NA") is that state
                mapped[k] = lookup[value]
            elif value in MISSING_STRINGS:
                mapped[k] = -1
            else:
                r = int(np.flatnonzero(inverse == k)[0])
                raise ValueError(
                    f"row {r}, column {name!r}: unknown state {value!r}; states are {list(states)}"
                )
        codes = mapped[inverse.reshape(-1)]
    else:
        lookup = {s: i for i, s in enumerate(states)}
        codes = np.empty(arr.shape[0], dtype=np.int64)
        for r, value in enumerate(arr.tolist()):
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                if not 0 <= value < len(states):
                    raise ValueError(f"row {r}, column {name!r}: state index {value} out of range")
                codes[r] = value
            elif isinstance(value, str) and value in lookup:
                codes[r] = lookup[value]
            elif _is_missing(value):
                codes[r] = -1
            else:
                idx = lookup.get(str(value))
                if idx is None:
                    raise ValueError(
                        f"row {r}, column {name!r}: unknown state {value!r}; "
                        f"states are {list(states)}"
                    )
                codes[r] = idx
    if not allow_missing and (codes < 0).any():
        r = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(f"row {r}, column {name!r}: missing value where complete data is needed")
    return codes


def encode_table(
    table: Any,
    states: Mapping[str, Sequence[str]],
    columns: Sequence[str] | None = None,
    allow_missing: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Column names and an ``(N, k)`` int64 array of state indices (-1 = missing)."""
    if isinstance(table, np.ndarray):
        if table.ndim != 2:
            raise ValueError(f"an array table must be 2-D, got shape {table.shape}")
        cols = list(columns) if columns is not None else list(states)
        if len(cols) != table.shape[1]:
            raise ValueError(f"table has {table.shape[1]} columns but {len(cols)} names")
        data: Mapping[str, Any] = {c: table[:, j] for j, c in enumerate(cols)}
    elif isinstance(table, Mapping) or hasattr(table, "columns"):
        cols = [str(c) for c in (columns if columns is not None else list(table.keys()))]
        data = {c: np.asarray(table[c]) for c in cols}
    elif isinstance(table, Sequence):
        cols = (
            list(columns)
            if columns is not None
            else list(dict.fromkeys(k for row in table for k in row))
        )
        data = {c: np.array([row.get(c) for row in table], dtype=object) for c in cols}
    else:
        raise TypeError(f"cannot read a table from {type(table).__name__}")
    unknown = [c for c in cols if c not in states]
    if unknown:
        raise ValueError(f"unknown variables {unknown} in table; variables are {list(states)}")
    n = len(next(iter(data.values()))) if data else 0
    codes = np.empty((n, len(cols)), dtype=np.int64)
    for j, c in enumerate(cols):
        if len(data[c]) != n:
            raise ValueError(f"column {c!r} has {len(data[c])} rows, expected {n}")
        codes[:, j] = _encode_column(c, data[c], states[c], allow_missing)
    return cols, codes


def read_csv(path: str | Path) -> dict[str, list[str]]:
    """A CSV file with a header row as ``{column: [values as strings]}``."""
    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty CSV file (no header line)") from None
        cols: dict[str, list[str]] = {h.strip(): [] for h in header}
        names = list(cols)
        for lineno, row in enumerate(reader, start=2):
            if len(row) != len(names):
                raise ValueError(
                    f"{path}, line {lineno}: {len(row)} fields, header has {len(names)}"
                )
            for name, value in zip(names, row):
                cols[name].append(value.strip())
    return cols


def write_csv(path: str | Path, header: Sequence[str], rows: Any) -> None:
    """Write ``rows`` (an iterable of sequences) under ``header``."""
    with Path(path).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(header))
        writer.writerows(rows)
