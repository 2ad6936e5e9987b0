r"""Deep convolutional GAN (the seed's "Deep Convolutional GANs", Radford et al. 2016).

The seed's guidelines, to the letter:

* no pooling: strided convolutions in the discriminator, fractionally-strided
  (transposed) convolutions in the generator;
* batch norm in both networks, except on the generator's output and the
  discriminator's input layer;
* no fully connected hidden layers: z (latent, 1, 1) is projected by a transposed
  convolution to (C0, s0, s0), the discriminator ends in an (s0 x s0) convolution to
  one logit;
* ReLU in the generator with a tanh output; LeakyReLU(0.2) in the discriminator;
* Adam, lr 2e-4, beta1 0.5 (the defaults of :class:`DCGANConfig`).

Sides: the image side s is halved while it stays even and >= 8, down to s0:
28 -> 14 -> 7 (two up-sampling layers), 32 -> 4 (three), 64 -> 4 (four), 8 -> 4 (one).
Generator, with ``width`` w and n up-sampling layers (shapes per example)::

    z (latent, 1, 1) -ConvT(k=s0)-> (w 2^(n-1), s0, s0) BN ReLU
      -ConvT(4, 2, 1)-> (w 2^(n-2), 2 s0, 2 s0) BN ReLU ... -ConvT(4, 2, 1)-> (C, s, s) tanh

The discriminator mirrors it with Conv(4, 2, 1) + LeakyReLU(0.2) (BN from the second
layer on) and a final Conv(k=s0) to (1, 1, 1). Training, losses, Algorithm 2 and the
metrics are the GAN's (:mod:`dgm.models.gan`). With ``pack = m > 1`` (PacGAN, beyond the
seed) the discriminator judges m images at once, stacked as its input channels (m C, s, s),
as Lin et al. (2018) do for their stacked-MNIST DCGAN; nothing else changes.

>>> import torch
>>> m = DCGAN(DCGANConfig(latent=8, width=4), (1, 28, 28)).reset_parameters(0)
>>> m.sample(2, seed=0).shape
torch.Size([2, 784])
>>> m.logits(torch.zeros(3, 784)).shape
torch.Size([3])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from dgm.models.base import ModelConfig, check_choice, check_count, check_positive
from dgm.models.gan import GAN, KINDS_BY_OUTPUT, OBJECTIVES


@dataclass
class DCGANConfig(ModelConfig):
    """Hyperparameters of a DCGAN; its Adam settings override TrainConfig's lr/beta1."""

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"latent": 8, "width": 4},
        "mnist-cpu": {"latent": 64, "width": 32, "pack": 2},  # benchmarks/gan_mnist.py
        "paper": {"latent": 100, "width": 64},
    }

    latent: int = 100  # z ~ N(0, I) of this dimension
    width: int = 64  # channels of the first discriminator / last generator hidden layer
    objective: str = "nonsaturating"  # G minimizes -log D(G(z)), or log(1-D(G(z))): minimax
    k_steps: int = 1  # discriminator steps per generator step (Algorithm 2's k)
    lr_g: float = 2e-4  # Adam learning rate of the generator
    lr_d: float = 2e-4  # Adam learning rate of the discriminator
    gd_beta1: float = 0.5  # Adam beta1 of both players (TrainConfig.beta1 is not used)
    gd_beta2: float = 0.999  # Adam beta2 of both players
    pack: int = 1  # PacGAN: D judges `pack` images stacked as channels (Lin et al. 2018)

    # the GAN code reads this; DCGAN fixes it by the guidelines
    output: ClassVar[str] = "tanh"

    def validate(self) -> None:
        check_positive("latent", self.latent)
        check_positive("width", self.width)
        check_positive("k_steps", self.k_steps)
        check_positive("pack", self.pack)
        check_positive("lr_g", self.lr_g)
        check_positive("lr_d", self.lr_d)
        check_choice("objective", self.objective, OBJECTIVES)
        for name in ("gd_beta1", "gd_beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")


