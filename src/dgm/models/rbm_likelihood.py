r"""The likelihood of an RBM, ``log P(v) = -F(v) - log Z``, as :class:`RBMLikelihood`, the
part of :class:`dgm.models.rbm.RBM` (and of the Gaussian-Bernoulli RBM) that measures it.

``log Z`` is summed exactly over the smaller layer when it has at most 25 units
(:func:`dgm.models.rbm_ais.log_partition_exact`), else estimated by AIS along the model's
:meth:`RBMLikelihood.annealing_path` (Salakhutdinov & Murray 2008), which tends to
*underestimate* it and so flatters the likelihood; RAISE (reverse AIS from each example) is
the conservative check, and ``dgm eval`` reports both, with their errors.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from dgm._checks import check_count
from dgm.models.rbm_ais import (
    EXACT_MAX_UNITS,
    PAPER_BETAS,
    BernoulliPath,
    ais_log_partition,
    base_rate_bias,
    log_partition_exact,
    raise_log_prob,
)


class RBMLikelihood:
    """Exact or AIS ``log Z``, ``log_prob``, RAISE and ``dgm eval``'s ``nll`` for a model with
    ``W``, ``b``, ``c``, ``free_energy`` and the running ``data_mean`` / ``data_count`` of its
    training data. A subclass with another energy overrides :attr:`exact_feasible`,
    :meth:`log_partition` and :meth:`annealing_path`."""

    eval_options = {
        "ais": (bool, False, "RBM: estimate log Z by AIS even when the exact sum is feasible"),
        "ais_betas": (int, PAPER_BETAS, "RBM: AIS inverse temperatures (the paper's proportions)"),
        "ais_runs": (int, 100, "RBM: parallel AIS runs"),
        "raise_examples": (int, 0, "RBM: RAISE (reverse AIS, a conservative check: its NLL "
                           "tends to be too high where AIS's tends to be too low) on the "
                           "split's first N examples"),
        "raise_betas": (int, 1000, "RBM: RAISE inverse temperatures"),
        "raise_runs": (int, 10, "RBM: RAISE runs per example"),
    }

    def uses_ais(self, ais: bool = False, ais_betas: int | None = None,
                 ais_runs: int | None = None) -> bool:
        """Whether log Z comes from AIS: asked for (``ais``, or giving its schedule or runs),
        or the RBM is too large to sum exactly."""
        return bool(ais) or ais_betas is not None or ais_runs is not None or \
            not self.exact_feasible

    def eval_settings(self, given: dict[str, Any]) -> dict[str, Any]:
        """How :meth:`nll` computes log Z with these options: exactly, or by AIS with its
        schedule and runs; and RAISE's settings when it runs."""
        settings = super().eval_settings(given)  # every option, defaults included
        ais = self.uses_ais(settings.pop("ais"), given.get("ais_betas"), given.get("ais_runs"))
        drop = ([] if ais else ["ais_betas", "ais_runs"]) + \
            ([] if settings["raise_examples"] else ["raise_examples", "raise_betas", "raise_runs"])
        return {"log_z_method": "ais" if ais else "exact",
                **{k: v for k, v in settings.items() if k not in drop}}

    @property
    def exact_feasible(self) -> bool:
        return min(self.n_inputs, self.config.hidden) <= EXACT_MAX_UNITS

    def log_partition(self) -> torch.Tensor:
        """Exact log Z (0-dim, float64, differentiable) by enumerating the smaller layer."""
        return log_partition_exact(self.W, self.b, self.c)

    def base_rate_bias(self) -> torch.Tensor:
        """Visible biases of the AIS base model: logit of the smoothed marginals of the
        training data seen (falls back to ``b`` before any training data was seen)."""
        if float(self.data_count) == 0:
            return self.b.detach().double()
        return base_rate_bias(self.data_mean)

    def annealing_path(self) -> BernoulliPath:
        """The AIS path from the base-rate model to this RBM."""
        return BernoulliPath(self.W, self.b, self.c, self.base_rate_bias())

    def ais(self, betas: Any = PAPER_BETAS, runs: int = 100, seed: Any = None):
        """AIS estimate of log Z (:class:`dgm.models.rbm_ais.AISResult`)."""
        return ais_log_partition(self.annealing_path(), betas, runs, self._generator(seed))

    @torch.no_grad()
    def raise_log_prob(self, x: Any, betas: Any = 1000, runs: int = 10,
                       seed: Any = None) -> torch.Tensor:
        """RAISE (reverse AIS from each example): per example, a stochastically *lower*
        estimate of the log-likelihood of the annealed model, which tends to log p(x) as the
        schedule grows: the conservative check on AIS's optimism (see
        :func:`dgm.models.rbm_ais.raise_log_prob`)."""
        v = self.check_likelihood_input(x)
        return raise_log_prob(self.annealing_path(), v, betas, runs, self._generator(seed))

    @torch.no_grad()
    def log_prob(self, x: Any, seed: Any = None, ais: bool = False, ais_betas: int = PAPER_BETAS,
                 ais_runs: int = 100) -> torch.Tensor:
        """log P(v) = -F(v) - log Z per example (nats); exact log Z when feasible, else AIS."""
        v = self.check_likelihood_input(x)
        log_z = (self.ais(ais_betas, ais_runs, seed).log_z if self.uses_ais(ais)
                 else float(self.log_partition()))
        return -self.free_energy(v).double() - log_z

    @torch.no_grad()
    def nll(self, x: Any, ais: bool = False, ais_betas: int | None = None,
            ais_runs: int | None = None, raise_examples: int = 0, raise_betas: int | None = None,
            raise_runs: int | None = None, seed: Any = 0) -> dict[str, torch.Tensor]:
        """Per-example ``nll_nats`` for ``dgm eval`` (exact log Z when feasible and ``ais`` is
        off, else AIS) and ``log_z`` (repeated per example). With AIS: ``log_z_stderr`` (the
        standard error of log Z-hat over the runs), ``nll_lo3_nats`` / ``nll_hi3_nats`` (from
        log Z-hat -+ 3 sd), and ``nll_exact_nats`` when the exact value is also feasible.
        Giving ``ais_betas`` or ``ais_runs`` asks for AIS (default: the paper's schedule,
        100 runs). ``raise_examples = N``: RAISE on the first N examples (``raise_betas``,
        default 1,000; ``raise_runs``, default 10), as ``raise_nll_nats``, beside
        ``raise_examples_nll_nats``, the NLL above on the same examples."""
        check_count("raise_examples", raise_examples, allow_zero=True)
        if not raise_examples and (raise_betas is not None or raise_runs is not None):
            raise ValueError("raise_betas and raise_runs set RAISE up: give raise_examples N "
                             "too (the number of examples it runs on)")
        ais = self.uses_ais(ais, ais_betas, ais_runs)
        default = {k: d for k, (_, d, _) in self.eval_options.items()}
        ais_betas = default["ais_betas"] if ais_betas is None else ais_betas
        ais_runs = default["ais_runs"] if ais_runs is None else ais_runs
        raise_betas = default["raise_betas"] if raise_betas is None else raise_betas
        raise_runs = default["raise_runs"] if raise_runs is None else raise_runs
        _check_settings("ais", ais_betas, ais_runs, least_runs=2)  # (errors name the option)
        _check_settings("raise", raise_betas, raise_runs, least_runs=1)
        v = self.check_likelihood_input(x)
        f = torch.cat([self.free_energy(vb).double() for vb in v.split(1000)])  # (N,)
        out: dict[str, torch.Tensor] = {}
        exact = float(self.log_partition()) if self.exact_feasible else None
        if ais:
            res = self.ais(ais_betas, ais_runs, seed)
            self.last_ais = res  # for its trace picture (dgm eval --ais)
            print(f"{self.name}: AIS log Z = {res.log_z:.4f} +- {res.log_z_stderr:.4f} "
                  f"(3 sd: [{res.log_z_lo3:.4f}, {res.log_z_hi3:.4f}]); AIS tends to "
                  "UNDERESTIMATE log Z, which flatters the NLL"
                  + (f"; exact log Z = {exact:.4f}" if exact is not None else ""), file=sys.stderr)
            full = torch.full_like
            out = {"nll_nats": f + res.log_z, "log_z": full(f, res.log_z),
                   "log_z_stderr": full(f, res.log_z_stderr),
                   "nll_lo3_nats": f + res.log_z_lo3, "nll_hi3_nats": f + res.log_z_hi3}
            if exact is not None:
                out["nll_exact_nats"] = f + exact
        else:
            out = {"nll_nats": f + exact, "log_z": torch.full_like(f, exact)}
        if raise_examples:
            n = min(raise_examples, v.shape[0])
            out["raise_nll_nats"] = -self.raise_log_prob(v[:n], raise_betas, raise_runs, seed)
            out["raise_examples_nll_nats"] = out["nll_nats"][:n]
        return out


def _check_settings(kind: str, betas: Any, runs: Any, least_runs: int) -> None:
    """``{kind}_betas`` (a count: at least 4) and ``{kind}_runs`` (at least ``least_runs``),
    named in the error as ``dgm eval`` names its options; a schedule given as an array is
    checked where it is used."""
    if isinstance(betas, (int, np.integer)) and check_count(f"{kind}_betas", betas) < 4:
        raise ValueError(f"{kind}_betas must be >= 4, got {betas}")
    if check_count(f"{kind}_runs", runs) < least_runs:
        raise ValueError(f"{kind}_runs must be >= {least_runs} (log Z-hat's standard error is "
                         f"their spread), got {runs}")
