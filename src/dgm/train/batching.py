"""How the loop cuts a split into mini-batches, the same way on every rank.

The epoch's order is a permutation derived from ``(seed, epoch)`` alone, so an
interrupted run that resumes mid-epoch sees the very batches it would have seen;
under torchrun each rank takes every ``world``-th index of it (its shard).
"""

from __future__ import annotations

import torch

from dgm._rng import derive_seed


def batch_count(n: int, size: int, min_batch: int = 1) -> int:
    """Mini-batches of ``size`` over ``n`` examples; a last batch shorter than ``min_batch``
    (a model's smallest workable batch, e.g. PacGAN's pack) joins the one before it.

    >>> batch_count(10, 4), batch_count(9, 4, min_batch=2), batch_count(1, 4, min_batch=2)
    (3, 2, 1)
    """
    steps = -(-n // size)
    short = n - (steps - 1) * size
    return steps - 1 if steps > 1 and short < min_batch else steps


def chunks(x: torch.Tensor, size: int, min_batch: int = 1) -> list[torch.Tensor]:
    """``x`` in pieces of ``size`` rows, a short last piece joined as in :func:`batch_count`.

    >>> [len(c) for c in chunks(torch.zeros(9, 2), 4, min_batch=2)]
    [4, 5]
    """
    k = batch_count(x.shape[0], size, min_batch)
    return [x[i * size : (i + 1) * size if i < k - 1 else x.shape[0]] for i in range(k)]


def epoch_shard(seed: int, epoch: int, n: int, rank: int, world: int) -> torch.Tensor:
    """This rank's example indices for ``epoch``, in training order: ``n // world`` of them.

    >>> a = epoch_shard(0, 3, 10, 0, 2); b = epoch_shard(0, 3, 10, 1, 2)
    >>> len(a), sorted(a.tolist() + b.tolist()) == list(range(10))
    (5, True)
    """
    perm_gen = torch.Generator().manual_seed(derive_seed(seed, "perm", epoch))
    perm = torch.randperm(n, generator=perm_gen)  # (n,)
    return perm[rank : (n // world) * world : world]


def batch_slice(step: int, n_steps: int, size: int, n_local: int) -> slice:
    """The ``step``-th batch of a shard of ``n_local`` (the last one takes what is left).

    >>> batch_slice(0, 3, 4, 10), batch_slice(2, 3, 4, 10)
    (slice(0, 4, None), slice(8, 10, None))
    """
    end = n_local if step == n_steps - 1 else (step + 1) * size
    return slice(step * size, end)
