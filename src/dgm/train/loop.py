"""The one training loop: every model, every device, one process or many.

It knows the model only through its contract (``dgm.models.base``): call it on
a batch, minimize ``terms["loss"]``. Each epoch it validates, appends a line to
``metrics.jsonl``, keeps the best weights for early stopping, writes an atomic
checkpoint and the pictures. Ctrl-C or SIGTERM (what ``timeout``, a batch
scheduler's pre-emption or a lent machine's end sends; or ``stop_after_steps``)
saves a checkpoint at the current step; ``resume=True`` continues so that the interrupted-and-
resumed run ends bitwise equal to an uninterrupted one (on CPU).

Randomness: the epoch's permutation is derived from (seed, epoch); the noise of
the model (and dynamic binarization) comes from one generator per rank whose
state is checkpointed.

Beside it: :mod:`~dgm.train.state` (the loop state and its checkpoint, what a resume may
change), :mod:`~dgm.train.stops` (signals, interruptions, divergence) and
:mod:`~dgm.train.progress` (the bar, the epoch lines, the wall clock).
"""

from __future__ import annotations

import gc
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dgm import __version__
from dgm._rng import derive_seed
from dgm.models._layers import bernoulli
from dgm.train import distributed as D
from dgm.train.average import WeightAverage
from dgm.train.batching import batch_count, batch_slice, chunks, epoch_shard
from dgm.train.checkpoint import BEST, CHECKPOINT, CONFIG, atomic_write_json, save_checkpoint
from dgm.train.config import TrainConfig, lr_factor, schedule_position
from dgm.train.graphed import GraphedStep
from dgm.train.metrics import append_metrics, start_metrics, trim_metrics
from dgm.train.optim import apply_lr_factor, make_optimizer, remember_base_lrs, tensor_lrs
from dgm.train.progress import WallClock, epoch_bar, live, print_epoch
from dgm.train.state import (
    RESUME_FREE,
    LoopState,
    check_resumable,
    read_state,
    spent_budget,
    write_state,
)
from dgm.train.stops import STOP_SIGNALS, NonFiniteLoss, StopSignals, TrainingInterrupted

#: the names importable from here (some now live in the modules beside it)
__all__ = ["RESUME_FREE", "STOP_SIGNALS", "LoopState", "NonFiniteLoss", "Trainer",
           "TrainingInterrupted"]


