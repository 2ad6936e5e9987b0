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
from dgm.models.rbm_ais import EXACT_MAX_UNITS, binary_states


@dataclass
class GRBMConfig(RBMConfig):
    """A Gaussian-Bernoulli RBM: real visible units with unit or learned per-pixel variance."""

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"hidden": 16, "chains": 16},
        "learned-sigma": {"learn_sigma": True},
        "wide": {"hidden": 200},  # (features only: log Z is not computable)
    }

    hidden: int = 20  # H: log Z sums 2^H terms exactly (no AIS for a GRBM): 20 takes seconds
    learn_sigma: bool = False  # learn log sigma_i (else sigma = 1: standardize the data)


class GRBM(RBM):
    r"""Gaussian-Bernoulli RBM for real-valued data (Hinton & Salakhutdinov 2006; Cho et al. 2011).

        E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_ij (v_i / sigma_i) w_ij h_j - c^T h

    p(h_j = 1 | v) = sigmoid(c_j + sum_i w_ij v_i / sigma_i),
    p(v | h) = N(b + sigma * W h, diag sigma^2), and
    F(v) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_j softplus(c_j + sum_i w_ij v_i / sigma_i).
    Summing over h after integrating v: ``Z = (2 pi)^(D/2) prod_i sigma_i sum_h exp(c^T h +
    sum_i (b_i (Wh)_i / sigma_i + (Wh)_i^2 / 2))``, exact for up to ~25 hidden units.
    ``log_prob`` is a log *density* (nats); AIS is not implemented for this model.

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
    eval_options: ClassVar[dict] = {}

    def eval_settings(self, given: dict[str, Any]) -> dict[str, Any]:
        return {"log_z_method": "exact"}  # (no AIS for a GRBM: nll refuses what it cannot sum)

    def __init__(self, config: GRBMConfig, input_shape: tuple[int, ...]):
        super().__init__(config, input_shape)
        if config.learn_sigma:
            self.log_sigma = nn.Parameter(torch.zeros(self.n_inputs))
        else:
            self.register_buffer("log_sigma", torch.zeros(self.n_inputs))

    def _reset_own(self, generator: torch.Generator) -> None:
        super()._reset_own(generator)
        self.log_sigma.data.zero_()
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

    def ais(self, *args, **kwargs):
        raise NotImplementedError("AIS is implemented for the Bernoulli-Bernoulli RBM only")

    def _exact_log_z(self) -> float:
        if not self.exact_feasible:
            raise ValueError(f"grbm: an exact likelihood needs <= {EXACT_MAX_UNITS} hidden "
                             f"units, this one has {self.config.hidden} (AIS is not "
                             "implemented for the Gaussian-Bernoulli RBM)")
        return float(self.log_partition())

    @torch.no_grad()
    def log_prob(self, x: Any, seed: Any = None) -> torch.Tensor:
        """log p(v) = -F(v) - log Z per example (a log density, nats); exact (H <= 25).
        ``seed`` is unused."""
        return -self.free_energy(self.check_input(x)).double() - self._exact_log_z()

    @torch.no_grad()
    def nll(self, x: Any, seed: Any = 0) -> dict[str, torch.Tensor]:
        """Exact per-example ``nll_nats`` (a negative log density) and ``log_z``."""
        log_z = self._exact_log_z()
        v = self.check_input(x)
        f = torch.cat([self.free_energy(vb).double() for vb in v.split(1000)])
        return {"nll_nats": f + log_z, "log_z": torch.full_like(f, log_z)}

    def to_markov_network(self, max_units: int = 20):
        raise NotImplementedError("a Gaussian-Bernoulli RBM has continuous visible units")

    @torch.no_grad()
    def pictures(self, run_dir: str | Path, seed: int = 0) -> list[Path]:
        return super().pictures(run_dir, seed)[:1]  # the filters; real-valued chains vary
