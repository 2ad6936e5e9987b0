"""The training configuration and the learning-rate schedules (pure functions of the epoch)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from dgm.models.base import ModelConfig, check_choice, check_count, check_positive

SCHEDULES = ("constant", "iwae", "cosine", "exp")  # the learning-rate schedules of lr_factor


@dataclass
class TrainConfig(ModelConfig):
    """Everything about a run that is not the model: data, optimizer, schedule, stopping."""

    data: str = "digits"  # data set spec (`dgm data list`): digits, mnist, mnist:pm1, ring8, ...
    data_dir: str | None = None  # where MNIST lives (else $DGM_DATA, then ~/.cache/dgm)
    epochs: int = 200  # passes over the training split
    batch_size: int = 100  # examples per optimizer step (per process under torchrun)
    optimizer: str = "adam"  # adam | sgd | adagrad
    lr: float = 1e-3  # base learning rate (the schedule multiplies it)
    beta1: float = 0.9  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    adam_eps: float = 1e-8  # Adam epsilon (the IWAE recipe uses 1e-4)
    momentum: float = 0.0  # SGD momentum
    weight_decay: float = 0.0  # L2 penalty on the weights (the optimizer's weight_decay)
    schedule: str = "constant"  # constant | iwae | cosine | exp
    lr_decay: float = 0.0  # for "exp": lr * exp(-lr_decay * epoch)
    schedule_clock: str = "epoch"  # epoch | time: the further of epoch and share of max_minutes
    grad_clip: float = 0.0  # max gradient norm, 0 = off
    ema: float = 0.0  # decay of an exponential moving average of the weights (Polyak), 0 = off
    patience: int = 0  # early stopping after this many epochs without a better valid loss; 0 = off
    max_minutes: float = 0.0  # stop after the epoch passing this much step time (no validation)
    checkpoint_minutes: float = 0.0  # epoch-end checkpoints at most this often (0 = every epoch)
    seed: int = 0  # seeds batches and noise (dgm train: the initialization too): same run
    device: str = "auto"  # auto | cpu | cuda
    cuda_graph: bool = False  # replay the training step as a captured CUDA graph (one GPU, adam)
    max_train: int = 0  # use only the first N training examples (0 = all)
    eval_batch: int = 1000  # batch size of validation and evaluation
    picture_every: int = 1  # sample grid every N epochs (0 = never)
    progress: bool = True  # a progress bar with loss and throughput

    def validate(self) -> None:
        check_positive("epochs", self.epochs)
        check_positive("batch_size", self.batch_size)
        check_positive("lr", self.lr)
        check_choice("optimizer", self.optimizer, ("adam", "sgd", "adagrad"))
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("schedule_clock", self.schedule_clock, ("epoch", "time"))
        if self.schedule_clock == "time" and not self.max_minutes:
            raise ValueError("schedule_clock 'time' reads the schedule off the time budget: "
                             "set max_minutes")
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check_positive("patience", self.patience, allow_zero=True)
        check_positive("max_train", self.max_train, allow_zero=True)
        check_positive("checkpoint_minutes", self.checkpoint_minutes, allow_zero=True)
        check_positive("eval_batch", self.eval_batch)
        check_positive("adam_eps", self.adam_eps)
        check_seed("seed", self.seed)
        for name in ("max_minutes", "grad_clip", "picture_every", "lr_decay", "weight_decay"):
            check_positive(name, getattr(self, name), allow_zero=True)
        for name in ("beta1", "beta2", "momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.cuda_graph and self.optimizer != "adam":
            raise ValueError(f"cuda_graph needs optimizer 'adam' (a capturable one), "
                             f"got {self.optimizer!r}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1) (a decay per step; 0 = off), got {self.ema}")


#: the largest seed: dgm derives 63-bit seeds from it (dgm._rng.derive_seed) and torch's
#: generators take no more than 64 bits (a larger one failed later: "Overflow when unpacking
#: long long", after the run had started)
MAX_SEED = 2**63 - 1


def check_seed(name: str, value: Any) -> int:
    """``value`` as a seed (an integer in [0, 2**63 - 1]), else a ValueError naming it."""
    seed = check_count(name, value, allow_zero=True)
    if seed > MAX_SEED:
        raise ValueError(f"{name} must be at most 2**63 - 1 = {MAX_SEED}, got {seed}")
    return seed


def setting_differences(mine: dict[str, Any], saved: dict[str, Any],
                        free: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
    """``{setting: (now, saved)}`` for each saved setting outside ``free`` whose value
    differs (``mine`` as saved in JSON: tuples compare as lists).

    >>> setting_differences({"lr": 0.1, "epochs": 5}, {"lr": 0.01, "epochs": 3}, ("epochs",))
    {'lr': (0.1, 0.01)}
    """
    now = json.loads(json.dumps(mine))
    return {k: (now.get(k), v) for k, v in saved.items() if k not in free and now.get(k) != v}


def schedule_position(clock: str, epoch: int, epochs: int, train_seconds: float,
                      max_minutes: float) -> float:
    """Where the learning-rate schedule stands, in epochs (0-based, of ``epochs``).

    ``clock="epoch"``: the epoch. ``clock="time"``: the further of the epoch and the share
    of the time budget spent, scaled to ``epochs``, so that a run planned from a speed
    measured once still ends its schedule when the budget ends, on a machine that slowed
    down meanwhile. (The time clock depends on the machine: the same seed gives the same run
    only on the epoch clock.)

    >>> schedule_position("time", 10, 100, train_seconds=30.0, max_minutes=1.0)
    50.0
    >>> schedule_position("time", 80, 100, train_seconds=6.0, max_minutes=1.0)
    80
    """
    if clock == "epoch":
        return epoch
    return max(epoch, epochs * min(1.0, train_seconds / (60.0 * max_minutes)))


def lr_factor(schedule: str, epoch: float, epochs: int, decay: float = 0.0) -> float:
    """Multiplier of the base learning rate at ``epoch`` (0-based, maybe fractional) of
    ``epochs``.

    ``iwae`` is Burda et al.'s recipe compressed to ``epochs``: stage i = 0..7 lasts a
    share 3^i / 3280 of the run at lr * 10^(-i/7) (3280 epochs reproduce the paper).

    >>> [round(lr_factor("iwae", e, 3280), 3) for e in (0, 1, 3, 4, 12, 13, 3279)]
    [1.0, 0.72, 0.72, 0.518, 0.518, 0.373, 0.1]
    """
    if schedule == "constant":
        return 1.0
    if schedule == "iwae":
        total = sum(3**i for i in range(8))
        pos, edge = epoch * total / epochs, 0
        for i in range(8):
            edge += 3**i
            if pos < edge:
                return 10 ** (-i / 7)
        return 10 ** (-7 / 7)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    if schedule == "exp":
        return math.exp(-decay * epoch)
    raise ValueError(f"unknown schedule {schedule!r}; choose {', '.join(SCHEDULES[:-1])} or "
                     f"{SCHEDULES[-1]}")
