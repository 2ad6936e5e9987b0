"""The VAE's mathematical properties: analytic KL, the IWAE bound, reparameterization."""

from __future__ import annotations

import math

import pytest
import torch

from dgm.data import load_dataset
from dgm.models.vae import VAE, VAEConfig, kl_std_normal, log_normal, reparameterize
from dgm.train import TrainConfig, Trainer


def test_analytic_kl_matches_monte_carlo_kl():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g)
    logvar = torch.randn(3, 4, generator=g) * 0.5
    eps = torch.randn(200_000, 3, 4, generator=g)
    z = reparameterize(mu, logvar, eps)
    mc = (log_normal(z, mu, logvar) - log_normal(z, torch.zeros(()), torch.zeros(()))).mean(0)
    assert torch.allclose(kl_std_normal(mu, logvar), mc, atol=0.02)


def test_kl_is_zero_only_at_the_prior():
    zero = torch.zeros(1, 5)
    assert kl_std_normal(zero, zero).item() == 0.0
    assert kl_std_normal(zero + 0.1, zero).item() > 0


def test_reparameterized_samples_have_the_encoder_moments():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.tensor([1.5, -2.0]), torch.tensor([0.0, math.log(0.25)])
    z = reparameterize(mu, logvar, torch.randn(100_000, 2, generator=g))
    assert torch.allclose(z.mean(0), mu, atol=0.01)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 0.5]), atol=0.01)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    splits = load_dataset("digits")
    model = VAE(VAEConfig(latent=4, hidden=(128,)), splits.train.shape).reset_parameters(0)
    cfg = TrainConfig(epochs=40, batch_size=32, lr=3e-3, picture_every=0, progress=False)
    Trainer(model, cfg, splits, tmp_path_factory.mktemp("vae")).fit()
    return model.eval(), splits


def test_iwae_estimate_is_above_the_elbo_and_grows_with_k(trained):
    model, splits = trained
    x = splits.test.x
    elbo = torch.stack([model.elbo(x, seed=s) for s in range(20)]).mean(0)  # E[ELBO] per example
    k1 = torch.stack([model.log_prob(x, k=1, seed=s) for s in range(20)]).mean().item()
    means = [k1] + [model.log_prob(x, k=k, seed=7).mean().item() for k in (10, 100, 1000)]
    print("ELBO", elbo.mean().item(), "IWAE k=1,10,100,1000", means)
    assert means[0] == pytest.approx(elbo.mean().item(), abs=0.1)  # k = 1 is the ELBO
    assert means[1] > elbo.mean().item()
    assert means[0] < means[1] < means[2] < means[3]  # tighter with more samples
    # converging: the last step is smaller than the first
    assert means[3] - means[2] < means[1] - means[0]


def test_log_prob_chunking_does_not_change_the_estimate(trained):
    model, splits = trained
    x = splits.test.x[:10]
    a = model.log_prob(x, k=64, seed=3, chunk=64 * 10)
    b = model.log_prob(x, k=64, seed=3, chunk=64 * 10)
    c = model.log_prob(x, k=64, seed=3, chunk=100)
    assert torch.equal(a, b)
    assert torch.allclose(a.mean(), c.mean(), atol=0.5)  # same estimator, other noise


def test_gaussian_decoder_is_the_seeds_squared_error():
    model = VAE(VAEConfig(latent=2, hidden=(8,), decoder="gaussian"), (4,))
    x = torch.randn(3, 4)
    mean = torch.randn(3, 4)
    expected = -0.5 * ((x - mean) ** 2).sum(-1) - 2 * math.log(2 * math.pi)
    assert torch.allclose(model.log_lik(x, mean), expected)


def test_iwae_objective_trains_and_reports_its_bound():
    model = VAE(VAEConfig(latent=2, hidden=(8,), iwae_k=5), (1, 8, 8))
    x = torch.bernoulli(torch.full((6, 64), 0.3), generator=torch.Generator().manual_seed(0))
    terms = model(x, torch.Generator().manual_seed(0))
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    # the IWAE loss (k=5) is, in expectation, below the negative ELBO
    losses = [model(x, torch.Generator().manual_seed(s)) for s in range(30)]
    assert sum(t["loss"].item() for t in losses) < sum(t["neg_elbo"].item() for t in losses)


def test_kl_warmup_ramps_the_training_weight_and_leaves_validation_exact():
    model = VAE(VAEConfig(latent=2, hidden=(8,), kl_warmup=4), (1, 8, 8)).reset_parameters(0)
    x = torch.bernoulli(torch.full((6, 64), 0.3), generator=torch.Generator().manual_seed(0))
    for step in range(6):  # training: loss = recon + min(1, step / 4) kl, the step counted
        t = model(x, torch.Generator().manual_seed(step))
        w = min(1.0, step / 4)
        assert t["loss"].item() == pytest.approx(t["recon"].item() + w * t["kl"].item())
    assert int(model.steps) == 6 and "steps" in model.state_dict()  # checkpointed
    model.eval()  # validation and reports: the full ELBO, the count untouched
    v = model.validation_terms(x, torch.Generator().manual_seed(0))
    assert torch.allclose(v["loss"], v["neg_elbo"])
    assert model(x, torch.Generator().manual_seed(0))["loss"].item() == pytest.approx(
        model(x, torch.Generator().manual_seed(0))["neg_elbo"].item())
    assert int(model.steps) == 6
    assert int(model.reset_parameters(1).steps) == 0
    with pytest.raises(ValueError, match="kl_warmup"):
        VAEConfig.from_dict({"kl_warmup": 10, "iwae_k": 5})


