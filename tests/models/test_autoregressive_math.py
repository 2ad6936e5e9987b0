"""NADE and MADE: the math (autoregressive property, normalization, exact sampling, O(nd))."""

from __future__ import annotations

import math

import pytest
import torch

from dgm.data import sample_tiny, tiny_exact_distribution
from dgm.models._masked import all_binary_vectors
from dgm.models.made import MADE
from dgm.models.nade import NADE

N_ENS = 3  # orderings / masks checked in each ensemble


def nade_variants(n: int = 8) -> dict[str, NADE]:
    return {
        "natural": NADE.create(n, 6, seed=1),
        "random": NADE.create(n, 6, seed=2, ordering="random", ordering_seed=3),
        "agnostic": NADE.create(n, 6, seed=3, ordering="agnostic", activation="relu"),
    }


def made_variants(n: int = 8) -> dict[str, MADE]:
    agn = {"order_agnostic": True, "connectivity_agnostic": True, "train_masks": 4}
    return {
        "one-layer": MADE.create(n, (10,), seed=1),
        "two-layer-direct-agnostic": MADE.create(n, (12, 9), seed=2, direct=True, **agn),
        "no-hidden": MADE.create(n, (), seed=3, order_agnostic=True, train_masks=0),
        "connectivity": MADE.create(n, (7,), seed=4, connectivity_agnostic=True, train_masks=3),
        "orthogonal": MADE.create(n, (12, 9), seed=5, direct=True, init="orthogonal",
                                  valid_masks=4, **agn),
    }


def train(model, x: torch.Tensor, steps: int = 150) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for i in range(steps):
        loss = model(x[(i * 64) % len(x):][:64], gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="module")
def bn_data() -> torch.Tensor:
    return torch.from_numpy(sample_tiny("tiny:bn", 4000, seed=0))


# -- the O(nd) recursion ---------------------------------------------------------------
# 4: several blocks and a partial last one; entries 50: rows in chunks of 2 (50 // (4 * 6))
@pytest.mark.parametrize(("block", "entries"), [(32, 2**20), (4, 2**20), (4, 50)])
@pytest.mark.parametrize("kind", ["natural", "random", "agnostic"])
def test_nade_fast_equals_naive(kind, block, entries):
    model = nade_variants(11)[kind].double()
    model.BLOCK, model.BLOCK_ENTRIES = block, entries
    x = torch.bernoulli(torch.full((9, 11), 0.4, dtype=torch.float64),
                        generator=torch.Generator().manual_seed(0))
    orders = model.orderings(N_ENS if kind == "agnostic" else 1)
    for o in orders:
        xo, fast = model.ordered_logits(x, o)
        _, naive = model.ordered_logits_naive(x, o)
        assert torch.allclose(fast, naive, rtol=0, atol=1e-12)
    # per-example orderings (order-agnostic training) agree with each example's own ordering
    per = orders[torch.tensor([0, 1, 2, 1, 0, 2, 2, 1, 0]) % len(orders)]
    _, fast = model.ordered_logits(x, per)
    for b in range(9):
        _, naive = model.ordered_logits_naive(x[b : b + 1], per[b])
        assert torch.allclose(fast[b], naive[0], rtol=0, atol=1e-12)


def test_nade_sampling_recursion_matches_the_conditionals():
    model = NADE.create(10, 5, seed=0, ordering="random")
    x, probs, _ = model.sample_trace(20, seed=1)
    assert torch.allclose(probs, model.conditionals(x), atol=1e-6)


# -- the autoregressive property, by gradients --------------------------------------------
def _jacobian(fn, n: int, points: int = 8) -> torch.Tensor:
    """|d out / d in| summed over ``points`` random inputs (n out, n in): nonzero where some
    input shows the dependency (a ReLU can hide one at a single point)."""
    xs = torch.rand(points, 1, n, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    return sum(torch.autograd.functional.jacobian(lambda v: fn(v)[0], x)[:, 0].abs()
               for x in xs)


def _check_strictly_earlier(jac: torch.Tensor, order: torch.Tensor,
                            conn: torch.Tensor | None = None, every: bool = False) -> None:
    """Output k depends on no input at or after its place in the ordering, and the allowed
    dependencies are there: all of them (``every``: a sigmoid NADE), or some earlier input
    for every output after the first (a ReLU NADE), or exactly the mask's paths ``conn``
    (MADE: gradients flow along them only, most of them live at this x)."""
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))  # position of each variable in the ordering
    allowed = rank[None, :] < rank[:, None]  # output k may see input j iff j comes earlier
    live = jac != 0
    assert not live[~allowed].any()
    if conn is not None:
        assert (live <= (conn > 0)).all()
        assert (live == (conn > 0)).double().mean() > 0.9
    elif every:
        assert live[allowed].all()
    else:
        assert (live & allowed).any(1)[rank > 0].all()


