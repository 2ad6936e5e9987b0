r"""Neural Autoregressive Density Estimator (the seed's "NADE"; Larochelle & Murray 2011).

The chain rule, in an ordering o of the n variables (natural: o_k = k),

    p(x) = prod_{k=1}^{n} p(x_{o_k} | x_{o_<k}),

with every factor computed by one shared hidden layer

    h_k = sigmoid(W_{., o_<k} x_{o_<k} + b),         W in R^{d x n}, b in R^d,
    p(x_{o_k} = 1 | x_{o_<k}) = sigmoid(V_{o_k} h_k + c_{o_k}),   V_k in R^d, c_k in R.

(The seed writes W_{., <k} as "the first k columns"; they are the first k - 1: the
k-th output must not see x_k.) Computing every a_k = W_{., o_<k} x_{o_<k} + b from
scratch costs O(n^2 d); the seed's recursion

    a_{k+1} = a_k + W_{., o_k} x_{o_k},   a_1 = b,

makes it O(n d): training and evaluation take an exclusive cumulative sum along the
ordering (batched), sampling keeps one running activation, one variable at a time.

Orderings: ``natural``, ``random`` (one fixed permutation, a buffer) and ``agnostic``
(DeepNADE, Uria et al. 2014/2016: a new ordering per example or per batch while
training; at test time the ensemble p(x) = 1/M sum_m p(x | o^(m)), a log-mean-exp; its
fixed ordering, for validation and sampling, is a seeded random one, as for ``random``).

Order-agnostic training minimizes E_o[-log p(x | o)]. An ordering per example costs a
(B, n, d) tensor; ``resample="subset"`` uses DeepNADE's estimator instead. h_k depends on
the *set* S = {o_<k} only, and given S each unobserved variable is equally likely to come
next, so with |S| = k uniform on 0..n-1 and S a uniform k-subset

    E_o[log p(x | o)] = E_{k,S}[ n / (n - k) * sum_{i not in S} log p(x_i | x_S) ],
    p(x_i = 1 | x_S) = sigmoid(V_i act(W (x * 1_S) + b) + c_i),

an unbiased estimate from one hidden layer per example: O(n d), two matrix products.

Construction: ``NADE(config, input_shape)`` (the registry's form) or
``NADE.create(n_inputs, n_hidden, seed=0, **options)`` from plain arguments.

>>> import torch
>>> nade = NADE.create(6, 4, seed=0)
>>> x = torch.tensor([[1.0, 0, 1, 1, 0, 0]])
>>> bool(torch.allclose(nade.log_prob(x), nade.log_prob_naive(x), atol=1e-6))
True
>>> nade.sample(3, seed=0).shape
torch.Size([3, 6])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dgm._rng import as_torch_generator, derive_seed
from dgm.models._layers import bernoulli
from dgm.models._masked import (
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

ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": F.relu, "tanh": torch.tanh}


@dataclass
class NADEConfig(ModelConfig):
    """Hyperparameters of a NADE; the default is the paper's 500 sigmoid hidden units."""

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"n_hidden": 16},
        "tiny-agnostic": {"n_hidden": 16, "ordering": "agnostic"},
        "paper": {"n_hidden": 500},  # Larochelle & Murray 2011: 88.86 nats on MNIST
        "cpu": {"n_hidden": 250},  # what a 2-core CPU trains in minutes per epoch
        "agnostic": {"n_hidden": 500, "ordering": "agnostic", "activation": "relu"},
    }

    n_hidden: int = 500  # d, the size of the shared hidden layer
    ordering: str = "natural"  # natural | random (fixed permutation) | agnostic
    # subset: DeepNADE's estimator, one hidden layer per example (fastest by far); example,
    # batch: a new ordering per example or per batch, n hidden layers per example
    resample: str = "subset"  # order-agnostic training: subset | example | batch
    ordering_seed: int = 0  # seed of the fixed random ordering and of the test-time ensemble
    activation: str = "sigmoid"  # the seed's sigmoid; relu or tanh

    def validate(self) -> None:
        check_positive("n_hidden", self.n_hidden)
        check_choice("ordering", self.ordering, ("natural", "random", "agnostic"))
        check_choice("resample", self.resample, ("example", "batch", "subset"))
        check_choice("activation", self.activation, tuple(ACTIVATIONS))
        check_positive("ordering_seed", self.ordering_seed, allow_zero=True)