def test_bernoulli_vae_refuses_grayscale_data():
    splits = load_dataset("digits:gray")
    model = VAE(VAEConfig(latent=2, hidden=(8,)), splits.train.shape)
    with pytest.raises(ValueError, match="binary"):
        model.check_data(splits.train)


def test_invalid_config_names_the_option():
    with pytest.raises(ValueError, match="decoder"):
        VAEConfig(decoder="poisson").validate()
    with pytest.raises(ValueError, match="latent"):
        VAEConfig.from_dict({"latent": 0})


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_conv_vae_trains_and_generates_images_of_the_data_shape(shape):
    model = VAE(VAEConfig(latent=3, arch="conv", conv_width=8), shape).reset_parameters(0)
    d = shape[1] * shape[2]
    x = torch.bernoulli(torch.full((16, d), 0.2), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    first = model(x, gen)["loss"].item()
    for _ in range(60):
        loss = model(x, gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model(x, gen)["loss"].item() < 0.8 * first
    assert model.sample(5, seed=0).shape == (5, d)


def test_posterior_gives_mean_variance_and_samples():
    model = VAE(VAEConfig(latent=3, hidden=(8,)), (1, 8, 8)).reset_parameters(0)
    x = torch.zeros(4, 64)
    q = model.posterior(x, n_samples=20_000, seed=0)
    assert q["mu"].shape == (4, 3) and q["sigma2"].shape == (4, 3)
    assert q["z"].shape == (20_000, 4, 3)
    assert torch.allclose(q["z"].mean(0), q["mu"], atol=0.03)
    assert torch.allclose(q["z"].var(0), q["sigma2"], rtol=0.05)

def test_nll_draws_fresh_elbo_noise_for_every_chunk():
    """Examples 1000 apart (in different chunks) get independent noise: their ELBOs differ
    for identical inputs, so the reported standard error is over independent draws."""
    model = VAE(VAEConfig(latent=2, hidden=(4,)), (3,)).reset_parameters(0)
    ne = model.nll(torch.ones(2001, 3), iwae_k=2, seed=0)["neg_elbo_nats"]
    assert ne[0] != ne[1000] and ne[1000] != ne[2000]
    assert torch.equal(ne, model.nll(torch.ones(2001, 3), iwae_k=2, seed=0)["neg_elbo_nats"])


def test_log_q_keeps_its_noise_when_sigma_is_below_the_mean_s_precision():
    """z - mu loses eps to float32 rounding when sigma << |mu| (here sigma = e^-20, mu = 10);
    log q(z|x) must still be -1/2 sum(log 2 pi + logvar + eps^2)."""
    model = VAE(VAEConfig(latent=3, hidden=(4,)), (5,)).reset_parameters(0)
    mu, logvar = torch.full((2, 3), 10.0), torch.full((2, 3), -40.0)
    model.encode = lambda x: (mu, logvar)
    x = torch.ones(2, 5)
    lw = model.log_weights(x, 4, torch.Generator().manual_seed(0))  # (4, 2)
    eps = torch.randn((4, 2, 3), generator=torch.Generator().manual_seed(0)).double()
    z = reparameterize(mu, logvar, eps.float())
    log_qz = -0.5 * (math.log(2 * math.pi) - 40.0 + eps**2).sum(-1)
    expected = model.log_lik(x, model.decode(z)).double() + log_normal(
        z.double(), torch.zeros(3).double(), torch.zeros(3).double()) - log_qz
    assert torch.allclose(lw.double(), expected, atol=1e-2, rtol=0)


def test_bad_counts_and_latent_points_are_named():
    vae = VAE(VAEConfig(latent=2, hidden=(8,)), (6,)).reset_parameters(0)
    x = torch.zeros(3, 6)
    for call, message in ((lambda: vae.log_prob(x, k=0), "k must be an integer > 0"),
                          (lambda: vae.log_prob(x, k=2.5), "k must be an integer"),
                          (lambda: vae.log_prob(x, k=5, chunk=0), "chunk must be"),
                          (lambda: vae.posterior(x, n_samples=-1), "n_samples must be"),
                          (lambda: vae.nll(x, iwae_k=0), "iwae_k must be"),
                          (lambda: vae.decode_grid(torch.zeros(4, 3)), r"z must be \(N, 2\)")):
        with pytest.raises(ValueError, match=message):
            call()
    assert vae.decode_grid([[0.0, 0.0]]).shape == (1, 6)  # a list of points works too
