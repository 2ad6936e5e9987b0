"""Small network builders shared by the models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus, "elu": nn.ELU,
               "leaky_relu": lambda: nn.LeakyReLU(0.2), "sigmoid": nn.Sigmoid}


def activation(name: str, option: str = "activation") -> nn.Module:
    """The module for ``name``; an unknown one is a ValueError naming ``option`` (the config
    field that gave it, which the CLI turns into its flag)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"{option} must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def mlp(sizes: Sequence[int], act: str, final_act: bool = False) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``act`` between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_act:
            layers.append(activation(act))
    return nn.Sequential(*layers)


def conv_encoder(channels: int, side: int, width: int, act: str) -> tuple[nn.Sequential, int]:
    """Two stride-2 convolutions: (B, C, s, s) -> (B, 2*width * ceil(s/4)^2) flattened."""
    s2 = (side + 1) // 2
    s4 = (s2 + 1) // 2
    net = nn.Sequential(
        nn.Conv2d(channels, width, 3, stride=2, padding=1), activation(act),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), activation(act),
        nn.Flatten(),
    )
    return net, 2 * width * s4 * s4


class _Unflatten(nn.Module):
    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def conv_decoder(latent: int, channels: int, side: int, width: int, act: str) -> nn.Sequential:
    """Linear to (2*width, s/4, s/4), two stride-2 transposed convolutions, crop to ``side``."""
    s2 = (side + 1) // 2
    s4 = (s2 + 1) // 2
    return nn.Sequential(
        nn.Linear(latent, 2 * width * s4 * s4), activation(act),
        _Unflatten((2 * width, s4, s4)),
        nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), activation(act),
        nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
        _Crop(side),
    )


class _Crop(nn.Module):
    def __init__(self, side: int):
        super().__init__()
        self.side = side

    def forward(self, x):
        return x[..., : self.side, : self.side].flatten(1)


def bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """x ~ Bernoulli(p) elementwise, as ``u < p`` with ``u ~ U[0, 1)`` from ``generator``.

    The same distribution as ``torch.bernoulli``, whose CPU kernel is about six times slower
    than one uniform draw and a comparison; Gibbs sampling spends its time here.

    >>> g = torch.Generator().manual_seed(0)
    >>> bernoulli(torch.tensor([0.0, 1.0, 0.5]), g)[:2].tolist()
    [0.0, 1.0]
    """
    u = torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device)
    return (u < p).to(p.dtype)

