"""Contract tests, parametrized over the model registry: every model obeys them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dgm.data import load_dataset
from dgm.registry import MODEL_NAMES, build_model, model_class
from dgm.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def tiny(name: str, shape=(1, 8, 8), **overrides):
    """The model's tiny preset (with ``overrides``), initialized from seed 0."""
    cfg = {**model_class(name).Config.presets["tiny"], **overrides}
    return build_model(name, cfg, shape, seed=0)


def digits_for(model):
    """The digits in the model's own range: bits, grayscale (the Gaussian RBM) or [-1, 1]
    (a tanh generator)."""
    if "binary" not in model.accepted_kinds():
        return load_dataset("digits:gray")
    return load_dataset("digits:pm1" if model.output_range == "pm1" else "digits")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_has_a_tiny_preset_that_validates(name):
    cls = model_class(name)
    assert "tiny" in cls.Config.presets
    cls.Config.from_dict(cls.Config.presets["tiny"])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_loss_is_finite_scalar_and_named(name, digits):
    model = tiny(name)
    x = torch.tensor(digits.train.x[:16])
    terms = model(x, torch.Generator().manual_seed(0))
    assert "loss" in terms
    for k, v in terms.items():
        assert v.shape == (), k
        assert torch.isfinite(v), k


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_gives_same_samples_and_loss(name, digits):
    model = tiny(name)
    x = torch.tensor(digits.train.x[:16])
    a = model(x, torch.Generator().manual_seed(3))["loss"]
    b = model(x, torch.Generator().manual_seed(3))["loss"]
    assert torch.equal(a, b)
    if hasattr(model, "sample"):
        s1, s2, s3 = model.sample(5, seed=1), model.sample(5, seed=1), model.sample(5, seed=2)
        assert s1.shape == (5, 64)
        assert torch.equal(s1, s2)
        assert not torch.equal(s1, s3)


#: models whose ``log_prob`` is exact (no Monte Carlo): the same for an example in any batch
EXACT_LIKELIHOOD = ("rbm", "grbm", "nade", "made")
#: an RBM's exact log Z sums 2^hidden terms at every call: 8 hidden units keep 9 calls quick
FEW_HIDDEN = {"rbm": {"hidden": 8}, "grbm": {"hidden": 8}}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_log_prob_is_per_example_whatever_the_batch(name):
    """Example i's log p(x) does not depend on the other examples of the batch nor on their
    order (a batch mean, or a normalization over the batch, fails)."""
    model = tiny(name, **FEW_HIDDEN.get(name, {}))
    if not hasattr(model, "log_prob"):
        pytest.skip("no likelihood")
    x = torch.tensor(digits_for(model).test.x[:7])
    lp = model.log_prob(x, seed=0)
    assert lp.shape == (7,)
    assert torch.isfinite(lp).all()
    if model.accepted_kinds() == ("binary",):
        assert (lp <= 0).all()  # binary data: p(x) <= 1
    alone = torch.cat([model.log_prob(x[i : i + 1], seed=0) for i in range(7)])
    if name not in EXACT_LIKELIHOOD:  # an estimate (IWAE): other batches, other noise
        assert (lp - alone).abs().max() < 0.25, (lp, alone)  # examples differ by ~2 nats
        return
    torch.testing.assert_close(alone, lp, rtol=0, atol=1e-5)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.log_prob(x[perm], seed=0), lp[perm], rtol=0, atol=1e-5)


def _nll_nats(model, x: torch.Tensor) -> float:
    """The batch's mean NLL in nats: exact, or the VAE's negative ELBO (an upper bound)."""
    model.eval()
    if hasattr(model, "elbo"):
        return float(-model.elbo(x, seed=0).mean())
    return float(model.nll(x)["nll_nats"].mean())


