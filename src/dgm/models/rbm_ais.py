r"""The partition function of an RBM: exact, AIS and RAISE.

* :func:`log_partition_exact`: enumerate the smaller layer (up to ~25 units) in
  chunks, in log space. Summing over ``h`` analytically leaves
  ``log Z = logsumexp_h [c^T h + sum_i softplus(b_i + W_i h)]`` (or the same over ``v``).
* :func:`ais_log_partition`: annealed importance sampling (Salakhutdinov & Murray
  2008) along a path of intermediate models ``p*_k`` from a base model with ``W = 0``
  (``beta = 0``, its ``Z_0`` known) to the RBM (``beta = 1``): for the Bernoulli RBM
  (:class:`BernoulliPath`) the base has visible biases ``b_A`` (the logit of the smoothed
  training-data marginals) and

      p*_k(v) = exp((1 - beta_k) b_A^T v + beta_k b^T v) prod_j (1 + exp(beta_k (v^T W + c)_j));

  the Gaussian-Bernoulli RBM's (:class:`GaussianPath`) starts at independent Gaussians
  fitted to the data. One block-Gibbs transition per ``beta`` leaves ``p_k`` invariant, and
  ``Z_B / Z_0 ~= mean_runs prod_k p*_k(v_k) / p*_{k-1}(v_k)``. All runs are one batch.
  AIS is unbiased for ``Z`` but, by Jensen, tends to *underestimate* ``log Z`` (which
  *flatters* a test log-likelihood).
* :func:`raise_log_prob`: reverse annealing (RAISE, Burda, Grosse & Salakhutdinov
  2015) started at the test example; ``E[log w] <= log p_ann(x)``, the likelihood of a
  proper annealed model that tends to the RBM: a conservative check on AIS.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> W, b, c = torch.randn(6, 3, generator=g), torch.zeros(6), torch.zeros(3)
>>> exact = float(log_partition_exact(W, b, c))
>>> path = BernoulliPath(W, b, c, base_bias=torch.zeros(6))
>>> res = ais_log_partition(path, paper_schedule(500), runs=200, seed=0)
>>> abs(res.log_z - exact) < 0.05
True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dgm._checks import check_count
from dgm._rng import as_torch_generator
from dgm.models._layers import bernoulli

#: the paper's schedule: 500 betas in [0, 0.5), 4,000 in [0.5, 0.9), 10,000 in [0.9, 1]
PAPER_SEGMENTS = ((0.0, 0.5, 500), (0.5, 0.9, 4000), (0.9, 1.0, 10000))
PAPER_BETAS = sum(n for *_, n in PAPER_SEGMENTS)  # 14,500
EXACT_MAX_UNITS = 25


def binary_states(n: int, start: int, stop: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """Binary expansions of the integers ``start .. stop-1`` over ``n`` bits, first bit most
    significant (as :func:`dgm.data.exact.all_states`): ``(stop - start, n)``.

    >>> binary_states(3, 5, 7).tolist()
    [[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    k = torch.arange(start, stop, device=device)[:, None]
    shifts = torch.arange(n - 1, -1, -1, device=device)[None, :]
    return ((k >> shifts) & 1).to(dtype)


def log_partition_exact(W: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                        chunk: int = 2**14, dtype=torch.float64) -> torch.Tensor:
    """Exact ``log Z`` (0-dim, differentiable) by summing over the smaller layer in chunks.

    Over ``h`` (when ``n_hidden <= n_visible``): ``Z = sum_h exp(c^T h) prod_i (1 + exp(b_i +
    W_i h))``; the chunks are combined with ``logsumexp``, so nothing overflows.
    """
    D, H = W.shape
    n = min(D, H)
    if n > EXACT_MAX_UNITS:
        raise ValueError(f"exact log Z enumerates 2^{n} states; feasible up to "
                         f"{EXACT_MAX_UNITS} units in the smaller layer")
    W, b, c = W.to(dtype), b.to(dtype), c.to(dtype)
    if H <= D:  # states of h; the visible layer is summed analytically
        own, other_bias, M = c, b, W.T  # (H,), (D,), (H, D)
    else:
        own, other_bias, M = b, c, W  # (D,), (H,), (D, H)
    parts = []
    for s in range(0, 2**n, chunk):
        states = binary_states(n, s, min(s + chunk, 2**n), dtype, W.device)  # (k, n)
        term = states @ own + F.softplus(states @ M + other_bias).sum(-1)  # (k,)
        parts.append(torch.logsumexp(term, 0))
    return torch.logsumexp(torch.stack(parts), 0)


def paper_schedule(n: int = PAPER_BETAS) -> np.ndarray:
    """``n`` inverse temperatures from 0 to 1, in the paper's proportions (500 : 4,000 :
    10,000 on [0, 0.5), [0.5, 0.9), [0.9, 1]); ``n = 14500`` is the paper's schedule.

    >>> s = paper_schedule()
    >>> len(s), float(s[0]), float(s[-1]), int((s < 0.5).sum()), int((s >= 0.9).sum())
    (14500, 0.0, 1.0, 500, 10000)
    """
    if n < 4:  # one point in each of the first two segments, and 0.9 and 1 in the last
        raise ValueError(f"betas must be >= 4 (0, a point in each segment, and 1), got {n}")
    counts = [max(1, round(n * k / PAPER_BETAS)) for *_, k in PAPER_SEGMENTS]
    counts[-1] = n - sum(counts[:-1])
    pieces = [np.linspace(lo, hi, k, endpoint=(i == 2))
              for i, ((lo, hi, _), k) in enumerate(zip(PAPER_SEGMENTS, counts))]
    return np.concatenate(pieces)


def _as_schedule(betas: Any) -> np.ndarray:
    """The inverse temperatures: the paper's (None), that many in its proportions (an int),
    or the given array, which must rise strictly from 0 to 1."""
    if betas is None:
        return paper_schedule()
    if isinstance(betas, (int, np.integer)):
        return paper_schedule(int(betas))
    betas = np.asarray(betas, dtype=np.float64)
    if (betas.ndim != 1 or len(betas) < 2 or betas[0] != 0 or betas[-1] != 1
            or np.any(np.diff(betas) <= 0)):
        raise ValueError(f"betas must increase strictly from 0 to 1, got {betas}")
    return betas


def base_rate_bias(data_mean: torch.Tensor, smoothing: float = 0.05) -> torch.Tensor:
    """Visible biases of the base-rate model: the logit of the smoothed data marginals
    ``(mean + smoothing) / (1 + 2 smoothing)``.

    Salakhutdinov's ``base_rate.m`` adds 5 "on" pseudo-counts per 100 examples, ``(mean +
    0.05) / 1.05``; here the smoothing is symmetric, so a pixel that is always on keeps a
    finite bias too. Either keeps the base model broader than the RBM where a pixel is
    (almost) never on: a base model narrower than the target makes AIS miss mass and badly
    underestimate log Z. (AIS is unbiased in Z with any base model; only its variance
    depends on the choice.)

    >>> [round(v, 6) for v in base_rate_bias(torch.tensor([0.0, 0.5])).tolist()]
    [-3.044522, 0.0]
    """
    p = (data_mean.double() + smoothing) / (1 + 2 * smoothing)
    return torch.log(p) - torch.log1p(-p)


@dataclass
class AISResult:
    """log Z-hat, its standard error (delta method on Z-hat) and the +-3 sd interval."""

    log_z: float
    log_z_stderr: float
    log_z_lo3: float  # log(Z-hat - 3 sd), -inf when the interval reaches 0
    log_z_hi3: float  # log(Z-hat + 3 sd)
    log_z_base: float
    runs: int
    betas: int
    seconds: float
    log_w: np.ndarray = field(repr=False)
    trace_beta: np.ndarray = field(repr=False)  # inverse temperatures of the trace
    trace_log_z: np.ndarray = field(repr=False)  # running estimates of log Z_beta

    def as_dict(self) -> dict[str, Any]:
        keys = ("log_z", "log_z_stderr", "log_z_lo3", "log_z_hi3", "log_z_base", "runs", "betas",
                "seconds")
        return {k: getattr(self, k) for k in keys}


def _summarize(log_w: torch.Tensor, log_z0: float) -> tuple[float, float, float, float]:
    m = float(log_w.max())
    w = torch.exp(log_w - m)  # (runs,) in (0, 1]
    mean = float(w.mean())
    sd = float(w.std()) / math.sqrt(len(w)) if len(w) > 1 else float("nan")
    base = log_z0 + m
    lo = base + math.log(mean - 3 * sd) if mean - 3 * sd > 0 else float("-inf")
    return base + math.log(mean), sd / mean, lo, base + math.log(mean + 3 * sd)


class BernoulliPath:
    """The annealing path of a Bernoulli-Bernoulli RBM ``(W, b, c)`` from the base-rate model
    (``W = 0``, visible biases ``base_bias``; its ``H`` hidden units are uniform):

        log p*_beta(v) = (1 - beta) b_A^T v + beta b^T v + sum_j softplus(beta a_j),
        a = v^T W + c,  and  Z_0 = 2^H prod_i (1 + exp(b_A,i)).

    Each path gives ``log_z0``, ``base_sample`` (``v ~ p_0``), ``hidden_input`` (``a``,
    float64), ``log_f`` (``log p*_beta(v)``, float64) and ``transition`` (one block-Gibbs
    step leaving ``p_beta`` invariant); :func:`ais_log_partition` and :func:`raise_log_prob`
    only use these.
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                 base_bias: torch.Tensor):
        self.W, self.b, self.c = (t.detach().float() for t in (W, b, c))  # (D, H), (D,), (H,)
        self.bA = base_bias.detach().double().to(W.device)  # (D,)
        self.bA32, self.bd = self.bA.float(), self.b.double()
        self.log_z0 = float(F.softplus(self.bA).sum()) + W.shape[1] * math.log(2.0)

    def base_sample(self, runs: int, gen) -> torch.Tensor:
        return bernoulli(torch.sigmoid(self.bA32).expand(runs, -1), generator=gen)  # (R, D)

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        return (v @ self.W + self.c).double()  # (R, H)

    def log_f(self, v: torch.Tensor, a: torch.Tensor, beta: float) -> torch.Tensor:
        vd = v.double()
        return (1 - beta) * (vd @ self.bA) + beta * (vd @ self.bd) + F.softplus(beta * a).sum(-1)

    def transition(self, v: torch.Tensor, a: torch.Tensor, beta: float, gen) -> torch.Tensor:
        """h ~ p_beta(h | v), then v ~ p_beta(v | h)."""
        h = bernoulli(torch.sigmoid(beta * a).float(), generator=gen)  # (R, H)
        logits = (1 - beta) * self.bA32 + beta * (h @ self.W.T + self.b)  # (R, D)
        return bernoulli(torch.sigmoid(logits), generator=gen)


class GaussianPath:
    """The annealing path of a Gaussian-Bernoulli RBM ``(W, b, c, sigma)`` from a base model
    with ``W = 0``: independent ``N(mu_A, sigma_A^2)`` visible units and uniform hidden units.
    The intermediate energy mixes the two, ``(1 - beta) E_A(v) + beta E(v, h)``:

        log p*_beta(v) = -(1 - beta) sum_i (v_i - mu_A,i)^2 / (2 sigma_A,i^2)
                         - beta sum_i (v_i - b_i)^2 / (2 sigma_i^2) + sum_j softplus(beta a_j),
        a = (v / sigma)^T W + c,  Z_0 = 2^H (2 pi)^(D/2) prod_i sigma_A,i.

    ``p_beta(h | v) = sigmoid(beta a)``; ``p_beta(v | h)`` is Gaussian with precision
    ``lambda = (1 - beta) / sigma_A^2 + beta / sigma^2`` and mean
    ``((1 - beta) mu_A / sigma_A^2 + beta (b / sigma^2 + (W h) / sigma)) / lambda``.
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                 log_sigma: torch.Tensor, base_mean: torch.Tensor, base_log_sigma: torch.Tensor):
        self.W, self.b, self.c = (t.detach().float() for t in (W, b, c))  # (D, H), (D,), (H,)
        self.s = log_sigma.detach().float().exp()  # (D,)
        self.muA = base_mean.detach().float().to(W.device)  # (D,)
        self.sA = base_log_sigma.detach().float().to(W.device).exp()  # (D,)
        D, H = W.shape
        self.log_z0 = (H * math.log(2.0) + D / 2 * math.log(2 * math.pi)
                       + float(base_log_sigma.double().sum()))

    def base_sample(self, runs: int, gen) -> torch.Tensor:
        noise = torch.randn((runs, self.W.shape[0]), generator=gen, device=self.W.device)
        return self.muA + self.sA * noise  # (R, D)

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        return ((v / self.s) @ self.W + self.c).double()  # (R, H)

    def log_f(self, v: torch.Tensor, a: torch.Tensor, beta: float) -> torch.Tensor:
        vd = v.double()
        base = (((vd - self.muA.double()) / self.sA.double()) ** 2).sum(-1) / 2
        target = (((vd - self.b.double()) / self.s.double()) ** 2).sum(-1) / 2
        return -(1 - beta) * base - beta * target + F.softplus(beta * a).sum(-1)

    def transition(self, v: torch.Tensor, a: torch.Tensor, beta: float, gen) -> torch.Tensor:
        """h ~ p_beta(h | v), then v ~ p_beta(v | h) (a Gaussian)."""
        h = bernoulli(torch.sigmoid(beta * a).float(), generator=gen)  # (R, H)
        prec = (1 - beta) / self.sA**2 + beta / self.s**2  # (D,)
        lin = (1 - beta) * self.muA / self.sA**2 + beta * (self.b / self.s**2
                                                           + (h @ self.W.T) / self.s)  # (R, D)
        noise = torch.randn(lin.shape, generator=gen, device=lin.device)
        return lin / prec + noise / prec.sqrt()


@torch.no_grad()
def ais_log_partition(path, betas: Any = None, runs: int = 100, seed: Any = None,
                      trace_points: int = 200) -> AISResult:
    """AIS estimate of the target's ``log Z`` along ``path`` (:class:`BernoulliPath`,
    :class:`GaussianPath`).

    ``betas``: an increasing array from 0 to 1 (default: the paper's 14,500) or an int
    (that many, in the paper's proportions). ``v_1 ~ p_0``; the weights
    ``log w = sum_k log p*_k(v_k) - log p*_{k-1}(v_k)`` accumulate in float64, with
    ``v_{k+1} ~ T_k(. | v_k)``; each step does two matrix products for all runs at once.
    """
    t0 = time.perf_counter()
    if check_count("runs", runs) < 2:
        raise ValueError(f"runs must be at least 2 (log Z-hat's standard error is their "
                         f"spread), got {runs}")
    betas = _as_schedule(betas)
    gen = as_torch_generator(seed, device=path.W.device)
    v = path.base_sample(runs, gen)  # (R, D), v_1 ~ p_0
    log_w = torch.zeros(runs, dtype=torch.float64, device=path.W.device)
    every = max(1, (len(betas) - 1) // trace_points)
    tb, tz = [0.0], [path.log_z0]
    for k in range(1, len(betas)):
        bk, bp = float(betas[k]), float(betas[k - 1])
        a = path.hidden_input(v)  # (R, H)
        log_w += path.log_f(v, a, bk) - path.log_f(v, a, bp)
        if k < len(betas) - 1:
            v = path.transition(v, a, bk, gen)
        if k % every == 0 or k == len(betas) - 1:
            tb.append(bk)
            tz.append(path.log_z0 + float(torch.logsumexp(log_w, 0)) - math.log(runs))
    log_z, se, lo, hi = _summarize(log_w, path.log_z0)
    return AISResult(log_z, se, lo, hi, path.log_z0, runs, len(betas), time.perf_counter() - t0,
                     log_w.cpu().numpy(), np.array(tb), np.array(tz))


@torch.no_grad()
def raise_log_prob(path, x: torch.Tensor, betas: Any = 1000, runs: int = 10,
                   seed: Any = None) -> torch.Tensor:
    """RAISE: per example, an estimate of ``log p_ann(x)`` that is stochastically *lower*,
    ``p_ann`` being the annealed model below (which tends to the RBM as the schedule grows;
    for a short one it may put more or less mass on ``x`` than the RBM does).

    The annealed model draws ``v_1 ~ p_0`` and applies ``T_1, ..., T_K`` (block Gibbs at
    ``beta_1 .. beta_K = 1``); it is a proper distribution ``p_ann`` close to the RBM for slow
    schedules. Starting at ``v_{K+1} = x`` and running the same (reversible) kernels backwards,
    ``w = p_0(v_1) prod_k p*_k(v_{k+1}) / p*_k(v_k)`` has ``E[w] = p_ann(x)``, so
    ``log mean w`` underestimates ``log p_ann(x)`` on average: the opposite bias of AIS.
    """
    check_count("runs", runs)
    betas = _as_schedule(betas)
    gen = as_torch_generator(seed, device=path.W.device)
    B = x.shape[0]
    v = x.to(path.W.device).float().repeat_interleave(runs, 0)  # (B * runs, D), v_{K+1} = x
    log_w = torch.zeros(v.shape[0], dtype=torch.float64, device=path.W.device)
    a = path.hidden_input(v)  # (B * runs, H), reused by the next step
    for k in range(len(betas) - 1, 0, -1):  # beta_K = 1 down to beta_1
        bk = float(betas[k])
        log_w += path.log_f(v, a, bk)  # + log p*_k(v_{k+1})
        v = path.transition(v, a, bk, gen)  # v_k ~ T_k(. | v_{k+1})
        a = path.hidden_input(v)
        log_w -= path.log_f(v, a, bk)  # - log p*_k(v_k)
    log_w += path.log_f(v, a, 0.0) - path.log_z0  # + log p_0(v_1)
    return torch.logsumexp(log_w.view(B, runs), 1) - math.log(runs)


def plot_ais_trace(res: AISResult, path, exact: float | None = None):
    """The running AIS estimate of ``log Z_beta`` against ``beta`` (and the exact value)."""
    from dgm.plots import _plt, save_figure

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(res.trace_beta, res.trace_log_z, label=f"AIS ({res.runs} runs, {res.betas} betas)")
    if exact is not None:
        ax.axhline(exact, color="k", ls="--", lw=0.8, label="exact log Z")
    ax.set_xlabel("beta")
    ax.set_ylabel("log Z_beta (running estimate)")
    ax.set_title(f"log Z = {res.log_z:.3f} +- {res.log_z_stderr:.3f}")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
