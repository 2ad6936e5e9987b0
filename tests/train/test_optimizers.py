"""The loop's optimizers: the configured algorithm, in its fused implementation where possible."""

from __future__ import annotations

import pytest
import torch

from dgm.train import TrainConfig
from dgm.train.loop import make_optimizer


@pytest.mark.parametrize("name", ["adam", "sgd", "adagrad"])
def test_optimizers_are_fused_and_step_like_the_reference(name):
    """Fused is an implementation choice only: the same update as PyTorch's default."""
    cfg = TrainConfig(optimizer=name, lr=0.05, momentum=0.9, weight_decay=1e-3)
    w = torch.nn.Parameter(torch.randn(5, 3, generator=torch.Generator().manual_seed(0)))
    b = torch.nn.Parameter(torch.zeros(3))
    ref = [w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()]
    groups = [{"params": (p for p in [w])}, {"params": [b], "weight_decay": 0.0}]  # a generator
    opt = make_optimizer(groups, cfg)
    assert opt.defaults["fused"] is True
    kw = {"sgd": {"momentum": 0.9}, "adam": {"eps": cfg.adam_eps}, "adagrad": {}}[name]
    cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad}[name]
    ref_opt = cls([{"params": [ref[0]]}, {"params": [ref[1]], "weight_decay": 0.0}], lr=0.05,
                  weight_decay=1e-3, **kw)
    x = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    for _ in range(5):
        for params, o in (([w, b], opt), (ref, ref_opt)):
            o.zero_grad()
            (torch.tanh(x @ params[0] + params[1]) ** 2).sum().backward()
            o.step()
    assert torch.allclose(w, ref[0], atol=1e-6) and torch.allclose(b, ref[1], atol=1e-6)
    assert opt.param_groups[1]["weight_decay"] == 0.0 and len(opt.param_groups[0]["params"]) == 1


def test_tensors_fused_kernels_cannot_take_fall_back_to_the_default_implementation():
    meta = torch.nn.Parameter(torch.zeros(2, device="meta"))
    opt = make_optimizer([meta], TrainConfig(optimizer="sgd"))
    assert not opt.defaults.get("fused")