def _independent_pixels_nll(model, x: torch.Tensor) -> float:
    """The batch's mean NLL under the best model of independent pixels fitted to it:
    Bernoulli marginals for binary data, else unit-variance Gaussians at the batch mean
    (the tiny Gaussian RBM's variances are 1)."""
    x = x.double()
    if model.accepted_kinds() == ("binary",):
        p = x.mean(0)
        return float((-torch.xlogy(x, p) - torch.xlogy(1 - x, 1 - p)).sum(1).mean())
    return float(x.var(0, unbiased=False).sum() / 2 + x.shape[1] / 2 * math.log(2 * math.pi))


def _mmd2(y: torch.Tensor, x: torch.Tensor) -> float:
    """Biased MMD^2 between samples y and the batch x, with a kernel fixed by x alone (sum of
    Gaussians at 1/4, 1 and 4 times the median squared distance between x's rows)."""
    d2 = torch.cdist(x, x).pow(2)
    med = d2[~torch.eye(len(x), dtype=torch.bool)].median()
    xy = torch.cat([y.float(), x])
    k = sum(torch.exp(-torch.cdist(xy, xy).pow(2) / (s * med)) for s in (0.25, 1.0, 4.0))
    n = len(y)
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())


#: (model options, TrainConfig options, steps) of the overfitting test, where not
#: ({}, {"lr": 1e-2}, 200); a GAN sets its players' Adam rates itself
OVERFIT = {"grbm": ({}, {"lr": 3e-2}, 200),
           "gan": ({"lr_g": 1e-2, "lr_d": 1e-2}, {}, 200),
           "dcgan": ({"lr_g": 5e-3, "lr_d": 5e-3}, {}, 100)}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_its_own_update_overfits_one_batch(name, fit_steps):
    """A few hundred of the model's own updates (as the training loop makes them) on one
    batch of 64 digits beat the best model of independent pixels on that batch: 18 nats
    below the start for bits, 5 for the unit-variance Gaussian RBM on grayscale, measured by
    the exact NLL (the VAE: its negative ELBO, an upper bound). A GAN's samples come at least
    twice closer to the batch (MMD^2) and closer than a generator of the batch's mean image."""
    model_kw, train_kw, steps = OVERFIT.get(name, ({}, {"lr": 1e-2}, 200))
    model = tiny(name, **model_kw)
    x = torch.tensor(digits_for(model).train.x[:64])
    if getattr(model, "adversarial", False):
        before = _mmd2(model.sample(256, seed=1), x)
        fit_steps(model, x, steps, **train_kw)
        after = _mmd2(model.sample(256, seed=1), x)
        constant = _mmd2(x.mean(0).expand(256, -1), x)
        assert after < min(before / 2, constant), (before, after, constant)
        return
    before = _nll_nats(model, x)
    fit_steps(model, x, steps, **train_kw)
    after, bar = _nll_nats(model, x), _independent_pixels_nll(model, x)
    assert after < bar + 0.5 < before - 4, (before, after, bar)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_init_seed_gives_same_parameters(name):
    a, b, c = tiny(name), tiny(name), build_model(name, model_class(name).Config.presets["tiny"],
                                                  (1, 8, 8), seed=1)
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), k
    assert any(not torch.equal(p, r) for p, r in zip(a.parameters(), c.parameters()))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_round_trip_keeps_every_tensor(name, tmp_path):
    import dgm

    model = tiny(name)
    digits = digits_for(model)
    cfg = TrainConfig(data="digits", epochs=1, batch_size=64, max_train=128, picture_every=0,
                      progress=False)
    Trainer(model, cfg, digits, tmp_path / "run").fit()
    before = torch.random.get_rng_state()
    loaded = dgm.load(tmp_path / "run")
    assert torch.equal(torch.random.get_rng_state(), before)  # torch's global RNG untouched
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    x = digits.test.x[:4]
    if hasattr(model, "sample"):
        assert torch.equal(model.sample(3, seed=0), loaded.sample(3, seed=0))
    assert np.isfinite(loaded(torch.tensor(x), torch.Generator().manual_seed(0))["loss"].item())


