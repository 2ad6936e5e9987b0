"""NADE and MADE in the library: mask resampling, CLI, pictures, API.

A resumed run with orderings or masks and dropout drawn anew is bitwise equal to an
uninterrupted one: the resume contract test (tests/test_contracts.py)."""

from __future__ import annotations

import json

import pytest
import torch

import dgm
from dgm.cli import main
from dgm.data import load_dataset
from dgm.models.made import MADE
from dgm.models.nade import NADE, NADEConfig


@pytest.fixture(scope="module")
def splits():
    return load_dataset("digits")


def test_made_resamples_every_n_steps_within_the_training_masks():
    model = MADE.create(10, (16,), seed=0, connectivity_agnostic=True, train_masks=3,
                        resample_every=4)
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(2, 10)
    seen = []
    for _ in range(24):
        model(x, gen)
        seen.append(int(model.mask_index))
    assert all(len(set(seen[i : i + 4])) == 1 for i in range(0, 24, 4))
    assert set(seen) <= {0, 1, 2} and len(set(seen)) > 1
    masks, _ = model.masks(int(model.mask_index))
    assert torch.equal(model.layers[0].mask, masks[0])
    model.eval()  # evaluation is deterministic: mask 0, whatever the training mask
    before = model.log_prob(torch.ones(3, 10))
    model.train()
    model(x, gen)
    assert torch.equal(model.log_prob(torch.ones(3, 10)), before)


def test_cli_train_eval_sample_nade_and_made(tmp_path, capsys):
    for model, extra, opt in (("nade", ["--ordering", "agnostic"], ["--orderings", "3"]),
                              ("made", ["--direct"], ["--masks", "3"])):
        run = tmp_path / model
        args = ["train", model, "--data", "digits", "--preset", "tiny", "--epochs", "2",
                "--max-train", "256", "--no-progress", "--picture-every", "1", "-o", str(run)]
        assert main(args + extra) == 0
        assert (run / "samples.png").is_file()
        capsys.readouterr()
        assert main(["eval", str(run), "--json", "--max-examples", "50", *opt]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["n_examples"] == 50 and out["nll_nats"] > 0 and out["nll_stderr"] > 0
        assert main(["sample", str(run), "-n", "9", "-o", str(tmp_path / f"{model}.png")]) == 0
        assert (tmp_path / f"{model}.png").is_file()
        loaded = dgm.load(run)
        assert loaded.pictures(tmp_path / f"{model}_pics")
    assert (tmp_path / "made_pics" / "mask_connectivity.png").is_file()
    assert (tmp_path / "nade_pics" / "ar_sampling.png").is_file()


def test_eval_nll_is_exact_and_per_example(splits):
    model = NADE.create(64, 8, seed=0)
    x = splits.test.x[:5]
    out = model.nll(x)
    assert out["nll_nats"].shape == (5,)
    assert torch.allclose(out["nll_nats"], -model.log_prob_naive(x), atol=1e-4)
    with pytest.raises(ValueError, match="agnostic"):
        model.nll(x, orderings=4)


def test_made_dropout_is_seeded_training_only_and_unbiased():
    model = MADE.create(12, (64,), seed=0, dropout=0.5, direct=True)
    x = (torch.rand(6, 12, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    losses = [float(model(x, torch.Generator().manual_seed(s))["loss"].detach()) for s in (3, 3, 4)]
    assert losses[0] == losses[1] != losses[2]  # the dropped units come from the generator
    exact = float(-model.log_prob(x).mean())  # evaluation: every unit, no randomness
    assert exact == float(-model.log_prob(x).mean()) and exact not in losses
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # inverted dropout: the mean logit over many drops is the net's
        mean = torch.stack([model.logits(x, dropout=gen) for _ in range(4000)]).mean(0)
    assert torch.allclose(mean, model.logits(x), atol=0.05)
    jac = torch.autograd.functional.jacobian(  # (n, n): d logit_k / d x_k', with drops
        lambda v: model.logits(v[None], dropout=torch.Generator().manual_seed(7))[0], x[0])
    assert torch.count_nonzero(torch.triu(jac)) == 0  # still autoregressive (natural order)
    assert torch.count_nonzero(torch.tril(jac, -1)) > 0
    with pytest.raises(ValueError, match="generator"):
        model(x)
    model.eval()  # eval mode: no dropout
    assert float(model(x)["loss"].detach()) == pytest.approx(exact, abs=1e-5)
    with pytest.raises(ValueError, match="dropout"):
        MADE.create(5, (4,), dropout=1.0)


def test_plain_argument_construction_and_clear_config_errors():
    nade = NADE.create(20, 7, seed=0, ordering="random")
    made = MADE.create(20, [9, 9], seed=0)
    assert nade.input_shape == (20,) and nade.W.shape == (7, 20)
    assert made.config.hidden_sizes == (9, 9)
    assert not torch.equal(NADE.create(20, 7, seed=1).W, NADE.create(20, 7, seed=2).W)
    with pytest.raises(ValueError, match="ordering"):
        NADEConfig(ordering="backwards").validate()
    with pytest.raises(ValueError, match="n_hidden"):
        NADE.create(5, 0)
    with pytest.raises(ValueError, match="train_masks"):
        MADE.create(5, (4,), train_masks=8)
    with pytest.raises(ValueError, match="resample_every"):
        MADE.create(5, (4,), connectivity_agnostic=True, resample_every=0)
    with pytest.raises(ValueError, match="at least 2"):
        MADE.create(1, (4,))


def test_nade_trained_by_the_subset_estimator_learns_every_ordering(splits):
    """DeepNADE's estimator (one hidden layer per example) trains the order-agnostic
    objective: after a few hundred steps the natural ordering and two unseen ones all beat
    the uniform 64 ln 2 nats by far, and by about as much as each other."""
    import math

    x = torch.from_numpy(splits.train.x[:512])  # (512, 64)
    nade = NADE.create(64, 32, seed=0, ordering="agnostic", resample="subset")
    opt = torch.optim.Adam(nade.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for step in range(300):
        batch = x[(step * 64) % 512:][:64]
        loss = nade(batch, generator=gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        test = torch.from_numpy(splits.test.x)
        per = -torch.stack([nade.log_prob_ordering(test, o) for o in nade.orderings(3)]).mean(1)
    assert (per < 64 * math.log(2) - 10).all(), per
    assert float(per.max() - per.min()) < 2.0, per