@pytest.mark.parametrize("kind", ["natural", "random", "agnostic"])
def test_nade_output_k_depends_only_on_earlier_inputs(kind):
    model = nade_variants(7)[kind].double()
    for o in model.orderings(N_ENS if kind == "agnostic" else 1):
        def at_positions(v, o=o):
            _, lo = model.ordered_logits(v, o)
            return torch.zeros_like(lo).index_copy(1, o, lo)
        _check_strictly_earlier(_jacobian(at_positions, 7), o, every=kind != "agnostic")


@pytest.mark.parametrize("kind", list(made_variants()))
def test_made_output_k_depends_only_on_earlier_inputs(kind):
    model = made_variants(7)[kind].double()
    for m in range(N_ENS):
        masks, order = model.masks(m)
        masks = [M.double() for M in masks]
        conn = model.connectivity(m)
        _check_strictly_earlier(_jacobian(lambda v, ms=masks: model.logits(v, ms), 7), order,
                                conn=conn)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(7)
        assert ((conn > 0) <= (rank[None, :] < rank[:, None])).all()


def test_made_training_mask_buffers_are_autoregressive():
    model = made_variants(7)["two-layer-direct-agnostic"].double()
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        model(torch.zeros(2, 7, dtype=torch.float64), gen)  # resamples the buffered mask
        _check_strictly_earlier(_jacobian(model.logits, 7), model.order,
                                conn=model.connectivity(int(model.mask_index)))


# -- normalization ------------------------------------------------------------------------
def randomized(model, scale: float = 3.0, seed: int = 0):
    """The model in float64 with every parameter redrawn as N(0, scale^2): normalization
    holds for any parameters, and large ones give far-from-uniform conditionals (no training
    needed). MADE's masks are buffers, so they stay."""
    g = torch.Generator().manual_seed(seed)
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * scale)
    return model.eval()


def assert_normalized(log_prob, n: int, what) -> None:
    """sum over all 2^n binary vectors of exp(log_prob) is 1 (float64: to 1e-10), and the
    distribution is far from uniform (so the check is not trivially met)."""
    p = torch.exp(log_prob(all_binary_vectors(n).double()).detach().double())
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-10), what
    assert float(p.max()) > 10 / 2**n, what


def nade_densities(kind: str, n: int = 8):
    model = randomized(nade_variants(n)[kind])
    m = N_ENS if kind == "agnostic" else 1
    out = [(f"ordering {i}", lambda v, o=o: model.log_prob_ordering(v, o))
           for i, o in enumerate(model.orderings(m))]
    return out + [("ensemble", lambda v: model.log_prob(v, orderings=m))]


def made_densities(kind: str, n: int = 8):
    model = randomized(made_variants(n)[kind])
    ens = N_ENS if model.config.order_agnostic or model.config.connectivity_agnostic else 1
    out = [(f"mask {m}", lambda v, m=m: model.log_prob_mask(v, m)) for m in range(N_ENS)]
    return out + [("ensemble", lambda v: model.log_prob(v, masks=ens))]


def twelve_variables(kind: str):
    if kind == "nade":
        nade = randomized(NADE.create(12, 8, seed=0, ordering="agnostic"))
        return [("ensemble of 2", lambda v: nade.log_prob(v, orderings=2))]
    made = randomized(MADE.create(12, (16, 16), seed=0, direct=True, order_agnostic=True,
                                  train_masks=4))
    return [("ensemble of 2", lambda v: made.log_prob(v, masks=2))]


NORMALIZATION_CASES = (
    [(f"nade-{k}", 8, lambda k=k: nade_densities(k)) for k in ("natural", "random", "agnostic")]
    + [(f"made-{k}", 8, lambda k=k: made_densities(k)) for k in made_variants(2)]
    + [(f"{k}-12-variables", 12, lambda k=k: twelve_variables(k)) for k in ("nade", "made")]
)


@pytest.mark.parametrize("name,n,densities", NORMALIZATION_CASES,
                         ids=[c[0] for c in NORMALIZATION_CASES])
def test_every_ordering_mask_and_ensemble_sums_to_one_over_all_binary_vectors(name, n,
                                                                            densities):
    for what, log_prob in densities():
        assert_normalized(log_prob, n, (name, what))


