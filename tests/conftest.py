"""Shared fixtures: the data directory, one batch of training by a model's own update, and
the check that an interrupted and resumed run ends as the uninterrupted one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: metrics.jsonl fields that measure time, the only ones two equal runs may differ in
TIMING_FIELDS = ("train_seconds", "train_examples_per_s", "wall_seconds")


def data_dir() -> Path:
    env = os.environ.get("DGM_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = data_dir()
    if not (d / "mnist").is_dir():
        pytest.skip(f"no shared data folder at {d} (set DGM_DATA)")
    return d


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Test tensors are tiny: one intra-op thread is faster than two on a shared CPU."""
    import torch

    torch.set_num_threads(1)


def _fit_steps(model, x, steps: int, seed: int = 0, **train):
    """``steps`` updates of ``model`` on the batch ``x`` as the training loop makes them:
    the model's own ``training_step`` (a GAN's two players, an RBM's CD update) with the
    optimizers of its ``configure_optimizers``, built from ``TrainConfig(**train)``.
    Returns the last step's terms; the model is left in training mode."""
    import torch

    from dgm.train import TrainConfig
    from dgm.train.optim import make_optimizer

    cfg = TrainConfig(**train)
    optimizers = model.configure_optimizers(lambda params, **kw: make_optimizer(params, cfg, **kw))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    terms = {}
    for _ in range(steps):
        terms = model.training_step(model, x, optimizers, gen, cfg.grad_clip)
    return terms


def assert_same_tensors(got: dict, want: dict, what: str = "") -> None:
    """The same keys, and bitwise-equal tensors under each."""
    import torch

    assert sorted(got) == sorted(want), what
    differ = [k for k in want if got[k].dtype != want[k].dtype or not torch.equal(got[k], want[k])]
    assert differ == [], f"{what}: these tensors differ"


def metrics_rows(run_dir: Path) -> list[dict]:
    """metrics.jsonl of a run, without the timing fields."""
    rows = [json.loads(r) for r in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


def _resume_is_bitwise(make, cfg, splits, root: Path, stop_after: int):
    """Train ``make()`` three times under ``cfg``: uninterrupted (``root/"ref"``), stopped
    by ``stop_after_steps`` (``root/"cut"``), and resumed from that stop in a fresh model.

    Checks that the interrupted run's checkpoint holds the interrupted model (parameters
    and buffers, e.g. persistent chains) and that ``dgm.load`` gives its weights mid-way;
    and that the resumed run ends bitwise equal to the uninterrupted one: parameters,
    buffers, every tensor of both checkpoint files (optimizers, averages, generators) and
    the metrics (but for timing). Returns ``(uninterrupted, resumed, the interruption)``.
    """
    import dgm
    from dgm.train import Trainer, TrainingInterrupted
    from dgm.train.checkpoint import AVERAGE, BEST, CHECKPOINT, model_state, read_checkpoint

    ref = make()
    Trainer(ref, cfg, splits, root / "ref").fit()
    cut = make()
    with pytest.raises(TrainingInterrupted) as stop:
        Trainer(cut, cfg, splits, root / "cut", stop_after_steps=stop_after).fit()
    saved, _ = read_checkpoint(root / "cut" / CHECKPOINT)
    assert_same_tensors(model_state(saved), cut.state_dict(), "interrupted checkpoint")
    loaded = dgm.load(root / "cut", which="last")  # the average, when the run keeps one
    assert_same_tensors(loaded.state_dict(), model_state(saved, AVERAGE) or cut.state_dict(),
                        "dgm.load of the interrupted run")

    resumed = make()
    Trainer(resumed, cfg, splits, root / "cut", resume=True).fit()
    assert_same_tensors(resumed.state_dict(), ref.state_dict(), "resumed model")
    for name in (CHECKPOINT, BEST):
        assert (root / "cut" / name).is_file() == (root / "ref" / name).is_file(), name
        if (root / "ref" / name).is_file():
            assert_same_tensors(read_checkpoint(root / "cut" / name)[0],
                                read_checkpoint(root / "ref" / name)[0], name)
    assert metrics_rows(root / "cut") == metrics_rows(root / "ref")
    return ref, resumed, stop.value


@pytest.fixture
def fit_steps():
    """:func:`_fit_steps`: train on one batch by the model's own update."""
    return _fit_steps


@pytest.fixture
def resume_is_bitwise():
    """:func:`_resume_is_bitwise`: interrupt, resume, compare with the uninterrupted run."""
    return _resume_is_bitwise
