"""The RBM's math checked by enumeration on tiny RBMs (seed: "Restricted Boltzmann Machine")."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dgm.data import load_dataset, tiny_exact_distribution
from dgm.data.exact import TINY_RBM_B, TINY_RBM_C, TINY_RBM_W, tiny_rbm_log_partition
from dgm.models.rbm import RBM, RBMConfig, energy, free_energy, pseudo_nll
from dgm.models.rbm_ais import (
    BernoulliPath,
    ais_log_partition,
    binary_states,
    log_partition_exact,
    paper_schedule,
    raise_log_prob,
)


def tiny_rbm(**cfg) -> RBM:
    return RBM.from_parameters(TINY_RBM_W, TINY_RBM_B, TINY_RBM_C, torch.float64, **cfg)


def random_rbm(D: int, H: int, scale: float = 1.0, seed: int = 0) -> RBM:
    g = torch.Generator().manual_seed(seed)
    return RBM.from_parameters(torch.randn(D, H, generator=g, dtype=torch.float64) * scale,
                               torch.randn(D, generator=g, dtype=torch.float64) * 0.5,
                               torch.randn(H, generator=g, dtype=torch.float64) * 0.5,
                               torch.float64)


def joint_table(rbm: RBM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All (v, h) states and the exact joint P(v, h) as a (2^D, 2^H) table, by brute force."""
    D, H = rbm.W.shape
    V, Hs = binary_states(D, 0, 2**D), binary_states(H, 0, 2**H)
    with torch.no_grad():
        neg_e = -energy(V[:, None, :].expand(-1, len(Hs), -1).reshape(-1, D),
                        Hs.repeat(len(V), 1), rbm.W, rbm.b, rbm.c).view(len(V), len(Hs))
    return V, Hs, torch.softmax(neg_e.flatten(), 0).view_as(neg_e)


def test_conditionals_equal_brute_force_ratios_of_exp_minus_energy():
    rbm = tiny_rbm()
    V, Hs, P = joint_table(rbm)
    with torch.no_grad():
        ph = torch.sigmoid(rbm.hidden_input(V))  # (2^D, H)
        pv = rbm.visible_mean(Hs)  # (2^H, D)
    brute_ph = (P @ Hs) / P.sum(1, keepdim=True)  # sum_h P(v,h) h_j / P(v)
    brute_pv = (P.T @ V) / P.sum(0)[:, None]
    torch.testing.assert_close(ph, brute_ph, rtol=0, atol=1e-12)
    torch.testing.assert_close(pv, brute_pv, rtol=0, atol=1e-12)
    # the hidden units are conditionally independent given v: P(h | v) = prod_j p(h_j | v)
    prod = torch.prod(torch.where(Hs[None].bool(), ph[:, None], 1 - ph[:, None]), -1)
    torch.testing.assert_close(prod, P / P.sum(1, keepdim=True), rtol=0, atol=1e-12)


def test_free_energy_and_exact_log_partition():
    rbm = tiny_rbm()
    V, Hs, _ = joint_table(rbm)
    with torch.no_grad():
        f = free_energy(V, rbm.W, rbm.b, rbm.c)
        neg_e = torch.stack([-energy(V, h.expand(len(V), -1), rbm.W, rbm.b, rbm.c) for h in Hs], 1)
        torch.testing.assert_close(f, -torch.logsumexp(neg_e, 1), rtol=0, atol=1e-12)
        log_z = float(log_partition_exact(rbm.W, rbm.b, rbm.c))
    assert log_z == pytest.approx(tiny_rbm_log_partition(), abs=1e-12)
    assert log_z == pytest.approx(float(torch.logsumexp(neg_e.flatten(), 0)), abs=1e-12)
    states, probs = tiny_exact_distribution("tiny:rbm")
    lp = rbm.log_prob(states.astype(np.float32)).numpy()
    np.testing.assert_allclose(np.exp(lp), probs, rtol=1e-6)