# -- the ensemble averages probabilities ------------------------------------------------
def test_made_ensemble_is_log_mean_exp_of_per_mask_likelihoods():
    model = made_variants(8)["two-layer-direct-agnostic"]
    x = all_binary_vectors(8)[::7]
    per = torch.stack([model.log_prob_mask(x, m) for m in range(4)])  # (4, B)
    ens = model.log_prob(x, masks=4)
    assert torch.allclose(ens, torch.log(per.double().exp().mean(0)).float(), atol=1e-5)
    assert (ens >= per.min(0).values - 1e-6).all() and (ens <= per.max(0).values + 1e-6).all()
    nll = model.nll(x, masks=4)  # what `dgm eval --masks 4` reports: the ensemble and mask 0
    assert torch.allclose(nll["nll_nats"], -ens, atol=1e-6)
    assert torch.allclose(nll["nll_1mask_nats"], -per[0], atol=1e-6)


def test_made_validation_watches_the_ensemble_of_valid_masks():
    """Early stopping follows what the authors' code watches: the ensemble's NLL."""
    model = made_variants(8)["orthogonal"]  # valid_masks=4
    x = all_binary_vectors(8)[::9]
    assert torch.allclose(model.validation_terms(x)["loss"], -model.log_prob(x, masks=4))
    assert "ensemble of 4 masks" in model.valid_loss_name
    one = made_variants(8)["two-layer-direct-agnostic"]  # valid_masks=1: mask 0
    assert torch.allclose(one.validation_terms(x)["loss"], -one.log_prob_mask(x, 0))
    for bad, match in [({"valid_masks": 2}, "needs order_agnostic"),
                       ({"valid_masks": 5, "connectivity_agnostic": True, "train_masks": 4},
                        "exceeds train_masks"),
                       ({"init": "xavier"}, "init")]:
        with pytest.raises(ValueError, match=match):
            MADE.create(6, (8,), seed=0, **bad)


def test_made_orthogonal_init_is_semi_orthogonal_with_zero_biases_and_seeded():
    a = MADE.create(10, (16, 6), seed=3, direct=True, init="orthogonal")
    for layer in a._masked_layers():
        w = layer.weight.detach().double()  # (out, in)
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        assert torch.allclose(gram, torch.eye(len(gram), dtype=torch.float64), atol=1e-5)
        assert layer.bias is None or not layer.bias.any()
    b = MADE.create(10, (16, 6), seed=3, direct=True, init="orthogonal")
    c = MADE.create(10, (16, 6), seed=4, direct=True, init="orthogonal")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)


def test_nade_ensemble_is_log_mean_exp_of_per_ordering_likelihoods():
    model = nade_variants(8)["agnostic"]
    x = all_binary_vectors(8)[::5]
    per = torch.stack([model.log_prob_ordering(x, o).detach() for o in model.orderings(3)])
    expect = torch.logsumexp(per, 0) - math.log(3)
    assert torch.allclose(model.log_prob(x, orderings=3), expect, atol=1e-6)
    nll = model.nll(x, orderings=3)  # `dgm eval --orderings 3`: the ensemble and ordering 0
    assert torch.allclose(nll["nll_nats"], -expect, atol=1e-6)
    assert torch.allclose(nll["nll_1ordering_nats"], -per[0], atol=1e-6)


def test_nade_subset_estimator_has_the_order_agnostic_objective_as_its_mean():
    """DeepNADE's estimator (resample="subset"), averaged exactly over its draws (|S| = k
    uniform on 0..n-1, S a uniform k-subset), equals E_o[log p(x | o)] over all n!
    orderings; and the estimator as drawn in training agrees by Monte Carlo."""
    import itertools

    n = 5
    nade = randomized(NADE.create(n, 4, seed=0, ordering="agnostic", resample="subset")).double()
    x = torch.tensor([[1.0, 0, 1, 1, 0], [0, 0, 1, 0, 1], [1, 1, 1, 1, 1]], dtype=torch.float64)
    with torch.no_grad():
        orders = torch.tensor(list(itertools.permutations(range(n))))
        exact = torch.stack([nade.log_prob_ordering(x, o) for o in orders]).mean(0)  # (3,)
        mean = torch.zeros(3, dtype=torch.float64)
        for k in range(n):
            for s in itertools.combinations(range(n), k):
                seen = torch.zeros(3, n, dtype=torch.bool)
                seen[:, list(s)] = True
                mean += nade.subset_term(x, seen) / (n * math.comb(n, k))
        assert torch.allclose(mean, exact, atol=1e-12, rtol=0)
        g = torch.Generator().manual_seed(0)
        draws = torch.stack([nade.subset_log_lik(x, g) for _ in range(4000)])  # (4000, 3)
        se = draws.std(0) / math.sqrt(len(draws))
        assert ((draws.mean(0) - exact).abs() < 4 * se).all()
        loss = nade(x, generator=torch.Generator().manual_seed(1))["loss"]
        assert torch.isfinite(loss) and loss > 0
    # each conditional given S is the ordering's own: the last variable given the rest
    full = torch.ones(1, n, dtype=torch.bool)
    full[0, 3] = False
    order = torch.tensor([0, 1, 2, 4, 3])
    _, lo = nade.ordered_logits(x[:1], order)
    last = -torch.nn.functional.binary_cross_entropy_with_logits(lo[0, -1], x[0, 3])
    assert torch.allclose(nade.log_conditionals_given(x[:1], full)[0, 3], last)


