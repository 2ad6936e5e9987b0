"""Polyak averaging (``TrainConfig.ema``): the recurrence, and what validation and loading see."""

from __future__ import annotations

import json

import pytest
import torch

import dgm
from dgm.data import load_dataset
from dgm.models.vae import VAE, VAEConfig
from dgm.train import CheckpointError, TrainConfig, Trainer
from dgm.train.average import WeightAverage
from dgm.train.checkpoint import AVERAGE, load_checkpoint, model_state, read_checkpoint


def test_average_follows_the_recurrence_with_warm_up():
    net = torch.nn.Linear(3, 2)
    avg = WeightAverage(net, decay=0.5)
    want = [p.detach().clone() for p in net.parameters()]
    gen = torch.Generator().manual_seed(0)
    for t in range(6):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn(p.shape, generator=gen))
        avg.update(t)
        d = min(0.5, (1 + t) / (10 + t))
        want = [d * w + (1 - d) * p.detach() for w, p in zip(want, net.parameters())]
    for w, p in zip(want, avg.model.parameters()):
        torch.testing.assert_close(p, w, rtol=0, atol=1e-6)
    assert not any(p.requires_grad for p in avg.model.parameters())
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, 1.0)


def test_buffers_are_copied_not_averaged():
    net = torch.nn.BatchNorm1d(4)
    avg = WeightAverage(net, decay=0.99)
    net(torch.randn(8, 4) + 5.0)  # moves the running mean of the trained model only
    torch.testing.assert_close(avg.synced().running_mean, net.running_mean)


@pytest.fixture(scope="module")
def splits():
    return load_dataset("digits")


def test_validation_best_weights_and_load_use_the_average(splits, tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=64, max_train=640, picture_every=0, progress=False,
                      ema=0.95)
    model = VAE(VAEConfig(latent=3, hidden=(32,)), splits.train.shape).reset_parameters(0)
    trainer = Trainer(model, cfg, splits, tmp_path)
    trainer.fit()
    tensors, _ = read_checkpoint(tmp_path / "checkpoint.safetensors")
    raw, avg = model_state(tensors), model_state(tensors, AVERAGE)
    assert raw.keys() == avg.keys()
    assert any(not torch.equal(raw[k], avg[k]) for k in raw)  # the average is not the weights
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # the logged validation loss is the averaged model's
    assert rows[-1]["valid_loss"] == pytest.approx(trainer.validate(
        torch.tensor(splits.valid.x, dtype=torch.float32))["loss"], rel=1e-6)
    (tmp_path / "best.safetensors").unlink()
    loaded = dgm.load(tmp_path)  # no best file: the final average, not the raw weights
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, avg[k]), k


def test_resuming_with_an_average_needs_one_in_the_checkpoint(splits, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=64, max_train=128, picture_every=0, progress=False)
    model = VAE(VAEConfig(latent=3, hidden=(32,)), splits.train.shape).reset_parameters(0)
    Trainer(model, cfg, splits, tmp_path).fit()
    with pytest.raises(CheckpointError, match="no averaged weights"):
        load_checkpoint(tmp_path / "checkpoint.safetensors", model,
                        averaged=WeightAverage(model, 0.9).model)


def test_the_averaged_dcgan_normalizes_with_statistics_of_its_own_weights():
    """An average of the weights never produced the batch-norm statistics it would inherit
    from the trained model: synced() re-estimates them for the averaged generator."""
    from dgm.models.dcgan import DCGAN, DCGANConfig

    m = DCGAN(DCGANConfig(latent=8, width=4), (1, 8, 8)).reset_parameters(0)
    avg = WeightAverage(m, 0.999)
    g = torch.Generator().manual_seed(0)
    for t in range(20):  # the live generator drifts away; its batch norm follows it
        with torch.no_grad():
            m.G[1].weight.mul_(1.1)
        m.G.train()
        m.generate(m.noise(64, g))
        avg.update(10_000 + t)
    ema = avg.synced()
    bn = ema.G[2]
    with torch.no_grad():
        pre = ema.G[:2](ema.noise(4096, torch.Generator().manual_seed(1)))  # before that BN
    assert torch.allclose(bn.running_var, pre.var((0, 2, 3)), rtol=0.1)
    assert torch.allclose(bn.running_mean, pre.mean((0, 2, 3)), atol=0.05 * pre.std().item())
    assert not torch.allclose(bn.running_var, m.G[2].running_var, rtol=0.5)  # not the live ones