@pytest.mark.parametrize("D,H", [(3, 7), (7, 3), (10, 10)])
def test_exact_log_partition_in_chunks_over_either_layer_and_large_weights(D, H):
    rbm = random_rbm(D, H, scale=400.0)  # exp(-E) overflows float64 without log space
    V, Hs = binary_states(D, 0, 2**D), binary_states(H, 0, 2**H)
    with torch.no_grad():
        neg_e = torch.stack([-energy(V, h.expand(len(V), -1), rbm.W, rbm.b, rbm.c) for h in Hs])
        brute = float(torch.logsumexp(neg_e.flatten(), 0))
        assert math.isfinite(brute) and brute > 700
        for chunk in (1, 3, 2**14):
            got = float(log_partition_exact(rbm.W, rbm.b, rbm.c, chunk=chunk))
            assert got == pytest.approx(brute, rel=1e-12)


def test_exact_log_partition_refuses_large_layers():
    rbm = RBM(RBMConfig(hidden=30), (30,))
    with pytest.raises(ValueError, match="2\\^30"):
        rbm.log_partition()


def test_exact_gradient_equals_the_seeds_expression():
    """d/dtheta mean log P(v_d) = E_data[sigmoid(W^T v + c) v] - E_model[...], exactly."""
    rbm = random_rbm(6, 4, scale=0.8, seed=1)
    data = torch.bernoulli(torch.full((50, 6), 0.4), generator=torch.Generator().manual_seed(2))
    data = data.double()
    nll = free_energy(data, rbm.W, rbm.b, rbm.c).mean() + rbm.log_partition()
    gW, gb, gc = torch.autograd.grad(-nll, [rbm.W, rbm.b, rbm.c])
    V = binary_states(6, 0, 64)
    with torch.no_grad():
        pv = torch.softmax(-free_energy(V, rbm.W, rbm.b, rbm.c), 0)  # exact P(v), (64,)
        sd, sm = torch.sigmoid(data @ rbm.W + rbm.c), torch.sigmoid(V @ rbm.W + rbm.c)
    torch.testing.assert_close(gW, data.T @ sd / len(data) - (V * pv[:, None]).T @ sm)
    torch.testing.assert_close(gb, data.mean(0) - pv @ V)
    torch.testing.assert_close(gc, sd.mean(0) - pv @ sm)


def test_cd_surrogate_gradient_is_the_cd_estimate():
    """Algorithm 1: grad of mean F(v) - mean F(v~) = -(sigma(W^T v + c) v^T - (same at v~))."""
    rbm = random_rbm(6, 4, scale=0.8, seed=3)
    rbm.config.cd_k = 2
    g = torch.Generator().manual_seed(0)
    v = torch.bernoulli(torch.full((8, 6), 0.5, dtype=torch.float64), generator=g)
    loss = rbm(v, torch.Generator().manual_seed(5))["loss"]
    gW, gb, gc = torch.autograd.grad(loss, [rbm.W, rbm.b, rbm.c])
    with torch.no_grad():  # the same chain, replayed from the same seed
        sd = torch.sigmoid(rbm.hidden_input(v))
        vt, _ = rbm._negative_phase(v, sd, torch.Generator().manual_seed(5))
        st = torch.sigmoid(rbm.hidden_input(vt))
    torch.testing.assert_close(-gW, (v.T @ sd - vt.T @ st) / 8)
    torch.testing.assert_close(-gb, (v - vt).mean(0))
    torch.testing.assert_close(-gc, (sd - st).mean(0))


