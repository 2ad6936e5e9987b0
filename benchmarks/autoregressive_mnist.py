"""NADE and MADE on binarized MNIST (the fixed binarization, 50k/10k/10k), under time budgets.

Published (test NLL, nats): NADE 88.86 (Larochelle & Murray 2011); MADE (Germain et al.
2015, table 6) one hidden layer 1 mask 88.40, one hidden layer 32-mask ensemble 88.04,
two hidden layers 32-mask ensemble 86.64. Early stopping on the validation split (the
loop keeps the best weights); the test split is evaluated once, on those weights.

Stages (each merges its figures into benchmarks/results/autoregressive.json):

  nade            NADE, natural ordering, sigmoid hidden layer of --nade-hidden units
  made1           MADE, one hidden layer, one fixed mask (natural ordering)
  made_ensemble   MADE, connectivity-agnostic (--order-agnostic: orderings too, as the
                  authors' command), 32 training masks, test ensemble of 32
  nade_agnostic   order-agnostic NADE (DeepNADE), trained by the subset estimator (one
                  hidden layer per example; NADE's resample="subset"), test ensemble of
                  --orderings orderings; selected on the fixed ordering's validation NLL

Usage: flock /tmp/dgm-bench.lock python benchmarks/autoregressive_mnist.py \
           --stages nade made1 made_ensemble --minutes 12 [--data-dir D]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RUNS,
    check_same_run,
    saved_train_config,
    say_interrupted,
    select_variant,
)

import dgm  # noqa: E402
from dgm.data import load_dataset  # noqa: E402
from dgm.models.made import MADE, MADEConfig  # noqa: E402
from dgm.models.nade import NADE, NADEConfig  # noqa: E402
from dgm.train import TrainConfig, Trainer, TrainingInterrupted  # noqa: E402

PUBLISHED = {"nade": 88.86, "made1": 88.40, "made_ensemble": 86.64}
PUBLISHED_ENSEMBLE_1LAYER = 88.04  # MADE table 6: one hidden layer, 32 masks
GOALS = {"nade": 88.5, "made1": 88.0, "made_ensemble": 86.5}  # issue 5 (nade_agnostic: none)
PREFIX = {"nade": "nade", "made1": "made_1mask", "made_ensemble": "made_ensemble",
          "nade_agnostic": "nade_agnostic"}


def published(stage: str, model) -> float | None:
    """The paper's figure for this stage and model (the ensemble's depends on its layers)."""
    if stage == "made_ensemble" and len(model.config.hidden_sizes) == 1:
        return PUBLISHED_ENSEMBLE_1LAYER
    return PUBLISHED.get(stage)


def build(stage: str, args) -> tuple[torch.nn.Module, dict]:
    opt = {"optimizer": args.optimizer, "lr": args.lr, "weight_decay": args.weight_decay,
           "schedule": "exp" if args.lr_decay else "constant", "lr_decay": args.lr_decay,
           "ema": args.ema}
    if stage == "nade":
        cfg = NADEConfig(n_hidden=args.nade_hidden, activation=args.nade_activation)
        return NADE(cfg, (1, 28, 28)), {"batch_size": args.nade_batch, **opt}
    if stage == "nade_agnostic":
        cfg = NADEConfig(n_hidden=args.nade_hidden, activation=args.nade_activation,
                         ordering="agnostic", resample="subset")
        return NADE(cfg, (1, 28, 28)), {"batch_size": args.nade_batch, **opt}
    if stage == "made1":
        cfg = MADEConfig(hidden_sizes=tuple(args.made_hidden), direct=args.direct,
                         dropout=args.dropout, init=args.init)
        return MADE(cfg, (1, 28, 28)), {"batch_size": args.made_batch, **opt}
    cfg = MADEConfig(hidden_sizes=tuple(args.ensemble_hidden), direct=args.direct,
                     connectivity_agnostic=True, order_agnostic=args.order_agnostic,
                     train_masks=args.masks, valid_masks=args.valid_masks,
                     dropout=args.dropout, init=args.init)
    return MADE(cfg, (1, 28, 28)), {"batch_size": args.made_batch, **opt}


def set_tf32(on: bool) -> None:
    """TF32 tensor-core products on CUDA: for training speed only; likelihoods are
    evaluated in full float32."""
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


# what a resumed run may change: how long it goes on, where it runs
EXTENSIBLE = ("max_minutes", "epochs", "patience", "checkpoint_minutes", "data_dir")


def run_stage(stage: str, args, splits) -> bool:
    """Train (or, ``--resume``, continue) ``stage`` and evaluate its best weights; False when
    the training was interrupted (Ctrl-C, SIGTERM): its checkpoint waits for --resume."""
    model, opt = build(stage, args)
    model.reset_parameters(args.seed)
    cfg = TrainConfig(data="mnist", data_dir=args.data_dir, epochs=args.max_epochs,
                      patience=args.patience, max_minutes=args.minutes, device=args.device,
                      checkpoint_minutes=args.checkpoint_minutes,
                      seed=args.seed, picture_every=0, progress=False,
                      max_train=args.max_train, **opt)
    key = stage + args.tag  # the stage's name in the results file (variants: --tag)
    run_dir = RUNS / f"autoregressive_{key}"
    flags = run_dir / "bench_flags.json"  # how the benchmark trains it beyond its configs
    if args.resume:  # continue the run there: the same run, with a budget that may be longer
        check_same_run(run_dir, cfg.to_dict(), saved_train_config(run_dir), EXTENSIBLE,
                       model_config=model.config.to_dict())
        saved = json.loads(flags.read_text()) if flags.exists() else {}  # (older runs: none)
        if saved.get("tf32", args.tf32) != args.tf32:
            raise SystemExit(f"--resume {run_dir}: the run trained with tf32="
                             f"{saved['tf32']}; give the same --tf32 setting to continue it")
    else:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        flags.write_text(json.dumps({"tf32": args.tf32}) + "\n")
    set_tf32(args.tf32)
    trainer = Trainer(model, cfg, splits, run_dir, resume=args.resume)
    try:
        summary = trainer.fit()
    except TrainingInterrupted as stop:
        set_tf32(False)
        say_interrupted(key, stop)
        return False
    set_tf32(False)
    # the early-stopping best weights (validation split), evaluated where they were trained
    best = dgm.load(run_dir, map_location=trainer.info.device)
    masks = args.masks if stage == "made_ensemble" else 1
    ensemble = ({"masks": masks} if isinstance(best, MADE) else
                {"orderings": args.orderings} if stage == "nade_agnostic" else {})
    t0 = time.perf_counter()
    per = best.nll(splits.test.x, **ensemble)
    if best.device.type == "cuda":
        torch.cuda.synchronize()
    eval_seconds = time.perf_counter() - t0
    nll = per["nll_nats"].double()
    stderr = float(nll.std() / nll.numel() ** 0.5)
    # what selects among variants: the reported quantity (the ensemble's too), on validation
    valid = float(best.nll(splits.valid.x, **ensemble)["nll_nats"].mean())
    p = PREFIX[stage]
    figures = {f"{p}_test_nll_nats": float(nll.mean()), f"{p}_test_nll_stderr": stderr,
               f"{p}_train_seconds": summary["train_seconds"],
               f"{p}_parameters": sum(q.numel() for q in best.parameters())}
    if stage == "made_ensemble":
        figures["made_ensemble_masks"] = masks
        figures["made_ensemble_test_nll_1mask_nats"] = float(per["nll_1mask_nats"].mean())
    if stage == "nade_agnostic":
        figures["nade_agnostic_orderings"] = args.orderings
        figures["nade_agnostic_test_nll_1ordering_nats"] = float(
            per["nll_1ordering_nats"].mean())
    details = {
        "model": best.name, "model_config": best.config.to_dict(), "train": cfg.to_dict(),
        "epochs": summary["epochs"], "best_epoch": summary["best_epoch"],
        "best_valid_loss": summary["best_valid_loss"], "valid_nll_nats": valid,
        "test_eval_seconds": eval_seconds, "device": str(best.device),
        "wall_seconds": summary.get("wall_seconds"),  # the steps, validation, checkpoints
        "tf32_training": args.tf32, "published_test_nll_nats": published(stage, best),
        "goal_test_nll_nats": GOALS.get(stage),
        "goal_met": bool(float(nll.mean()) <= GOALS.get(stage, -float("inf"))),
        "run_dir": str(run_dir),
        **figures,
    }
    # several variants of a stage (--tag) may run; the top-level figures are those of the
    # variant with the best validation NLL
    select_variant("autoregressive", stage, key, details, figures, "valid_nll_nats", best.device)
    print(key, figures, flush=True)
    try:
        best.pictures(run_dir, seed=0)
    except Exception as err:  # pictures must never lose a measured result
        print(f"warning: pictures failed: {err!r}", file=sys.stderr)
    return True


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", nargs="*", default=["nade", "made1", "made_ensemble"])
    ap.add_argument("--minutes", type=float, default=12.0, help="training budget per stage")
    ap.add_argument("--max-epochs", type=int, default=1000)
    ap.add_argument("--patience", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--optimizer", default="adam", choices=["adam", "adagrad", "sgd"])
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--ema", type=float, default=0.0,
                    help="decay of the moving average of the weights that is validated, kept "
                         "and evaluated (0 = off)")
    ap.add_argument("--lr-decay", type=float, default=0.0,
                    help="exponential schedule: lr * exp(-lr_decay * epoch) (0: constant)")
    ap.add_argument("--tag", default="", help="variant suffix of the stage's results key")
    ap.add_argument("--made-batch", type=int, default=100)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--checkpoint-minutes", type=float, default=0.0)
    ap.add_argument("--tf32", action="store_true", help="CUDA: TF32 products in training")
    ap.add_argument("--nade-hidden", type=int, default=250)
    ap.add_argument("--nade-batch", type=int, default=25)
    ap.add_argument("--nade-activation", default="sigmoid", choices=["sigmoid", "relu", "tanh"])
    ap.add_argument("--orderings", type=int, default=16,
                    help="nade_agnostic: orderings in the test-time ensemble")
    ap.add_argument("--made-hidden", type=int, nargs="*", default=[500])
    ap.add_argument("--ensemble-hidden", type=int, nargs="*", default=[500])
    ap.add_argument("--direct", action="store_true", help="MADE: direct input-to-output links")
    ap.add_argument("--masks", type=int, default=32)
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="MADE: hidden units dropped in training with this probability")
    ap.add_argument("--order-agnostic", action="store_true",
                    help="made_ensemble: a random ordering per mask too (the authors' \"Full\" "
                         "shuffling; else connectivity only, the natural ordering)")
    ap.add_argument("--valid-masks", type=int, default=1,
                    help="made_ensemble: early stopping on the ensemble of this many masks "
                         "(the authors' code: all of them; 1: mask 0 alone)")
    ap.add_argument("--init", default="torch", choices=["torch", "orthogonal"],
                    help="MADE: weight initialization (orthogonal: the authors' code)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-train", type=int, default=0, help="smoke runs: first N examples")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--resume", action="store_true",
                    help="continue the stages' runs (interrupted, or finished and given a "
                         "longer --minutes or --patience); other settings must match")
    args = ap.parse_args()
    splits = load_dataset("mnist", data_dir=args.data_dir)
    for stage in args.stages:
        if not run_stage(stage, args, splits):
            return 130  # interrupted: the later stages wait for --resume too
    return 0


if __name__ == "__main__":
    sys.exit(main())
