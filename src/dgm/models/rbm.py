r"""Restricted Boltzmann machine (the seed's "Restricted Boltzmann Machine").

A Markov network over visible ``v in {0,1}^D`` and hidden ``h in {0,1}^H`` with edges only
between the layers:

    E(v, h) = -v^T W h - b^T v - c^T h,        P(v, h) = exp(-E(v, h)) / Z.

Summing out ``h`` gives the free energy ``F(v) = -b^T v - sum_j softplus(c_j + v^T W_:j)``,
``P(v) = exp(-F(v)) / Z``, and the conditionals factorize:

    p(h_j = 1 | v) = sigmoid(sum_i w_ij v_i + c_j),
    p(v_i = 1 | h) = sigmoid(sum_j w_ij h_j + b_i).

The log-likelihood gradient is ``E_data[sigmoid(W^T v + c) v^T] - E_model[...]`` (and
``v``, ``sigmoid(W^T v + c)`` for ``b``, ``c``). Training replaces the model expectation by
Gibbs samples: the seed's Algorithm 1 (CD-k, the chain started at the training example),
persistent CD (``pcd``: chains kept across updates, a registered buffer, so checkpoints carry
them) or Algorithm 0 (``random_start``: a random start, ``cd_k`` burn-in steps, then
``samples`` samples averaged). The loss is the surrogate ``mean F(v_data) - mean F(v_model)``
with ``v_model`` held fixed: its gradient is exactly the (negated) CD estimate.

>>> import torch
>>> rbm = RBM(RBMConfig(hidden=4), (1, 3, 3)).reset_parameters(0)
>>> x = torch.bernoulli(torch.full((5, 9), 0.5), generator=torch.Generator().manual_seed(0))
>>> sorted(rbm(x, torch.Generator().manual_seed(0)))
['free_energy', 'loss', 'recon_error']
>>> rbm.log_prob(x).shape, bool((rbm.log_prob(x) < 0).all())
(torch.Size([5]), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dgm._rng import require_generator
from dgm.models._layers import bernoulli
from dgm.models.base import GenerativeModel, ModelConfig, check_count, check_positive
from dgm.models.rbm_likelihood import RBMLikelihood


@dataclass
class RBMConfig(ModelConfig):
    """Hyperparameters of a Bernoulli-Bernoulli RBM and of its Gibbs negative phase."""

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"hidden": 16, "chains": 16},
        "cd1": {"hidden": 500, "cd_k": 1},
        "cd3": {"hidden": 500, "cd_k": 3},
        "cd25": {"hidden": 500, "cd_k": 25},
        "pcd": {"hidden": 500, "pcd": True, "chains": 100},
    }

    hidden: int = 500  # H, the number of hidden units
    cd_k: int = 1  # Gibbs steps per update (k of Algorithm 1; burn-in of Algorithm 0)
    pcd: bool = False  # persistent chains (Tieleman 2008) instead of starting at the data
    random_start: bool = False  # Algorithm 0: chains from a random v each update
    samples: int = 1  # r: model samples averaged after the k steps (Algorithm 0)
    chains: int = 100  # number of persistent chains (pcd)
    init_std: float = 0.01  # W ~ N(0, init_std^2); biases start at 0
    sparsity_target: float = 0.0  # target mean activation p of each hidden unit (0 = off)
    sparsity_cost: float = 0.0  # weight of sum_j (q_j - p)^2, q_j the batch-mean activation

    def validate(self) -> None:
        check_positive("hidden", self.hidden)
        check_positive("cd_k", self.cd_k)
        check_positive("samples", self.samples)
        check_positive("chains", self.chains)
        check_positive("init_std", self.init_std, allow_zero=True)
        check_positive("sparsity_cost", self.sparsity_cost, allow_zero=True)
        if not 0 <= self.sparsity_target < 1:
            raise ValueError(f"sparsity_target must be in [0, 1), got {self.sparsity_target!r}")
        if self.pcd and self.random_start:
            raise ValueError("pcd and random_start are exclusive: pick one way to start chains")


# -- the seed's equations, as small functions (v: (B, D), h: (B, H)) --------------------------


def energy(v: torch.Tensor, h: torch.Tensor, W: torch.Tensor, b: torch.Tensor,
           c: torch.Tensor) -> torch.Tensor:
    """E(v, h) = -v^T W h - b^T v - c^T h, (B,)."""
    return -((v @ W) * h).sum(-1) - v @ b - h @ c


def free_energy(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """F(v) = -log sum_h exp(-E(v, h)) = -b^T v - sum_j softplus(c_j + v^T W_:j), (B,)."""
    return -(v @ b) - F.softplus(v @ W + c).sum(-1)


def p_h_given_v(v: torch.Tensor, W: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """p(h_j = 1 | v) = sigmoid(sum_i w_ij v_i + c_j), (B, H)."""
    return torch.sigmoid(v @ W + c)


def p_v_given_h(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """p(v_i = 1 | h) = sigmoid(sum_j w_ij h_j + b_i), (B, D)."""
    return torch.sigmoid(torch.addmm(b, h, W.T))  # the bias added inside the product


def pseudo_nll(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
               max_elems: int = 2**22) -> torch.Tensor:
    """Negative log pseudo-likelihood over all sites, (B,):
    ``-sum_i log p(v_i | v_-i) = sum_i softplus(F(v) - F(v with bit i flipped))``.

    Deterministic (every site, no random bit); cost ``B * D * H``, in chunks of sites.
    """
    a = v @ W + c  # (B, H)
    sp = F.softplus(a).sum(-1)  # (B,)
    s = 1 - 2 * v  # (B, D): +1 where a flip turns 0 -> 1
    D = v.shape[1]
    step = max(1, max_elems // max(1, v.shape[0] * W.shape[1]))
    out = torch.zeros(v.shape[0], dtype=a.dtype, device=v.device)
    for i in range(0, D, step):
        si = s[:, i : i + step]  # (B, S)
        a_flip = a[:, None, :] + si[:, :, None] * W[i : i + step][None]  # (B, S, H)
        # F(v) - F(v_flip) = b_i s_i + sum_j softplus(a_flip_j) - softplus(a_j)
        gap = si * b[i : i + step] + F.softplus(a_flip).sum(-1) - sp[:, None]  # (B, S)
        out += F.softplus(gap).sum(-1)
    return out


class RBM(RBMLikelihood, GenerativeModel):
    """Restricted Boltzmann machine (Bernoulli visible and hidden units), CD-k / PCD; its
    likelihood (exact or AIS log Z, RAISE) comes from :class:`RBMLikelihood`."""

    name = "rbm"
    Config = RBMConfig
    data_kinds = ("binary",)
    data_kind_hint = ("binary data, e.g. --data mnist or digits (the grbm model takes "
                      "real-valued data)")
    ddp_broadcast_buffers = False  # each process runs its own persistent chains

    def __init__(self, config: RBMConfig, input_shape: tuple[int, ...]):
        super().__init__(config, input_shape)
        D, H = self.n_inputs, config.hidden
        self.W = nn.Parameter(torch.zeros(D, H))  # (D, H)
        self.b = nn.Parameter(torch.zeros(D))  # visible biases
        self.c = nn.Parameter(torch.zeros(H))  # hidden biases
        self.register_buffer("chains", torch.zeros(config.chains if config.pcd else 0, D))
        # running mean of the training data (for the AIS base-rate model), and its count
        self.register_buffer("data_mean", torch.zeros(D, dtype=torch.float64))
        self.register_buffer("data_count", torch.zeros((), dtype=torch.float64))

    @classmethod
    def from_parameters(cls, W: Any, b: Any, c: Any, dtype=torch.float32, **config: Any) -> RBM:
        """An RBM with the given ``W`` (D, H), ``b`` (D,), ``c`` (H,); input shape (D,).

        >>> RBM.from_parameters([[1.0, -1.0]], [0.5], [0.0, 0.0]).W.shape
        torch.Size([1, 2])
        """
        W = torch.as_tensor(W, dtype=dtype)
        if W.dim() != 2:
            raise ValueError(f"W must be a (D, H) matrix, got shape {tuple(W.shape)}")
        b, c = torch.as_tensor(b, dtype=dtype), torch.as_tensor(c, dtype=dtype)
        for name, t, size in (("b", b, W.shape[0]), ("c", c, W.shape[1])):
            if t.shape != (size,):
                raise ValueError(f"{name} must have shape ({size},) for W of shape "
                                 f"{tuple(W.shape)}, got {tuple(t.shape)}")
        model = cls(cls.Config(hidden=W.shape[1], **config), (W.shape[0],))
        exact = [n for n, t in model.named_buffers() if t.dtype == torch.float64]
        model = model.to(dtype)
        for name in exact:  # the running data moments stay float64 (e.g. a variance from them)
            setattr(model, name, getattr(model, name).double())
        with torch.no_grad():
            model.W.copy_(W)
            model.b.copy_(b)
            model.c.copy_(c)
        return model

    def _reset_own(self, generator: torch.Generator) -> None:
        self.W.copy_(torch.randn(self.W.shape, generator=generator) * self.config.init_std)
        self.b.zero_()
        self.c.zero_()
        if self.chains.numel():
            half = torch.full(self.chains.shape, 0.5)
            self.chains.copy_(bernoulli(half, generator=generator))
        self.data_mean.zero_()
        self.data_count.zero_()

    def configure_optimizers(self, make) -> dict[str, torch.optim.Optimizer]:
        """Weight decay (L2) on ``W`` only, as is usual for RBMs; biases are not decayed."""
        return {"main": make([{"params": [self.W]},
                              {"params": [self.b, self.c], "weight_decay": 0.0}])}

    # -- the model's pieces (overridden by the Gaussian-Bernoulli RBM) -------------------------
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return free_energy(v, self.W, self.b, self.c)

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """Pre-activation of the hidden units, ``v^T W + c``, (B, H)."""
        return torch.addmm(self.c, v, self.W)  # (B, H)

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """E[v | h] = p(v = 1 | h), (B, D)."""
        return p_v_given_h(h, self.W, self.b)

    def sample_visible(self, mean: torch.Tensor, generator) -> torch.Tensor:
        return bernoulli(mean, generator=generator)

    def random_visible(self, n: int, generator) -> torch.Tensor:
        """A random start for chains: v ~ Bernoulli(1/2)."""
        return bernoulli(torch.full((n, self.n_inputs), 0.5, device=self.device,
                                          dtype=self.W.dtype), generator=generator)

    # -- abstraction and Gibbs sampling ---------------------------------------------------------
    def transform(self, x: Any) -> torch.Tensor:
        """P(H = 1 | V = x), (B, H): the RBM's features of ``x``."""
        with torch.no_grad():
            return torch.sigmoid(self.hidden_input(self.check_input(x)))

    @torch.no_grad()
    def gibbs_step(self, v: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One block-Gibbs sweep ``h ~ p(h | v)``, ``v' ~ p(v | h)``; returns (v', E[v' | h])."""
        require_generator(generator, "Gibbs sampling")
        h = bernoulli(torch.sigmoid(self.hidden_input(v)), generator=generator)  # (B, H)
        mean = self.visible_mean(h)  # (B, D)
        return self.sample_visible(mean, generator), mean

    @torch.no_grad()
    def _negative_phase(self, v: torch.Tensor, p_h: torch.Tensor,
                        generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Model samples ``(r * n, D)`` and, when the chain starts at the data, E[v | h(v)]
        (``p_h`` = p(h = 1 | v), (B, H))."""
        require_generator(generator, "Gibbs sampling")
        c = self.config
        recon = None
        if c.pcd:
            x = self.chains
        elif c.random_start:
            x = self.random_visible(v.shape[0], generator)
        else:  # Algorithm 1: start at the training example; its h uses the data's p(h | v)
            h = bernoulli(p_h, generator=generator)
            recon = self.visible_mean(h)
            x = self.sample_visible(recon, generator)
        done = 0 if recon is None else 1  # Gibbs sweeps made so far
        # CD-k and PCD-k: v^(k) .. v^(k+r-1); Algorithm 0 (random start): k burn-in sweeps,
        # then the r samples v^(k+1) .. v^(k+r) it averages
        first = c.cd_k + (1 if c.random_start else 0)
        out = [x] if done >= first else []
        while done < first + c.samples - 1:
            x = self.gibbs_step(x, generator)[0]
            done += 1
            if done >= first:
                out.append(x)
        if c.pcd and self.training:
            self.chains.copy_(x)
        return (out[0] if len(out) == 1 else torch.cat(out)), recon

    # -- the loss -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        v = self.check_input(x)  # (B, D)
        a = self.hidden_input(v)  # (B, H)
        f_data = self.free_energy_from(v, a)  # (B,)
        v_model, recon = self._negative_phase(v, torch.sigmoid(a.detach()), generator)
        f_model = self.free_energy(v_model)  # (r * n,)
        terms = {"loss": f_data.mean() - f_model.mean(), "free_energy": f_data.detach().mean()}
        if recon is None:
            with torch.no_grad():
                h = bernoulli(torch.sigmoid(a.detach()), generator=generator)
                recon = self.visible_mean(h)
        terms["recon_error"] = ((v - recon) ** 2).sum(-1).mean()
        if self.config.sparsity_cost > 0:
            q = torch.sigmoid(a).mean(0)  # (H,)
            penalty = ((q - self.config.sparsity_target) ** 2).sum()
            terms["sparsity"] = penalty.detach()
            terms["loss"] = terms["loss"] + self.config.sparsity_cost * penalty
        if self.training:
            self._track_data(v)
        return terms

    # -- the seed's update, in closed form ----------------------------------------------------
    closed_form_update: ClassVar[bool] = True  # False: gradients by autograd (GRBM)

    @torch.no_grad()
    def cd_gradients(self, x: torch.Tensor, generator: torch.Generator | None = None
                     ) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, ...]]:
        """The terms of :meth:`forward` and the gradient of its loss with respect to
        ``(W, b, c)``, written out as the seed's update instead of by autograd:

            -dL/dW = E_data[v sigmoid(v^T W + c)^T] - E_samples[v sigmoid(v^T W + c)^T]

        (``b``: ``E_data[v] - E_samples[v]``; ``c``: the same with ``sigmoid(v^T W + c)``).
        The random numbers are drawn in the order :meth:`forward` draws them, so both give
        the same result for the same generator state. The two W products accumulate into one
        (D, H) result: no autograd graph, no softplus backward, no stacked copies.
        """
        v = self.check_input(x)  # (B, D)
        a = self.hidden_input(v)  # (B, H)
        p_data = torch.sigmoid(a)  # (B, H)
        v_model, recon = self._negative_phase(v, p_data, generator)  # (M, D)
        a_model = self.hidden_input(v_model)  # (M, H)
        B, M = v.shape[0], v_model.shape[0]
        f_data = self.free_energy_from(v, a)  # (B,)
        terms = {"loss": f_data.mean() - self.free_energy_from(v_model, a_model).mean(),
                 "free_energy": f_data.mean()}
        if recon is None:
            recon = self.visible_mean(bernoulli(p_data, generator=generator))
        terms["recon_error"] = ((v - recon) ** 2).sum(-1).mean()
        p_model = torch.sigmoid(a_model)  # (M, H)
        g_W = torch.mm(v_model.t(), p_model).addmm_(v.t(), p_data, beta=1.0 / M,
                                                     alpha=-1.0 / B)  # (D, H)
        g_b = v_model.mean(0) - v.mean(0)  # (D,)
        g_c = p_model.mean(0) - p_data.mean(0)  # (H,)
        if self.training:
            self._track_data(v)
        return terms, (g_W, g_b, g_c)

    def training_step(self, net, x: torch.Tensor, optimizers: dict, generator,
                      grad_clip: float = 0.0) -> dict[str, torch.Tensor]:
        """The closed-form update (:meth:`cd_gradients`) on one process; autograd through
        :meth:`forward` where gradients must be synchronized (DDP), for the sparsity penalty
        and for subclasses with parameters of their own."""
        if net is not self or self.config.sparsity_cost > 0 or not self.closed_form_update:
            return super().training_step(net, x, optimizers, generator, grad_clip)
        terms, grads = self.cd_gradients(x, generator)
        opt = optimizers["main"]
        for p, g in zip((self.W, self.b, self.c), grads):
            p.grad = g  # every gradient is replaced: no zero_grad needed
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.parameters(), grad_clip)
        opt.step()
        return terms

    def free_energy_from(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """F(v) given the hidden pre-activation ``a = v^T W + c`` (saves one product)."""
        return -(v @ self.b) - F.softplus(a).sum(-1)

    @torch.no_grad()
    def _track_data(self, v: torch.Tensor) -> None:
        n = float(self.data_count) + v.shape[0]
        # the column sums in the data's dtype (exact for binary batches below 2^24 rows),
        # accumulated into the float64 mean
        self.data_mean += (v.sum(0).double() - v.shape[0] * self.data_mean) / n
        self.data_count += v.shape[0]

    valid_loss_name = "pseudo-likelihood NLL"  # (log Z is too costly to compute each epoch)

    @torch.no_grad()
    def validation_terms(self, x, generator=None) -> dict[str, torch.Tensor]:
        """Per example: ``loss`` = pseudo-likelihood NLL over all sites (deterministic),
        ``free_energy`` (compare with ``train_free_energy``: the gap signals overfitting),
        ``recon_error`` (mean field), and ``nll`` when the exact log Z is cheap."""
        v = self.check_input(x)
        out = {"loss": pseudo_nll(v, self.W, self.b, self.c), "free_energy": self.free_energy(v),
               "recon_error": ((v - self.reconstruct(v)) ** 2).sum(-1)}
        if min(self.n_inputs, self.config.hidden) <= 16:
            out["nll"] = out["free_energy"] + float(self.log_partition())
        return out

    # -- generation -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, seed: Any = None, steps: int = 1000, mean: bool = True,
               start: torch.Tensor | None = None) -> torch.Tensor:
        """``steps`` block-Gibbs sweeps from the persistent chains (``pcd``; cycled when
        ``n > chains``), from ``start``, or from a random v; returns E[v | h] of the last sweep
        (``mean=True``) or the binary sample. The chains themselves are not changed."""
        n, steps = check_count("n", n, allow_zero=True), check_count("steps", steps)
        gen = self._generator(seed)
        if start is not None:
            v = self.check_input(start)
            if v.shape[0] != n:
                raise ValueError(f"start holds {v.shape[0]} chains but n={n} samples were "
                                 "asked for")
        elif self.chains.numel():
            v = self.chains[torch.arange(n, device=self.device) % self.chains.shape[0]].clone()
        else:
            v = self.random_visible(n, gen)
        m = v
        for _ in range(steps):
            v, m = self.gibbs_step(v, gen)
        return m if mean else v

    @torch.no_grad()
    def reconstruct(self, x: Any) -> torch.Tensor:
        """Mean-field reconstruction E[v | h = p(h | x)]."""
        return self.visible_mean(torch.sigmoid(self.hidden_input(self.check_input(x))))

    # -- a Markov network for cross-checks -------------------------------------------------------
    def to_markov_network(self, max_units: int = 20):
        """The RBM as a :class:`dgm.pgm.MarkovNetwork`: pairwise factors ``exp(w_ij v_i h_j)``
        and unary ``exp(b_i v_i)``, ``exp(c_j h_j)``, variables ``v0..`` and ``h0..``."""
        from dgm.pgm import Factor, MarkovNetwork

        D, H = self.W.shape
        if min(D, H) > max_units:
            raise ValueError(f"to_markov_network: treewidth {min(D, H)} > max_units={max_units}")
        W, b, c = (t.detach().double().cpu().numpy() for t in (self.W, self.b, self.c))
        big = max(float(abs(t).max(initial=0.0)) for t in (W, b, c))
        if big > 700:  # the factors hold exp(.) values: exp(710) overflows a float64
            raise ValueError(f"to_markov_network: a parameter of size {big:.4g} overflows "
                             f"its factor exp(.) (the cross-check needs |W|, |b|, |c| <= 700)")
        e = math.exp
        fs = [Factor([f"v{i}"], [2], [1.0, e(b[i])]) for i in range(D)]
        fs += [Factor([f"h{j}"], [2], [1.0, e(c[j])]) for j in range(H)]
        fs += [Factor([f"v{i}", f"h{j}"], [2, 2], [[1.0, 1.0], [1.0, e(W[i, j])]])
               for i in range(D) for j in range(H)]
        return MarkovNetwork(fs, name="rbm")

    # -- pictures -------------------------------------------------------------------------------
    @torch.no_grad()
    def pictures(self, run_dir: str | Path, seed: int = 0) -> list[Path]:
        """Filters (columns of W as images, each scaled to [0, 1]) and persistent chains."""
        from dgm.plots import save_grid

        run_dir = Path(run_dir)
        k = min(100, self.config.hidden)
        w = self.W[:, :k].T.detach().cpu()  # (k, D)
        lo, hi = w.min(1, keepdim=True).values, w.max(1, keepdim=True).values
        out = [save_grid(run_dir / "filters.png", (w - lo) / (hi - lo + 1e-12), self.input_shape)]
        if self.chains.numel():
            out.append(save_grid(run_dir / "chains.png", self.chains[:64].cpu(), self.input_shape))
        return out
