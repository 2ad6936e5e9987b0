"""The GAN: the seed's losses from logits, Algorithm 2, the theorem on C(G), the loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dgm.eval.theory import game_value, generator_gradients, jsd, optimal_discriminator
from dgm.models.gan import (
    GAN,
    GANConfig,
    collapsed,
    discriminator_loss,
    generator_loss,
    mmd2_per_example,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_losses_match_the_seed_in_probabilities():
    l_real, l_fake = torch.randn(50, generator=gen(1)) * 3, torch.randn(50, generator=gen(2)) * 3
    d_r, d_f = torch.sigmoid(l_real.double()), torch.sigmoid(l_fake.double())
    v = torch.log(d_r) + torch.log(1 - d_f)  # the seed's V per example
    assert torch.allclose(discriminator_loss(l_real, l_fake).double(), -v, atol=1e-5)
    bce = (F.binary_cross_entropy_with_logits(l_real, torch.ones(50), reduction="none")
           + F.binary_cross_entropy_with_logits(l_fake, torch.zeros(50), reduction="none"))
    assert torch.allclose(discriminator_loss(l_real, l_fake), bce, atol=1e-6)
    assert torch.allclose(generator_loss(l_fake, "minimax").double(), torch.log(1 - d_f), atol=1e-5)
    assert torch.allclose(generator_loss(l_fake, "nonsaturating").double(), -torch.log(d_f),
                          atol=1e-5)
    # stable far out in the tails, where the probabilities round to 0 or 1
    big = torch.tensor([-200.0, 200.0])
    assert torch.isfinite(discriminator_loss(big, big)).all()
    assert torch.isfinite(generator_loss(big, "minimax")).all()


def test_the_trick_keeps_the_generator_gradient_when_d_rejects_fakes():
    d = np.array([1e-1, 1e-3, 1e-6])
    g = generator_gradients(d)
    assert np.allclose(g["minimax"], d, rtol=1e-4)  # |grad| = D(G(z)) -> 0
    assert np.allclose(g["nonsaturating"], 1 - d, rtol=1e-4)  # |grad| = 1 - D -> 1
    assert g["minimax"][-1] < 1e-5 < 0.99 < g["nonsaturating"][-1]
    # with its sign: both losses fall as the logit rises (descent makes fakes look real):
    # d/dl log(1 - sigmoid(l)) = -D and d/dl -log sigmoid(l) = -(1 - D)
    logit = torch.logit(torch.tensor(d)).requires_grad_(True)
    for objective, expect in (("minimax", -d), ("nonsaturating", -(1 - d))):
        (grad,) = torch.autograd.grad(generator_loss(logit, objective).sum(), logit)
        np.testing.assert_allclose(grad.numpy(), expect, rtol=1e-6)


def test_theorem_value_at_optimal_discriminator_is_minus_log4_plus_2jsd():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
        q[rng.integers(6)] = 0  # also with disjoint support somewhere
        q /= q.sum()
        d_star = optimal_discriminator(p, q)
        c = game_value(p, q, d_star)
        assert c == pytest.approx(-math.log(4) + 2 * jsd(p, q), abs=1e-12)
        # D* is the maximizer: any other D gives less
        other = np.clip(d_star + rng.normal(0, 0.05, 6), 1e-6, 1 - 1e-6)
        assert game_value(p, q, other) <= c + 1e-12
    assert game_value(p, p, optimal_discriminator(p, p)) == pytest.approx(-math.log(4))


def test_trained_discriminator_approaches_d_star_for_a_fixed_known_generator():
    """Data N(0, 1); generator G(z) = z + 1.5 (a linear GAN generator, density N(1.5, 1))."""
    torch.manual_seed(0)  # not used by dgm; makes any accidental global use reproducible
    cfg = GANConfig(latent=1, g_hidden=(), d_hidden=(32, 32), output="linear",
                    k_steps=10**9, lr_d=3e-3)  # the generator never steps: it stays fixed
    gan = GAN(cfg, (1,)).reset_parameters(0)
    with torch.no_grad():
        gan.G[0].weight.fill_(1.0)
        gan.G[0].bias.fill_(1.5)
    opts = gan.configure_optimizers(lambda p, **kw: torch.optim.Adam(p, **kw))
    g = gen(0)
    for _ in range(1500):
        x = torch.randn(256, 1, generator=g)
        gan.training_step(gan, x, opts, g)
    grid = np.linspace(-6, 7.5, 2701)
    dx = grid[1] - grid[0]
    p = np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi)
    q = np.exp(-(grid - 1.5) ** 2 / 2) / math.sqrt(2 * math.pi)
    d_star = optimal_discriminator(p, q)
    d = gan.discriminate(torch.tensor(grid[:, None], dtype=torch.float32)).double().numpy()
    bulk = (grid > -1.5) & (grid < 3.0)
    assert np.abs(d - d_star)[bulk].max() < 0.06
    exact = -math.log(4) + 2 * jsd(p, q, dx)
    assert game_value(p, q, d_star, dx) == pytest.approx(exact, abs=1e-6)
    assert game_value(p, q, d, dx) == pytest.approx(exact, abs=0.02)
    assert game_value(p, q, d, dx) <= exact + 1e-9


def test_algorithm2_moves_an_affine_generator_to_the_data_distribution():
    """Data N(2, 0.5^2); G(z) = w z + c (latent 1, no hidden layer, linear output), so p_g =
    N(c, w^2) exactly. 400 steps of Algorithm 2 (k = 1, non-saturating, Adam at lr 0.02 held
    for 200 steps, then decayed linearly to 0) bring the mean within 0.2 and the std within
    0.15 of the data's (six seeds tried: both within 0.05); the initial G is not."""
    cfg = GANConfig(latent=1, g_hidden=(), d_hidden=(32, 32), output="linear", lr_g=2e-2,
                    lr_d=2e-2)
    gan = GAN(cfg, (1,)).reset_parameters(0)
    opts = gan.configure_optimizers(lambda p, **kw: torch.optim.Adam(p, **kw))

    def moments() -> tuple[float, float]:
        s = gan.sample(20_000, seed=1)[:, 0]  # SE of the std about 0.0025
        return float(s.mean()), float(s.std())

    def close(m: tuple[float, float]) -> bool:
        return abs(m[0] - 2.0) < 0.2 and abs(m[1] - 0.5) < 0.15

    assert not close(moments())
    g, steps = gen(0), 400
    for i in range(steps):
        for opt in opts.values():
            opt.param_groups[0]["lr"] = 2e-2 * min(1.0, 2 * (1 - i / steps))
        gan.training_step(gan, 2 + 0.5 * torch.randn(128, 1, generator=g), opts, g)
    assert close(moments()), moments()


