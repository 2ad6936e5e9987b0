"""DistributedDataParallel plumbing: one process per rank under ``torchrun``.

gloo on CPU, nccl on GPU. Rank 0 writes files; every rank reads its shard of
each epoch's permutation; sums are all-reduced so all ranks agree.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from dgm._errors import DGMError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DGMError("--device cuda was asked for, but torch sees no CUDA device "
                       "(use --device auto or cpu)")
    return torch.device(name)


def setup(device_name: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world <= 1:
        return DistInfo(device=device)
    rank = int(os.environ["RANK"])
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world=world, device=device)


def ddp(model) -> DistributedDataParallel:
    """The model under DDP; rank-local buffers where the model keeps them (torch 2.13 calls
    broadcast_buffers deprecated but still advises it for buffers that must stay local:
    its successor syncs them once at the start)."""
    if model.ddp_broadcast_buffers:
        return DistributedDataParallel(model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*broadcast_buffers", category=FutureWarning)
        return DistributedDataParallel(model, broadcast_buffers=False)


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.active:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """True on every rank when it is True on any rank."""
    if not info.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def parameter_spread(model: torch.nn.Module, info: DistInfo) -> float:
    """Max over parameters of |theta_rank - theta_rank0| (0.0 when ranks agree)."""
    if not info.active:
        return 0.0
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(info.world)]
    dist.all_gather(gathered, flat)
    return float(max((g - gathered[0]).abs().max().item() for g in gathered))


def teardown(info: DistInfo) -> None:
    if info.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
