"""Tables of observations: columns of state names (or state indices) to integer codes.

A *table* is a mapping ``{column: values}`` (a dict or a pandas DataFrame), a
list of row mappings, or a 2-D integer array of state indices (as
``BayesianNetwork.sample`` returns) whose columns are given.  Missing entries
(``None``, ``NaN``, ``-1`` in integer columns, or one of the strings ``""``,
``"nan"``, ``"NaN"``, ``"NA"``, ``"?"`` that is not a state of the variable)
become ``-1``.

An integer in a column is read by *name* when every state of the variable is
named by an integer (``"1", "2", "3"`` or ``"-1", "+1"``): a pandas column
read from a CSV file holds ``1`` for the state ``"1"``, whatever its position.
Integral floats (a pandas column with gaps) count as integers there, and
``-1`` is missing unless a state is named ``-1``.  For any other variable an
integer is a state *index*, and a 2-D integer array always holds indices.

>>> states = {"A": ("yes", "no"), "B": ("lo", "mid", "hi")}
>>> cols, codes = encode_table({"A": ["no", None], "B": ["hi", "lo"]}, states)
>>> cols, codes.tolist()
(['A', 'B'], [[1, 2], [-1, 0]])
>>> encode_table({"C": [3, 1]}, {"C": ("1", "2", "3")})[1].tolist()
[[2], [0]]
>>> encode_table([{"A": "maybe"}], states)
Traceback (most recent call last):
...
dgm.pgm.data.TableError: row 0, column 'A': unknown state 'maybe'; states are ['yes', 'no']
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dgm._files import atomic_write
from dgm.pgm._hints import did_you_mean

MISSING_STRINGS = frozenset({"", "nan", "NaN", "NA", "?"})
_INTEGER = re.compile(r"[+-]?[0-9]+")


class TableError(ValueError):
    """A bad entry of a table: ``row`` (0-based) and ``column`` say where, ``detail`` what."""

    def __init__(self, row: int, column: str, detail: str) -> None:
        super().__init__(f"row {row}, column {column!r}: {detail}")
        self.row = row
        self.column = column
        self.detail = detail


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and value in MISSING_STRINGS


def _integer_names(states: Sequence[str]) -> dict[int, int] | None:
    """``{int(name): index}`` when every state name is an integer, else None."""
    if not all(_INTEGER.fullmatch(s) for s in states):
        return None
    lookup = {int(s): i for i, s in enumerate(states)}
    return lookup if len(lookup) == len(states) else None  # "1" and "01": no names


def _as_integer(value: Any) -> int | None:
    """An int for an integer or an integral float (not a bool), else None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return None


def _map_distinct(
    name: str, arr: np.ndarray, code_of: Callable[[Any], int | None], unknown: Callable[[Any], str]
) -> np.ndarray:
    """Codes of a column, looking each distinct value up once (``code_of``: None = unknown)."""
    uniq, inverse = np.unique(arr, return_inverse=True)
    inverse = inverse.reshape(-1)
    mapped = np.empty(len(uniq), dtype=np.int64)
    for k, value in enumerate(uniq.tolist()):
        code = code_of(value)
        if code is None:
            raise TableError(int(np.flatnonzero(inverse == k)[0]), name, unknown(value))
        mapped[k] = code
    return mapped[inverse]


def _encode_indices(name: str, arr: np.ndarray, states: Sequence[str]) -> np.ndarray:
    codes = arr.astype(np.int64)
    bad = np.flatnonzero((codes < -1) | (codes >= len(states)))
    if bad.size:
        r = int(bad[0])
        raise TableError(
            r, name, f"state index {codes[r]} out of range for {len(states)} states {list(states)}"
        )
    return codes


def _encode_integer_names(
    name: str, arr: np.ndarray, states: Sequence[str], by_name: dict[int, int]
) -> np.ndarray:
    return _map_distinct(
        name,
        arr,
        lambda v: by_name.get(v, -1 if v == -1 else None),  # -1: missing, unless a state's name
        lambda v: f"no state named {v}; states are {list(states)}",
    )


def _encode_strings(name: str, arr: np.ndarray, states: Sequence[str]) -> np.ndarray:
    lookup = {s: i for i, s in enumerate(states)}
    return _map_distinct(  # a state named like a missing marker ("NA") is that state
        name,
        arr,
        lambda v: lookup.get(v, -1 if v in MISSING_STRINGS else None),
        lambda v: f"unknown state {v!r}; states are {list(states)}",
    )


def _encode_objects(
    name: str, arr: np.ndarray, states: Sequence[str], by_name: dict[int, int] | None
) -> np.ndarray:
    """Codes of a column of mixed Python values (names, indices, missing markers)."""
    lookup = {s: i for i, s in enumerate(states)}
    codes = np.empty(arr.shape[0], dtype=np.int64)
    for r, value in enumerate(arr.tolist()):
        number = None if isinstance(value, str) else _as_integer(value)
        if isinstance(value, str) and value in lookup:
            codes[r] = lookup[value]
        elif number is not None and by_name is not None:
            code = by_name.get(number, -1 if number == -1 else None)
            if code is None:
                raise TableError(r, name, f"no state named {number}; states are {list(states)}")
            codes[r] = code
        elif _is_missing(value):
            codes[r] = -1
        elif number is not None and isinstance(value, (int, np.integer)):
            if not 0 <= number < len(states):
                raise TableError(
                    r, name, f"state index {value} out of range for {len(states)} states "
                    f"{list(states)}"
                )
            codes[r] = number
        else:
            idx = lookup.get(str(value))
            if idx is None:
                raise TableError(r, name, f"unknown state {value!r}; states are {list(states)}")
            codes[r] = idx
    return codes