#: each tiny model with the state its training carries from step to step switched on:
#: persistent chains (RBMs; with weights of 0.01 the chains' next Gibbs sample hardly
#: depends on where they were, and chains left unrestored went unnoticed; 8 hidden units
#: make the exact log Z of each validation quick), orderings, masks and dropout drawn from
#: the noise generator (NADE, MADE), a step counter (the VAE's KL warm-up; a GAN's own, and
#: its two optimizers)
STATEFUL = {"rbm": {"pcd": True, "init_std": 0.5, "hidden": 8},
            "grbm": {"pcd": True, "hidden": 8},
            "nade": {"ordering": "agnostic"},
            "made": {"resample_every": 2, "dropout": 0.25, "direct": True},
            "vae": {"kl_warmup": 4}}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_an_interrupted_and_resumed_run_ends_bitwise_equal_to_an_uninterrupted_one(
        name, tmp_path, resume_is_bitwise):
    """Stopped in the middle of epoch 2 (step 7 of 10), resumed: parameters, buffers,
    checkpoints and metrics as if never stopped (see conftest's ``_resume_is_bitwise``)."""
    def make():
        return tiny(name, **STATEFUL.get(name, {}))

    cfg = TrainConfig(epochs=2, batch_size=64, max_train=320, picture_every=0, progress=False,
                      seed=5)
    _, _, stop = resume_is_bitwise(make, cfg, digits_for(make()), tmp_path, stop_after=7)
    assert stop.where == "interrupted at epoch 2, step 2"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_wrong_shape_and_nan_input_get_clear_errors(name):
    model = tiny(name)
    with pytest.raises(ValueError, match="shape"):
        model.check_input(torch.zeros(3, 10))
    bad = torch.zeros(2, 64)
    bad[1, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.check_input(bad)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_batch_is_expected_and_may_be_empty(name):
    model = tiny(name)
    with pytest.raises(ValueError, match="batch of one"):
        model.check_input(torch.zeros(64))  # one example, unbatched
    assert model.check_input(torch.zeros(0, 1, 8, 8)).shape == (0, 64)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_options_of_the_wrong_type_or_not_finite_are_named(name):
    """2.5 hidden units, NaN learning rates, a bare 8 for a list of sizes: refused, named,
    whether the config comes from a dict (the CLI, a run directory) or is built directly."""
    import dataclasses

    cls = model_class(name).Config
    base = cls.presets["tiny"]
    bad = {"int": 2.5, "float": float("nan"), "tuple[int, ...]": 8}
    fields = [f for f in dataclasses.fields(cls) if f.type in bad]
    assert fields
    for f in fields:
        with pytest.raises(ValueError, match=f.name):
            cls.from_dict({**base, f.name: bad[f.type]})
        with pytest.raises(ValueError, match=f.name):
            build_model(name, cls(**{**base, f.name: bad[f.type]}), (1, 8, 8))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_building_a_model_leaves_torch_s_global_generator_alone(name):
    cls = model_class(name)
    before = torch.random.get_rng_state()
    cls(cls.Config.from_dict(cls.Config.presets["tiny"]), (1, 8, 8))  # as a user would
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_binary_model_refuses_non_binary_data_in_its_likelihood(name, digits):
    """Grayscale given to a Bernoulli likelihood is a clear error naming the value, not a
    "log-probability" that can come out above 0."""
    model = tiny(name)
    if not hasattr(model, "log_prob"):
        pytest.skip("no likelihood")
    x = torch.tensor(digits.test.x[:3])
    x[2, 9] = 0.5
    if model.accepted_kinds() != ("binary",):
        assert torch.isfinite(model.log_prob(x, seed=0)).all()
        return
    with pytest.raises(ValueError, match=r"binary data .* example 2, input 9 is 0\.5"):
        model.log_prob(x, seed=0)
    if hasattr(model, "nll"):
        with pytest.raises(ValueError, match="example 2, input 9"):
            model.nll(x)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_loss_never_draws_from_torch_s_global_generator(name, digits):
    """Without a generator, a loss that samples is a clear error, never a draw from torch's
    global generator (whose state the library must not depend on)."""
    model = tiny(name)
    x = torch.tensor(digits.train.x[:16])
    with torch.random.fork_rng():
        try:
            torch.manual_seed(1)
            a = model(x)["loss"]
            torch.manual_seed(2)
            b = model(x)["loss"]
        except ValueError as err:
            assert "generator" in str(err).lower()
            return
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_float64_model_trains_and_samples_in_float64(name, fit_steps):
    """float32 data is cast to the weights' dtype; a training step keeps every parameter
    and floating buffer in float64 (no float32 tensor slipped in), and moves every one."""
    model = tiny(name).double()
    x = torch.tensor(digits_for(model).train.x[:16])  # float32 data
    start = {k: p.detach().clone() for k, p in model.named_parameters()}
    loss = fit_steps(model, x, 1)["loss"]
    assert loss.dtype == torch.float64 and torch.isfinite(loss)
    state = model.state_dict()
    assert all(v.dtype == torch.float64 for v in state.values() if v.is_floating_point()), {
        k: v.dtype for k, v in state.items()}
    assert [k for k, p in model.named_parameters() if torch.equal(p, start[k])] == []
    if hasattr(model, "sample"):
        assert model.sample(3, seed=0).dtype == torch.float64


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_sample_counts_are_checked_and_zero_gives_an_empty_batch(name):
    model = tiny(name)
    if not hasattr(model, "sample"):
        pytest.skip("no sampler")
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="n must be an integer >= 0"):
            model.sample(bad, seed=0)
    assert model.sample(0, seed=0).shape[0] == 0