class NADE(GenerativeModel):
    """Neural autoregressive density estimator: exact log p(x) in O(n d)."""

    name = "nade"
    Config = NADEConfig
    data_kinds = ("binary",)
    # speed only (the result is the same): positions per block of the recursion, and the
    # most (rows x BLOCK x d) entries a block's tensors hold, so that they stay in cache
    # (on one CPU thread at d = 500: 16 positions and 2^20 entries evaluate 6x faster than
    # 32 positions on 1,000 rows at once, and a training step of 100 rows 2x faster)
    BLOCK = 16
    BLOCK_ENTRIES = 2**20
    eval_options = {"orderings": (int, 1, "NADE: orderings in the test-time ensemble "
                                         "(order-agnostic NADE)")}

    def __init__(self, config: NADEConfig, input_shape: tuple[int, ...]):
        super().__init__(config, input_shape)
        n, d = self.n_inputs, config.n_hidden
        self.W = nn.Parameter(torch.zeros(d, n))  # (d, n) shared input-to-hidden weights
        self.b = nn.Parameter(torch.zeros(d))  # (d,)
        self.V = nn.Parameter(torch.zeros(n, d))  # (n, d): row k is V_k
        self.c = nn.Parameter(torch.zeros(n))  # (n,)
        if config.ordering in ("random", "agnostic"):  # agnostic: validated, sampled and
            # evaluated in a random ordering, a typical one of its training; the natural one
            # is not (on MNIST, 120 nats against 98 for random ones, at the same weights:
            # uniformly random observed sets are never a block of whole rows)
            gen = as_torch_generator(derive_seed(config.ordering_seed, "nade-order"))
            order = random_orderings(1, n, gen)[0]
        else:
            order = torch.arange(n)
        self.register_buffer("order", order)  # (n,) the fixed (and evaluation) ordering
        self.act = ACTIVATIONS[config.activation]

    @classmethod
    def create(cls, n_inputs: int, n_hidden: int = 500, seed: Any = 0, **options) -> NADE:
        """A NADE over ``n_inputs`` binary variables, initialized from ``seed``."""
        cfg = NADEConfig(n_hidden=n_hidden, **options)
        return cls(cfg, (n_inputs,)).reset_parameters(seed)

    def _reset_own(self, generator: torch.Generator) -> None:
        n, d = self.n_inputs, self.config.n_hidden
        for p, fan_in in ((self.W, n), (self.b, n), (self.V, d), (self.c, d)):
            bound = fan_in**-0.5
            p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)

    # -- orderings -------------------------------------------------------------------
    def orderings(self, m: int) -> torch.Tensor:
        """The test-time ensemble (m, n): the fixed ordering, then m - 1 seeded permutations."""
        m = check_count("orderings", m)
        if m > 1 and self.config.ordering != "agnostic":
            raise ValueError(f"orderings={m} needs a model trained with ordering='agnostic' "
                             f"(this one: {self.config.ordering!r})")
        gen = as_torch_generator(derive_seed(self.config.ordering_seed, "nade-ensemble"))
        rest = random_orderings(m - 1, self.n_inputs, gen).to(self.order.device)
        return torch.cat([self.order[None], rest])

    # -- the O(nd) conditionals ---------------------------------------------------------
    def ordered_logits(self, x: torch.Tensor, order: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(x_o, l_o)``: inputs and logits of p(x_{o_k} = 1 | x_{o_<k}), both (B, n), in
        ordering position; ``order`` is (n,) or (1, n) shared, or (B, n) per example."""
        order = order.view(-1, self.n_inputs)  # (1, n) shared or (B, n) per example
        rows = max(1, self.BLOCK_ENTRIES // (min(self.BLOCK, self.n_inputs)
                                             * self.config.n_hidden))
        if order.shape[0] == 1 and x.shape[0] > rows:  # a shared ordering: in row chunks
            parts = [self.ordered_logits(xc, order) for xc in x.split(rows)]
            return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        if order.shape[0] == 1:
            order = order[0]
            xo = x[:, order]  # (B, n)
        else:
            xo = x.gather(1, order)  # (B, n)
        # row look-ups by F.embedding: its backward is deterministic (indexing's is not on CPU)
        Wo = F.embedding(order, self.W.t())  # (n, d) or (B, n, d): W_{., o_k} at position k
        Vo = F.embedding(order, self.V)  # (n, d) or (B, n, d)
        co = F.embedding(order, self.c[:, None])[..., 0]  # (n,) or (B, n)
        # a_k = b + sum_{j<k} W_{., o_j} x_{o_j}, the seed's recursion
        # a_{k+1} = a_k + W_{., o_k} x_{o_k}
        if Wo.dim() == 3:  # an ordering per example: W is gathered per example anyway, so
            # the recursion is an exclusive cumulative sum over (B, n, d) (shift x and W by one)
            xs = F.pad(xo, (1, -1))  # (B, n): x_{o_{k-1}}, 0 at k = 1
            Ws = F.pad(Wo, (0, 0, 1, -1))  # (B, n, d): W_{., o_{k-1}}
            h = self.act(torch.cumsum(xs.unsqueeze(-1) * Ws, 1) + self.b)  # (B, n, d): h_k
            return xo, (h * Vo).sum(-1) + co  # (B, n): V_{o_k} h_k + c_{o_k}
        # one ordering for the batch: BLOCK positions at a time; inside a block the partial
        # sums are one strictly-lower-triangular matrix product (cache-sized), the running
        # activation ``run`` carries the sum across blocks, and each block's h_k and logits
        # are done before the next: O(n d) work without a (B, n, d) tensor in memory
        B, n, d = xo.shape[0], self.n_inputs, self.config.n_hidden
        s = min(self.BLOCK, n)
        tri = torch.tril(torch.ones(s, s, dtype=xo.dtype, device=xo.device), -1)  # (s, s)
        run = self.b.expand(B, d)  # (B, d): a at the first position of the block
        logits = []
        for k0 in range(0, n, s):
            xb, Wb = xo[:, k0:k0 + s], Wo[k0:k0 + s]  # (B, sb), (sb, d)
            sb = xb.shape[1]
            lower = xb[:, None, :] * tri[:sb, :sb]  # (B, sb, sb): x_{o_j} for j < i
            inner = (lower.reshape(B * sb, sb) @ Wb).view(B, sb, d)  # (B, sb, d)
            h = self.act(inner + run[:, None, :])  # (B, sb, d): h_k of the block
            logits.append((h * Vo[k0:k0 + s]).sum(-1))  # (B, sb): V_{o_k} h_k
            run = run + xb @ Wb  # (B, d)
        lo = torch.cat(logits, 1) + co  # (B, n): V_{o_k} h_k + c_{o_k}
        return xo, lo

    def ordered_logits_naive(self, x: torch.Tensor,
                             order: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The same, computing every h_k = act(W_{., o_<k} x_{o_<k} + b) from scratch:
        O(n^2 d), the reference for the fast version. ``order`` is (n,)."""
        xo = x[:, order]  # (B, n)
        Wo = self.W[:, order]  # (d, n)
        out = []
        for k in range(self.n_inputs):
            h = self.act(xo[:, :k] @ Wo[:, :k].t() + self.b)  # (B, d)
            out.append(h @ self.V[order[k]] + self.c[order[k]])  # (B,)
        return xo, torch.stack(out, 1)

    def log_prob_ordering(self, x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        """log p(x | o) = sum_k log p(x_{o_k} | x_{o_<k}), per example (B,)."""
        return bernoulli_log_lik(*self.ordered_logits(x, order))

    # -- training ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Mean NLL in nats; order-agnostic: for orderings drawn from ``generator``."""
        x = self.as_batch(x)  # (B, n)
        order = self.order
        if self.config.ordering == "agnostic":
            if generator is None:
                raise ValueError("order-agnostic NADE training needs a generator")
            if self.config.resample == "subset":
                return {"loss": -self.subset_log_lik(x, generator).mean()}
            m = x.shape[0] if self.config.resample == "example" else 1
            order = random_orderings(m, self.n_inputs, generator, device=generator.device)
            order = order.to(x.device)
        return {"loss": -self.log_prob_ordering(x, order).mean()}

    def subset_log_lik(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """DeepNADE's unbiased estimate of E_o[log p(x | o)] per example (B,): a random
        observed set S of uniform size k in 0..n-1, and n / (n - k) times the sum of the
        log conditionals of the n - k unobserved variables given x_S (module docstring)."""
        B, n = x.shape
        perm = random_orderings(B, n, generator, device=generator.device)  # (B, n)
        k = torch.randint(0, n, (B, 1), generator=generator, device=generator.device)  # (B, 1)
        return self.subset_term(x, (perm < k).to(x.device))  # a uniform k-subset observed

    def subset_term(self, x: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        """``n / (n - |S|) * sum_{i not in S} log p(x_i | x_S)`` per example (B,), ``seen``
        (B, n) boolean the observed set S (fewer than n variables)."""
        n = x.shape[1]
        ll = self.log_conditionals_given(x, seen)  # (B, n)
        unseen = (~seen).to(x.dtype)  # (B, n)
        return n / unseen.sum(1) * (ll * unseen).sum(1)  # (B,)

    def log_conditionals_given(self, x: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        """log p(x_i | x_S) for every i (B, n), S = ``seen`` (B, n) boolean: the conditional
        of the orderings whose next variable is i after S (exact for any S, as h_k depends
        on the set of earlier variables only); only the observed values of ``x`` are read
        for h, so the entries for i not in S score an imputation."""
        h = self.act((x * seen) @ self.W.t() + self.b)  # (B, d): h given x_S
        logits = h @ self.V.t() + self.c  # (B, n): p(x_i = 1 | x_S) for every i
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")  # (B, n)

    valid_loss_name = "NLL (exact, in its fixed ordering)"

    def validation_terms(self, x, generator=None):
        """Exact NLL in the fixed ordering (deterministic)."""
        with torch.no_grad():
            return {"loss": -self.log_prob_ordering(self.as_batch(x), self.order)}

    # -- likelihood ----------------------------------------------------------------------
    @torch.no_grad()
    def log_prob(self, x: Any, orderings: int = 1, seed: Any = None,
                 chunk: int = 2**24) -> torch.Tensor:
        """Exact log p(x) in nats (B,); ``orderings`` > 1: the ensemble's log-mean-exp
        over ``self.orderings(orderings)``. ``seed`` is unused (the result is exact)."""
        return log_mean_exp(self.log_prob_each(x, orderings, chunk), 0)

    @torch.no_grad()
    def log_prob_each(self, x: Any, orderings: int = 1, chunk: int = 2**24) -> torch.Tensor:
        """log p(x | o_m) for each ordering of the ensemble (M, B); row 0: the fixed one."""
        x = self.check_likelihood_input(x)
        rows = max(1, chunk // (self.n_inputs * self.config.n_hidden))  # bounds (rows, n, d)
        return torch.stack([torch.cat([self.log_prob_ordering(xb, o) for xb in x.split(rows)])
                            for o in self.orderings(orderings)])  # (M, B)

    @torch.no_grad()
    def log_prob_naive(self, x: Any) -> torch.Tensor:
        """log p(x) in the fixed ordering by the O(n^2 d) computation (B,)."""
        x = self.check_likelihood_input(x)
        return bernoulli_log_lik(*self.ordered_logits_naive(x, self.order))

    def nll(self, x: Any, orderings: int = 1) -> dict[str, torch.Tensor]:
        """Per-example exact -log p(x) for ``dgm eval`` (and the single ordering's)."""
        lp = self.log_prob_each(x, orderings)  # (M, B), each ordering evaluated once
        out = {"nll_nats": -log_mean_exp(lp, 0)}
        if orderings > 1:
            out["nll_1ordering_nats"] = -lp[0]
        return out

    @torch.no_grad()
    def conditionals(self, x: Any, order: torch.Tensor | None = None) -> torch.Tensor:
        """p(x_i = 1 | x_{<i in the ordering}) at every variable's own position (B, n)."""
        x = self.check_input(x)
        order = (self.order if order is None else order).view(-1, self.n_inputs)
        order = order.expand(x.shape[0], -1)
        _, lo = self.ordered_logits(x, order)
        return torch.sigmoid(torch.empty_like(lo).scatter_(1, order, lo))

    # -- generation ----------------------------------------------------------------------
    @torch.no_grad()
    def sample_trace(self, n: int, seed: Any = None,
                     orderings: int = 1) -> tuple[torch.Tensor, ...]:
        """``(x, p, order)``, each (n, D): samples, the p(x_k = 1 | x_<k) each pixel was
        drawn from, and each sample's ordering (one of the ensemble's, uniformly)."""
        n = check_count("n", n, allow_zero=True)
        gen = self._generator(seed)
        D = self.n_inputs
        ens = self.orderings(orderings)  # (M, D)
        if orderings > 1:  # a uniform mixture component per sample: exact ensemble samples
            order = ens[torch.randint(len(ens), (n,), generator=gen, device=gen.device)
                        .to(ens.device)]  # (n, D)
        else:
            order = ens.expand(n, D)
        rows = torch.arange(n, device=self.device)
        x = torch.zeros(n, D, device=self.device, dtype=self.dtype)
        probs = torch.zeros(n, D, device=self.device, dtype=self.dtype)
        a = self.b.expand(n, -1).clone()  # (n, d): a_1 = b, the one running activation
        Wt = self.W.t()  # (D, d)
        for k in range(D):
            i = order[:, k]  # (n,) the variable drawn at step k
            p = torch.sigmoid((self.act(a) * self.V[i]).sum(-1) + self.c[i])  # (n,)
            xi = bernoulli(p, generator=gen)
            x[rows, i], probs[rows, i] = xi, p
            a += Wt[i] * xi[:, None]  # a_{k+1} = a_k + W_{., o_k} x_{o_k}
        return x, probs, order

    def sample(self, n: int, seed: Any = None, orderings: int = 1) -> torch.Tensor:
        """``n`` exact samples (n, D) of 0/1, one variable at a time (O(n D d))."""
        return self.sample_trace(n, seed=seed, orderings=orderings)[0]

    def pictures(self, run_dir: str | Path, seed: int = 0) -> list[Path]:
        """Samples with their per-pixel conditionals, and the sampling process."""
        return autoregressive_pictures(self, run_dir, seed=seed)