def test_made_ensembles_take_only_trained_masks_and_a_positive_count():
    """An ensemble of masks 0..M-1 needs an agnostic model trained on at least M masks (the
    others were never trained); 0 masks is an error, not all-zero "samples"."""
    x = all_binary_vectors(6)[:4]
    one = MADE.create(6, (8,), seed=0)
    four = MADE.create(6, (8,), seed=0, connectivity_agnostic=True, train_masks=4)
    endless = MADE.create(6, (8,), seed=0, order_agnostic=True, train_masks=0)
    for call in (lambda: one.log_prob(x, masks=2), lambda: one.sample(3, seed=0, masks=2)):
        with pytest.raises(ValueError, match="single mask"):
            call()
    for call in (lambda: four.log_prob(x, masks=5), lambda: four.sample(3, seed=0, masks=5)):
        with pytest.raises(ValueError, match="trained on 4 masks"):
            call()
    for bad in (0, -2, 2.0):
        with pytest.raises(ValueError, match="masks must be an integer > 0"):
            four.sample(3, seed=0, masks=bad)
    assert endless.log_prob(x, masks=50).shape == four.log_prob(x, masks=4).shape == (4,)


def test_agnostic_made_training_without_a_generator_is_refused():
    model = MADE.create(6, (8,), seed=0, order_agnostic=True, train_masks=0).train()
    with pytest.raises(ValueError, match="generator"):
        model(all_binary_vectors(6)[:4])


@pytest.mark.parametrize("make", [lambda: NADE.create(6, 5, seed=0, ordering="agnostic"),
                                  lambda: MADE.create(6, (7,), seed=0, direct=True)],
                         ids=["nade", "made"])
def test_float64_models_evaluate_and_sample_in_float64(make):
    model, model64 = make(), make().double()
    x = all_binary_vectors(6)
    lp = model64.log_prob(x)
    assert lp.dtype == torch.float64 and model64.sample(5, seed=0).dtype == torch.float64
    assert torch.allclose(lp.float(), model.log_prob(x), atol=1e-5)
    assert float(lp.exp().sum()) == pytest.approx(1.0, abs=1e-12)


# -- sampling matches the model -----------------------------------------------------------
def _tv_of_samples(samples: torch.Tensor, log_prob) -> float:
    states = all_binary_vectors(samples.shape[1])
    idx = (samples.long() * (2 ** torch.arange(samples.shape[1] - 1, -1, -1))).sum(1)
    emp = torch.bincount(idx, minlength=len(states)).double() / len(samples)
    return 0.5 * (emp - log_prob(states).double().exp()).abs().sum().item()


def test_samples_match_exp_log_prob(bn_data):
    nade = nade_variants(8)["random"]
    made = made_variants(8)["two-layer-direct-agnostic"]
    train(nade, bn_data, 120)
    train(made, bn_data, 120)
    n = 60_000  # expected TV about 0.01 for 256 states
    assert _tv_of_samples(nade.sample(n, seed=0), nade.log_prob) < 0.03
    assert _tv_of_samples(made.sample(n, seed=0), made.log_prob) < 0.03
    ens = made.sample(n, seed=1, masks=3)
    assert _tv_of_samples(ens, lambda v: made.log_prob(v, masks=3)) < 0.03
    # and training moved both toward the true distribution (from which bn_data was drawn)
    states, probs = tiny_exact_distribution("tiny:bn")
    states, probs = torch.tensor(states, dtype=torch.float32), torch.tensor(probs)
    uniform_tv = 0.5 * (probs - 1 / len(probs)).abs().sum().item()
    for model in (nade, made):
        tv = 0.5 * (model.log_prob(states).exp().double() - probs).abs().sum().item()
        assert tv < 0.75 * uniform_tv
