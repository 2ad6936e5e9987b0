"""TrainConfig's checks: every option of a wrong type or out of range is named."""

from __future__ import annotations

import pytest

from dgm.train import TrainConfig


@pytest.mark.parametrize("option, value, message", [
    ("epochs", 2.5, "epochs must be an int, got 2.5"),
    ("progress", 1, "progress must be a bool"),
    ("data", 3, "data must be a str"),
    ("eval_batch", 0, "eval_batch must be > 0"),
    ("seed", -1, "seed must be >= 0"),
    ("max_minutes", -1.0, "max_minutes must be >= 0"),
    ("grad_clip", -1.0, "grad_clip must be >= 0"),
    ("picture_every", -1, "picture_every must be >= 0"),
    ("lr_decay", -0.1, "lr_decay must be >= 0"),
    ("adam_eps", 0.0, "adam_eps must be > 0"),
    ("beta1", 1.0, r"beta1 must be in \[0, 1\)"),
    ("momentum", -0.5, r"momentum must be in \[0, 1\)"),
])
def test_a_bad_option_is_named_with_its_value(option, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict({option: value})


def test_ints_are_accepted_for_floats_and_the_defaults_validate():
    cfg = TrainConfig.from_dict({"lr": 1, "max_minutes": 2, "data_dir": None})
    assert cfg.lr == 1 and cfg.max_minutes == 2
    TrainConfig.from_dict(TrainConfig().to_dict())
