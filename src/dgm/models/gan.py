r"""Generative adversarial network (the seed's "Generative Adversarial Networks").

A generator :math:`G_\phi` maps noise :math:`z \sim N(0, I)` to data space; a
discriminator :math:`D_\theta(x) = \sigma(l_\theta(x))` scores "real". The game

    min_phi max_theta V(D, G) = E_{x~p_data}[log D(x)] + E_{z~p(z)}[log(1 - D(G(z)))]

is played by the seed's Algorithm 2: ``k_steps`` discriminator updates (ascending
V in theta, i.e. descending ``d_loss = -V``) per generator update. Everything is
computed from the logits ``l`` (stable): ``log D = -softplus(-l)`` and
``log(1 - D) = -softplus(l)``. The generator's objective is selectable:

* ``"minimax"``: minimize ``E log(1 - D(G(z))) = -E softplus(l)``; its gradient in ``l`` is
  ``-sigma(l) = -D(G(z))``, which vanishes when D confidently rejects the fakes;
* ``"nonsaturating"`` (the seed's "trick"): maximize ``E log D(G(z))``, i.e. minimize
  ``E softplus(-l)``; gradient ``-(1 - D(G(z)))``, about -1 exactly there.

Algorithm 2 with one data batch per loop step: every loop step is one discriminator
update on that batch with fresh noise; the generator is updated (with fresh noise) on
every ``k_steps``-th loop step, counted by the buffer ``d_steps`` (checkpointed), so
every discriminator step sees a fresh minibatch of data as in the seed.

``pack > 1`` is PacGAN (Lin et al. 2018): the discriminator judges ``pack`` samples
concatenated, which penalizes mode collapse.

Terms per step: ``d_loss`` (= -V), ``g_loss``, ``d_real`` = mean D(x), ``d_fake`` = mean
D(G(z)), ``d_collapsed`` (1 when D is pinned: ``d_real > 0.99`` and ``d_fake < 0.01``,
or both on the same side of 0.01 / 0.99 -- the per-epoch mean is the share of collapsed
steps) and ``loss = d_loss + g_loss`` (the loop stops on NaN, keeping the last good
checkpoint). Validation ``loss`` is the squared MMD (Gaussian kernels) between a
validation batch and as many generated samples: lower is closer to the data, so the
loop's "best" checkpoint is a sample-quality choice.

>>> import torch
>>> gan = GAN(GANConfig(latent=2, g_hidden=(8,), d_hidden=(8,)), (2,)).reset_parameters(0)
>>> x = torch.zeros(6, 2)
>>> sorted(gan(x, torch.Generator().manual_seed(0)))
['d_collapsed', 'd_fake', 'd_loss', 'd_real', 'g_loss', 'loss']
>>> gan.sample(3, seed=0).shape
torch.Size([3, 2])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dgm._rng import require_generator
from dgm.models._layers import activation, mlp
from dgm.models.base import (
    GenerativeModel,
    ModelConfig,
    check_choice,
    check_count,
    check_positive,
)

OBJECTIVES = ("nonsaturating", "minimax")
COLLAPSE_WARN_STEPS = 200
OUTPUTS = ("tanh", "sigmoid", "linear")
KINDS_BY_OUTPUT = {"tanh": ("pm1", "unit", "binary"), "sigmoid": ("unit", "binary"),
                   "linear": ("real", "pm1", "unit", "binary")}


@dataclass
class GANConfig(ModelConfig):
    """Hyperparameters of an MLP GAN; its Adam settings override TrainConfig's lr/beta1."""

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"latent": 4, "g_hidden": (16,), "d_hidden": (16,), "output": "sigmoid"},
        "toy": {"latent": 2, "g_hidden": (128, 128, 128), "d_hidden": (128, 128),
                "output": "linear", "pack": 2},  # PacGAN2; benchmarks/gan_toy.py
        "mnist": {"latent": 100, "g_hidden": (256, 512), "d_hidden": (512, 256),
                  "output": "tanh"},
    }

    latent: int = 64  # dimension of z ~ N(0, I)
    g_hidden: tuple[int, ...] = (256, 256)  # generator hidden sizes
    d_hidden: tuple[int, ...] = (256, 256)  # discriminator hidden sizes (per pack)
    g_activation: str = "relu"  # generator hidden units
    d_activation: str = "leaky_relu"  # discriminator hidden units (slope 0.2)
    output: str = "tanh"  # generator output: tanh (pm1 data), sigmoid ([0, 1]), linear (real)
    objective: str = "nonsaturating"  # G minimizes -log D(G(z)), or log(1-D(G(z))): minimax
    k_steps: int = 1  # discriminator steps per generator step (Algorithm 2's k)
    pack: int = 1  # PacGAN: samples per discriminator input
    lr_g: float = 2e-4  # Adam learning rate of the generator
    lr_d: float = 2e-4  # Adam learning rate of the discriminator
    gd_beta1: float = 0.5  # Adam beta1 of both players (TrainConfig.beta1 is not used)
    gd_beta2: float = 0.999  # Adam beta2 of both players

    def validate(self) -> None:
        check_positive("latent", self.latent)
        check_positive("k_steps", self.k_steps)
        check_positive("pack", self.pack)
        check_positive("lr_g", self.lr_g)
        check_positive("lr_d", self.lr_d)
        check_choice("objective", self.objective, OBJECTIVES)
        if self.output not in OUTPUTS:  # beside --out (the run directory): name both
            raise ValueError(f"output (the generator's output activation) must be one of "
                             f"{OUTPUTS}, got {self.output!r}; the run directory is --out/-o")
        for name in ("gd_beta1", "gd_beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        for name in ("g_hidden", "d_hidden"):
            for h in getattr(self, name):
                check_positive(name, h)
        activation(self.g_activation, "g_activation")  # a ValueError for an unknown name
        activation(self.d_activation, "d_activation")


# -- the seed's equations, from logits -----------------------------------------------------


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-V = -[log D(x) + log(1 - D(G(z)))] = softplus(-l_real) + softplus(l_fake), per example."""
    return F.softplus(-real_logits) + F.softplus(fake_logits)


def generator_loss(fake_logits: torch.Tensor, objective: str) -> torch.Tensor:
    """Per-example generator loss: log(1 - D) = -softplus(l) (minimax) or -log D = softplus(-l)."""
    if objective == "minimax":
        return -F.softplus(fake_logits)
    return F.softplus(-fake_logits)


def collapsed(d_real: torch.Tensor, d_fake: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """1.0 when the discriminator is pinned (perfect, or saturated to one answer), else 0.0."""
    perfect = (d_real > 1 - eps) & (d_fake < eps)
    same = ((d_real > 1 - eps) & (d_fake > 1 - eps)) | ((d_real < eps) & (d_fake < eps))
    return (perfect | same).float()


def mmd2_per_example(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-row contributions (B,) whose mean is the biased MMD^2 between x and y (B, D).

    Kernel: the sum of Gaussians with bandwidths {1/4, 1, 4} x the median squared distance
    between rows of x (median heuristic).
    """
    b = x.shape[0]
    if b < 2:
        raise ValueError(f"MMD's median-distance bandwidth needs at least 2 rows, got {b}")
    xy = torch.cat([x, y])
    d2 = torch.cdist(xy, xy).pow(2)  # (2B, 2B)
    off_diag = ~torch.eye(b, dtype=torch.bool, device=x.device)
    med = d2[:b, :b][off_diag].median().clamp_min(1e-12)
    k = sum(torch.exp(-d2 / (s * med)) for s in (0.25, 1.0, 4.0))
    kxx, kyy, kxy = k[:b, :b], k[b:, b:], k[:b, b:]
    return kxx.mean(1) + kyy.mean(1) - kxy.mean(1) - kxy.mean(0)


class GAN(GenerativeModel):
    """Generative adversarial network with MLP generator and discriminator (Algorithm 2)."""

    name = "gan"
    Config = GANConfig
    data_kinds = ("real", "pm1", "unit", "binary")
    data_kind_hint = ("the generator's --output decides: tanh takes images in [-1, 1] or "
                      "[0, 1], sigmoid [0, 1], linear also real-valued data such as ring8 "
                      "(--preset toy)")
    adversarial: ClassVar[bool] = True  # no single loss to minimize (see the contract tests)

    def __init__(self, config: GANConfig, input_shape: tuple[int, ...]):
        super().__init__(config, input_shape)
        self.G, self.D = self.build_generator(), self.build_discriminator()
        self.register_buffer("d_steps", torch.zeros((), dtype=torch.long))
        #: consecutive steps with a collapsed discriminator (a warning at COLLAPSE_WARN_STEPS)
        self.register_buffer("collapsed_steps", torch.zeros((), dtype=torch.long))

    @property
    def min_batch(self) -> int:
        """One whole pack for the discriminator, and 2 rows for the MMD's median distance."""
        return max(2, self.config.pack)

    # -- the two networks (DCGAN overrides these) ------------------------------------------
    def build_generator(self) -> nn.Module:
        c = self.config
        g = mlp((c.latent, *c.g_hidden, self.n_inputs), c.g_activation)
        if c.output != "linear":
            g.append(activation(c.output))
        return g

    def build_discriminator(self) -> nn.Module:
        c = self.config
        return mlp((c.pack * self.n_inputs, *c.d_hidden, 1), c.d_activation)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z): (B, latent) -> (B, n_inputs)."""
        return self.G(z).reshape(z.shape[0], self.n_inputs)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """l(x) with D(x) = sigmoid(l): (B, n_inputs) -> (B // pack,), packs of consecutive rows."""
        p = self.config.pack
        m = x.shape[0] // p
        if m == 0:
            raise ValueError(f"{self.name}: the discriminator judges packs of {p} examples; "
                             f"a batch of {x.shape[0]} holds none")
        return self.D(x[: m * p].reshape(m, p * self.n_inputs)).reshape(m)

    # -- data ranges -----------------------------------------------------------------------
    def accepted_kinds(self) -> tuple[str, ...]:
        return KINDS_BY_OUTPUT[self.config.output]

    @property
    def output_range(self) -> str:
        """"pm1" for a tanh generator, "unit" for a sigmoid one, else "real"."""
        return {"tanh": "pm1", "sigmoid": "unit", "linear": "real"}[self.config.output]

    def noise(self, n: int, generator) -> torch.Tensor:
        """z ~ N(0, I), (n, latent), from ``generator`` (never torch's global one)."""
        return torch.randn((n, self.config.latent), device=self.device, dtype=self.dtype,
                           generator=require_generator(generator, f"{self.name}.noise"))

    # -- one evaluation of the game (no update) -------------------------------------------
    def terms(self, x: torch.Tensor, generator) -> dict[str, torch.Tensor]:
        """Per-pack terms of the game on real batch x and as many fresh fakes."""
        x = self.check_input(x)
        fake = self.generate(self.noise(x.shape[0], generator))
        lr, lf = self.logits(x), self.logits(fake)
        d_real, d_fake = torch.sigmoid(lr), torch.sigmoid(lf)
        d_loss = discriminator_loss(lr, lf)
        g_loss = generator_loss(lf, self.config.objective)
        return {"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real, "d_fake": d_fake,
                "d_collapsed": collapsed(d_real.mean(), d_fake.mean()).expand_as(d_real),
                "loss": d_loss + g_loss}

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        return {k: v.mean() for k, v in self.terms(x, generator).items()}

    valid_loss_name = "MMD^2 between the data and G's samples"

    def validation_terms(self, x, generator=None):
        """Per-example terms; ``loss`` = MMD^2 contributions of x against G's samples."""
        x = self.check_input(x)
        out = {k: v.detach().repeat_interleave(self.config.pack)
               for k, v in self.terms(x, generator).items()}
        b = out["d_loss"].shape[0]  # the packed rows (a multiple of pack)
        n = x.shape[0]
        pad = (lambda v: torch.cat([v, v[-1:].expand(n - b)])) if b < n else (lambda v: v)
        out = {k: pad(v) for k, v in out.items()}
        fake = self.generate(self.noise(n, generator)).detach()
        out["mmd2"] = mmd2_per_example(x, fake)
        out["game_loss"] = out.pop("loss")
        out["loss"] = out["mmd2"]
        return out

    # -- Algorithm 2 -----------------------------------------------------------------------
    def configure_optimizers(self, make) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        betas = (c.gd_beta1, c.gd_beta2)
        return {"generator": make(self.G.parameters(), lr=c.lr_g, betas=betas),
                "discriminator": make(self.D.parameters(), lr=c.lr_d, betas=betas)}

    def _step(self, net, opt, loss, params, grad_clip: float) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = list(params)
        if net is not self:  # DistributedDataParallel: average the gradients by hand
            _all_reduce_mean(params)
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()

    def training_step(self, net, x: torch.Tensor, optimizers: dict, generator,
                      grad_clip: float = 0.0) -> dict[str, torch.Tensor]:
        """One discriminator step on x (fresh noise); a generator step every k-th call."""
        c = self.config
        x = self.check_input(x)
        b = x.shape[0]
        # discriminator: descend -V = softplus(-l(x)) + softplus(l(G(z))), G held fixed
        fake = self.generate(self.noise(b, generator)).detach()  # (B, D)
        lr, lf = self.logits(x), self.logits(fake)  # (B // pack,)
        d_loss = discriminator_loss(lr, lf).mean()
        self._step(net, optimizers["discriminator"], d_loss, self.D.parameters(), grad_clip)
        with torch.no_grad():
            d_real, d_fake = torch.sigmoid(lr).mean(), torch.sigmoid(lf).mean()
            g_loss = generator_loss(lf, c.objective).mean()  # logged when G does not step
        self.d_steps += 1
        if int(self.d_steps) % c.k_steps == 0:
            # generator: descend its objective through D (D's gradients are discarded)
            lg = self.logits(self.generate(self.noise(b, generator)))
            g_loss = generator_loss(lg, c.objective).mean()
            self._step(net, optimizers["generator"], g_loss, self.G.parameters(), grad_clip)
            self.D.zero_grad(set_to_none=True)
        d_loss, pinned = d_loss.detach(), collapsed(d_real, d_fake)
        self._watch_collapse(pinned, d_real, d_fake)
        return {"d_loss": d_loss, "g_loss": g_loss.detach(), "d_real": d_real, "d_fake": d_fake,
                "d_collapsed": pinned, "loss": d_loss + g_loss.detach()}

    def _watch_collapse(self, pinned: torch.Tensor, d_real, d_fake) -> None:
        """Warn once per episode when D stays pinned for COLLAPSE_WARN_STEPS steps in a row."""
        self.collapsed_steps.mul_(pinned.long()).add_(pinned.long())
        if int(self.collapsed_steps) == COLLAPSE_WARN_STEPS:
            warnings.warn(f"{self.name}: the discriminator collapsed (D(x) = {float(d_real):.3f}, "
                          f"D(G(z)) = {float(d_fake):.3f}) for {COLLAPSE_WARN_STEPS} steps in a "
                          "row; the generator gets no useful gradient (try a smaller lr_d, "
                          "objective='nonsaturating' or k_steps=1)", RuntimeWarning, stacklevel=3)

    def _reset_own(self, generator: torch.Generator) -> None:
        self.d_steps.zero_()
        self.collapsed_steps.zero_()

    # -- generation ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, seed: Any = None) -> torch.Tensor:
        """G(z), z ~ N(0, I): (n, n_inputs) in data space ([-1, 1] for a tanh output).

        Batch norm uses its running statistics (eval mode) so a sample does not depend on
        the others drawn with it; the training mode is restored afterwards.
        """
        n = check_count("n", n, allow_zero=True)
        gen = self._generator(seed)
        was = self.G.training
        self.G.eval()
        try:
            return self.generate(self.noise(n, gen))
        finally:
            self.G.train(was)

    @torch.no_grad()
    def discriminate(self, x: Any) -> torch.Tensor:
        """D(x) = sigmoid(l(x)) per example (pack must be 1)."""
        if self.config.pack != 1:
            raise ValueError(f"discriminate() scores single examples, but this {self.name}'s "
                             f"discriminator takes packs of pack={self.config.pack}; "
                             "build it with pack=1")
        was = self.D.training  # batch norm: running statistics, left unchanged
        self.D.eval()
        try:
            return torch.sigmoid(self.logits(self.check_input(x)))
        finally:
            self.D.train(was)


def _all_reduce_mean(params: list[torch.Tensor]) -> None:
    import torch.distributed as dist

    world = dist.get_world_size()
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world
