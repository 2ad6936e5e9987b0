r"""Masked Autoencoder for Distribution Estimation (the seed's "MADE"; Germain et al. 2015).

An autoencoder whose output k predicts p(x_k = 1 | x_<k): connections are cut by
masks so that output k sees only inputs earlier in the ordering. With degrees

    m^0(k) = position of input k in the ordering, in 1..n,
    m^l(j) ~ U{min_j' m^{l-1}(j'), ..., n - 1}   (hidden unit j of layer l: the seed's
             "number of inputs it will be connected to"),

the masks are

    M^l[j, j'] = 1[m^l(j) >= m^{l-1}(j')]          (hidden layers),
    M^V[k, j]  = 1[m^0(k) > m^L(j)]                 (output: strictly greater),
    M^A[k, k'] = 1[m^0(k) > m^0(k')]                (optional direct input-output),

    h^l = act((W^l * M^l) h^{l-1} + b^l),   p(x_k = 1 | x_<k) = sigmoid(((V * M^V) h^L
          + (A * M^A) x + c)_k),

and -log p(x) is the sum of the n cross entropies (one pass for all conditionals).
Optional hidden dropout (beyond the paper; training only) multiplies each h^l by a 0/1
mask drawn from the training generator and divides by 1 - p, so the network that is
evaluated uses every unit, unscaled; the masks M^l are untouched, so every conditional
stays autoregressive.

Mask ``m`` (its ordering and hidden degrees) is a deterministic function of
(``mask_seed``, m); the layers' ``mask`` buffers hold the current training mask.
Order- and connectivity-agnostic training switches to mask ``randint(train_masks)``
(from the training generator) every ``resample_every`` steps; the step counter and
mask index are buffers, so a resumed run continues exactly. At test time the
ensemble over masks 0..M-1 averages probabilities: log p(x) = logmeanexp_m log p_m(x).
Sampling: n passes, one variable at a time, in the mask's ordering.

Construction: ``MADE(config, input_shape)`` (the registry's form) or
``MADE.create(n_inputs, hidden_sizes, seed=0, **options)`` from plain arguments.

>>> import torch
>>> made = MADE.create(5, (8, 8), seed=0, direct=True)
>>> x = torch.tensor([[1.0, 0, 1, 1, 0]])
>>> made.log_prob(x).shape, made.sample(2, seed=0).shape
(torch.Size([1]), torch.Size([2, 5]))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from dgm._rng import as_torch_generator, derive_seed
from dgm.models._layers import activation, bernoulli
from dgm.models._masked import (
    MaskedLinear,
    autoregressive_pictures,
    bernoulli_log_lik,
    log_mean_exp,
    random_orderings,
)
from dgm.models.base import (
    GenerativeModel,
    ModelConfig,
    check_choice,
    check_count,
    check_positive,
)

AGNOSTIC = {"order_agnostic": True, "connectivity_agnostic": True}
# the authors' command for MNIST (github.com/mgermain/MADE): "Full" shuffling (orderings and
# connectivity) over 32 masks, early stopping on the masks' ensemble, orthogonal weights;
# with Adagrad 0.01, batch 100, 30 epochs of patience (the training flags)
PAPER_32 = {**AGNOSTIC, "train_masks": 32, "valid_masks": 32, "init": "orthogonal"}


@dataclass
class MADEConfig(ModelConfig):
    """Hyperparameters of a MADE; the default is the paper's one hidden layer of 500 ReLUs."""

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"hidden_sizes": (32,), **AGNOSTIC, "train_masks": 4},
        "paper-1layer": {"hidden_sizes": (500,), "init": "orthogonal"},  # table 6: 88.40
        "paper-1layer-32masks": {"hidden_sizes": (500,), **PAPER_32},  # 88.04
        "paper-2layer-32masks": {"hidden_sizes": (8000, 8000), "direct": True, **PAPER_32},
        "cpu-2layer-32masks": {"hidden_sizes": (1000, 1000), "direct": True, **AGNOSTIC,
                               "train_masks": 32},
    }

    hidden_sizes: tuple[int, ...] = (500,)  # any number of masked hidden layers (0: logistic)
    activation: str = "relu"  # hidden units: tanh | relu | softplus | elu | leaky_relu | sigmoid
    direct: bool = False  # direct (masked) input-to-output connections
    order_agnostic: bool = False  # a random ordering per mask (else the natural one)
    connectivity_agnostic: bool = False  # new hidden degrees per mask (else those of mask 0)
    train_masks: int = 1  # distinct masks cycled in training: indices 0..N-1 (0: unlimited)
    resample_every: int = 1  # training steps between mask changes
    mask_seed: int = 0  # masks are a function of (mask_seed, mask index)
    dropout: float = 0.0  # training only: each hidden unit dropped with this probability
    init: str = "torch"  # torch (Kaiming-uniform) | orthogonal (the authors' code, zero biases)
    valid_masks: int = 1  # validation (early stopping) NLL: the ensemble of masks 0..N-1

    def validate(self) -> None:
        for h in self.hidden_sizes:
            check_positive("hidden_sizes", h)
        check_choice("activation", self.activation,
                     ("relu", "tanh", "sigmoid", "softplus", "elu", "leaky_relu"))
        check_positive("train_masks", self.train_masks, allow_zero=True)
        check_positive("resample_every", self.resample_every)
        check_positive("mask_seed", self.mask_seed, allow_zero=True)
        check_choice("init", self.init, ("torch", "orthogonal"))
        check_positive("valid_masks", self.valid_masks)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name, count in (("train_masks", self.train_masks), ("valid_masks", self.valid_masks)):
            if count != 1 and not (self.order_agnostic or self.connectivity_agnostic):
                raise ValueError(f"{name}={count} needs order_agnostic or "
                                 "connectivity_agnostic (otherwise every mask is the same)")
        if self.train_masks > 0 and self.valid_masks > self.train_masks:
            raise ValueError(f"valid_masks={self.valid_masks} exceeds train_masks="
                             f"{self.train_masks}: masks beyond those are never trained")