def block_kernels(rbm: RBM):
    """Block Gibbs as matrices: joint (v,h) -> (v',h') and its visible marginal v -> v'."""
    D, H = rbm.W.shape
    V, Hs = binary_states(D, 0, 2**D), binary_states(H, 0, 2**H)
    with torch.no_grad():
        ph, pv = torch.sigmoid(rbm.hidden_input(V)), rbm.visible_mean(Hs)
    # P(h' | v) (2^D, 2^H) and P(v' | h') (2^H, 2^D), products of the factorized conditionals
    Ph = torch.prod(torch.where(Hs[None].bool(), ph[:, None], 1 - ph[:, None]), -1)
    Pv = torch.prod(torch.where(V[None].bool(), pv[:, None], 1 - pv[:, None]), -1)
    # joint: from (v, h) draw h' ~ P(h'|v), then v' ~ P(v'|h'); the old h is forgotten
    T = torch.einsum("ak,kb->akb", Ph, Pv)  # (v, h', v')
    Tj = T.permute(0, 2, 1).reshape(2**D, 1, 2**D * 2**H).expand(-1, 2**H, -1)
    return Tj.reshape(2**(D + H), 2**(D + H)), Ph @ Pv  # rows: (v, h) = v * 2^H + h


def test_block_gibbs_kernel_has_the_joint_as_stationary_and_visible_detailed_balance():
    rbm = random_rbm(4, 3, scale=1.5, seed=4)
    Tj, Tv = block_kernels(rbm)
    _, _, P = joint_table(rbm)
    pi = P.flatten()
    torch.testing.assert_close(Tj.sum(1), torch.ones(len(pi), dtype=pi.dtype))
    torch.testing.assert_close(pi @ Tj, pi, rtol=0, atol=1e-14)  # pi T = pi
    pv = P.sum(1)
    flow = pv[:, None] * Tv  # p(v) K(v, v')
    torch.testing.assert_close(flow, flow.T, rtol=0, atol=1e-14)  # detailed balance in v


def _state_index(v: torch.Tensor) -> torch.Tensor:
    """The index of each 8-bit state in tiny_exact_distribution's order (first bit highest)."""
    return (v.long() * (1 << torch.arange(7, -1, -1))).sum(1)


def test_long_block_gibbs_chains_reach_the_model_distribution():
    rbm = tiny_rbm()
    _, Tv = block_kernels(rbm)
    states, probs = tiny_exact_distribution("tiny:rbm")
    mu = torch.zeros(256, dtype=torch.float64)
    mu[0] = 1.0  # the worst start: one state
    for _ in range(200):
        mu = mu @ Tv
    assert 0.5 * float((mu - torch.tensor(probs)).abs().sum()) <= 1e-6
    # the sampler itself: 2^14 chains from a random start, 30 sweeps of burn-in, then 48 draws
    model = RBM.from_parameters(TINY_RBM_W, TINY_RBM_B, TINY_RBM_C)
    gen = torch.Generator().manual_seed(0)
    v = model.random_visible(2**14, gen)
    counts = torch.zeros(256, dtype=torch.float64)
    for t in range(30 + 48):
        v = model.gibbs_step(v, gen)[0]
        if t >= 30:
            counts += torch.bincount(_state_index(v), minlength=256)
    tv = 0.5 * float((counts / counts.sum() - torch.tensor(probs)).abs().sum())
    assert tv <= 0.01, tv


def _tv_and_bound(v: torch.Tensor, probs: torch.Tensor) -> tuple[float, float]:
    """TV between the histogram of the 8-bit states ``v`` and ``probs``, and 1.5 times the
    TV a histogram of that many exact draws is expected to show (binomial deviations)."""
    n = len(v)
    emp = torch.bincount(_state_index(v), minlength=256).double() / n
    tv = 0.5 * float((emp - probs).abs().sum())
    return tv, 1.5 * 0.5 * float(torch.sqrt(2 * probs * (1 - probs) / (math.pi * n)).sum())