def test_algorithm2_k_discriminator_steps_per_generator_step():
    gan = GAN(GANConfig(latent=2, g_hidden=(8,), d_hidden=(8,), k_steps=3, output="linear"),
              (2,)).reset_parameters(0)
    opts = gan.configure_optimizers(lambda p, **kw: torch.optim.Adam(p, **kw))
    assert opts["generator"].defaults["betas"] == (0.5, 0.999)
    g, x = gen(0), torch.randn(16, 2, generator=gen(5))
    g_changed, d_changed = [], []
    for _ in range(6):
        g0 = [p.clone() for p in gan.G.parameters()]
        d0 = [p.clone() for p in gan.D.parameters()]
        terms = gan.training_step(gan, x, opts, g)
        g_changed.append(any(not torch.equal(a, b) for a, b in zip(g0, gan.G.parameters())))
        d_changed.append(any(not torch.equal(a, b) for a, b in zip(d0, gan.D.parameters())))
    assert g_changed == [False, False, True, False, False, True]
    assert all(d_changed)
    assert int(gan.d_steps) == 6
    assert set(terms) == {"d_loss", "g_loss", "d_real", "d_fake", "d_collapsed", "loss"}


@pytest.mark.parametrize("objective", ["minimax", "nonsaturating"])
def test_training_step_is_deterministic_and_finite(objective):
    def run():
        gan = GAN(GANConfig(latent=2, g_hidden=(8,), d_hidden=(8,), objective=objective,
                            output="linear"), (2,)).reset_parameters(1)
        opts = gan.configure_optimizers(lambda p, **kw: torch.optim.Adam(p, **kw))
        g = gen(3)
        out = [gan.training_step(gan, torch.randn(8, 2, generator=g), opts, g) for _ in range(5)]
        return out[-1], gan.sample(4, seed=0)

    (t1, s1), (t2, s2) = run(), run()
    assert torch.equal(s1, s2)
    for k in t1:
        assert torch.isfinite(t1[k]) and torch.equal(t1[k], t2[k]), k


def test_collapse_detector():
    t = torch.tensor
    assert collapsed(t(0.999), t(0.001)) == 1  # perfect discriminator: G gets no signal
    assert collapsed(t(0.001), t(0.002)) == 1  # pinned to "fake"
    assert collapsed(t(0.995), t(0.999)) == 1  # pinned to "real"
    assert collapsed(t(0.6), t(0.4)) == 0


def test_a_long_collapse_is_warned_about_once():
    import dgm.models.gan as G

    gan = GAN(GANConfig(latent=2, g_hidden=(8,), d_hidden=(8,), output="linear"), (2,))
    pinned, ok = torch.tensor(1.0), torch.tensor(0.0)
    with pytest.warns(RuntimeWarning, match="collapsed"):
        for _ in range(G.COLLAPSE_WARN_STEPS + 5):
            gan._watch_collapse(pinned, torch.tensor(1.0), torch.tensor(0.0))
    gan._watch_collapse(ok, torch.tensor(0.5), torch.tensor(0.5))
    assert int(gan.collapsed_steps) == 0


