"""GAN and DCGAN through the generic loop and the CLI: checkpoints, resume, NaN, pictures."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

import dgm
from dgm.cli import main
from dgm.data import load_dataset
from dgm.models.dcgan import DCGAN, DCGANConfig
from dgm.models.gan import GAN, GANConfig
from dgm.train import TrainConfig, Trainer
from dgm.train.checkpoint import read_checkpoint
from dgm.train.loop import NonFiniteLoss


def test_cli_train_sample_and_sample_metrics_on_ring8(tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "gan", "--data", "ring8", "--preset", "toy", "--epochs", "2",
               "--max-train", "2000", "--batch-size", "100", "--out", str(run),
               "--no-progress", "--seed", "0", "--schedule", "cosine", "--lr-d", "1e-3"])
    assert rc == 0
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    # each player's rate as stepped: cosine over 2 epochs halves it in the second
    assert [(r["lr_generator"], r["lr_discriminator"]) for r in rows] == [
        (2e-4, 1e-3), (pytest.approx(1e-4), pytest.approx(5e-4))]
    assert "lr" not in rows[0]  # TrainConfig.lr is not what a GAN steps with
    for k in ("train_d_loss", "train_g_loss", "train_d_real", "train_d_fake",
              "train_d_collapsed", "valid_mmd2", "valid_loss"):
        assert np.isfinite(rows[-1][k]), k
    assert (run / "samples.png").is_file() and (run / "curves.png").is_file()
    assert (run / "samples" / "epoch_0002.png").is_file()  # the scatter of every epoch is kept
    assert main(["sample", str(run), "-n", "50", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (50, 2)

    from dgm.eval.samples import sample_metrics_for_run

    m = sample_metrics_for_run(dgm.load(run), load_dataset("ring8"), n_samples=500, seed=0)
    assert m["floor_modes"] == 8 and m["floor_high_quality"] > 0.95
    capsys.readouterr()
    assert main(["eval", str(run), "--samples", "500", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["modes"] == m["modes"]
    rkl = float("nan") if cli["reverse_kl"] is None else cli["reverse_kl"]  # strict JSON: null
    assert rkl == pytest.approx(m["reverse_kl"], nan_ok=True)

    from dgm.eval.pictures import plot_gan_curves

    assert plot_gan_curves(run).is_file()


def _digits_cfg(**kw):
    base = dict(data="digits:pm1", epochs=2, batch_size=32, max_train=128, picture_every=1,
                progress=False)
    return TrainConfig(**{**base, **kw})


def test_dcgan_checkpoint_holds_both_players_and_each_epoch_s_samples(tmp_path):
    """(That a resumed run is bitwise equal: the resume contract test, every model.)"""
    splits = load_dataset("digits:pm1")
    model = DCGAN(DCGANConfig.from_dict(DCGANConfig.presets["tiny"]), (1, 8, 8)
                  ).reset_parameters(0)
    Trainer(model, _digits_cfg(), splits, tmp_path / "a").fit()
    _, header = read_checkpoint(tmp_path / "a" / "checkpoint.safetensors")
    assert set(header["optimizers"]) == {"generator", "discriminator"}
    assert (tmp_path / "a" / "samples" / "epoch_0002.png").is_file()
    s = dgm.load(tmp_path / "a").sample(4, seed=0)
    assert s.shape == (4, 64) and s.min() >= -1 and s.max() <= 1


def test_nan_is_detected_and_the_last_good_checkpoint_kept(tmp_path):
    splits = load_dataset("ring8")
    cfg = TrainConfig(data="ring8", epochs=3, batch_size=100, max_train=500, picture_every=0,
                      progress=False)
    model = GAN(GANConfig.from_dict(GANConfig.presets["toy"]), (2,)).reset_parameters(0)
    calls = {"n": 0}
    d_forward = model.D.forward

    def poisoned(x):  # from the second epoch on, the discriminator returns NaN
        calls["n"] += 1
        out = d_forward(x)
        return out * float("nan") if calls["n"] > 30 else out

    model.D.forward = poisoned
    with pytest.raises(NonFiniteLoss, match="last good checkpoint"):
        Trainer(model, cfg, splits, tmp_path / "run").fit()
    good = dgm.load(tmp_path / "run")
    assert all(torch.isfinite(p).all() for p in good.parameters())
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1


@pytest.mark.parametrize("side,shape", [(28, (1, 28, 28)), (32, (3, 32, 32)), (64, (3, 64, 64))])
def test_dcgan_follows_the_guidelines(side, shape):
    m = DCGAN(DCGANConfig(latent=16, width=8), shape).reset_parameters(0)
    assert m.sample(2, seed=0).shape == (2, int(np.prod(shape)))
    assert m.logits(torch.zeros(3, int(np.prod(shape)))).shape == (3,)
    for net in (m.G, m.D):
        banned = (nn.MaxPool2d, nn.AvgPool2d, nn.Linear)
        assert not any(isinstance(x, banned) for x in net.modules())
    g = list(m.G)
    assert isinstance(g[-2], nn.Tanh) and isinstance(g[-3], nn.ConvTranspose2d)  # no BN at output
    assert all(isinstance(x, nn.ReLU) for x in m.G if isinstance(x, (nn.ReLU, nn.LeakyReLU)))
    assert isinstance(m.D[1], nn.Conv2d) and isinstance(m.D[2], nn.LeakyReLU)  # no BN at input
    assert all(x.negative_slope == 0.2 for x in m.D if isinstance(x, nn.LeakyReLU))
    assert not any(isinstance(x, nn.ReLU) for x in m.D)
    assert sum(isinstance(x, nn.BatchNorm2d) for x in m.G.modules()) >= 1
    strides = [x.stride for x in m.D if isinstance(x, nn.Conv2d)]
    assert strides[:-1] == [(2, 2)] * (len(strides) - 1)
    opts = m.configure_optimizers(lambda p, **kw: torch.optim.Adam(p, **kw))
    for o in opts.values():
        assert o.defaults["lr"] == 2e-4 and o.defaults["betas"] == (0.5, 0.999)


def test_dcgan_rejects_non_square_or_odd_images():
    with pytest.raises(ValueError, match="square"):
        DCGAN(DCGANConfig(), (1, 28, 30))
    with pytest.raises(ValueError, match="side"):
        DCGAN(DCGANConfig(), (1, 7, 7))


def test_dcgan_pack_judges_images_stacked_as_channels():
    m = DCGAN(DCGANConfig(latent=8, width=4, pack=2), (1, 8, 8)).reset_parameters(0).eval()
    assert m.D[1].in_channels == 2
    x = torch.rand(4, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    l0 = m.logits(x)
    assert l0.shape == (2,)  # one logit per pack of consecutive images
    y = x.clone()
    y[1] = -y[1]  # change the second image of the first pack only
    l1 = m.logits(y)
    assert l1[0] != l0[0] and l1[1] == l0[1]
    # the pack is the channel stack: image i of a pack is input channel i
    manual = m.D[1:](x.reshape(2, 2, 8, 8)).reshape(2)
    assert torch.equal(manual, l0)
    with pytest.raises(ValueError, match="pack"):
        DCGANConfig.from_dict({"pack": 0})


def test_a_last_batch_shorter_than_a_pack_joins_the_one_before(tmp_path):
    """PacGAN (pack 2) on 201 examples in batches of 100, validation in chunks of 200 of
    201: the last training batch (1 example) and the last validation chunk (1 row) would
    hold no pack and no MMD bandwidth; they join the batch before instead of ending the run
    with NaN or a crash."""
    full = load_dataset("ring8")
    valid = full.valid
    valid = dataclasses.replace(valid, x=valid.x[:201],
                                y=None if valid.y is None else valid.y[:201])
    splits = dataclasses.replace(full, valid=valid)
    model = GAN(GANConfig(**{**GANConfig.presets["toy"], "pack": 2}), (2,)).reset_parameters(0)
    assert model.min_batch == 2
    cfg = TrainConfig(data="ring8", epochs=1, batch_size=100, max_train=201, eval_batch=200,
                      picture_every=0, progress=False)
    Trainer(model, cfg, splits, tmp_path / "run").fit()
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert int(model.d_steps) == 2  # 100 + 101 examples
    assert all(np.isfinite(v) for k, v in row.items() if k.startswith(("train_", "valid_")))
    with pytest.raises(ValueError, match="packs of 2 examples; a batch of 1 holds none"):
        model(torch.zeros(1, 2), torch.Generator().manual_seed(0))
    tiny = TrainConfig(data="ring8", epochs=1, max_train=1, picture_every=0, progress=False)
    with pytest.raises(ValueError, match="at least 2 examples; the training split has 1"):
        Trainer(model, tiny, splits, tmp_path / "tiny").fit()


def test_the_sample_range_follows_the_data_trained_on_and_the_record_names_that_data(
        tmp_path):
    """A tanh DCGAN trained on [0, 1] images has samples in [0, 1] terms (no (x+1)/2 before
    FID or pictures), and config.json names the splits given, not TrainConfig's default."""
    model = DCGAN(DCGANConfig(**DCGANConfig.presets["tiny"]), (1, 8, 8)).reset_parameters(0)
    assert model.data_range == "pm1"  # unknown data: the tanh output's range
    splits = load_dataset("digits:gray")
    cfg = TrainConfig(epochs=1, batch_size=32, max_train=64, picture_every=0, progress=False)
    Trainer(model, cfg, splits, tmp_path / "run").fit()
    assert model.data_range == "unit"
    loaded = dgm.load(tmp_path / "run")
    assert loaded.data_kind == "unit" and loaded.data_range == "unit"
    record = json.loads((tmp_path / "run" / "config.json").read_text())["data"]
    assert record["spec"] == "digits:gray" and record["n_train"] == 64
