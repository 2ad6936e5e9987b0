"""The loop's state and the checkpoint that carries it from one process to the next.

A checkpoint holds the weights (and their average), the optimizers, the noise generator of
every rank and the :class:`LoopState` (epoch, step within it, early-stopping state, clocks),
so that a resumed run continues exactly where the interrupted one stopped. A resumed run is
the same run: only the settings in :data:`RESUME_FREE` may change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dgm.train.checkpoint import (
    WEIGHTS_ONLY,
    CheckpointError,
    load_checkpoint,
    read_checkpoint_header,
    read_run_config,
    save_checkpoint,
    set_generator_state,
)
from dgm.train.config import TrainConfig, setting_differences
from dgm.train.distributed import DistInfo

#: training settings a resumed run may change: its length and stopping, where it runs, what it
#: shows (anything else would make it another run)
RESUME_FREE = ("epochs", "max_minutes", "patience", "checkpoint_minutes", "data_dir", "device",
               "cuda_graph", "progress", "picture_every", "eval_batch")


@dataclass
class LoopState:
    epoch: int = 0  # epochs completed
    step: int = 0  # steps completed within the current epoch
    best: float = float("inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    seen: int = 0
    train_seconds: float = 0.0  # the optimizer steps' time (the schedule's and budget's clock)
    wall_seconds: float = 0.0  # all of fit's time: steps, validation, pictures, checkpoints
    epoch_seconds: float = 0.0
    done: bool = False


def check_resumable(run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    """The saved run's record; a resumed run continues that run: only its length and
    stopping rules, where it runs and what it shows may change (e.g. more epochs); any
    other training setting that differs is named (a changed lr would make another run)."""
    record = read_run_config(run_dir)
    differ = setting_differences(cfg.to_dict(), record["train"], RESUME_FREE)
    if differ:
        raise ValueError(f"resume {run_dir}: the training settings differ from the "
                         f"saved run's (now, saved): {differ}; only {list(RESUME_FREE)} "
                         f"may change")
    return record


def write_state(path: Path, model: torch.nn.Module, optimizers: dict, noise: torch.Generator,
                average, state: LoopState, info: DistInfo) -> None:
    """The checkpoint at ``path``: weights, their average (``average``: a ``WeightAverage`` or
    None), optimizers, loop state and every rank's noise state. Every rank calls it (the noise
    states are gathered); rank 0 writes."""
    loop = {k: getattr(state, k) for k in LoopState.__dataclass_fields__}
    extra: dict[str, Any] = {"loop": loop}
    if info.active:  # gather each rank's noise state so rank 0 can save all of them
        mine = noise.get_state().to(info.device)
        states = [torch.empty_like(mine) for _ in range(info.world)]
        torch.distributed.all_gather(states, mine)
        extra["noise_states"] = {str(r): s.cpu().tolist() for r, s in enumerate(states)}
    if info.is_main:
        save_checkpoint(path, model, optimizers, {"noise": noise}, state=extra,
                        averaged=average.state_dict() if average else None)


def read_state(path: Path, model: torch.nn.Module, optimizers: dict, noise: torch.Generator,
               average, info: DistInfo) -> LoopState:
    """Restore what :func:`write_state` wrote into the model, its average, the optimizers and
    this rank's noise generator; returns the loop state."""
    saved = load_checkpoint(path, model, optimizers, {"noise": noise},
                            averaged=average.model if average else None)
    if info.active:  # each rank restores its own noise stream
        set_generator_state(noise, _rank_noise_state(saved, noise, info.rank),
                            f"{path}: the noise generator of rank {info.rank}")
    return loop_state(saved, path)


def saved_loop_state(path: Path) -> LoopState:
    """The loop state in a checkpoint's header (no tensors read)."""
    return loop_state(read_checkpoint_header(path)["state"], path)


#: each loop state field's JSON types (``best`` may be Infinity: no better loss yet)
_LOOP_TYPES: dict[str, tuple[type, ...]] = {
    "epoch": (int,), "step": (int,), "best": (int, float), "best_epoch": (int,),
    "bad_epochs": (int,), "sums": (dict,), "seen": (int,), "train_seconds": (int, float),
    "wall_seconds": (int, float), "epoch_seconds": (int, float), "done": (bool,)}


def loop_state(saved: dict[str, Any], path: Path) -> LoopState:
    """The :class:`LoopState` of a checkpoint's JSON ``state``; one that is missing, or whose
    fields differ from this dgm's (another version's) or have the wrong type, is a
    :class:`CheckpointError` naming ``path``: a resume from a guessed state would not be the
    same run."""
    if saved.get(WEIGHTS_ONLY):
        raise CheckpointError(f"{path} holds a trained model's weights only ({saved[WEIGHTS_ONLY]}"
                              "), without the optimizer and random states a run goes on from: "
                              "dgm sample, dgm eval and dgm info use it, but training cannot "
                              "resume from it")
    loop = saved.get("loop")
    if not isinstance(loop, dict):
        raise CheckpointError(f"{path}: the dgm header holds no loop state ('loop'), so the "
                              "run cannot go on from it (written by another dgm version?)")
    unknown, missing = sorted(set(loop) - set(_LOOP_TYPES)), sorted(set(_LOOP_TYPES) - set(loop))
    if unknown or missing:
        raise CheckpointError(f"{path}: the loop state's fields differ from this dgm's "
                              f"(written by another dgm version?): unknown {unknown}, "
                              f"missing {missing}")
    for name, types in _LOOP_TYPES.items():
        value = loop[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise CheckpointError(f"{path}: the loop state's {name!r} is damaged: {value!r}")
    if min(loop["epoch"], loop["step"], loop["seen"]) < 0:
        raise CheckpointError(f"{path}: the loop state is damaged: negative counts in {loop}")
    return LoopState(**loop)


def _rank_noise_state(saved: dict[str, Any], noise: torch.Generator, rank: int) -> torch.Tensor:
    state = saved.get("noise_states", {}).get(str(rank))
    if state is None:
        return noise.get_state()
    return torch.tensor(state, dtype=torch.uint8)


def saved_train_config(record: dict[str, Any], cfg_path: Path) -> TrainConfig:
    """The training settings a run's ``config.json`` (:func:`read_run_config`) saved; an
    unknown option or a bad value there is a :class:`CheckpointError` naming the file (not
    a mistake in the flags given)."""
    try:
        return TrainConfig.from_dict(record["train"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{cfg_path}: the saved training settings ('train') are "
                              f"damaged: {err}") from err


def spent_budget(state: LoopState, cfg: TrainConfig) -> str | None:
    """Why a run stopped by its patience or time budget (``state.done``) still cannot train
    under ``cfg``, with the flag that extends it; None when that stop no longer holds."""
    if cfg.patience and state.bad_epochs >= cfg.patience:
        return (f"it stopped early: {state.bad_epochs} epochs without a better validation "
                f"loss reached its --patience {cfg.patience}; give --patience N above "
                f"{state.bad_epochs} (or 0: no early stopping) to train on")
    minutes = state.train_seconds / 60
    if cfg.max_minutes and minutes > cfg.max_minutes:
        return (f"its time budget is spent: {minutes:.3g} minutes of training passed its "
                f"--max-minutes {cfg.max_minutes:g}; give --max-minutes M above "
                f"{minutes:.3g} (or 0: no limit) to train on")
    return None
