"""RBM training through the generic loop and the CLI: CD, PCD, monitors.

That PCD's chains are checkpointed and resumed bitwise: the resume contract test
(tests/test_contracts.py, which trains the RBMs with pcd)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import dgm
from dgm.cli import main
from dgm.data import load_dataset, tiny_exact_distribution
from dgm.models.rbm import RBM, RBMConfig
from dgm.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


SGD = dict(optimizer="sgd", lr=0.05, momentum=0.5, picture_every=0, progress=False)


@pytest.mark.parametrize("method", [{"cd_k": 1}, {"pcd": True, "chains": 100}])
def test_training_recovers_the_tiny_rbm_distribution(method, tmp_path):
    """8 visible x 4 hidden, data from a known RBM: the exact test NLL nears the entropy."""
    splits = load_dataset("tiny:rbm")
    states, probs = tiny_exact_distribution("tiny:rbm")
    entropy = float(-(probs * np.log(probs)).sum())
    model = RBM(RBMConfig(hidden=4, **method), (8,)).reset_parameters(0)
    cfg = TrainConfig(data="tiny:rbm", epochs=6, batch_size=100, schedule="exp", lr_decay=0.3,
                      **{**SGD, "lr": 0.1, "momentum": 0.9})
    Trainer(model, cfg, splits, tmp_path / "run").fit()
    nll = float(model.nll(splits.test.x)["nll_nats"].mean())
    assert nll < entropy + 0.06, (nll, entropy)
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["valid_nll"] < rows[0]["valid_nll"]
    for key in ("train_free_energy", "valid_free_energy", "train_recon_error", "valid_loss"):
        assert key in rows[-1]  # the free-energy gap and pseudo-likelihood monitors


def test_chains_do_not_move_outside_training(digits):
    model = RBM(RBMConfig(hidden=8, pcd=True, chains=4), (1, 8, 8)).reset_parameters(0)
    before = model.chains.clone()
    x = torch.tensor(digits.train.x[:8])
    model.eval()
    model(x, torch.Generator().manual_seed(0))
    model.validation_terms(x)
    model.sample(3, seed=0, steps=5)
    assert torch.equal(model.chains, before)
    model.train()
    model(x, torch.Generator().manual_seed(0))
    assert not torch.equal(model.chains, before)


def test_sparsity_target_lowers_the_mean_hidden_activation(digits):
    x = torch.tensor(digits.train.x[:500])
    means = []
    for cost in (0.0, 1.0):
        m = RBM(RBMConfig(hidden=32, sparsity_target=0.05, sparsity_cost=cost),
                (1, 8, 8)).reset_parameters(0)
        opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.5)
        gen = torch.Generator().manual_seed(0)
        for _ in range(5):
            for xb in x.split(50):
                terms = m(xb, gen)
                opt.zero_grad()
                terms["loss"].backward()
                opt.step()
        assert ("sparsity" in terms) == (cost > 0)
        means.append(float(m.transform(x).mean()))
    assert means[1] < means[0] - 0.2, means


def test_weight_decay_applies_to_w_only():
    m = RBM(RBMConfig(hidden=4), (6,))
    opt = m.configure_optimizers(lambda p, **kw: torch.optim.SGD(p, lr=0.1, weight_decay=0.01))
    groups = opt["main"].param_groups
    assert groups[0]["params"][0] is m.W and groups[0]["weight_decay"] == 0.01
    assert groups[1]["weight_decay"] == 0.0


@pytest.mark.parametrize("bad,match", [({"hidden": 0}, "hidden"), ({"cd_k": 0}, "cd_k"),
                                       ({"pcd": True, "random_start": True}, "random_start"),
                                       ({"sparsity_target": 1.0}, "sparsity_target"),
                                       ({"samples": -1}, "samples")])
def test_bad_options_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        RBMConfig.from_dict(bad)


def test_transform_reconstruct_and_samples(digits):
    m = RBM(RBMConfig(hidden=12), (1, 8, 8)).reset_parameters(0)
    x = digits.test.x[:5]
    assert m.transform(x).shape == (5, 12)
    r = m.reconstruct(x)
    assert r.shape == (5, 64) and bool(((r > 0) & (r < 1)).all())
    s = m.sample(4, seed=0, steps=3, mean=False)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(m.sample(4, seed=0, steps=3, start=x[:4]),
                       m.sample(4, seed=0, steps=3, start=x[:4]))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rbm-cli") / "rbm"
    args = ["train", "rbm", "--hidden", "16", "--pcd", "--chains", "20", "--cd-k", "2",
            "--data", "digits", "--epochs", "2", "--optimizer", "sgd", "--lr", "0.05",
            "--picture-every", "1", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    return out


def test_cli_train_writes_a_run_with_the_chosen_options(cli_run):
    rec = json.loads((cli_run / "config.json").read_text())
    assert rec["model"] == "rbm"
    assert rec["model_config"]["pcd"] is True and rec["model_config"]["cd_k"] == 2
    assert (cli_run / "samples.png").exists() and (cli_run / "reconstructions.png").exists()
    assert dgm.load(cli_run).chains.shape == (20, 64)


def test_cli_eval_reports_exact_then_ais_nll_and_log_z(cli_run, capsys):
    assert main(["eval", str(cli_run), "--json", "--max-examples", "50"]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert {"nll_nats", "nll_stderr", "log_z"} <= set(exact)
    assert main(["eval", str(cli_run), "--json", "--max-examples", "50", "--ais",
                 "--ais-betas", "2000", "--ais-runs", "50"]) == 0
    captured = capsys.readouterr()
    ais = json.loads(captured.out)
    assert "UNDERESTIMATE" in captured.err
    assert abs(ais["log_z"] - exact["log_z"]) < 0.1
    assert "log_z_stderr" not in exact and 0 < ais["log_z_stderr"] < 0.1  # AIS's own error
    assert ais["nll_exact_nats"] == pytest.approx(exact["nll_nats"])
    assert ais["nll_lo3_nats"] <= ais["nll_nats"] <= ais["nll_hi3_nats"]


def test_cli_sample_and_pictures(cli_run, tmp_path):
    assert main(["sample", str(cli_run), "-n", "16", "-o", str(tmp_path / "s.png")]) == 0
    assert main(["sample", str(cli_run), "-n", "4", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (4, 1, 8, 8)
    paths = dgm.load(cli_run).pictures(tmp_path)
    assert [p.name for p in paths] == ["filters.png", "chains.png"]
