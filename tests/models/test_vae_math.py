"""The VAE's mathematical properties: analytic KL, the IWAE bound, reparameterization."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dgm.data import load_dataset
from dgm.models.vae import VAE, VAEConfig, kl_std_normal, log_normal, reparameterize


def test_analytic_kl_matches_monte_carlo_kl():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g)
    logvar = torch.randn(3, 4, generator=g) * 0.5
    eps = torch.randn(200_000, 3, 4, generator=g)
    z = reparameterize(mu, logvar, eps)
    # log q(z) - log p(z) by torch.distributions, not by the code under test
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(0.0, 1.0)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)  # (3,)
    assert torch.allclose(kl_std_normal(mu, logvar), mc, atol=0.02)
    assert torch.allclose(log_normal(z[:5], mu, logvar), q.log_prob(z[:5]).sum(-1), atol=1e-5)


def test_kl_is_zero_only_at_the_prior():
    """Zero at mu = 0, logvar = 0 and the exact, positive value when mu or logvar moves
    either way: mu^2 / 2 and (e^d - 1 - d) / 2 per dimension (a KL missing its -logvar term
    goes negative for logvar < 0)."""
    zero = torch.zeros(1, 5, dtype=torch.float64)
    assert kl_std_normal(zero, zero).item() == 0.0
    for d in (0.1, -0.1):
        assert kl_std_normal(zero + d, zero).item() == pytest.approx(5 * d * d / 2, rel=1e-12)
        expect = 5 * (math.exp(d) - 1 - d) / 2  # > 0 for d != 0
        assert kl_std_normal(zero, zero + d).item() == pytest.approx(expect, rel=1e-9)


def test_reparameterization_gradient_of_the_expected_sum_of_squares():
    """E[sum z^2] = sum mu^2 + sigma^2 for z = mu + sigma eps: its gradient is 2 mu in mu and
    sigma^2 in logvar. Per-sample gradients by autograd through ``reparameterize``; each
    mean within 4 standard errors of the exact value."""
    n = 100_000
    mu = torch.tensor([1.5, -0.5], dtype=torch.float64)
    logvar = torch.tensor([0.0, -1.4], dtype=torch.float64)
    mus = mu.expand(n, 2).clone().requires_grad_(True)  # one leaf row per sample
    lvs = logvar.expand(n, 2).clone().requires_grad_(True)
    eps = torch.randn(n, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    (reparameterize(mus, lvs, eps) ** 2).sum().backward()
    for grads, exact in ((mus.grad, 2 * mu), (lvs.grad, logvar.exp())):
        se = grads.std(0) / math.sqrt(n)
        assert ((grads.mean(0) - exact).abs() < 4 * se).all(), (grads.mean(0), exact, se)


def test_reparameterized_samples_have_the_encoder_moments():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.tensor([1.5, -2.0]), torch.tensor([0.0, math.log(0.25)])
    z = reparameterize(mu, logvar, torch.randn(100_000, 2, generator=g))
    assert torch.allclose(z.mean(0), mu, atol=0.01)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 0.5]), atol=0.01)


# -- an exactly solvable VAE: linear Gaussian decoder, encoder = the exact posterior --------
# x = W z + b + N(0, I), z ~ N(0, I), W (4, 2) with orthogonal columns of norms 2 and 1/2:
# p(x) = N(b, W W^T + I) and p(z | x) = N(S W^T (x - b), S), S = (I + W^T W)^-1 diagonal.
# With hidden=() the encoder is affine in x and the decoder is one linear layer: both exact.
EXACT_W = torch.linalg.qr(torch.randn(4, 2, generator=torch.Generator().manual_seed(0),
                                      dtype=torch.float64))[0] * torch.tensor([2.0, 0.5],
                                                                              dtype=torch.float64)
EXACT_B = torch.tensor([0.5, -1.0, 0.25, 2.0], dtype=torch.float64)
EXACT_S2 = 1 / (1 + (EXACT_W * EXACT_W).sum(0))  # the posterior variances, diag S


def exact_vae(shift: tuple[float, float] = (0.0, 0.0)) -> VAE:
    """The linear Gaussian VAE with q(z | x) = p(z | x), or with q's mean moved by ``shift``
    (then KL(q || p(z | x)) = 1/2 sum shift^2 / S, the same for every x)."""
    vae = VAE(VAEConfig(latent=2, hidden=(), decoder="gaussian"), (4,)).double()
    A = EXACT_S2[:, None] * EXACT_W.T  # mu(x) = A (x - b)
    with torch.no_grad():
        vae.decoder[0].weight.copy_(EXACT_W)
        vae.decoder[0].bias.copy_(EXACT_B)
        vae.to_mu.weight.copy_(A)
        vae.to_mu.bias.copy_(-A @ EXACT_B + torch.tensor(shift, dtype=torch.float64))
        vae.to_logvar.weight.zero_()
        vae.to_logvar.bias.copy_(EXACT_S2.log())
    return vae.eval()


def exact_log_p(x: torch.Tensor) -> torch.Tensor:
    cov = EXACT_W @ EXACT_W.T + torch.eye(4, dtype=torch.float64)
    return torch.distributions.MultivariateNormal(EXACT_B, cov).log_prob(x)


def model_data(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return z @ EXACT_W.T + EXACT_B + torch.randn(n, 4, generator=g, dtype=torch.float64)


SHIFT = (0.8, -0.6)  # a deliberately imperfect encoder
SHIFT_KL = 0.5 * float((torch.tensor(SHIFT, dtype=torch.float64) ** 2 / EXACT_S2).sum())


def mean_and_se(t: torch.Tensor) -> tuple[float, float]:
    return float(t.mean()), float(t.std()) / math.sqrt(len(t))


def test_with_the_exact_posterior_every_importance_weight_is_log_p_x():
    """log p(x, z) - log q(z | x) = log p(x) for every z when q = p(z | x): the IWAE estimate
    is exact for any k (a constant offset in log q or log p(z) shows up here), and the
    one-sample ELBO is log p(x) in expectation (its analytic KL is not per-sample)."""
    vae = exact_vae()
    x = model_data(6, seed=1) * 2  # also far from the data's bulk
    exact = exact_log_p(x)
    torch.testing.assert_close(vae.log_weights(x, 5, torch.Generator().manual_seed(0)),
                               exact.expand(5, -1), rtol=0, atol=1e-10)
    for k in (1, 7):
        torch.testing.assert_close(vae.log_prob(x, k=k, seed=k), exact, rtol=0, atol=1e-10)
    x = model_data(4000, seed=2)
    gap, se = mean_and_se(exact_log_p(x) - vae.elbo(x, seed=0))
    assert abs(gap) < 4 * se, (gap, se)


def test_elbo_gap_is_the_kl_from_q_to_the_exact_posterior():
    """log p(x) - E[ELBO] = KL(q(z|x) || p(z|x)) = 1/2 sum shift^2 / S (here about 1.8 nats),
    for the ELBO and for the k = 1 importance-weighted estimate; within 4 standard errors."""
    vae = exact_vae(SHIFT)
    x = model_data(4000, seed=3)
    exact = exact_log_p(x)
    for est in (vae.elbo(x, seed=0), vae.log_prob(x, k=1, seed=1)):
        gap, se = mean_and_se(exact - est)
        assert abs(gap - SHIFT_KL) < 4 * se, (gap, SHIFT_KL, se)


def test_iwae_bound_increases_with_k_toward_the_exact_log_likelihood():
    """With the imperfect encoder, the gap log p(x) - IWAE_k starts at the KL (k = 1), never
    goes below 0, shrinks strictly with k (each step by more than 4 standard errors of the
    difference) and is under 0.05 nats at k = 1000 (about chi^2 / 2k = 0.02)."""
    vae = exact_vae(SHIFT)
    x = model_data(1000, seed=4)
    exact = exact_log_p(x)
    gaps = [mean_and_se(exact - vae.log_prob(x, k=k, seed=k)) for k in (1, 10, 100, 1000)]
    print("gaps (mean, se) for k = 1, 10, 100, 1000:", gaps)
    assert abs(gaps[0][0] - SHIFT_KL) < 4 * gaps[0][1]
    for (g0, s0), (g1, s1) in zip(gaps, gaps[1:]):
        assert g0 - g1 > 4 * math.hypot(s0, s1)
    assert all(g > -4 * se for g, se in gaps)  # a lower bound (the mean over the examples)
    assert gaps[-1][0] < 0.05


def test_log_prob_chunking_splits_k_without_changing_the_estimator():
    """chunk=10 < k=64 splits the 64 samples of each example into 10+...+10+4 (the k loop);
    the draws differ from one unchunked pass (other shapes of randn), so: exact equality
    where every weight is log p(x), and equal means within 4 standard errors otherwise
    (averaging per piece instead of over all k would lower it by about 0.3 nats)."""
    x = model_data(10, seed=5)
    vae = exact_vae()
    torch.testing.assert_close(vae.log_prob(x, k=64, seed=3, chunk=10),
                               vae.log_prob(x, k=64, seed=3), rtol=0, atol=1e-10)
    vae = exact_vae(SHIFT)
    x = model_data(250, seed=6)
    exact = exact_log_p(x)
    lp = vae.log_prob(x, k=64, seed=3)
    assert torch.equal(lp, vae.log_prob(x, k=64, seed=3))  # a seed fixes the estimate
    whole = mean_and_se(exact - lp)
    split = mean_and_se(exact - vae.log_prob(x, k=64, seed=4, chunk=10))
    assert abs(whole[0] - split[0]) < 4 * math.hypot(whole[1], split[1]), (whole, split)


def test_beta_weights_the_kl_in_the_loss():
    model = VAE(VAEConfig(latent=2, hidden=(8,), beta=0.5), (6,)).reset_parameters(0)
    x = torch.bernoulli(torch.full((5, 6), 0.4), generator=torch.Generator().manual_seed(0))
    t = model.terms(x, torch.Generator().manual_seed(1))
    assert (t["kl"] > 0.01).all()
    torch.testing.assert_close(t["loss"], t["recon"] + 0.5 * t["kl"], rtol=0, atol=1e-6)
    torch.testing.assert_close(t["neg_elbo"], t["recon"] + t["kl"], rtol=0, atol=1e-6)


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


@pytest.mark.parametrize("config, shape, message", [
    ({"arch": "conv"}, (1, 8, 6), r"arch='conv' needs square images \(C, s, s\), got \(1, 8, 6\)"),
    ({"arch": "conv"}, (64,), r"arch='conv' needs square images \(C, s, s\), got \(64,\)"),
    ({}, (0,), r"vae: an example needs at least one value, got input shape \(0,\)"),
])
def test_a_shape_the_architecture_cannot_take_is_named(config, shape, message):
    with pytest.raises(ValueError, match=message):
        VAE(VAEConfig(latent=2, **config), shape)


@pytest.mark.parametrize("seed, error, message", [
    (-1, ValueError, "seed must be a non-negative integer, got -1"),
    (2.0, TypeError, r"seed must be an int, a torch.Generator or None, got 2.0 \(float\)"),
    (np.random.default_rng(0), TypeError, r"got Generator\(PCG64\) .* \(numpy.Generator\)"),
])
def test_a_bad_sampling_seed_is_named_with_its_type(seed, error, message):
    """A NumPy generator used to be reported as "got Generator", which reads as accepted."""
    vae = VAE(VAEConfig(latent=2, hidden=(4,)), (3,)).reset_parameters(0)
    with pytest.raises(error, match=message):
        vae.sample(2, seed=seed)


def test_data_samples_are_bits_or_the_mean_plus_unit_noise_and_seed_none_is_fresh():
    bern = VAE(VAEConfig(latent=2, hidden=(8,)), (1, 8, 8)).reset_parameters(0)
    bits = bern.sample(500, seed=1, mean=False)
    assert set(bits.unique().tolist()) == {0.0, 1.0}
    means = bern.sample(500, seed=1)  # the same z: the bits' average is the decoder mean
    assert abs(bits.mean() - means.mean()) < 0.03
    gauss = VAE(VAEConfig(latent=2, hidden=(8,), decoder="gaussian"), (6,)).reset_parameters(0)
    noise = gauss.sample(2000, seed=3, mean=False) - gauss.sample(2000, seed=3)
    assert abs(noise.std().item() - 1) < 0.05 and abs(noise.mean().item()) < 0.05
    assert not torch.equal(gauss.sample(3, seed=None), gauss.sample(3, seed=None))


def test_the_validation_loss_is_named_after_the_objective():
    def name(**kw):
        return VAE(VAEConfig(latent=2, hidden=(4,), **kw), (3,)).valid_loss_name

    assert name() == "negative ELBO"
    assert name(beta=0.5) == "negative ELBO with KL weight 0.5"
    assert name(iwae_k=5) == "negative IWAE bound (k=5)"


def test_grad_clip_bounds_the_update_of_the_default_training_step(fit_steps):
    """SGD with lr 1 moves the parameters by the clipped gradient: norm grad_clip."""
    vae = VAE(VAEConfig(latent=2, hidden=(8,)), (6,)).reset_parameters(0)
    x = torch.bernoulli(torch.full((32, 6), 0.5), generator=torch.Generator().manual_seed(0))
    before = torch.cat([p.detach().flatten().clone() for p in vae.parameters()])
    fit_steps(vae, x, 1, optimizer="sgd", lr=1.0, grad_clip=1e-3)
    after = torch.cat([p.detach().flatten() for p in vae.parameters()])
    assert (after - before).norm().item() == pytest.approx(1e-3, rel=1e-3)