def test_a_generator_on_another_device_is_named(monkeypatch):
    """A CPU generator given to a model on a GPU is refused by name; without a GPU the model
    is told it is on one (the check runs before any GPU work)."""
    if torch.cuda.is_available():
        model = tiny("vae").cuda()
    else:
        model = tiny("vae")
        monkeypatch.setattr(type(model), "device", property(lambda self: torch.device("cuda")))
    with pytest.raises(ValueError, match="seed is a generator on cpu but the model is on cuda"):
        model.sample(2, seed=torch.Generator())


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_command_line_trains_evaluates_and_samples_every_model(name, tmp_path, capsys):
    """`dgm train NAME --preset tiny`, then `dgm eval --json` (the likelihood where the model
    has one, sample quality otherwise) and `dgm sample -o .npy`, on digits in its range."""
    from dgm.cli import main

    model = tiny(name)
    spec = ("digits:gray" if "binary" not in model.accepted_kinds() else
            "digits:pm1" if model.output_range == "pm1" else "digits")
    run = tmp_path / "run"
    assert main(["train", name, "--preset", "tiny", "--data", spec, "--epochs", "1",
                 "--picture-every", "0", "--no-progress", "--out", str(run)]) == 0
    capsys.readouterr()
    likelihood = hasattr(model, "log_prob")
    assert main(["eval", str(run), "--json", "--max-examples", "50",
                 *([] if likelihood else ["--samples", "200"])]) == 0
    out = json.loads(capsys.readouterr().out)
    figures = [v for k, v in out.items() if isinstance(v, (int, float)) and k != "seed"]
    assert figures and all(math.isfinite(v) for v in figures)
    if likelihood:
        assert out["nll_nats"] > 0 and out["nll_stderr"] >= 0
    path = tmp_path / "s.npy"
    assert main(["sample", str(run), "-n", "5", "-o", str(path)]) == 0
    x = np.load(path)
    assert x.shape[0] == 5 and x[0].size == 64 and np.isfinite(x).all()
    low, high = {"digits": (0, 1), "digits:pm1": (-1, 1)}.get(spec, (-np.inf, np.inf))
    assert x.min() >= low and x.max() <= high
