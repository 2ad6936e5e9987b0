"""Contract tests, parametrized over the model registry: every model obeys them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgm.data import load_dataset
from dgm.registry import MODEL_NAMES, build_model, model_class
from dgm.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def tiny(name: str, shape=(1, 8, 8)):
    return build_model(name, model_class(name).Config.presets["tiny"], shape, seed=0)


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


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_log_prob_is_per_example(name, digits):
    model = tiny(name)
    if not hasattr(model, "log_prob"):
        pytest.skip("no likelihood")
    lp = model.log_prob(digits.test.x[:7], seed=0)
    assert lp.shape == (7,)
    assert torch.isfinite(lp).all()
    assert (lp <= 0).all()  # binary data: p(x) <= 1


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_overfits_one_batch(name, digits):
    model = tiny(name)
    x = torch.tensor(digits.train.x[:32])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    first = model(x, gen)["loss"].item()
    for _ in range(300):
        loss = model(x, gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model(x, gen)["loss"].item() < 0.7 * first


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_init_seed_gives_same_parameters(name):
    a, b, c = tiny(name), tiny(name), build_model(name, model_class(name).Config.presets["tiny"],
                                                  (1, 8, 8), seed=1)
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), k
    assert any(not torch.equal(p, r) for p, r in zip(a.parameters(), c.parameters()))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_round_trip_keeps_every_tensor(name, digits, tmp_path):
    import dgm

    model = tiny(name)
    if "binary" not in model.accepted_kinds():  # the Gaussian RBM: grayscale digits
        digits = load_dataset("digits:gray")
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
def test_a_float64_model_trains_and_samples_in_float64(name, digits):
    model = tiny(name).double()
    x = torch.tensor(digits.train.x[:16])  # float32 data: cast to the model's dtype
    if "binary" not in model.accepted_kinds():
        x = torch.tensor(load_dataset("digits:gray").train.x[:16])
    gen = torch.Generator().manual_seed(0)
    loss = model.training_step(model, x, model.configure_optimizers(
        lambda p, **kw: torch.optim.SGD(p, lr=1e-3)), gen)["loss"]
    assert torch.isfinite(loss).all()
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_generator_on_another_device_is_named():
    model = tiny("vae").cuda()
    with pytest.raises(ValueError, match="seed is a generator on cpu"):
        model.sample(2, seed=torch.Generator())
