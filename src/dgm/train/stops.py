"""How a run stops before its end: asked to (a signal, or ``stop_after_steps``), with a
checkpoint to resume from; or diverged, without one.

Ctrl-C or SIGTERM (what ``timeout``, a batch scheduler's pre-emption or a lent machine's end
sends) sets a flag that the loop reads after each step: it saves a checkpoint there and raises
:class:`TrainingInterrupted`; a second signal aborts at once. A NaN or inf loss (or weights)
raises :class:`NonFiniteLoss` and leaves the last good checkpoint as it is. ``dgm train
--resume`` of a run whose patience or time budget is spent under its settings raises
:class:`BudgetSpent` (``Trainer`` itself returns at once: a benchmark's next piece evaluates).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dgm._errors import DGMError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # stop at the next step with a checkpoint


class TrainingInterrupted(Exception):
    """Raised after the checkpoint of an interrupted run has been written; ``where`` says
    at which epoch and step."""

    def __init__(self, message: str, where: str = "", signum: int | None = None):
        super().__init__(message)
        self.where = where or message
        self.signum = signum  # the signal that stopped the run (None: stop_after_steps)

    @classmethod
    def saved(cls, where: str, run_dir: Path, signum: int | None) -> TrainingInterrupted:
        """The stop, its checkpoint saved: say where and how to continue."""
        return cls(f"{where}; checkpoint saved, continue with: dgm train --resume {run_dir}",
                   where, signum)


class NonFiniteLoss(DGMError):
    """The loss became NaN or inf; the last good checkpoint is kept."""

    @classmethod
    def at(cls, epoch: int, steps: int, saved_at: tuple[int, int] | None,
           run_dir: Path) -> NonFiniteLoss:
        """The loss (or the weights) became NaN/inf within the first ``steps`` steps after
        ``epoch`` epochs; ``saved_at``: the (epoch, step) of the checkpoint on disk, if any."""
        if saved_at is None:
            kept = "no checkpoint was written yet"
        else:
            done, step = saved_at
            at = f"after epoch {done}" + (f", step {step} of epoch {done + 1}" if step else "")
            kept = f"the last good checkpoint ({at}) is kept in {run_dir}"
        return cls(
            f"the loss or the weights became NaN/inf in epoch {epoch + 1} (by step "
            f"{max(steps, 1)}); {kept}; try a smaller --lr or --grad-clip")


class BudgetSpent(DGMError):
    """A resumed run that cannot train an epoch: the patience or the time budget that
    stopped it is spent under its settings too; the message says which flag extends it."""

    @classmethod
    def at(cls, run_dir: Path, epoch: int, why: str) -> BudgetSpent:
        return cls(f"{run_dir} cannot train beyond epoch {epoch}: {why}; nothing was trained "
                   "or changed")


class StopSignals:
    """The stop signals received while :meth:`listening`: ``received`` is set by the first
    (``signum`` says which); a second one raises ``KeyboardInterrupt`` at once. ``announce``:
    say so on stderr (rank 0)."""

    def __init__(self, announce: bool):
        self.announce = announce
        self.received = False
        self.signum: int | None = None

    @contextmanager
    def listening(self) -> Iterator[None]:
        """Handle the stop signals inside the block; the previous handlers come back after."""
        old_handlers = {s: signal.signal(s, self) for s in STOP_SIGNALS}
        try:
            yield
        finally:
            for s, handler in old_handlers.items():
                signal.signal(s, handler)

    def __call__(self, signum, frame) -> None:
        if self.received:  # a second signal: give up at once
            raise KeyboardInterrupt
        self.received, self.signum = True, signum
        if self.announce:
            print(f"\n{signal.Signals(signum).name}: saving a checkpoint at the end of this "
                  f"step (send it again to abort without saving)", file=sys.stderr)