@pytest.mark.parametrize("broken", [False, True])
def test_one_gibbs_step_of_the_sampler_leaves_the_model_distribution_unchanged(broken,
                                                                            monkeypatch):
    """``RBM.gibbs_step`` itself (not a kernel rebuilt here): exact draws v ~ p stay
    distributed as p after one step, and one step from a fixed v0 is the row K(v0, .) of
    the block kernel. A sampler that draws v' ~ Bernoulli(1/2) must fail (power)."""
    model = tiny_rbm()
    if broken:
        monkeypatch.setattr(model, "sample_visible",
                            lambda mean, generator: torch.bernoulli(
                                torch.full_like(mean, 0.5), generator=generator))
    states, probs = tiny_exact_distribution("tiny:rbm")
    probs = torch.tensor(probs, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    pick = torch.multinomial(probs, 2**18, replacement=True, generator=gen)
    v = torch.tensor(states, dtype=torch.float64)[pick]  # (N, 8) exact draws of p
    with torch.no_grad():
        tv, bound = _tv_and_bound(model.gibbs_step(v, gen)[0], probs)
        _, Tv = block_kernels(model)
        rows = []
        for v0 in (0, 97, 255):
            start = torch.tensor(states[v0], dtype=torch.float64).expand(2**16, -1)
            rows.append(_tv_and_bound(model.gibbs_step(start, gen)[0], Tv[v0]))
    passed = tv <= bound and all(t <= b for t, b in rows)
    assert passed != broken, (tv, bound, rows)


def test_markov_network_cross_checks_z_conditionals_and_single_site_gibbs():
    from dgm.pgm.gibbs import GibbsSampler, gibbs_transition_matrix

    rbm = random_rbm(4, 3, scale=1.0, seed=6)
    mn = rbm.to_markov_network()
    exact = float(rbm.log_partition().detach())
    assert mn.log_partition_function() == pytest.approx(exact, abs=1e-10)
    v = {"v0": 1, "v1": 0, "v2": 1, "v3": 1}
    with torch.no_grad():
        ph = torch.sigmoid(rbm.hidden_input(torch.tensor([[1.0, 0, 1, 1]], dtype=torch.float64)))
    for j in range(3):  # variable elimination agrees with p(h_j = 1 | v)
        assert mn.query(f"h{j}", evidence=v).values[1] == pytest.approx(float(ph[0, j]), abs=1e-12)
    # the seed's single-site Gibbs kernel (random scan) satisfies detailed balance w.r.t. P
    states, p, chain = gibbs_transition_matrix(mn, scan="random")
    T = np.asarray(chain.T)
    flow = p[:, None] * T
    np.testing.assert_allclose(flow, flow.T, atol=1e-15)
    # its stationary distribution is the RBM's joint (same state order: v0.., h0..)
    _, _, P = joint_table(rbm)
    order = [mn.variables.index(f"v{i}") for i in range(4)] + \
            [mn.variables.index(f"h{j}") for j in range(3)]
    idx = [int("".join(str(s[k]) for k in order), 2) for s in states]
    np.testing.assert_allclose(p, P.flatten().numpy()[idx], atol=1e-14)
    # the general sampler's visible marginals match the RBM's exact ones
    res = GibbsSampler(mn).run(400, chains=64, burn_in=50, seed=0)
    exact_v = (P.sum(1)[:, None] * binary_states(4, 0, 16)).sum(0).numpy()
    ess = res.ess()
    for i in range(4):  # within 4 Monte Carlo standard errors (the chains' ESS)
        se = math.sqrt(exact_v[i] * (1 - exact_v[i]) / ess[f"v{i}"])
        assert abs(res.marginal(f"v{i}")[1] - exact_v[i]) <= 4 * se, (i, se)


def test_pseudo_likelihood_over_all_sites_by_enumeration():
    rbm = random_rbm(5, 3, seed=7)
    V = binary_states(5, 0, 32)
    with torch.no_grad():
        logp = -free_energy(V, rbm.W, rbm.b, rbm.c)  # unnormalized log P(v)
        brute = torch.zeros(32, dtype=torch.float64)
        for i in range(5):
            flip = V.clone()
            flip[:, i] = 1 - flip[:, i]
            other = -free_energy(flip, rbm.W, rbm.b, rbm.c)
            brute -= logp - torch.logaddexp(logp, other)
        for m in (1, 2**22):
            torch.testing.assert_close(pseudo_nll(V, rbm.W, rbm.b, rbm.c, max_elems=m), brute)


def test_ais_and_raise_bracket_the_exact_value_on_a_random_rbm():
    rbm = random_rbm(20, 10, scale=0.7, seed=8)
    exact = float(rbm.log_partition().detach())
    base = torch.zeros(20, dtype=torch.float64)
    path = BernoulliPath(rbm.W, rbm.b, rbm.c, base)
    res = ais_log_partition(path, 2000, runs=200, seed=0)
    assert abs(res.log_z - exact) < 0.05
    assert abs(res.log_z - exact) < 5 * res.log_z_stderr + 0.01
    assert res.log_z_lo3 <= res.log_z <= res.log_z_hi3
    assert res.trace_log_z[0] == pytest.approx(res.log_z_base)
    x = rbm.sample(10, seed=1, steps=200, mean=False)
    lp_exact = (-free_energy(x, rbm.W, rbm.b, rbm.c) - exact).detach().numpy()
    lp_raise = raise_log_prob(path, x, betas=500, runs=20, seed=0).numpy()
    assert np.mean(lp_raise) <= np.mean(lp_exact) + 0.02  # conservative on average
    assert np.mean(lp_raise) == pytest.approx(np.mean(lp_exact), abs=0.2)


def test_ais_schedule_and_base_model():
    s = paper_schedule(1450)  # (its length and ends: the parametrized test below)
    assert int((s < 0.5).sum()) == 50 and int((s >= 0.9).sum()) == 1000
    # a base-rate-only RBM (W = 0) is exactly the base model: every AIS weight is 1
    rbm = RBM.from_parameters(np.zeros((5, 2)), [0.3, -1, 2, 0, 0.5], [0.0, 0.0])
    rbm.data_mean.copy_(torch.sigmoid(rbm.b.double()) * 1.1 - 0.05)  # undo the smoothing
    rbm.data_count.fill_(1e4)
    res = rbm.ais(betas=100, runs=10, seed=0)
    assert res.log_z == pytest.approx(float(rbm.log_partition().detach()), abs=1e-5)
    assert res.log_z_stderr < 1e-6


@pytest.mark.parametrize("n", [4, 5, 7, 20, 100, 1450])
def test_every_schedule_length_runs_from_0_to_1(n):
    s = paper_schedule(n)
    assert len(s) == n and s[0] == 0 and s[-1] == 1 and np.all(np.diff(s) > 0)


@pytest.mark.parametrize("betas", [3, [0.0, 0.5, 0.9], [0.0, 0.6, 0.5, 1.0], [0.1, 1.0]])
def test_a_schedule_that_does_not_rise_from_0_to_1_is_refused_by_ais_and_raise(betas):
    """RAISE too: it would anneal to another model and report its log p (3 betas once ended
    at 0.9)."""
    rbm = RBM.from_parameters(np.zeros((3, 2)), [0.3, -1, 2], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"betas must"):
        rbm.ais(betas=betas, runs=2, seed=0)
    with pytest.raises(ValueError, match=r"betas must"):
        rbm.raise_log_prob(torch.ones(1, 3), betas=betas, runs=2, seed=0)


@pytest.fixture(scope="module")
def mnist20():
    """A 20-hidden-unit RBM trained briefly with CD-1 on (part of) binarized MNIST, and its
    exact log Z. The 2^20 hidden states are enumerated once, in float32: 2.5 times faster than
    float64, and the two agree to 2e-5 nats on this RBM (262.53699 and 262.53698)."""
    try:
        splits = load_dataset("mnist")
    except FileNotFoundError:
        pytest.skip("MNIST not available (set DGM_DATA)")
    x = torch.tensor(splits.train.x[:20000])
    rbm = RBM(RBMConfig(hidden=20), (784,)).reset_parameters(0)
    opt = torch.optim.SGD(rbm.parameters(), lr=0.05, momentum=0.5)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        for xb in x.split(100):
            loss = rbm(xb, gen)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        exact = float(log_partition_exact(rbm.W, rbm.b, rbm.c, chunk=2**12, dtype=torch.float32))
    return rbm.eval(), splits, exact


def test_ais_within_a_tenth_of_a_nat_of_exact_log_z_on_a_trained_mnist_rbm(mnist20, monkeypatch):
    """The estimate and its whole +-3 sd interval lie within 0.1 nats of the exact log Z, so
    the 0.1 is not a lucky draw. The schedule is 4,000 evenly spaced betas and 300 runs
    (about 1/6 of the paper's 14,500 x 100 work): on this briefly trained RBM nearly all the
    variance of the log weights arises below beta = 0.5, where the paper's schedule puts only
    1/29 of its points (1,000 betas, 100 runs in the paper's proportions: sd 0.25; evenly
    spaced: 0.08); with these settings the sd is about 0.022 for each of seeds 0, 1, 2."""
    rbm, splits, exact = mnist20
    monkeypatch.setattr(rbm, "log_partition", lambda: torch.tensor(exact, dtype=torch.float64))
    nll = rbm.nll(splits.test.x[:500], ais_betas=np.linspace(0, 1, 4000), ais_runs=300, seed=0)
    res = rbm.last_ais
    assert (res.betas, res.runs, res.log_z_base) == (4000, 300, pytest.approx(
        float(F.softplus(rbm.base_rate_bias()).sum()) + 20 * math.log(2)))  # base-rate start
    assert abs(res.log_z - exact) < 0.1, (res.log_z, exact)
    assert exact - 0.1 < res.log_z_lo3 < res.log_z < res.log_z_hi3 < exact + 0.1, res
    # the per-example report carries the same numbers
    torch.testing.assert_close(nll["nll_nats"] - nll["nll_exact_nats"],
                               torch.full((500,), res.log_z - exact, dtype=torch.float64))
    assert float(nll["log_z_stderr"][0]) == res.log_z_stderr < 0.1 / 3
    assert 100 < float(nll["nll_exact_nats"].mean()) < 250


@pytest.mark.parametrize("options", [{"cd_k": 1}, {"cd_k": 3}, {"pcd": True, "chains": 7},
                                     {"random_start": True, "cd_k": 2, "samples": 3}])
def test_closed_form_update_equals_autograd_of_the_surrogate_loss(options):
    """The seed's CD update written out (training_step's fast path) is the gradient of the
    surrogate loss mean F(v_data) - mean F(v_model), the same random numbers used by both."""
    rbm = RBM(RBMConfig(hidden=6, **options), (10,)).reset_parameters(3).double()
    x = torch.bernoulli(torch.full((9, 10), 0.4, dtype=torch.float64),
                        generator=torch.Generator().manual_seed(1))
    chains = rbm.chains.clone()
    terms, grads = rbm.cd_gradients(x, torch.Generator().manual_seed(5))
    rbm.chains.copy_(chains)
    auto = rbm(x, torch.Generator().manual_seed(5))
    auto["loss"].backward()
    for k in ("loss", "free_energy", "recon_error"):
        assert float(terms[k]) == pytest.approx(float(auto[k].detach()), abs=1e-12), k
    for p, g in zip((rbm.W, rbm.b, rbm.c), grads):
        assert torch.allclose(p.grad, g, rtol=0, atol=1e-12)


def test_from_parameters_keeps_the_data_statistics_in_float64_and_big_weights_are_named():
    rbm = RBM.from_parameters(np.zeros((3, 2)), [0.0] * 3, [0.0, 0.0])  # float32 parameters
    assert rbm.W.dtype == torch.float32
    assert rbm.data_mean.dtype == rbm.data_count.dtype == torch.float64  # counts past 2^24
    with pytest.raises(ValueError, match="size 800 overflows"):
        RBM.from_parameters([[800.0, 0.0]], [0.0], [0.0, 0.0]).to_markov_network()


def test_algorithm_0_averages_the_r_states_after_k_burn_in_sweeps(monkeypatch):
    """The seed's Algorithm 0: from a random v^(0), k burn-in sweeps, then the average over
    v^(k+1) .. v^(k+r): k + r sweeps (CD-k and PCD-k: k sweeps for their one sample)."""
    for options, sweeps in (({"random_start": True, "cd_k": 2, "samples": 3}, 5),
                            ({"random_start": True}, 2), ({"cd_k": 3}, 3),
                            ({"pcd": True, "cd_k": 2, "chains": 9}, 2)):
        rbm = tiny_rbm(**options)
        calls = []
        real = rbm.gibbs_step
        monkeypatch.setattr(rbm, "gibbs_step",
                            lambda v, g, calls=calls, real=real: calls.append(1) or real(v, g))
        v_model, recon = rbm._negative_phase(torch.zeros(4, 8, dtype=torch.float64),
                                             torch.full((4, 4), 0.5, dtype=torch.float64),
                                             torch.Generator().manual_seed(0))
        half = 0 if options.get("random_start") or options.get("pcd") else 1  # data's h
        assert len(calls) + half == sweeps, options
        assert (recon is None) == (half == 0), options  # E[v | h(data)] only from the data
        assert v_model.shape[0] == options.get("samples", 1) * (9 if "pcd" in options else 4)


def test_bad_arguments_of_the_rbm_api_are_named():
    rbm = tiny_rbm()
    for call, message in (
            (lambda: RBM.from_parameters([[1.0, 0.0]], [0.5, 0.5], [0.0, 0.0]), r"b must have "
             r"shape \(1,\)"),
            (lambda: RBM.from_parameters([[1.0, 0.0]], [0.5], 1.0), r"c must have shape \(2,\)"),
            (lambda: RBM.from_parameters([1.0, 0.0], [0.5], [0.0]), "W must be a"),
            (lambda: rbm.sample(2, seed=0, steps=0), "steps must be an integer > 0"),
            (lambda: rbm.sample(2, seed=0, start=torch.zeros(5, 8)), "start holds 5 chains"),
            (lambda: rbm.ais(100, runs=1, seed=0), "runs must be at least 2"),
            (lambda: rbm.ais(100, runs=0, seed=0), "runs must be an integer > 0")):
        with pytest.raises(ValueError, match=message):
            call()


def test_a_gaussian_rbm_too_wide_to_enumerate_gets_its_log_z_by_ais_checked_by_quadrature():
    """30 hidden units: 2^30 terms are refused, so log_prob and nll use AIS, whose log Z is
    checked against quadrature of exp(-F(v)) over the 2-D visible space."""
    from dgm.registry import build_model

    big = build_model("grbm", {"hidden": 30, "learn_sigma": True}, (2,), seed=0).double()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        big.W.copy_(torch.randn(2, 30, generator=g, dtype=torch.float64) * 0.4)
        big.c.copy_(torch.randn(30, generator=g, dtype=torch.float64) * 0.5)
        big.log_sigma.copy_(torch.tensor([-0.3, 0.2], dtype=torch.float64))
        grid = torch.linspace(-30, 30, 1201, dtype=torch.float64)
        step = float(grid[1] - grid[0])
        quad = float(torch.logsumexp(-big.free_energy(torch.cartesian_prod(grid, grid)), 0))
    quad += 2 * np.log(step)
    assert not big.exact_feasible
    with pytest.raises(ValueError, match="2\\^30"):
        big.log_partition()
    x = torch.zeros(3, 2, dtype=torch.float64)
    res = big.ais(betas=2000, runs=100, seed=0)
    assert abs(res.log_z - quad) < 0.05, (res.log_z, quad)
    out = big.nll(x, ais_betas=2000, seed=0)
    torch.testing.assert_close(out["log_z"], torch.full((3,), res.log_z, dtype=torch.float64))
    torch.testing.assert_close(big.log_prob(x, ais_betas=2000, seed=0), -out["nll_nats"])


@pytest.mark.parametrize("options,message", [
    ({"ais_runs": 1}, "ais_runs must be >= 2"),
    ({"ais_betas": 3}, "ais_betas must be >= 4"),
    ({"raise_examples": 1, "raise_betas": 2}, "raise_betas must be >= 4"),
    ({"raise_examples": 1, "raise_runs": 0}, "raise_runs must be an integer > 0"),
    ({"raise_runs": 3}, "give raise_examples N too"),
    ({"raise_examples": -1}, "raise_examples must be an integer >= 0"),
])
def test_bad_likelihood_options_are_refused_by_their_own_names(options, message):
    """(RAISE's schedule once reported itself as ais_betas, its runs as plain "runs".)"""
    rbm = RBM.from_parameters(np.zeros((3, 2)), [0.3, -1, 2], [0.0, 0.0])
    with pytest.raises(ValueError, match=message):
        rbm.nll(torch.ones(2, 3), **options)


def test_raise_runs_on_the_first_examples_beside_the_nll_of_the_same_examples():
    rbm = random_rbm(12, 6, scale=0.5, seed=2)
    x = rbm.sample(7, seed=1, steps=50, mean=False)
    out = rbm.nll(x, raise_examples=4, raise_betas=300, raise_runs=5, seed=0)
    assert out["raise_nll_nats"].shape == (4,) and out["nll_nats"].shape == (7,)
    torch.testing.assert_close(out["raise_examples_nll_nats"], out["nll_nats"][:4])
    expected = -rbm.raise_log_prob(x[:4], betas=300, runs=5, seed=0)
    torch.testing.assert_close(out["raise_nll_nats"], expected)
    assert (out["raise_nll_nats"] - out["nll_nats"][:4]).abs().max() < 0.5


def _random_grbm(D: int, H: int, seed: int):
    from dgm.models.grbm import GRBM, GRBMConfig

    g = torch.Generator().manual_seed(seed)
    m = GRBM(GRBMConfig(hidden=H), (D,)).double()
    with torch.no_grad():
        m.W.copy_(torch.randn(D, H, generator=g, dtype=torch.float64) * 0.8)
        m.b.copy_(torch.randn(D, generator=g, dtype=torch.float64))
        m.c.copy_(torch.randn(H, generator=g, dtype=torch.float64) * 0.5)
        m.log_sigma.copy_(torch.randn(D, generator=g, dtype=torch.float64) * 0.5)
    return m


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_ais_with_a_four_step_schedule_is_still_right_on_average(kind):
    """AIS is unbiased for Z with any schedule: with 4 betas and 200,000 runs its log Z-hat
    must agree with the exact value within 4 standard errors. Long schedules hide kernel
    errors that vanish as the steps shrink (a Gibbs step at the previous beta, or h drawn at
    beta = 1); a short one does not (they miss by 8 SE and more)."""
    model = random_rbm(6, 4, scale=1.0, seed=5) if kind == "bernoulli" else _random_grbm(3, 4, 5)
    exact = float(model.log_partition().detach())
    res = model.ais(betas=np.array([0.0, 0.4, 0.8, 1.0]), runs=200_000, seed=0)
    assert abs(res.log_z - exact) < 4 * res.log_z_stderr + 1e-3, (res.log_z, exact, res)
