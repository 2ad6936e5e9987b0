"""What ``dgm train`` checks of a run directory before it writes there: a new run's ``--out``
(nothing there may be lost) and a resumed run's files and settings (a resume that fails its
checks changes nothing). The messages name the flags, as the command line takes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dgm._checks import check_count
from dgm._flags import options_as_flags
from dgm.train.checkpoint import BEST, CHECKPOINT, CONFIG, CheckpointError, read_run_config
from dgm.train.config import TrainConfig
from dgm.train.metrics import read_metrics
from dgm.train.state import LoopState, saved_loop_state, saved_train_config


def check_new_run_dir(run_dir: Path) -> None:
    """A new run writes config.json, metrics.jsonl, pictures... into ``run_dir``: refuse a
    folder where that would lose something, another run's weights or files that are not a
    run's (``--out .`` in a project); a missing or empty folder is fine, and so is a dgm run
    that stopped before its first epoch ended (nothing to lose)."""
    if not run_dir.is_dir():  # (a file there: creating the folder names it)
        return
    names = sorted(p.name for p in run_dir.iterdir())
    try:
        read_run_config(run_dir)
    except CheckpointError as err:
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if names[5:] else "")
            why = f" ({err})" if CONFIG in names else ""
            raise ValueError(f"{run_dir} is not empty and is not a dgm run directory{why}: it "
                             f"holds {shown}; a new run would overwrite files there: give "
                             "--out a new or empty folder") from None
        return
    if CHECKPOINT in names:
        raise ValueError(f"{run_dir} already holds a run; use --resume {run_dir} or another "
                         "--out")
    if BEST in names:  # its checkpoint lost: no resume, but its best weights are still worth it
        raise ValueError(f"{run_dir} holds a run's best weights ({BEST}), which a new run "
                         "would delete; give another --out")


def resume_config(run_dir: Path, given: dict[str, Any],
                  more: int | None) -> tuple[dict[str, Any], TrainConfig, LoopState]:
    """(the saved record, the TrainConfig the run goes on with, the checkpoint's loop state)
    of ``dgm train --resume run_dir``: ``given`` are the flags a resume may change, ``more``
    the ``--more-epochs``. A damaged file is an error naming it, a bad flag one naming the
    flag (the saved settings are checked apart, so that their errors are not the flags')."""
    rec = read_run_config(run_dir)
    if not (run_dir / CHECKPOINT).exists():
        raise no_checkpoint_error(run_dir)
    state = saved_loop_state(run_dir / CHECKPOINT)
    read_metrics(run_dir)  # a damaged metrics.jsonl fails the resume here, before any output
    if more is not None:
        given = {**given, "epochs": state.epoch + check_count("--more-epochs", more)}
    saved = saved_train_config(rec, run_dir / CONFIG)
    with options_as_flags(given):
        tcfg = TrainConfig.from_dict({**saved.to_dict(), **given})
    return rec, tcfg, state


def no_checkpoint_error(run_dir: Path) -> ValueError:
    """Why a run directory without a checkpoint cannot be resumed, and what to do: only a
    run that never finished an epoch should start again (which deletes its best weights)."""
    if (run_dir / BEST).is_file():
        return ValueError(f"{run_dir} has no {CHECKPOINT} to resume from (deleted or lost?), "
                          f"only the run's best weights ({BEST}): dgm sample and dgm eval "
                          "still use them, but training cannot go on from them; train a new "
                          "run with another --out")
    return ValueError(f"{run_dir} has no checkpoint yet: the run stopped before its "
                      "first epoch ended; start it again with its dgm train command")
