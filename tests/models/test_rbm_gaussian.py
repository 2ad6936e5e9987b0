"""The Gaussian-Bernoulli RBM checked against brute force (enumeration of h, quadrature over v)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dgm.data import load_dataset
from dgm.models.grbm import GRBM, GRBMConfig
from dgm.models.rbm_ais import binary_states


def grbm(D: int, H: int, seed: int = 0) -> GRBM:
    g = torch.Generator().manual_seed(seed)
    m = GRBM(GRBMConfig(hidden=H, learn_sigma=True), (D,)).double()
    with torch.no_grad():
        m.W.copy_(torch.randn(D, H, generator=g, dtype=torch.float64))
        m.b.copy_(torch.randn(D, generator=g, dtype=torch.float64))
        m.c.copy_(torch.randn(H, generator=g, dtype=torch.float64) * 0.5)
        m.log_sigma.copy_(torch.randn(D, generator=g, dtype=torch.float64) * 0.3)
    return m


def energy(m: GRBM, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """E(v, h) = sum_i (v_i - b_i)^2 / (2 s_i^2) - sum_ij (v_i / s_i) w_ij h_j - c^T h."""
    s = m.sigma
    return (((v - m.b) / s) ** 2).sum(-1) / 2 - (((v / s) @ m.W) * h).sum(-1) - h @ m.c


def test_conditionals_and_free_energy_by_enumerating_h():
    m = grbm(3, 4)
    v = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    Hs = binary_states(4, 0, 16)
    with torch.no_grad():
        neg_e = torch.stack([-energy(m, v, h.expand(5, -1)) for h in Hs], 1)  # (5, 16)
        post = torch.softmax(neg_e, 1)
        torch.testing.assert_close(torch.sigmoid(m.hidden_input(v)), post @ Hs)
        torch.testing.assert_close(m.free_energy(v), -torch.logsumexp(neg_e, 1))


def test_visible_conditional_is_the_gaussian_of_the_energy():
    m = grbm(3, 4)
    h = torch.tensor([[1.0, 0, 1, 1]], dtype=torch.float64)
    mean = m.visible_mean(h).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy(m, mean, h).sum(), mean)
    torch.testing.assert_close(grad, torch.zeros_like(grad))  # the mode of exp(-E(., h))
    hess = torch.autograd.functional.hessian(lambda x: energy(m, x[None], h).sum(), mean[0])
    torch.testing.assert_close(hess, torch.diag(1 / m.sigma.detach() ** 2))  # precision


@pytest.mark.parametrize("D", [1, 2])
def test_exact_log_partition_by_quadrature(D):
    m = grbm(D, 3, seed=D)
    grid = torch.linspace(-25, 25, 1501 if D == 1 else 801, dtype=torch.float64)
    step = float(grid[1] - grid[0])
    pts = grid[:, None] if D == 1 else torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        quad = float(torch.logsumexp(-m.free_energy(pts), 0)) + D * np.log(step)
        assert float(m.log_partition()) == pytest.approx(quad, abs=1e-6)
        # and so the density integrates to one
        lp = m.log_prob(pts)
    assert float(torch.logsumexp(lp, 0)) + D * np.log(step) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("learn_sigma,lr", [(False, 0.01), (True, 0.003)])
def test_cd_training_raises_the_exact_likelihood_of_real_data(learn_sigma, lr):
    """Two clusters in 3-D; learned variances need a smaller step (a known GRBM instability)."""
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[2.0, -1.0, 0.5], [-1.5, 1.0, -0.5]])
    x = centers[torch.randint(0, 2, (2000,), generator=g)] + 0.3 * torch.randn(2000, 3, generator=g)
    m = GRBM(GRBMConfig(hidden=4, learn_sigma=learn_sigma, cd_k=5), (3,)).reset_parameters(0)
    before = float(m.nll(x)["nll_nats"].mean())
    opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9)
    for _ in range(10):
        for xb in x.split(50):
            loss = m(xb, g)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    after = float(m.nll(x)["nll_nats"].mean())
    assert after < before - 1.0, (before, after)
    assert torch.isfinite(m.sample(10, seed=0, steps=50)).all()


def test_gibbs_samples_have_the_moments_of_the_exact_density():
    """2^14 independent chains, 200 block-Gibbs sweeps each, on a D = 1, H = 2 GRBM with
    sigma = 0.6: the sample mean and variance match those of exp(-F(v)) / Z (quadrature)
    within 4 standard errors (SE of the variance: sqrt((m4 - var^2) / n)). Noise scaled by
    sigma^2 instead of sigma shrinks the variance by about 0.2 (30 SE)."""
    m = GRBM(GRBMConfig(hidden=2, learn_sigma=True), (1,)).double()
    with torch.no_grad():
        m.W.copy_(torch.tensor([[1.5, -1.0]], dtype=torch.float64))
        m.b.fill_(0.3)
        m.c.copy_(torch.tensor([-0.5, 0.4], dtype=torch.float64))
        m.log_sigma.fill_(np.log(0.6))
        grid = torch.linspace(-15, 15, 3001, dtype=torch.float64)
        w = torch.softmax(-m.free_energy(grid[:, None]), 0)  # quadrature weights of p(v)
        v = m.sample(2**14, seed=0, steps=200, mean=False)[:, 0]
    mean = float(w @ grid)
    var, m4 = float(w @ (grid - mean) ** 2), float(w @ (grid - mean) ** 4)
    n = len(v)
    assert abs(float(v.mean()) - mean) < 4 * np.sqrt(var / n), (float(v.mean()), mean)
    assert abs(float(v.var()) - var) < 4 * np.sqrt((m4 - var**2) / n), (float(v.var()), var)


def test_markov_network_view_is_refused_for_continuous_visible_units():
    m = GRBM(GRBMConfig(hidden=2), (3,))
    with pytest.raises(NotImplementedError, match="continuous visible units"):
        m.to_markov_network()


@pytest.fixture(scope="module")
def digits_grbm() -> tuple[GRBM, torch.Tensor]:
    """A GRBM with learned variances, 16 hidden units (log Z exact), trained by CD-1 on the
    grayscale 8x8 digits (scaled to unit variance per image set), and its test images."""
    splits = load_dataset("digits:gray")
    x = torch.tensor(np.array(splits.train.x), dtype=torch.float32) * 3
    m = GRBM(GRBMConfig(hidden=16, learn_sigma=True), (64,)).reset_parameters(0)
    opt = torch.optim.SGD(m.parameters(), lr=0.003, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    for _ in range(8):
        for xb in x[torch.randperm(len(x), generator=g)].split(50):
            loss = m(xb, g)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    test = torch.tensor(np.array(splits.test.x), dtype=torch.float32) * 3
    return m.eval(), test


def test_ais_and_raise_bracket_the_exact_log_z_of_a_grbm_trained_on_digits(digits_grbm):
    """AIS (from the data's own Gaussians) lands within 0.1 nat and 5 SE of the exact log Z;
    RAISE's log p is not above the exact one on average beyond its noise (it is
    conservative), and close. A Gibbs step with the wrong variance (noise / precision) misses
    by 0.23 nat, W h scaled by sigma instead of divided by 4.5 nats, a base model of the data's
    sd alone (narrower than the RBM at constant pixels) by 4 nats."""
    m, test = digits_grbm
    assert float(m.sigma.detach().min()) < 0.9  # learned variances: sigma != 1 is exercised
    exact = float(m.log_partition())
    res = m.ais(betas=2000, runs=100, seed=0)
    assert abs(res.log_z - exact) < 0.1, (res.log_z, exact)
    assert abs(res.log_z - exact) < 5 * res.log_z_stderr + 0.01, (res.log_z, exact, res)
    x = test[:40]
    lp_exact = m.log_prob(x)  # (40,)
    diff = m.raise_log_prob(x, betas=500, runs=10, seed=0) - lp_exact  # (40,)
    se = float(diff.std()) / math.sqrt(len(diff))
    assert float(diff.mean()) <= 3 * se, (float(diff.mean()), se)  # not above, beyond noise
    assert abs(float(diff.mean())) < 0.2


def test_the_ais_base_model_is_the_training_data_gaussian_never_narrower_than_sigma(
        digits_grbm):
    m, _ = digits_grbm
    splits = load_dataset("digits:gray")
    x = torch.tensor(np.array(splits.train.x), dtype=torch.float64) * 3
    seen = float(m.data_count) / len(x)
    assert seen == 8  # every epoch's examples were tracked
    mean, log_sd = m.base_model()
    torch.testing.assert_close(mean, x.mean(0))
    sd = torch.maximum(x.std(0, unbiased=False), m.sigma.detach().double())
    torch.testing.assert_close(log_sd.exp(), sd)
    # a run saved before the second moment was tracked: the base takes the model's sigma
    state = {k: v for k, v in m.state_dict().items() if k != "data_var"}
    old = GRBM(GRBMConfig(hidden=16, learn_sigma=True), (64,))
    old.load_state_dict(state)
    torch.testing.assert_close(old.base_model()[1], m.log_sigma.detach().double())


def test_a_grbm_too_wide_to_sum_is_evaluated_by_ais_from_the_cli(tmp_path, capsys):
    """30 hidden units: 2^30 terms are refused, so ``dgm eval`` estimates log Z by AIS and
    reports its error and RAISE beside it."""
    from dgm.cli import main

    out = tmp_path / "g"
    assert main(["train", "grbm", "--hidden", "30", "--data", "digits:gray", "--epochs", "1",
                 "--no-progress", "--picture-every", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--json", "--max-examples", "20", "--ais-betas", "500",
                 "--ais-runs", "16", "--raise-examples", "5", "--raise-betas", "200"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["log_z_method"] == "ais" and "nll_exact_nats" not in rec
    assert (rec["ais_betas"], rec["ais_runs"], rec["raise_betas"], rec["raise_runs"]) == \
        (500, 16, 200, 10)
    assert math.isfinite(rec["nll_nats"]) and rec["log_z_stderr"] > 0
    assert abs(rec["raise_nll_nats"] - rec["raise_examples_nll_nats"]) < 1.0


def test_the_data_moments_stay_float64_in_a_float32_model():
    """The base model's variance, merged batch by batch in float64: a spread of 0.01 around
    200 survives (E[v^2] - E[v]^2 over float32 column sums lost it)."""
    m = GRBM.from_parameters(torch.zeros(2, 3), torch.zeros(2), torch.zeros(3))
    assert m.W.dtype == torch.float32
    assert {b.dtype for n, b in m.named_buffers() if n.startswith("data_")} == {torch.float64}
    with torch.no_grad():
        m.log_sigma.fill_(math.log(1e-3))
    x = 200 + 0.01 * torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    for xb in x.split(100):
        m._track_data(xb)
    sd = m.base_model()[1].exp()
    torch.testing.assert_close(sd, x.double().std(0, unbiased=False), rtol=1e-3, atol=0)