def test_validation_terms_are_per_example_with_pack_and_odd_batches():
    gan = GAN(GANConfig(latent=2, g_hidden=(8,), d_hidden=(8,), pack=2, output="linear"),
              (2,)).reset_parameters(0)
    terms = gan.validation_terms(torch.randn(7, 2, generator=gen(0)), gen(1))
    for k, v in terms.items():
        assert v.shape == (7,), k
        assert torch.isfinite(v).all(), k
    assert torch.equal(terms["loss"], terms["mmd2"])


def test_mmd_is_zero_for_identical_sets_and_grows_with_a_shift():
    x = torch.randn(200, 2, generator=gen(0))
    assert mmd2_per_example(x, x).mean().abs() < 1e-6
    near = mmd2_per_example(x, torch.randn(200, 2, generator=gen(1))).mean()
    far = mmd2_per_example(x, torch.randn(200, 2, generator=gen(1)) + 3).mean()
    assert near < 0.05 < far


def test_config_errors_name_the_option():
    for bad, name in [({"objective": "wgan"}, "objective"), ({"k_steps": 0}, "k_steps"),
                      ({"output": "relu"}, "output"), ({"gd_beta1": 1.0}, "gd_beta1"),
                      ({"pack": 0}, "pack")]:
        with pytest.raises(ValueError, match=name):
            GANConfig.from_dict(bad)


def test_accepted_data_kinds_follow_the_output():
    assert "real" not in GAN(GANConfig(output="tanh"), (2,)).accepted_kinds()
    assert "real" in GAN(GANConfig(output="linear"), (2,)).accepted_kinds()
    assert GAN(GANConfig(output="tanh"), (2,)).data_range == "pm1"


def test_discriminate_scores_each_example_alone_and_leaves_the_model_as_it_was():
    from dgm.models.dcgan import DCGAN, DCGANConfig

    m = DCGAN(DCGANConfig(latent=8, width=4), (1, 16, 16)).reset_parameters(0)
    x = torch.rand(4, 256, generator=gen(0)) * 2 - 1
    state = {k: v.clone() for k, v in m.state_dict().items()}
    d4, d1 = m.discriminate(x), m.discriminate(x[:1])
    assert torch.allclose(d4[:1], d1) and m.D.training
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in state.items())


def test_dcgan_statistics_refresh_takes_a_seed_or_generator_and_checks_its_counts():
    from dgm.models.dcgan import DCGAN, DCGANConfig

    m = DCGAN(DCGANConfig(latent=8, width=4), (1, 16, 16)).reset_parameters(0)
    for bad, message in (({"batches": 0}, "batches must be"), ({"batch": 1}, "at least 2")):
        with pytest.raises(ValueError, match=message):
            m.refresh_statistics(**bad)
    m.refresh_statistics(batches=2, batch=8, seed=torch.Generator().manual_seed(3))
    a = [b.clone() for b in m.G.buffers()]
    m.refresh_statistics(batches=2, batch=8, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a, m.G.buffers()))


def test_mmd_and_discriminate_name_what_they_need():
    with pytest.raises(ValueError, match="MMD's median-distance bandwidth needs at least 2 rows, "
                                         "got 1"):
        mmd2_per_example(torch.zeros(1, 2), torch.zeros(1, 2))
    packed = GAN(GANConfig(pack=2), (2,)).reset_parameters(0)
    with pytest.raises(ValueError, match="discriminate\\(\\) scores single examples, but this "
                                         "gan's discriminator takes packs of pack=2"):
        packed.discriminate(torch.zeros(4, 2))


def test_grad_clip_clips_each_player_s_gradient(fit_steps, monkeypatch):
    """Both the discriminator's and the generator's step clip their own parameters, before
    the optimizer steps: the gradient norm each optimizer sees is <= the limit, though the
    raw one was above it."""
    clip, calls = torch.nn.utils.clip_grad_norm_, []

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        raw = clip(params, max_norm, *args, **kwargs)
        calls.append((max_norm, {id(p) for p in params}, float(raw)))
        return raw

    at_step = []

    def record(optimizer, args, kwargs):
        grads = [q.grad for g in optimizer.param_groups for q in g["params"]
                 if q.grad is not None]
        at_step.append(float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(gr) for gr in grads]))))

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    hook = register_optimizer_step_pre_hook(record)
    try:
        model = GAN(GANConfig(latent=2, g_hidden=(8,), d_hidden=(8,), output="linear"),
                    (2,)).reset_parameters(0)
        fit_steps(model, 50 * torch.randn(16, 2, generator=gen(0)), 1, grad_clip=0.5)
    finally:
        hook.remove()
    players = [{id(p) for p in m.parameters()} for m in (model.D, model.G)]
    assert [c[:2] for c in calls] == [(0.5, players[0]), (0.5, players[1])]
    assert len(at_step) == 2 and max(at_step) <= 0.5 + 1e-6, at_step
    assert max(c[2] for c in calls) > 0.5  # the limit did bite
