r"""Variational autoencoder (the seed's "Variational Autoencoders").

Neural-network view: an encoder :math:`Q_\theta(z|x) = N(\mu(x), \Sigma(x))` with a
diagonal :math:`\Sigma`, a decoder :math:`P_\phi(x|z)` and the per-example loss

    l_i = -E_{z ~ Q(z|x_i)}[log P(x_i|z)] + KL(Q(z|x_i) || P(z)),   P(z) = N(0, I).

Graphical-model view: ``-l_i`` is the evidence lower bound (ELBO) on
``log P(x_i)``; the gap is ``KL(Q(z|x) || P(z|x)) >= 0``.

Reparameterization makes the expectation differentiable: ``z = mu + sigma * eps``
with ``eps ~ N(0, I)``. The KL of two Gaussians is analytic:

    KL(N(mu, Sigma) || N(0, I)) = 1/2 (tr Sigma + mu^T mu - k - log det Sigma).

``log_prob`` is the importance-weighted estimate (Burda et al. 2016)

    log p(x) ~= log (1/K) sum_k p(x, z_k) / q(z_k | x),   z_k ~ q(z|x),

a lower bound in expectation that increases with K toward log p(x); training
with ``iwae_k > 1`` optimizes that bound instead of the ELBO (IWAE).
``beta`` weights the KL term (beta-VAE); ``kl_warmup = T`` ramps that weight from 0 to
beta over the first T training steps (Sonderby et al. 2016). Validation, early stopping
and every reported figure use the full weight.

>>> import torch
>>> vae = VAE(VAEConfig(latent=2, hidden=(16,)), (1, 8, 8))
>>> x = torch.bernoulli(torch.full((4, 64), 0.5), generator=torch.Generator().manual_seed(0))
>>> sorted(vae(x, torch.Generator().manual_seed(0)))
['kl', 'loss', 'neg_elbo', 'recon']
>>> vae.log_prob(x, k=10, seed=0).shape
torch.Size([4])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dgm._rng import require_generator
from dgm.models._layers import bernoulli, conv_decoder, conv_encoder, mlp
from dgm.models.base import (
    GenerativeModel,
    ModelConfig,
    check_choice,
    check_count,
    check_positive,
)

LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEConfig(ModelConfig):
    """Hyperparameters of a VAE; the defaults are the IWAE paper's one-layer model."""

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"latent": 2, "hidden": (16,)},
        "iwae-paper": {"latent": 50, "hidden": (200, 200), "activation": "tanh"},
        "iwae-paper-k50": {"latent": 50, "hidden": (200, 200), "activation": "tanh", "iwae_k": 50},
        "conv": {"latent": 16, "arch": "conv", "conv_width": 32},
    }

    latent: int = 50  # k, the dimension of z
    hidden: tuple[int, ...] = (200, 200)  # MLP hidden sizes (encoder; the decoder mirrors them)
    activation: str = "tanh"  # hidden units: tanh | relu | softplus | elu | leaky_relu | sigmoid
    decoder: str = "bernoulli"  # "bernoulli" for binary data, "gaussian" (unit variance)
    arch: str = "mlp"  # "mlp" or "conv"
    conv_width: int = 32  # channels of the first conv layer (arch "conv")
    iwae_k: int = 1  # importance samples in the training objective: 1 = the ELBO (VAE)
    beta: float = 1.0  # weight of the KL term (beta-VAE); 1 = the ELBO
    kl_warmup: int = 0  # training steps over which the KL weight ramps from 0 to beta (0 = off)

    def validate(self) -> None:
        check_positive("latent", self.latent)
        check_positive("iwae_k", self.iwae_k)
        check_positive("beta", self.beta, allow_zero=True)
        check_choice("decoder", self.decoder, ("bernoulli", "gaussian"))
        check_choice("arch", self.arch, ("mlp", "conv"))
        check_positive("kl_warmup", self.kl_warmup, allow_zero=True)
        if (self.beta != 1.0 or self.kl_warmup) and self.iwae_k > 1:
            raise ValueError("beta != 1 and kl_warmup are defined for the ELBO only (iwae_k = 1)")
        for h in self.hidden:
            check_positive("hidden", h)


# -- the seed's equations, as small functions ------------------------------------------


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps, sigma = exp(logvar / 2)."""
    return mu + torch.exp(0.5 * logvar) * eps


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) = 1/2 (tr Sigma + mu^T mu - k - log det Sigma)."""
    return 0.5 * (logvar.exp().sum(-1) + (mu * mu).sum(-1) - mu.shape[-1] - logvar.sum(-1))


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last axis."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


