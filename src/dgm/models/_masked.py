"""Pieces shared by the autoregressive models (NADE, MADE): masked layers, ensembles, pictures.

>>> import torch
>>> layer = MaskedLinear(3, 2)
>>> layer.mask.copy_(torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))[0].tolist()
[1.0, 0.0, 0.0]
>>> layer(torch.ones(4, 3)).shape
torch.Size([4, 2])
>>> round(log_mean_exp(torch.log(torch.tensor([[0.2], [0.4]])), 0).exp().item(), 6)
0.3
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """``y = x (W * M)^T + b``: a linear layer whose connections are cut by a 0/1 ``mask``.

    The mask is a buffer (saved in checkpoints); ``forward(x, mask)`` may use another one
    without touching it (evaluation with a mask ensemble). Being an ``nn.Linear``, its
    weight and bias are initialized by ``GenerativeModel.reset_parameters``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.ones(out_features, in_features))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return F.linear(x, self.weight * (self.mask if mask is None else mask), self.bias)


def log_mean_exp(a: torch.Tensor, dim: int) -> torch.Tensor:
    """log (1/M) sum_m exp(a_m): the log of an average of probabilities, stably."""
    return torch.logsumexp(a, dim) - math.log(a.shape[dim])


def bernoulli_log_lik(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """sum_k x_k log sigmoid(l_k) + (1 - x_k) log sigmoid(-l_k), per example (B,)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def random_orderings(m: int, n: int, generator: torch.Generator,
                     device: Any = "cpu") -> torch.Tensor:
    """``m`` uniformly random permutations of ``0..n-1`` (m, n), drawn from ``generator``."""
    return torch.argsort(torch.rand((m, n), generator=generator, device=device), dim=1)


def all_binary_vectors(n: int) -> torch.Tensor:
    """The 2^n binary vectors of length n (2^n, n), first variable most significant."""
    idx = torch.arange(2**n)
    return ((idx[:, None] >> torch.arange(n - 1, -1, -1)) & 1).float()


# -- pictures ------------------------------------------------------------------------------
def autoregressive_pictures(model, run_dir: str | Path, seed: int = 0, n: int = 32,
                            steps: int = 8) -> list[Path]:
    """Write the pictures of an autoregressive model (``model.sample_trace`` required).

    * ``ar_samples.png``: samples (top half) and, under each, the probability
      p(x_k = 1 | x_<k) from which every pixel was drawn (bottom half);
    * ``ar_sampling.png``: the sampling process, one row per sample: the image after
      1/steps, 2/steps, ... of the ordering (pixels not yet drawn in grey).
    """
    from dgm.plots import save_grid

    run_dir = Path(run_dir)
    shape = model.input_shape
    if len(shape) != 3:
        return []
    x, probs, order = model.sample_trace(n, seed=seed)  # (n, D) each, order (n, D)
    x, probs, order = x.cpu().numpy(), probs.cpu().numpy(), order.cpu().numpy()
    ncol = 8
    rows = -(-n // ncol)
    pad = rows * ncol - n
    xs = np.concatenate([x, np.full((pad, x.shape[1]), 0.5)])
    ps = np.concatenate([probs, np.full((pad, x.shape[1]), 0.5)])
    both = np.concatenate([xs.reshape(rows, ncol, -1), ps.reshape(rows, ncol, -1)], axis=1)
    out = [save_grid(run_dir / "ar_samples.png", both.reshape(-1, x.shape[1]), shape, ncol=ncol)]
    d = x.shape[1]
    rank = np.argsort(order, axis=1)  # rank[b, i] = position of variable i in b's ordering
    frames = []
    for b in range(min(n, 8)):
        for s in range(1, steps + 1):
            t = round(s * d / steps)
            frames.append(np.where(rank[b] < t, x[b], 0.5))
    out.append(save_grid(run_dir / "ar_sampling.png", np.stack(frames), shape, ncol=steps))
    return out
