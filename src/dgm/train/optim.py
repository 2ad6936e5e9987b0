"""Optimizers and the learning-rate schedule's hand on them.

Every model gets its optimizers from :func:`make_optimizer` (through its
``configure_optimizers``), so ``--optimizer``, ``--lr``, ``--beta1/2`` and
``--weight-decay`` mean the same for all of them; :func:`apply_lr_factor` sets
each param group to its base rate times the schedule's factor for the epoch.
"""

from __future__ import annotations

from typing import Any

import torch

from dgm.train.config import TrainConfig


def make_optimizer(params, cfg: TrainConfig, **overrides) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg``; ``overrides`` (lr, betas, ...) win over cfg's values.

    The fused implementation (one kernel for all parameters) where the parameters allow
    it: on CPU, PyTorch's default is a Python loop over the tensors, which costs the
    784-200-200-50 VAE a quarter of its step time.
    """
    params = [dict(p, params=list(p["params"])) if isinstance(p, dict) else p for p in params]
    _check_overrides(cfg, overrides)
    fused = {"fused": True} if fusable(params, cfg.optimizer) else {}
    if cfg.optimizer == "adam":
        kw = dict(lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps,
                  weight_decay=cfg.weight_decay, **fused)
        if cfg.cuda_graph:  # its step counters live on the GPU: a graph can replay it
            kw["capturable"] = True
        return torch.optim.Adam(params, **{**kw, **overrides})
    if cfg.optimizer == "sgd":
        kw = dict(lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **fused)
        return torch.optim.SGD(params, **{**kw, **overrides})
    if cfg.optimizer == "adagrad":
        kw = dict(lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
        return torch.optim.Adagrad(params, **{**kw, **overrides})
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose adam, sgd or adagrad")


def _check_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> None:
    """A model that sets its optimizers' lr or betas itself (a GAN: --lr-g, --lr-d,
    --gd-beta1, --gd-beta2) would silently ignore --lr/--beta1/--beta2, and Adam's betas
    mean nothing to SGD or Adagrad: both are errors that say what to use instead."""
    if "betas" in overrides and cfg.optimizer != "adam":
        raise ValueError(f"this model sets Adam's betas itself (a GAN: --gd-beta1/--gd-beta2): "
                         f"train it with optimizer 'adam', not {cfg.optimizer!r}")
    fields = {"lr": ("lr",), "betas": ("beta1", "beta2")}
    for key in overrides:
        for name in fields.get(key, ()):
            default = TrainConfig.__dataclass_fields__[name].default
            if getattr(cfg, name) != default:
                raise ValueError(f"this model sets its optimizers' {key} itself (a GAN: "
                                 f"--lr-g/--lr-d, --gd-beta1/--gd-beta2): {name}="
                                 f"{getattr(cfg, name)!r} would be ignored")


def fusable(params: list, optimizer: str = "adam") -> bool:
    """Fused Adam and SGD take floating-point tensors on CPU or CUDA (in param groups too);
    fused Adagrad only CPU ones (PyTorch has no CUDA kernel for it)."""
    devices = ("cpu",) if optimizer == "adagrad" else ("cpu", "cuda")
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    return bool(tensors) and all(
        isinstance(t, torch.Tensor) and t.is_floating_point() and t.device.type in devices
        for t in tensors)


def remember_base_lrs(optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Each param group's starting rate, which the schedule scales (``base_lr``)."""
    for opt in optimizers.values():
        for g in opt.param_groups:
            g.setdefault("base_lr", float(g["lr"]))


def apply_lr_factor(optimizers: dict[str, torch.optim.Optimizer], factor: float
                    ) -> dict[str, float]:
    """Set every param group to ``base_lr * factor``; returns the rates as the metrics name
    them: ``lr``, or ``lr_<name>`` per optimizer when there are several (a GAN's two)."""
    for opt in optimizers.values():
        for g in opt.param_groups:
            set_lr(g, g["base_lr"] * factor)
    return {("lr" if len(optimizers) == 1 else f"lr_{name}"): float(o.param_groups[0]["lr"])
            for name, o in optimizers.items()}


def set_lr(group: dict, value: float) -> None:
    """Set a param group's learning rate (in place when it is a tensor a graph reads)."""
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(value)
    else:
        group["lr"] = value


def tensor_lrs(optimizers, device: torch.device) -> None:
    """Learning rates as tensors on ``device``: a captured graph reads them from memory, so
    the schedule sets them in place (:func:`set_lr`) between replays."""
    for opt in optimizers:
        for g in opt.param_groups:
            g["lr"] = torch.tensor(float(g["lr"]), device=device)