class Trainer:
    """Train ``model`` on ``splits`` (a ``dgm.data.DataSplits``) into ``run_dir``;
    ``preset``: the name of the model's preset, if it was built from one (recorded in the
    run's ``config.json``, for ``dgm info``)."""

    def __init__(self, model, cfg: TrainConfig, splits, run_dir: str | Path,
                 resume: bool = False, stop_after_steps: int | None = None,
                 preset: str | None = None):
        cfg.check()  # a TrainConfig built by hand is checked as the CLI's are
        model.check_data(splits.train)  # kind and shape, before anything is written
        if splits.valid is not None:
            model.check_data(splits.valid)
        elif cfg.patience:
            raise ValueError(f"patience={cfg.patience} stops on the validation loss, but "
                             f"{splits.train.name!r} has no validation split")
        self.cfg, self.splits, self.resume = cfg, splits, resume
        self.run_dir = Path(run_dir)
        self.stop_after_steps = stop_after_steps
        self.preset = preset
        if cfg.cuda_graph and not model.graph_safe:
            raise ValueError(
                f"cuda_graph=True: {model.name}'s training step is not known to replay "
                "correctly as a CUDA graph (see GenerativeModel.graph_safe); train it eagerly")
        self.info = D.setup(cfg.device)
        if cfg.cuda_graph and (self.info.device.type != "cuda" or self.info.active):
            raise ValueError(
                "cuda_graph=True replays the training step on one GPU: it needs device 'cuda' "
                f"(got {self.info.device}) and a single process (world size {self.info.world})")
        self.model = model.to(self.info.device)
        self.model.data_kind = splits.train.kind  # where its samples live (pictures, metrics)
        self.net = D.ddp(self.model) if self.info.active else self.model
        self.optimizers = self.model.configure_optimizers(
            lambda params, **kw: make_optimizer(params, cfg, **kw))
        remember_base_lrs(self.optimizers)
        self.noise = torch.Generator(device=self.info.device)
        self.noise.manual_seed(derive_seed(cfg.seed, "noise", self.info.rank))
        self.average = WeightAverage(self.model, cfg.ema) if cfg.ema else None
        self.state = LoopState()
        self.signals = StopSignals(announce=self.info.is_main)
        self._best_pending: dict[str, torch.Tensor] | None = None  # best weights not yet on disk
        self.wall = WallClock()  # its laps add up to state.wall_seconds (_tick_wall)
        self._last_save = self.wall.mark  # (now) when the last checkpoint was written
        self._saved_at: tuple[int, int] | None = None  # (epoch, step) of the checkpoint on disk
        self.graphed: GraphedStep | None = None  # the captured step (cuda_graph=True)

    # -- data ------------------------------------------------------------------------
    def _tensor(self, ds) -> torch.Tensor:
        x = ds.x
        if self.cfg.max_train and ds is self.splits.train:
            x = x[: self.cfg.max_train]
        return torch.from_numpy(np.array(x, dtype=np.float32)).to(self.info.device)  # (N, D)

    def _config_record(self) -> dict[str, Any]:
        tr = self.splits.train
        return {
            "model": self.model.name,
            "preset": self.preset,  # None: the model config was not built from a preset
            "model_config": self.model.config.to_dict(),
            "input_shape": list(self.model.input_shape),
            # the splits actually given (the API may pass other data than cfg.data names)
            "data": {"spec": tr.name, "kind": tr.kind, "shape": list(tr.shape),
                     "dynamic_binarize": bool(tr.dynamic_binarize),
                     "n_train": min(len(tr), self.cfg.max_train or len(tr))},
            "train": self.cfg.to_dict(),
            "versions": {"dgm": __version__, "torch": torch.__version__},
            "world_size": self.info.world,
        }

    # -- the loop ----------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Run (or resume) training; returns the final summary."""
        cfg, info = self.cfg, self.info
        n_local = self._batching()[0]
        if n_local < self.model.min_batch:  # (before the run directory is touched)
            raise ValueError(f"{self.model.name} trains on batches of at least "
                             f"{self.model.min_batch} examples; the training split has "
                             f"{n_local}{' per process' if info.world > 1 else ''}")
        self._open_run()
        x_train = self._tensor(self.splits.train)  # (N, D)
        x_valid = self._tensor(self.splits.valid) if self.splits.valid is not None else None
        train_step = self._train_step_fn()
        # every rank: under torchrun each gets the signal, and one flag stops them all together
        with self.signals.listening():
            while self.state.epoch < cfg.epochs and not self.state.done:
                self._train_epoch(train_step, x_train, x_valid)
                st = self.state
                if self._stop_requested() and not st.done and st.epoch < cfg.epochs:
                    if self._saved_at != (st.epoch, 0):  # a signal during the epoch's last step
                        self._save(self.run_dir / CHECKPOINT)
                    self._interrupted(f"interrupted after epoch {st.epoch}")
        return self._finish()

    def _open_run(self) -> None:
        """A new run writes its config and an empty metrics file (and drops another run's
        weights); a resumed one restores the checkpoint's weights, optimizers, noise and
        loop state, and trims the metrics back to the epochs that checkpoint holds."""
        cfg, info = self.cfg, self.info
        if self.resume:  # every check before the first write: a failed resume changes nothing
            record = check_resumable(self.run_dir, cfg)
            self.state = st = read_state(self.run_dir / CHECKPOINT, self.model, self.optimizers,
                                         self.noise, self.average, info)
            self._saved_at = (st.epoch, st.step)
            if st.done:  # a finished run continues when its stop no longer holds (a longer
                # time budget, a larger patience): it extends the run, as more epochs do.
                # Under the same stop, fit returns at once (a benchmark's piece that spent the
                # budget and was stopped while evaluating is evaluated by the next piece);
                # `dgm train --resume` refuses that case itself (stops.BudgetSpent)
                st.done = spent_budget(st, cfg) is not None
            if info.is_main:  # metrics first: a damaged file fails before anything is written
                trim_metrics(self.run_dir, st.epoch)
                if record.get("train") != cfg.to_dict():  # how the run goes on (more epochs)
                    atomic_write_json(self.run_dir / CONFIG, {**record, "train": cfg.to_dict()})
        elif info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for stale in (CHECKPOINT, BEST):  # a new run never inherits another's weights
                (self.run_dir / stale).unlink(missing_ok=True)
            atomic_write_json(self.run_dir / CONFIG, self._config_record())
            start_metrics(self.run_dir)
        self.wall.restart()

    def _train_epoch(self, train_step, x_train: torch.Tensor, x_valid) -> None:
        """One epoch from the step the state is at (0, or where an interrupted run stopped):
        the schedule's rate, this rank's shard in the epoch's order, one optimizer step per
        mini-batch, then :meth:`_end_epoch` (validation, metrics, checkpoint)."""
        cfg, info, st = self.cfg, self.info, self.state
        at = schedule_position(cfg.schedule_clock, st.epoch, cfg.epochs, st.train_seconds,
                               cfg.max_minutes)
        lr = apply_lr_factor(self.optimizers, lr_factor(cfg.schedule, at, cfg.epochs,
                                                        cfg.lr_decay))  # as stepped
        n_local, bs, n_steps = self._batching()
        shard = epoch_shard(cfg.seed, st.epoch, x_train.shape[0], info.rank, info.world)
        shard = shard.to(info.device)  # (n_local,)
        dynamic = bool(self.splits.train.dynamic_binarize)
        self.model.train()
        sums = {k: torch.tensor(v, dtype=torch.float32, device=info.device)
                for k, v in st.sums.items()}
        t0 = time.perf_counter()
        bar = (epoch_bar(st.epoch + 1, n_local, st.step * bs)
               if info.is_main and live(cfg.progress) else None)
        for step in range(st.step, n_steps):
            xb = x_train[shard[batch_slice(step, n_steps, bs, n_local)]]  # (B, D)
            if dynamic:
                xb = bernoulli(xb, generator=self.noise)
            terms = train_step(xb)
            if self.average is not None:
                self.average.update(st.epoch * n_steps + step)
            for k, v in terms.items():
                term = v.detach() * xb.shape[0]
                sums[k] = sums[k] + term if k in sums else term
            st.seen += xb.shape[0]
            st.step = step + 1
            if bar is not None:
                bar.update(xb.shape[0])  # the bar counts examples: it shows ex/s
                if step % 25 == 0:
                    bar.set_postfix(loss=f"{terms['loss'].item():.3f}")
            if step % 50 == 49 and not torch.isfinite(sums["loss"]):
                self._non_finite(st.step)
            if self._stop_requested() and st.step < n_steps:
                if D.broadcast_flag(not bool(torch.isfinite(sums["loss"])), info):
                    self._non_finite(st.step)  # never save a diverged state
                st.sums = {k: float(v) for k, v in sums.items()}
                st.epoch_seconds += time.perf_counter() - t0
                self._save(self.run_dir / CHECKPOINT)
                self._interrupted(f"interrupted at epoch {st.epoch + 1}, step {st.step}")
        if bar is not None:
            bar.close()
        st.epoch_seconds += time.perf_counter() - t0
        self._end_epoch(sums, x_valid, lr, self.run_dir / CHECKPOINT)

    def _interrupted(self, where: str) -> None:
        """Stop after a signal, the checkpoint saved: say where and how to continue."""
        raise TrainingInterrupted.saved(where, self.run_dir, self.signals.signum)

    def _stop_requested(self) -> bool:
        """A signal arrived (or ``stop_after_steps`` is reached) on any rank."""
        stop = self.signals.received or (self.stop_after_steps is not None
                                         and self._global_step() >= self.stop_after_steps)
        return D.broadcast_flag(stop, self.info)

    def _train_step_fn(self):
        """One optimizer step on a batch: the model's own, or its replayed CUDA graph."""

        def step(xb: torch.Tensor) -> dict[str, torch.Tensor]:
            return self.model.training_step(self.net, xb, self.optimizers, self.noise,
                                            self.cfg.grad_clip)

        if not self.cfg.cuda_graph:
            return step
        tensor_lrs(self.optimizers.values(), self.info.device)
        self.graphed = GraphedStep(step, self.noise)
        return self.graphed

    def _global_step(self) -> int:
        return self.state.epoch * self._batching()[2] + self.state.step

    def _batching(self) -> tuple[int, int, int]:
        """(training examples per rank, batch size per rank, steps per epoch)."""
        n = len(self.splits.train)
        n_local = (min(self.cfg.max_train, n) if self.cfg.max_train else n) // self.info.world
        bs = max(1, self.cfg.batch_size // self.info.world)
        return n_local, bs, batch_count(n_local, bs, self.model.min_batch)

    def _end_epoch(self, sums, x_valid, lr: dict[str, float], ckpt) -> None:
        cfg, info, st = self.cfg, self.info, self.state
        keys = sorted(sums)
        seen = torch.tensor(float(st.seen), device=info.device)
        secs = torch.tensor(float(st.epoch_seconds), device=info.device)
        all_sum = D.all_reduce_sum(torch.stack([sums[k] for k in keys] + [seen, secs]), info)
        if not torch.isfinite(all_sum).all():
            self._non_finite(st.step)
        n_seen = float(all_sum[-2])
        record: dict[str, Any] = {"epoch": st.epoch + 1, **lr}
        record.update({f"train_{k}": float(all_sum[i]) / n_seen for i, k in enumerate(keys)})
        record["train_examples_per_s"] = n_seen / max(st.epoch_seconds, 1e-9)
        # under torchrun the ranks' mean epoch time: one clock for the schedule on every rank
        st.train_seconds += float(all_sum[-1]) / info.world if info.active else st.epoch_seconds
        record["train_seconds"] = st.train_seconds
        if x_valid is not None:
            valid = self.validate(x_valid)
            record.update({f"valid_{k}": v for k, v in valid.items()})
            score = valid["loss"]
            if score < st.best:
                st.best, st.best_epoch, st.bad_epochs = score, st.epoch + 1, 0
                if info.is_main:  # written with the next checkpoint, so the two agree
                    self._best_pending = {k: v.detach().clone()
                                          for k, v in self._eval_model().state_dict().items()}
            else:
                st.bad_epochs += 1
                if cfg.patience and st.bad_epochs >= cfg.patience:
                    st.done = True
                    record["early_stop"] = True
        over = bool(cfg.max_minutes) and st.train_seconds > 60 * cfg.max_minutes
        if D.broadcast_flag(over, info) and not st.done:
            st.done = True
            record["time_limit"] = True
        st.epoch += 1
        st.step, st.sums, st.seen, st.epoch_seconds = 0, {}, 0, 0.0
        record["wall_seconds"] = self._tick_wall()
        if info.is_main:
            append_metrics(self.run_dir, record)
            if not live(cfg.progress):
                print_epoch(record)
            if cfg.picture_every and (st.epoch % cfg.picture_every == 0 or st.done
                                      or st.epoch == cfg.epochs):
                self._pictures(x_valid)
        due = time.perf_counter() - self._last_save >= 60 * cfg.checkpoint_minutes
        if due or st.done or st.epoch >= cfg.epochs:
            self._save(ckpt)

    def _eval_model(self) -> torch.nn.Module:
        """What validation, the best weights and the pictures use: the average, if any."""
        return self.average.synced() if self.average is not None else self.model

    @torch.no_grad()
    def validate(self, x: torch.Tensor) -> dict[str, float]:
        """Mean validation terms over the split (sharded over ranks, fixed noise)."""
        model = self._eval_model()
        model.eval()
        info = self.info
        gen = torch.Generator(device=info.device).manual_seed(
            derive_seed(self.cfg.seed, "valid", info.rank))
        mine = x[info.rank :: info.world]
        sums: dict[str, torch.Tensor] = {}
        for xb in chunks(mine, self.cfg.eval_batch, self.model.min_batch):
            for k, v in model.validation_terms(xb, gen).items():
                sums[k] = sums.get(k, 0) + v.sum()
        keys = sorted(sums)
        tot = D.all_reduce_sum(torch.stack([sums[k] for k in keys]), info)
        self.model.train()
        return {k: float(tot[i]) / x.shape[0] for i, k in enumerate(keys)}

    def _save(self, path: Path) -> None:
        """The checkpoint (and the best weights found since the last one), atomically;
        never weights that are NaN or inf (the checkpoint before them is kept)."""
        st = self.state
        finite = torch.stack([torch.isfinite(p).all() for p in self.model.parameters()])
        if not bool(finite.all()):  # one host sync, not one per parameter
            self._non_finite(st.step)  # the parameters agree on every rank: all raise
        self._saved_at = (st.epoch, st.step)
        self._last_save = time.perf_counter()
        if self._best_pending is not None and self.info.is_main:
            save_checkpoint(self.run_dir / BEST, self._best_pending,
                            state={"epoch": st.best_epoch})
            self._best_pending = None
        write_state(path, self.model, self.optimizers, self.noise, self.average, st, self.info)

    def _pictures(self, x_valid) -> None:
        from dgm import plots

        try:
            plots.run_pictures(self._eval_model(), self.run_dir, x_valid, epoch=self.state.epoch,
                               seed=self.cfg.seed)
        except Exception as err:  # a picture must never lose a training run
            print(f"warning: pictures failed: {err!r}", file=sys.stderr)

    def _tick_wall(self) -> float:
        """Add the wall time since the last tick to the run's (kept across resumes)."""
        self.state.wall_seconds += self.wall.lap()
        return self.state.wall_seconds

    def _finish(self) -> dict[str, Any]:
        spread = D.parameter_spread(self.model, self.info)
        best = self.state.best if math.isfinite(self.state.best) else None  # None: no validation
        summary = {"epochs": self.state.epoch, "best_valid_loss": best,
                   "best_epoch": self.state.best_epoch, "train_seconds": self.state.train_seconds,
                   "wall_seconds": self._tick_wall(),
                   "rank_parameter_spread": spread, "world_size": self.info.world}
        if self.info.is_main:
            atomic_write_json(self.run_dir / "summary.json", summary)
        self.net = self.model  # drop the DDP wrapper (and its gloo work) before the group goes
        if self.info.active:  # its reducer sits in reference cycles: free it now, not at exit
            gc.collect()
        D.teardown(self.info)
        return summary

    def _non_finite(self, steps: int) -> None:
        """Stop: the loss (or the weights) became NaN/inf within the first ``steps`` steps of
        the current epoch; the checkpoint on disk, written before, is left as it is."""
        raise NonFiniteLoss.at(self.state.epoch, steps, self._saved_at, self.run_dir)