def bernoulli_log_lik(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """sum_i x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i), stable in the logits."""
    bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return -bce.sum(-1)


def gaussian_log_lik(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """log N(x; f(z), I) = -1/2 ||x - f(z)||^2 - D/2 log 2 pi (the seed's squared error)."""
    return -0.5 * ((x - mean) ** 2).sum(-1) - 0.5 * x.shape[-1] * LOG_2PI


def log_mean_exp(a: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.logsumexp(a, dim) - math.log(a.shape[dim])


class VAE(GenerativeModel):
    """Variational autoencoder: Gaussian encoder, reparameterization, analytic KL, ELBO."""

    name = "vae"
    Config = VAEConfig
    data_kinds = ("binary", "unit", "real", "pm1")
    data_kind_hint = "--decoder bernoulli takes binary data, --decoder gaussian any other"
    eval_options = {"iwae_k": (int, 5000, "importance samples for the VAE's log p(x) estimate")}
    graph_safe = True  # verified on a GPU: benchmarks/gpu_step.py (the same run, replayed)

    def __init__(self, config: VAEConfig, input_shape: tuple[int, ...]):
        super().__init__(config, input_shape)
        c, D, k = config, self.n_inputs, config.latent
        if c.arch == "mlp":
            self.encoder = mlp((D, *c.hidden), c.activation, final_act=True)
            enc_out = c.hidden[-1] if c.hidden else D
            self.decoder = mlp((k, *reversed(c.hidden), D), c.activation)
        else:
            if len(self.input_shape) != 3 or self.input_shape[1] != self.input_shape[2]:
                raise ValueError(f"arch='conv' needs square images (C, s, s), got {input_shape}")
            ch, side = self.input_shape[0], self.input_shape[1]
            self.encoder, enc_out = conv_encoder(ch, side, c.conv_width, "relu")
            self.decoder = conv_decoder(k, ch, side, c.conv_width, "relu")
        self.to_mu = nn.Linear(enc_out, k)
        self.to_logvar = nn.Linear(enc_out, k)
        if c.kl_warmup:  # training steps taken, for the KL weight (checkpointed)
            self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def accepted_kinds(self) -> tuple[str, ...]:
        return ("binary",) if self.config.decoder == "bernoulli" else self.data_kinds

    def _reset_own(self, generator: torch.Generator) -> None:
        if self.config.kl_warmup:
            self.steps.zero_()

    # -- abstraction: Q(z | x) ----------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mu(x) and log diag Sigma(x), each (B, latent)."""
        h = self.encoder(x if self.config.arch == "mlp" else x.view(-1, *self.input_shape))
        return self.to_mu(h), self.to_logvar(h)

    @torch.no_grad()
    def posterior(self, x: Any, n_samples: int = 1, seed: Any = None) -> dict[str, torch.Tensor]:
        """Q(z | x): ``mu`` (B, k), ``sigma2`` = diag Sigma (B, k), ``z`` samples (n, B, k)."""
        n_samples = check_count("n_samples", n_samples)
        mu, logvar = self.encode(self.check_input(x))
        eps = torch.randn((n_samples, *mu.shape), generator=self._generator(seed),
                          device=mu.device, dtype=mu.dtype)
        return {"mu": mu, "sigma2": logvar.exp(), "z": reparameterize(mu, logvar, eps)}

    def transform(self, x: Any) -> torch.Tensor:
        """The posterior means mu(x) (B, latent): the VAE's abstraction of x."""
        with torch.no_grad():
            return self.encode(self.check_input(x))[0]

    # -- generation: P(x | z) ------------------------------------------------------------
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output: Bernoulli logits or Gaussian means, (..., D)."""
        lead = z.shape[:-1]
        return self.decoder(z.reshape(-1, z.shape[-1])).reshape(*lead, self.n_inputs)

    def log_lik(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.config.decoder == "bernoulli":
            return bernoulli_log_lik(x, out)
        return gaussian_log_lik(x, out)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out) if self.config.decoder == "bernoulli" else out

    # -- the loss ------------------------------------------------------------------------
    def log_weights(self, x: torch.Tensor, k: int, generator) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k | x) for k samples z_k ~ q(z|x): (k, B)."""
        mu, logvar = self.encode(x)  # (B, latent)
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device,
                          dtype=mu.dtype)  # (k, B, latent)
        z = reparameterize(mu, logvar, eps)
        log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        # log q(z | x) from eps itself: (z - mu)^2 / sigma^2 = eps^2 exactly, where z - mu
        # would lose eps to rounding once sigma is below mu's float precision
        log_qz = -0.5 * (LOG_2PI + logvar + eps * eps).sum(-1)  # (k, B)
        return self.log_lik(x, self.decode(z)) + log_pz - log_qz  # (k, B)

    def kl_weight(self) -> float | torch.Tensor:
        """beta, ramped linearly from 0 over the first ``kl_warmup`` training steps
        (deterministic warm-up, Sonderby et al. 2016): early on the decoder learns to use z
        before the KL term can switch latent units off. A tensor on the model's device while
        warming up: reading the step count back would stall a GPU at every step."""
        c = self.config
        if not c.kl_warmup:
            return c.beta
        return c.beta * (self.steps.double() / c.kl_warmup).clamp(max=1.0).float()

    def terms(self, x: torch.Tensor, generator, kl_weight: float | torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
        """Per-example terms (B,): recon = -E log P(x|z), kl, neg_elbo, loss (KL weighted by
        ``kl_weight``, default beta)."""
        c = self.config
        require_generator(generator, "VAE.terms (the reparameterization's eps)")
        x = self.as_batch(x)  # (B, D)
        mu, logvar = self.encode(x)  # (B, latent)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        recon = -self.log_lik(x, self.decode(reparameterize(mu, logvar, eps)))  # (B,)
        kl = kl_std_normal(mu, logvar)  # (B,)
        out = {"recon": recon, "kl": kl, "neg_elbo": recon + kl}
        if c.iwae_k > 1:
            out["loss"] = -log_mean_exp(self.log_weights(x, c.iwae_k, generator), 0)
        else:
            out["loss"] = recon + (c.beta if kl_weight is None else kl_weight) * kl
        return out

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Mean terms of a training step (the KL weight warms up while ``self.training``)."""
        w = self.kl_weight() if self.training else None
        if self.training and self.config.kl_warmup:
            self.steps += 1
        return {k: v.mean() for k, v in self.terms(x, generator, w).items()}

    @property
    def valid_loss_name(self) -> str:
        c = self.config
        if c.iwae_k > 1:
            return f"negative IWAE bound (k={c.iwae_k})"
        return "negative ELBO" if c.beta == 1.0 else f"negative ELBO with KL weight {c.beta}"

    def validation_terms(self, x, generator=None):
        return {k: v.detach() for k, v in self.terms(x, generator).items()}

    # -- likelihood ----------------------------------------------------------------------
    @torch.no_grad()
    def log_prob(self, x: Any, k: int = 5000, seed: Any = None, chunk: int = 2**17) -> torch.Tensor:
        """IWAE estimate of log p(x) with ``k`` importance samples, per example (nats)."""
        k, chunk = check_count("k", k), check_count("chunk", chunk)
        x = self.check_likelihood_input(x)
        gen = self._generator(seed)
        out = []
        rows = max(1, chunk // max(k, 1))  # examples per pass, so that rows * kk <= chunk
        for xb in x.split(rows):
            kk = max(1, min(k, chunk // xb.shape[0]))
            lw = [self.log_weights(xb, min(kk, k - s), gen) for s in range(0, k, kk)]
            out.append(log_mean_exp(torch.cat(lw, 0), 0))
        return torch.cat(out)

    @torch.no_grad()
    def elbo(self, x: Any, seed: Any = None) -> torch.Tensor:
        """One-sample ELBO per example (nats)."""
        return -self.terms(self.check_likelihood_input(x), self._generator(seed))["neg_elbo"]

    def nll(self, x: Any, iwae_k: int = 5000, seed: Any = 0) -> dict[str, torch.Tensor]:
        """Per-example -log p(x) (IWAE, k = iwae_k) and -ELBO, for ``dgm eval``."""
        check_count("iwae_k", iwae_k)
        with torch.no_grad():
            lp = self.log_prob(x, k=iwae_k, seed=seed)
            gen = self._generator(seed)  # one stream: each chunk draws fresh noise
            x = self.check_likelihood_input(x)
            ne = -torch.cat([self.elbo(xb, gen) for xb in x.split(1000)])
        return {"nll_nats": -lp, "neg_elbo_nats": ne}

    # -- generation ----------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, seed: Any = None, mean: bool = True) -> torch.Tensor:
        """Draw z ~ N(0, I) and decode: the decoder means (``mean=True``) or data samples."""
        n = check_count("n", n, allow_zero=True)
        gen = self._generator(seed)
        z = torch.randn((n, self.config.latent), generator=gen, device=self.device,
                        dtype=self.dtype)
        out = self.decode(z)  # (n, D)
        if mean:
            return self.mean(out)
        if self.config.decoder == "bernoulli":
            return bernoulli(torch.sigmoid(out), generator=gen)
        return out + torch.randn(out.shape, generator=gen, device=out.device, dtype=out.dtype)

    @torch.no_grad()
    def reconstruct(self, x: Any) -> torch.Tensor:
        """Decoder mean at the posterior mean: x -> mu(x) -> E[x | z = mu(x)]."""
        return self.mean(self.decode(self.encode(self.check_input(x))[0]))

    @torch.no_grad()
    def decode_grid(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder means for given latent points z (N, latent) (the 2-D manifold picture)."""
        z = torch.as_tensor(z).to(self.device, self.dtype)
        if z.dim() != 2 or z.shape[1] != self.config.latent:
            raise ValueError(f"z must be (N, {self.config.latent}) latent points, got shape "
                             f"{tuple(z.shape)}")
        return self.mean(self.decode(z))
