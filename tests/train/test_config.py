"""TrainConfig's checks: every option of a wrong type or out of range is named."""

from __future__ import annotations

import pytest

from dgm.train import TrainConfig


@pytest.mark.parametrize("option, value, message", [
    ("epochs", 2.5, "epochs must be an int, got 2.5"),
    ("progress", 1, "progress must be a bool"),
    ("data", 3, "data must be a str"),
    ("eval_batch", 0, "eval_batch must be > 0"),
    ("seed", -1, "seed must be an integer >= 0"),
    ("seed", 2**63, r"seed must be at most 2\*\*63 - 1 = 9223372036854775807, got "
                    r"9223372036854775808"),  # torch's generators failed on it, mid-run
    ("max_minutes", -1.0, "max_minutes must be >= 0"),
    ("grad_clip", -1.0, "grad_clip must be >= 0"),
    ("picture_every", -1, "picture_every must be >= 0"),
    ("lr_decay", -0.1, "lr_decay must be >= 0"),
    ("adam_eps", 0.0, "adam_eps must be > 0"),
    ("beta1", 1.0, r"beta1 must be in \[0, 1\)"),
    ("momentum", -0.5, r"momentum must be in \[0, 1\)"),
    ("ema", 1.0, r"ema must be in \[0, 1\) \(a decay per step; 0 = off\), got 1.0"),
])
def test_a_bad_option_is_named_with_its_value(option, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict({option: value})


def test_ints_are_accepted_for_floats_and_the_defaults_validate():
    cfg = TrainConfig.from_dict({"lr": 1, "max_minutes": 2, "data_dir": None})
    assert cfg.lr == 1 and cfg.max_minutes == 2
    TrainConfig.from_dict(TrainConfig().to_dict())


@pytest.mark.parametrize("option, value, message", [
    ("optimizer", "adamw", "optimizer must be one of"),  # ran as Adagrad
    ("batch_size", 0, "batch_size must be > 0"),  # ran with batches of 1
    ("epochs", 2.5, "epochs must be an int"),  # ran 3 epochs
])
def test_the_trainer_checks_a_config_built_by_hand(option, value, message, tmp_path):
    from dgm.data import load_dataset
    from dgm.registry import build_model
    from dgm.train import Trainer

    splits = load_dataset("digits")
    model = build_model("vae", {"latent": 2, "hidden": [8]}, splits.train.shape, seed=0)
    with pytest.raises(ValueError, match=message):
        Trainer(model, TrainConfig(**{option: value}), splits, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, config, data, message", [
    ("vae", {}, "digits:gray", "--decoder gaussian"),  # a Bernoulli likelihood of gray pixels
    ("rbm", {"hidden": 4}, "ring8", "takes binary data"),
    ("vae", {}, "tiny:bn", "built for examples of shape"),  # shape (1, 8, 8) vs (8,)
])
def test_the_trainer_refuses_data_the_model_does_not_fit_before_writing(
        name, config, data, message, tmp_path):
    from dgm.data import load_dataset
    from dgm.registry import build_model
    from dgm.train import Trainer

    model = build_model(name, config, (1, 8, 8), seed=0)
    with pytest.raises(ValueError, match=message):
        Trainer(model, TrainConfig(epochs=1), load_dataset(data), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_patience_without_a_validation_split_is_refused(tmp_path):
    from dgm.data import load_dataset
    from dgm.registry import build_model
    from dgm.train import Trainer

    splits = load_dataset("digits")
    splits = type(splits)(**{**vars(splits), "valid": None})
    model = build_model("vae", {"latent": 2}, splits.train.shape, seed=0)
    with pytest.raises(ValueError, match="no validation split"):
        Trainer(model, TrainConfig(patience=3), splits, tmp_path / "run")