class MADE(GenerativeModel):
    """Masked autoencoder: exact log p(x) in one pass, mask ensembles, n-pass sampling."""

    name = "made"
    Config = MADEConfig
    data_kinds = ("binary",)
    eval_options = {"masks": (int, 1, "MADE: masks in the test-time ensemble "
                                      "(log-mean-exp of the per-mask likelihoods)")}

    def __init__(self, config: MADEConfig, input_shape: tuple[int, ...]):
        super().__init__(config, input_shape)
        n = self.n_inputs
        if n < 2:
            raise ValueError(f"MADE needs at least 2 variables, got input shape {input_shape}")
        sizes = (n, *config.hidden_sizes, n)
        self.layers = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.direct = MaskedLinear(n, n, bias=False) if config.direct else None
        self.act = activation(config.activation)
        self.register_buffer("order", torch.arange(n))  # (n,) the current mask's ordering
        self.register_buffer("mask_index", torch.tensor(0))  # the current training mask
        self.register_buffer("steps", torch.tensor(0))  # training steps taken (resampling)
        self.set_mask(0)

    @classmethod
    def create(cls, n_inputs: int, hidden_sizes: tuple[int, ...] = (500,), seed: Any = 0,
               **options) -> MADE:
        """A MADE over ``n_inputs`` binary variables, initialized from ``seed``."""
        cfg = MADEConfig(hidden_sizes=tuple(hidden_sizes), **options)
        return cls(cfg, (n_inputs,)).reset_parameters(seed)

    def _reset_own(self, generator: torch.Generator) -> None:
        """``init="orthogonal"``: every weight matrix (out, in) semi-orthogonal (its rows or
        its columns orthonormal), biases zero, as in the authors' code (Germain et al.);
        the masks cut the connections afterwards, as for any initialization."""
        if self.config.init != "orthogonal":
            return
        with torch.no_grad():
            for layer in self._masked_layers():
                nn.init.orthogonal_(layer.weight, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()

    # -- masks ---------------------------------------------------------------------------
    def ordering(self, m: int) -> torch.Tensor:
        """Mask ``m``'s ordering (n,): order[k] is the variable with degree k + 1."""
        if not self.config.order_agnostic:
            return torch.arange(self.n_inputs)
        gen = as_torch_generator(derive_seed(self.config.mask_seed, "made-order", m))
        return random_orderings(1, self.n_inputs, gen)[0]

    def masks(self, m: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``(masks, order)`` of mask index ``m``: one 0/1 matrix per layer (+ the direct one)."""
        c, n = self.config, self.n_inputs
        # the degrees are drawn on the CPU (the same masks on every device); the (large)
        # 0/1 matrices are built where the weights live
        dev = self.order.device if hasattr(self, "order") else torch.device("cpu")
        order = self.ordering(m)
        d0 = torch.empty(n, dtype=torch.long)
        d0[order] = torch.arange(1, n + 1)  # m^0: the input degrees
        gen = as_torch_generator(derive_seed(c.mask_seed, "made-degrees",
                                             m if c.connectivity_agnostic else 0))
        degrees = [d0]
        for h in c.hidden_sizes:
            low = min(int(degrees[-1].min()), n - 1)
            degrees.append(torch.randint(low, n, (h,), generator=gen))  # m^l in low..n-1
        d0, *hidden = (d.to(dev) for d in degrees)
        out, prev = [], d0
        for deg in hidden:
            out.append((deg[:, None] >= prev[None, :]).float())  # (h, h_prev)
            prev = deg
        out.append((d0[:, None] > prev[None, :]).float())  # (n, h_L): strictly greater
        if self.direct is not None:
            out.append((d0[:, None] > d0[None, :]).float())  # (n, n)
        return out, order.to(dev)

    @torch.no_grad()
    def set_mask(self, m: int) -> None:
        """Make mask ``m`` the current (training, buffered) mask."""
        masks, order = self.masks(m)
        for layer, M in zip(self._masked_layers(), masks):
            layer.mask.copy_(M)
        self.order.copy_(order)
        self.mask_index.fill_(m)

    def _masked_layers(self) -> list[MaskedLinear]:
        return [*self.layers, *([self.direct] if self.direct is not None else [])]

    def check_masks(self, masks: Any) -> int:
        """The size of a test-time ensemble: masks 0..masks-1 must all have been trained."""
        masks = check_count("masks", masks)
        c = self.config
        if masks > 1 and not (c.order_agnostic or c.connectivity_agnostic):
            raise ValueError(f"masks={masks} needs a MADE trained with order_agnostic or "
                             "connectivity_agnostic (this one has a single mask)")
        if c.train_masks > 0 and masks > c.train_masks:
            raise ValueError(f"masks={masks}: this MADE was trained on {c.train_masks} masks "
                             f"(0..{c.train_masks - 1}); the others were never trained")
        return masks

    def _resamples(self) -> bool:
        c = self.config
        return (c.order_agnostic or c.connectivity_agnostic) and c.train_masks != 1

    # -- the network ---------------------------------------------------------------------
    def logits(self, x: torch.Tensor, masks: list[torch.Tensor] | None = None,
               dropout: torch.Generator | None = None) -> torch.Tensor:
        """Logits of p(x_k = 1 | x_<k) for every k (B, n), with ``masks`` or the buffers;
        with a ``dropout`` generator, hidden units are dropped (inverted dropout, training)."""
        ms = masks or [None] * (len(self.layers) + (self.direct is not None))
        p = self.config.dropout
        h = x
        for layer, M in zip(self.layers[:-1], ms):
            h = self.act(layer(h, M))  # (B, h_l)
            if dropout is not None and p > 0:
                keep = torch.rand(h.shape, generator=dropout, device=h.device) >= p  # (B, h_l)
                h = h * keep / (1.0 - p)  # E[h] unchanged: the test-time net uses all units
        out = self.layers[-1](h, ms[len(self.layers) - 1])  # (B, n)
        if self.direct is not None:
            out = out + self.direct(x, ms[-1])
        return out

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Mean NLL in nats under the current mask, after resampling it when it is due."""
        x = self.as_batch(x)  # (B, n)
        c = self.config
        drop = self.training and c.dropout > 0
        if drop and generator is None:
            raise ValueError("MADE with dropout trains with an explicit generator "
                             "(model(x, generator=g)); none was given")
        if self.training and self._resamples():
            if generator is None:
                raise ValueError("an order- or connectivity-agnostic MADE trains with an "
                                 "explicit generator (model(x, generator=g)), which draws "
                                 "its masks; none was given")
            if int(self.steps) % c.resample_every == 0:
                high = c.train_masks if c.train_masks > 0 else 2**31 - 1
                m = int(torch.randint(high, (1,), generator=generator, device=generator.device))
                if m != int(self.mask_index):
                    self.set_mask(m)
            self.steps += 1
        logits = self.logits(x, dropout=generator if drop else None)  # (B, n)
        return {"loss": -bernoulli_log_lik(x, logits).mean()}

    @property
    def valid_loss_name(self) -> str:
        m = self.config.valid_masks
        return "NLL (exact, mask 0)" if m == 1 else f"NLL (exact, ensemble of {m} masks)"

    def validation_terms(self, x, generator=None):
        """Exact NLL under mask 0, or of the ensemble of masks 0..valid_masks-1 (what the
        authors' code watches for early stopping); deterministic."""
        x = self.as_batch(x)  # the loop's batches come from checked data
        lp = torch.stack([self.log_prob_mask(x, j) for j in range(self.config.valid_masks)])
        return {"loss": -log_mean_exp(lp, 0)}  # (B,); one mask: log_prob_mask itself

    # -- likelihood ----------------------------------------------------------------------
    @torch.no_grad()
    def log_prob_mask(self, x: torch.Tensor, m: int, chunk: int = 4096) -> torch.Tensor:
        """Exact log p_m(x) under mask ``m`` (B,)."""
        masks, _ = self.masks(m)
        return torch.cat([bernoulli_log_lik(xb, self.logits(xb, masks)) for xb in x.split(chunk)])

    @torch.no_grad()
    def log_prob(self, x: Any, masks: int = 1, seed: Any = None) -> torch.Tensor:
        """Exact log p(x) in nats (B,): mask 0, or the ensemble over masks 0..masks-1
        (log-mean-exp: it averages probabilities). ``seed`` is unused (exact)."""
        return log_mean_exp(self.log_prob_each(x, masks), 0)

    @torch.no_grad()
    def log_prob_each(self, x: Any, masks: int = 1) -> torch.Tensor:
        """log p_m(x) for each mask m = 0..masks-1 of the ensemble (M, B)."""
        masks = self.check_masks(masks)
        x = self.check_likelihood_input(x)
        return torch.stack([self.log_prob_mask(x, m) for m in range(masks)])  # (M, B)

    def nll(self, x: Any, masks: int = 1) -> dict[str, torch.Tensor]:
        """Per-example exact -log p(x) for ``dgm eval`` (and mask 0's alone)."""
        lp = self.log_prob_each(x, masks)  # (M, B), each mask evaluated once
        out = {"nll_nats": -log_mean_exp(lp, 0)}
        if masks > 1:
            out["nll_1mask_nats"] = -lp[0]
        return out

    @torch.no_grad()
    def conditionals(self, x: Any, m: int = 0) -> torch.Tensor:
        """p(x_k = 1 | x_<k) under mask ``m`` at every variable's position (B, n)."""
        return torch.sigmoid(self.logits(self.check_input(x), self.masks(m)[0]))

    # -- generation ----------------------------------------------------------------------
    @torch.no_grad()
    def sample_trace(self, n: int, seed: Any = None, masks: int = 1) -> tuple[torch.Tensor, ...]:
        """``(x, p, order)``, each (n, D): samples, the p(x_k = 1 | x_<k) each pixel was
        drawn from, and each sample's ordering; with ``masks`` > 1 each sample takes a
        uniformly chosen mask of the ensemble (exact samples of the mixture)."""
        n, masks = check_count("n", n, allow_zero=True), self.check_masks(masks)
        gen = self._generator(seed)
        D = self.n_inputs
        pick = (torch.randint(masks, (n,), generator=gen, device=gen.device).cpu()
                if masks > 1 else torch.zeros(n, dtype=torch.long))
        x = torch.zeros(n, D, device=self.device, dtype=self.dtype)
        probs = torch.zeros(n, D, device=self.device, dtype=self.dtype)
        orders = torch.zeros(n, D, dtype=torch.long, device=self.device)
        for m in range(masks):
            rows = (pick == m).nonzero()[:, 0].to(self.device)
            if len(rows) == 0:
                continue
            ms, order = self.masks(m)
            xm, pm = x[rows], probs[rows]
            for k in range(D):  # n passes, one variable at a time
                i = order[k]
                p = torch.sigmoid(self.logits(xm, ms)[:, i])  # (n_m,)
                xm[:, i], pm[:, i] = bernoulli(p, generator=gen), p
            x[rows], probs[rows], orders[rows] = xm, pm, order
        return x, probs, orders

    def sample(self, n: int, seed: Any = None, masks: int = 1) -> torch.Tensor:
        """``n`` exact samples (n, D) of 0/1 (mask 0, or the ensemble of ``masks``)."""
        return self.sample_trace(n, seed=seed, masks=masks)[0]

    # -- pictures ------------------------------------------------------------------------
    def connectivity(self, m: int = 0) -> torch.Tensor:
        """C[k, k'] = number of paths from input k' to output k under mask ``m`` (n, n)."""
        masks, _ = self.masks(m)
        L = len(self.layers)
        c = masks[0]
        for M in masks[1:L]:
            c = M @ c
        return c + (masks[-1] if self.direct is not None else 0)

    def pictures(self, run_dir: str | Path, seed: int = 0, m: int = 0) -> list[Path]:
        """Samples and conditionals (as NADE) and ``mask_connectivity.png``: each mask,
        the input-output connectivity in ordering order (strictly lower triangular), and
        for images the inputs that four output pixels see."""
        from dgm.plots import _plt, save_figure

        out = autoregressive_pictures(self, run_dir, seed=seed)
        masks, order = self.masks(m)
        conn = (self.connectivity(m) > 0).float().cpu()
        order = order.cpu()
        image = len(self.input_shape) == 3
        pix = [int(order[int(q * (self.n_inputs - 1))]) for q in (0.25, 0.5, 0.75, 1.0)]
        plt = _plt()
        ncols = len(masks) + 1 + (len(pix) if image else 0)
        fig, axes = plt.subplots(1, ncols, figsize=(2.6 * ncols, 2.8), squeeze=False)
        names = [f"M^{i + 1}" for i in range(len(self.layers) - 1)] + ["M^V"]
        names += ["M^A (direct)"] if self.direct is not None else []
        for ax, M, nm in zip(axes[0], masks, names):
            ax.imshow(M.cpu().numpy(), cmap="gray_r", aspect="auto", interpolation="nearest")
            ax.set_title(f"{nm} {tuple(M.shape)}", fontsize=8)
        ax = axes[0][len(masks)]
        ax.imshow(conn[order][:, order].numpy(), cmap="gray_r", interpolation="nearest")
        ax.set_title("output sees input\n(in ordering order)", fontsize=8)
        if image:
            h, w = self.input_shape[1:]
            for ax, p in zip(axes[0][len(masks) + 1:], pix):
                seen = conn[p].reshape(-1, h, w)[0].numpy()
                ax.imshow(seen, cmap="gray_r", interpolation="nearest")
                ax.plot(p % w, (p // w) % h, "r.", markersize=6)
                ax.set_title(f"inputs seen by pixel {p}", fontsize=8)
        for ax in axes[0]:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        path = Path(run_dir) / "mask_connectivity.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        return [*out, save_figure(fig, path)]
