"""Training runs: the generic loop, atomic pickle-free checkpoints, DDP."""

from dgm.train.checkpoint import CheckpointError, load_model
from dgm.train.config import TrainConfig
from dgm.train.loop import NonFiniteLoss, Trainer, TrainingInterrupted

__all__ = ["CheckpointError", "NonFiniteLoss", "TrainConfig", "Trainer", "TrainingInterrupted",
           "load_model"]
