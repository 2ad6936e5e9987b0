r"""Gaussian-Bernoulli RBM for real-valued data (beyond the seed).

The Bernoulli-Bernoulli RBM of ``dgm.models.rbm`` with real visible units of unit or learned
per-pixel variance; only the energy's pieces change (free energy, hidden input, visible mean
and sampling, exact log Z), so CD-k, PCD and Algorithm 0 are inherited unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dgm.models.rbm import RBM, RBMConfig
from dgm.models.rbm_ais import EXACT_MAX_UNITS, GaussianPath, binary_states


@dataclass
class GRBMConfig(RBMConfig):
    """A Gaussian-Bernoulli RBM: real visible units with unit or learned per-pixel variance."""

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"hidden": 16, "chains": 16},
        "unit-sigma": {"learn_sigma": False},  # the classic recipe, for standardized data
        "wide": {"hidden": 200},  # (log Z by AIS only; validated on reconstructions)
    }

    hidden: int = 20  # H: log Z sums 2^H terms exactly up to 25 (20 takes seconds), else AIS
    # (dgm's real-valued data are pixels in [0, 1] or [-1, 1], far narrower than sigma = 1)
    learn_sigma: bool = True  # learn log sigma_i (False: sigma = 1, for standardized data)


class GRBM(RBM):
    r"""Gaussian-Bernoulli RBM for real-valued data (Hinton & Salakhutdinov 2006; Cho et al. 2011).

        E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_ij (v_i / sigma_i) w_ij h_j - c^T h

    p(h_j = 1 | v) = sigmoid(c_j + sum_i w_ij v_i / sigma_i),
    p(v | h) = N(b + sigma * W h, diag sigma^2), and
    F(v) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_j softplus(c_j + sum_i w_ij v_i / sigma_i).
    Summing over h after integrating v: ``Z = (2 pi)^(D/2) prod_i sigma_i sum_h exp(c^T h +
    sum_i (b_i (Wh)_i / sigma_i + (Wh)_i^2 / 2))``, exact for up to ~25 hidden units; beyond,
    AIS from independent Gaussians fitted to the training data
    (:class:`dgm.models.rbm_ais.GaussianPath`), with RAISE as its conservative check, as for
    the Bernoulli RBM. ``log_prob`` is a log *density* (nats).

    >>> import torch
    >>> g = GRBM(GRBMConfig(hidden=3), (2,)).reset_parameters(0)
    >>> g.log_prob(torch.zeros(4, 2)).shape
    torch.Size([4])
    """

    name = "grbm"
    Config = GRBMConfig
    data_kinds = ("real", "unit", "pm1")
    data_kind_hint = ("real-valued data, e.g. --data digits:gray or mnist:gray (the rbm model "
                      "takes binary data)")
    closed_form_update: ClassVar[bool] = False  # other energy: gradients by autograd

    def __init__(self, config: GRBMConfig, input_shape: tuple[int, ...]):
        super().__init__(config, input_shape)
        if config.learn_sigma:
            self.log_sigma = nn.Parameter(torch.zeros(self.n_inputs))
        else:
            self.register_buffer("log_sigma", torch.zeros(self.n_inputs))
        # running variance of the training data: with data_mean, the AIS base model
        self.register_buffer("data_var", torch.zeros(self.n_inputs, dtype=torch.float64))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "data_var"
        if key not in state_dict and prefix + "data_mean" in state_dict:
            # saved before the variance was tracked: none known, the AIS base model then
            # takes the model's own sigma (:meth:`base_model`)
            state_dict[key] = torch.zeros_like(state_dict[prefix + "data_mean"]).double()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _reset_own(self, generator: torch.Generator) -> None:
        super()._reset_own(generator)
        self.log_sigma.data.zero_()
        self.data_var.zero_()
        if self.chains.numel():
            self.chains.copy_(torch.randn(self.chains.shape, generator=generator))

    def configure_optimizers(self, make) -> dict[str, torch.optim.Optimizer]:
        rest = [self.b, self.c] + ([self.log_sigma] if self.config.learn_sigma else [])
        return {"main": make([{"params": [self.W]}, {"params": rest, "weight_decay": 0.0}])}

    @property
    def sigma(self) -> torch.Tensor:
        return torch.exp(self.log_sigma)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return self.free_energy_from(v, self.hidden_input(v))

    def free_energy_from(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (((v - self.b) / self.sigma) ** 2).sum(-1) / 2 - F.softplus(a).sum(-1)

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        return (v / self.sigma) @ self.W + self.c

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        return self.b + self.sigma * (h @ self.W.T)

    def sample_visible(self, mean: torch.Tensor, generator) -> torch.Tensor:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + self.sigma.detach() * noise

    def random_visible(self, n: int, generator) -> torch.Tensor:
        """A random start: v ~ N(b, sigma^2)."""
        z = torch.randn((n, self.n_inputs), generator=generator, device=self.device,
                        dtype=self.W.dtype)
        return (self.b + self.sigma * z).detach()

    @property
    def exact_feasible(self) -> bool:
        return self.config.hidden <= EXACT_MAX_UNITS

    def log_partition(self, chunk: int = 2**14) -> torch.Tensor:
        """Exact log Z (0-dim, float64) by enumerating the hidden layer in chunks."""
        H = self.config.hidden
        if H > EXACT_MAX_UNITS:
            raise ValueError(f"exact log Z enumerates 2^{H} hidden states; feasible up to "
                             f"{EXACT_MAX_UNITS}")
        W, b, c, ls = (t.double() for t in (self.W, self.b, self.c, self.log_sigma))
        parts = []
        for s in range(0, 2**H, chunk):
            h = binary_states(H, s, min(s + chunk, 2**H), torch.float64, W.device)  # (k, H)
            a = h @ W.T  # (k, D)
            parts.append(torch.logsumexp(h @ c + (b / ls.exp() * a + a * a / 2).sum(-1), 0))
        D = self.n_inputs
        return torch.logsumexp(torch.stack(parts), 0) + D / 2 * math.log(2 * math.pi) + ls.sum()

    VALID_EXACT_UNITS: ClassVar[int] = 20  # validation sums log Z exactly up to this H

    @property
    def valid_loss_name(self) -> str:
        exact = self.config.hidden <= self.VALID_EXACT_UNITS
        return "NLL (exact, a density)" if exact else "reconstruction error"

    def validation_terms(self, x, generator=None) -> dict[str, torch.Tensor]:
        """Per example: ``loss`` = exact NLL (nats, a density) when H <= 20, else the
        mean-field reconstruction error; ``free_energy`` and ``recon_error``."""
        with torch.no_grad():
            v = self.check_input(x)
            out = {"free_energy": self.free_energy(v),
                   "recon_error": ((v - self.reconstruct(v)) ** 2).sum(-1)}
            out["loss"] = (out["free_energy"].double() + self.log_partition()
                           if self.config.hidden <= self.VALID_EXACT_UNITS
                           else out["recon_error"])
            return out

    @torch.no_grad()
    def _track_data(self, v: torch.Tensor) -> None:
        """The running mean and variance, merged batch by batch in float64 (Chan et al.'s
        update: no E[v^2] - E[v]^2, which loses a small spread around a large mean)."""
        vd = v.double()  # (B, D)
        m, k = float(self.data_count), vd.shape[0]
        delta = vd.mean(0) - self.data_mean  # (D,)
        self.data_var.mul_(m).add_(vd.var(0, unbiased=False) * k + delta**2 * (m * k / (m + k)))
        self.data_var.div_(m + k)
        super()._track_data(vd)

    def base_model(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log sd of the AIS base model's independent Gaussians: the training data's
        per-pixel mean, and sd ``max(data sd, sigma)``: never narrower than the RBM's own
        p(v | h), so the base model covers the RBM where a pixel hardly varies (a base
        narrower than the target makes AIS miss mass). Before any training data was seen:
        ``N(b, sigma^2)``, the RBM with ``W = 0``."""
        ls = self.log_sigma.detach().double()
        if float(self.data_count) == 0:
            return self.b.detach().double(), ls
        return self.data_mean.clone(), torch.maximum(self.data_var.log() / 2, ls)

    def annealing_path(self) -> GaussianPath:
        """The AIS path from independent Gaussians (:meth:`base_model`) to this GRBM."""
        return GaussianPath(self.W, self.b, self.c, self.log_sigma, *self.base_model())

    def to_markov_network(self, max_units: int = 20):
        raise NotImplementedError("a Gaussian-Bernoulli RBM has continuous visible units")

    @torch.no_grad()
    def pictures(self, run_dir: str | Path, seed: int = 0) -> list[Path]:
        return super().pictures(run_dir, seed)[:1]  # the filters; real-valued chains vary
