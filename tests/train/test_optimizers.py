"""The loop's optimizers: the configured algorithm, in its fused implementation where possible."""

from __future__ import annotations

import pytest
import torch

from dgm.train import TrainConfig
from dgm.train.optim import make_optimizer


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


def test_cuda_graph_needs_a_capturable_optimizer_and_one_gpu(tmp_path):
    with pytest.raises(ValueError, match="cuda_graph needs optimizer 'adam'"):
        TrainConfig.from_dict({"cuda_graph": True, "optimizer": "sgd"})
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(3))], TrainConfig(cuda_graph=True))
    assert opt.defaults["capturable"] is True and opt.defaults["fused"] is True
    from dgm.data import load_dataset
    from dgm.models.rbm import RBM, RBMConfig
    from dgm.models.vae import VAE, VAEConfig
    from dgm.train import Trainer

    digits = load_dataset("digits")
    model = VAE(VAEConfig(latent=2, hidden=(8,)), (1, 8, 8))
    with pytest.raises(ValueError, match="needs device 'cuda'.*got cpu"):
        Trainer(model, TrainConfig(cuda_graph=True, device="cpu"), digits, tmp_path / "run")
    rbm = RBM(RBMConfig(hidden=4), (1, 8, 8))  # persistent chains: rebound between steps
    with pytest.raises(ValueError, match="rbm's training step is not known to replay"):
        Trainer(rbm, TrainConfig(cuda_graph=True, device="cpu"), digits, tmp_path / "run")


def test_a_tensor_learning_rate_is_set_in_place_and_saved_as_a_number(tmp_path):
    """A graph reads the learning rate from a tensor's memory: the schedule must write into
    that tensor, never replace it; the checkpoint's JSON holds it as a plain number."""
    from dgm.train.checkpoint import read_checkpoint, save_checkpoint
    from dgm.train.optim import set_lr

    w = torch.nn.Parameter(torch.ones(3))
    lr = torch.tensor(1e-3)
    opt = torch.optim.Adam([w], lr=lr, foreach=False)
    set_lr(opt.param_groups[0], 5e-4)
    assert opt.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(5e-4)
    plain = {"lr": 1e-3}
    set_lr(plain, 2e-4)
    assert plain["lr"] == 2e-4
    w.grad = torch.ones(3)
    opt.step()
    save_checkpoint(tmp_path / "c.safetensors", torch.nn.Linear(1, 1), {"main": opt})
    _, header = read_checkpoint(tmp_path / "c.safetensors")
    saved = header["optimizers"]["main"]["param_groups"][0]["lr"]
    assert isinstance(saved, float) and saved == pytest.approx(5e-4)


class _SaysCuda(torch.Tensor):
    """A CPU tensor that reports device 'cuda' (this machine may have no GPU)."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func == torch.Tensor.device.__get__:  # a new method-wrapper each access
            return torch.device("cuda")
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.mark.parametrize("name, fused", [("adam", True), ("sgd", True), ("adagrad", False)])
def test_fused_only_where_pytorch_has_the_kernel(name, fused):
    """PyTorch has fused Adam and SGD for CUDA but Adagrad only for the CPU: Adagrad on a GPU
    asked for fused=True fails at its first step (seen on an H200)."""
    from dgm.train.optim import fusable

    gpu = torch.zeros(2).as_subclass(_SaysCuda)
    assert gpu.device.type == "cuda"
    assert fusable([gpu], name) is fused
    assert fusable([torch.zeros(2)], name) is True


def test_an_unknown_optimizer_in_a_config_built_by_hand_is_named():
    """TrainConfig(...) itself checks nothing (from_dict and the Trainer do): the optimizer
    factory names the value and the choices rather than falling through to one of them."""
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'; choose adam, sgd or adagrad"):
        make_optimizer([torch.nn.Parameter(torch.zeros(2))], TrainConfig(optimizer="adamw"))