def layout(side: int) -> tuple[int, int]:
    """(s0, n_up): the side is halved n_up times, while even and >= 8, down to s0.

    >>> [layout(s) for s in (28, 32, 64, 8)]
    [(7, 2), (4, 3), (4, 4), (4, 1)]
    """
    s0, n = side, 0
    while s0 % 2 == 0 and s0 >= 8:
        s0, n = s0 // 2, n + 1
    if n == 0:
        raise ValueError(f"DCGAN needs an image side divisible by 2 and >= 8, got {side}")
    return s0, n


class _Flat(nn.Module):
    """(B, C, s, s) -> (B, C s s); the network output convention of the GAN code."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class _Image(nn.Module):
    """(B, D) -> (B, C, s, s)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class _Latent(nn.Module):
    """(B, latent) -> (B, latent, 1, 1)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z[:, :, None, None]


class DCGAN(GAN):
    """Deep convolutional GAN following the seed's guidelines (28x28, 32x32, 64x64 images)."""

    name = "dcgan"
    Config = DCGANConfig
    data_kinds = KINDS_BY_OUTPUT["tanh"]
    data_kind_hint = "images in [-1, 1] or [0, 1], e.g. --data mnist:pm1"

    def __init__(self, config: DCGANConfig, input_shape: tuple[int, ...]):
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"dcgan needs square images (C, s, s), got input shape {shape}")
        self.s0, self.n_up = layout(shape[1])
        super().__init__(config, shape)

    def build_generator(self) -> nn.Module:
        c, ch = self.config, self.input_shape[0]
        w = [c.width * 2 ** (self.n_up - 1 - i) for i in range(self.n_up)]  # hidden channels
        layers: list[nn.Module] = [_Latent(), nn.ConvTranspose2d(c.latent, w[0], self.s0, 1, 0,
                                                                 bias=False),
                                   nn.BatchNorm2d(w[0]), nn.ReLU()]  # (w0, s0, s0)
        for a, b in zip(w[:-1], w[1:]):  # doubles the side
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        layers += [nn.ConvTranspose2d(w[-1], ch, 4, 2, 1), nn.Tanh(), _Flat()]  # (C, s, s)
        return nn.Sequential(*layers)

    def build_discriminator(self) -> nn.Module:
        c, ch = self.config, self.input_shape[0]
        w = [c.width * 2**i for i in range(self.n_up)]
        packed = (c.pack * ch, *self.input_shape[1:])  # a pack of images, stacked as channels
        layers: list[nn.Module] = [_Image(packed),  # no BN on the input layer
                                   nn.Conv2d(c.pack * ch, w[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for a, b in zip(w[:-1], w[1:]):  # halves the side
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(w[-1], 1, self.s0, 1, 0), _Flat()]  # (1, 1, 1): the logit
        return nn.Sequential(*layers)

    def accepted_kinds(self) -> tuple[str, ...]:
        return self.data_kinds

    @property
    def output_range(self) -> str:
        return "pm1"  # tanh

    @torch.no_grad()
    def refresh_statistics(self, batches: int = 20, batch: int = 100, seed: Any = 0) -> None:
        """Re-estimate the generator's batch-norm running statistics for its current weights:
        the cumulative mean over ``batches`` batches of G(z) in training mode, z from
        ``seed``. A weight average (``ema``) never produced the statistics it inherits from
        the trained model; the loop calls this on the average before it is used."""
        check_count("batches", batches)
        if check_count("batch", batch) < 2:  # one example has no batch variance
            raise ValueError(f"batch must be at least 2 (batch-norm statistics), got {batch}")
        gen = self._generator(seed)
        bns = [m for m in self.G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average
        was = self.G.training
        self.G.train()
        try:
            for _ in range(batches):
                self.generate(self.noise(batch, gen))
        finally:
            self.G.train(was)
            for m, mom in zip(bns, saved):
                m.momentum = mom
