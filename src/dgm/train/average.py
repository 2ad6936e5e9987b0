"""Polyak averaging: an exponential moving average (EMA) of the weights.

After every optimizer step the averaged copy moves toward the trained weights,

    theta_avg <- d_t theta_avg + (1 - d_t) theta,    d_t = min(decay, (1 + t) / (10 + t)),

where t counts the steps so far (the warm-up term keeps the first averages from
remembering the random initialization; TensorFlow's ``ExponentialMovingAverage``
does the same). The average is what validation, early stopping, the best
weights, the pictures and ``dgm.load`` see; the optimizer keeps training the raw
weights. Buffers (batch-norm statistics, persistent Gibbs chains) are copied from
the trained model, not averaged; a model whose statistics depend on its weights
re-estimates them for the average (``refresh_statistics``: the DCGAN's batch norm).
"""

from __future__ import annotations

import copy

import torch


class WeightAverage:
    """The averaged copy of ``model``; call :meth:`update` after each step."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the averaging decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.source = model
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._src = list(model.parameters())
        self._dst = list(self.model.parameters())

    def decay_at(self, step: int) -> float:
        """d_t for the update after ``step`` steps (0-based)."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        torch._foreach_lerp_(self._dst, self._src, 1.0 - self.decay_at(step))

    @torch.no_grad()
    def synced(self) -> torch.nn.Module:
        """The averaged model, its buffers copied from the trained one; statistics that
        depend on the weights (a DCGAN's batch norm) re-estimated for the averaged ones."""
        for mine, theirs in zip(self.model.buffers(), self.source.buffers()):
            mine.copy_(theirs)
        if hasattr(self.model, "refresh_statistics"):
            self.model.refresh_statistics()
        return self.model

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.synced().state_dict()
