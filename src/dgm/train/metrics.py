"""``metrics.jsonl``: one JSON object per finished epoch, appended as the run goes.

A kill can cut the last line short; readers skip it, and a resumed run trims
the file back to the epochs its checkpoint holds before it appends again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dgm._files import atomic_write_bytes

METRICS = "metrics.jsonl"


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The epochs' records of a run, oldest first ([] when there are none yet).

    Blank lines and a last line cut off by a kill (a resume trims it) are skipped; any other
    line that is not a JSON object is a ``ValueError`` naming the file, the line and its
    text: skipping it would lose that epoch's record, and a resume would drop it for good.
    """
    p = Path(run_dir) / METRICS
    if not p.is_file():
        return []
    lines = p.read_bytes().splitlines()  # bytes: a line that is not UTF-8 is named too
    rows = []
    for i, raw in enumerate(lines, 1):
        line = raw.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        try:
            row = json.loads(raw)  # (UnicodeDecodeError and JSONDecodeError: ValueErrors)
        except ValueError as err:
            if i == len(lines):  # cut off by a kill
                continue
            raise ValueError(f"{p}, line {i}: not a JSON record ({err}): {line[:80]!r}; "
                             "the file is damaged: repair or delete that line") from None
        if not isinstance(row, dict):
            raise ValueError(f"{p}, line {i}: a record is a JSON object, got {line[:80]!r}; "
                             "the file is damaged: repair or delete that line")
        rows.append(row)
    return rows


def start_metrics(run_dir: Path) -> None:
    """An empty file for a new run."""
    (run_dir / METRICS).write_text("")


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / METRICS, "a") as f:
        f.write(json.dumps(record) + "\n")


def trim_metrics(run_dir: Path, epochs: int) -> None:
    """On resume: keep the records of the ``epochs`` the checkpoint holds (a line written
    after it, or a half-written one, would come again or break the file)."""
    if not (run_dir / METRICS).exists():
        return
    keep = [json.dumps(row) for row in read_metrics(run_dir)
            if row.get("epoch", epochs + 1) <= epochs]
    atomic_write_bytes(run_dir / METRICS, "".join(f"{line}\n" for line in keep).encode())
