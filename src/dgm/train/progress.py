"""What a run shows while it trains, and its wall clock.

On a terminal (``progress=True``) rank 0 shows a bar per epoch counting examples; otherwise,
in a log file say, it prints one line per epoch. The wall clock measures all of ``fit``'s
time (steps, validation, pictures, checkpoints), added up across resumes in the loop state.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def live(progress: bool) -> bool:
    """A live bar: asked for and shown on a terminal (a log gets one line per epoch)."""
    return progress and sys.stderr.isatty()


def epoch_bar(epoch: int, total: int, initial: int):
    """The bar of epoch ``epoch`` (from 1): ``total`` examples, ``initial`` already seen."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=f"epoch {epoch}", unit="ex",
                unit_scale=True, leave=False, dynamic_ncols=True)


def print_epoch(record: dict[str, Any]) -> None:
    """The epoch's line of figures (its metrics record, rounded) on stderr."""
    shown = {k: round(v, 4) for k, v in record.items() if isinstance(v, float)}
    print(f"epoch {record['epoch']}: {shown}", file=sys.stderr, flush=True)


class WallClock:
    """Laps of wall time: :meth:`lap` gives the seconds since the last lap (or the start)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.mark = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        seconds, self.mark = now - self.mark, now
        return seconds