def _encode_column(
    name: str, values: Any, states: Sequence[str], allow_missing: bool, indices: bool = False
) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
    by_name = None if indices else _integer_names(states)
    if arr.dtype.kind in "iu":
        codes = (
            _encode_indices(name, arr, states)
            if by_name is None
            else _encode_integer_names(name, arr, states, by_name)
        )
    elif arr.dtype.kind == "U":
        codes = _encode_strings(name, arr, states)
    else:
        codes = _encode_objects(name, arr, states, by_name)
    if not allow_missing and (codes < 0).any():
        r = int(np.flatnonzero(codes < 0)[0])
        raise TableError(r, name, "missing value where complete data is needed")
    return codes


def encode_table(
    table: Any,
    states: Mapping[str, Sequence[str]],
    columns: Sequence[str] | None = None,
    allow_missing: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Column names and an ``(N, k)`` int64 array of state indices (-1 = missing).

    A bad entry raises a :class:`TableError` that says its row and column.
    """
    indices = isinstance(table, np.ndarray)  # a 2-D array holds state indices, never names
    if isinstance(table, np.ndarray):
        if table.ndim != 2:
            raise ValueError(f"an array table must be 2-D, got shape {table.shape}")
        cols = list(columns) if columns is not None else list(states)
        if len(cols) != table.shape[1]:
            raise ValueError(
                f"the table array has {table.shape[1]} columns but {len(cols)} column names {cols}"
            )
        data: Mapping[str, Any] = {c: table[:, j] for j, c in enumerate(cols)}
    elif isinstance(table, Mapping) or hasattr(table, "columns"):
        cols = [str(c) for c in (columns if columns is not None else list(table.keys()))]
        data = {c: np.asarray(table[c]) for c in cols}
    elif isinstance(table, Sequence):
        for r, row in enumerate(table):
            if not isinstance(row, Mapping):
                raise TypeError(
                    f"row {r} of the table is a {type(row).__name__}, not a mapping "
                    "{column: value} (a 2-D table of state indices must be a NumPy array)"
                )
        cols = (
            list(columns)
            if columns is not None
            else list(dict.fromkeys(k for row in table for k in row))
        )
        data = {c: np.array([row.get(c) for row in table], dtype=object) for c in cols}
    else:
        raise TypeError(
            f"cannot read a table from a {type(table).__name__}: give a mapping "
            "{column: values}, a DataFrame, a list of row mappings or a 2-D NumPy array of "
            "state indices"
        )
    unknown = [c for c in cols if c not in states]
    if unknown:
        raise ValueError(
            f"unknown variables {unknown} in table; variables are {list(states)}"
            + did_you_mean(unknown[0] if len(unknown) == 1 else unknown, states)
        )
    n = len(next(iter(data.values()))) if data else 0
    codes = np.empty((n, len(cols)), dtype=np.int64)
    for j, c in enumerate(cols):
        if len(data[c]) != n:
            raise ValueError(
                f"column {c!r} has {len(data[c])} rows, but column {cols[0]!r} has {n}"
            )
        codes[:, j] = _encode_column(c, data[c], states[c], allow_missing, indices)
    return cols, codes


def _rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` of every row that is not a blank line."""
    last = 0
    for row in reader:
        first, last = last + 1, reader.line_num  # a quoted field may span several lines
        if row:
            yield first, row


def read_csv_with_lines(path: str | Path) -> tuple[dict[str, list[str]], list[int]]:
    """The columns of a CSV file (as :func:`read_csv`) and the line each row starts on."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # utf-8-sig: drop a byte order mark
    except UnicodeDecodeError as err:
        at = err.start + len(raw) - len(err.object)  # utf-8-sig reports past a BOM
        line = raw.count(b"\n", 0, at) + 1
        raise ValueError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{raw[at]:02x}); "
            "save the file as UTF-8"
        ) from None
    with io.StringIO(text, newline="") as fh:
        rows = _rows(csv.reader(fh))
        try:
            header_line, header = next(rows)
        except StopIteration:
            raise ValueError(f"{path}: empty CSV file (no header line)") from None
        names = [h.strip() for h in header]
        twice = [h for i, h in enumerate(names) if h in names[:i]]
        if twice:
            raise ValueError(
                f"{path}, line {header_line}: column {twice[0]!r} appears twice in the header"
            )
        cols: dict[str, list[str]] = {h: [] for h in names}
        lines = []
        for lineno, row in rows:
            if len(row) != len(names):
                raise ValueError(
                    f"{path}, line {lineno}: {len(row)} fields, header has {len(names)}"
                )
            for name, value in zip(names, row):
                cols[name].append(value.strip())
            lines.append(lineno)
    return cols, lines


def read_csv(path: str | Path) -> dict[str, list[str]]:
    """A CSV file with a header row as ``{column: [values as strings]}``.

    Values are stripped of spaces; blank lines and a UTF-8 byte order mark are skipped.
    """
    return read_csv_with_lines(path)[0]


def write_csv(path: str | Path, header: Sequence[str], rows: Any) -> None:
    """Write ``rows`` (an iterable of sequences) under ``header``, atomically (an error or
    Ctrl-C midway leaves no half-written file)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(header))
            writer.writerows(rows)

    atomic_write(path, write)
