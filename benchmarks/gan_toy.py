"""GAN on the toy mixtures ring8 and grid25: modes, high-quality share, reverse KL (10 seeds).

Every run goes through the library's loop (``dgm.train.Trainer``) with a time budget
(``--minutes`` per run), then 2,500 samples of the final generator are scored by
``dgm.eval.toy_metrics`` as VEEGAN / PacGAN define the metrics. Top-level figures are
medians over the seeds; every seed is under ``stages.<data>.runs``. Also written: the
metrics of 2,500 true points (``floor``), and pictures of seed 0.

Usage: python benchmarks/gan_toy.py [--data ring8 grid25] [--seeds 10] [--minutes 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RUNS, locked_results, run_record, set_figures  # noqa: E402

from dgm.data import load_dataset  # noqa: E402
from dgm.eval.toy_modes import N_EVAL, toy_floor, toy_metrics  # noqa: E402
from dgm.models.gan import GAN, GANConfig  # noqa: E402
from dgm.train import TrainConfig, Trainer  # noqa: E402
from dgm.train.metrics import read_metrics  # noqa: E402

PREFIX = {"ring8": "ring", "grid25": "grid"}
PUBLISHED = {"ring8": {"modes": 7.9, "high_quality": 0.956, "reverse_kl": 0.07, "by": "PacGAN2"},
             "grid25": {"modes": 24.8, "high_quality": 0.936, "reverse_kl": 0.04, "by": "PacGAN4"}}
GOALS = {"ring8": {"modes": 8, "high_quality": 0.98, "reverse_kl": 0.05},
         "grid25": {"modes": 25, "high_quality": 0.95, "reverse_kl": 0.03}}
# the model: MLPs of the mode-collapse papers' size, PacGAN packing, non-saturating loss
MODEL = {"ring8": dict(latent=2, g_hidden=(128, 128, 128), d_hidden=(128, 128), output="linear",
                       pack=2, lr_g=2e-4, lr_d=2e-4),
         "grid25": dict(latent=2, g_hidden=(128, 128, 128), d_hidden=(128, 128),
                        output="linear", pack=4, lr_g=2e-4, lr_d=2e-4)}


def run_one(data: str, seed: int, a, pictures: bool) -> dict:
    splits = load_dataset(data)
    cfg = GANConfig.from_dict({**MODEL[data], **a.model})
    model = GAN(cfg, (2,)).reset_parameters(seed)
    tcfg = TrainConfig(data=data, epochs=a.epochs or 100_000, batch_size=a.batch,
                       max_minutes=a.minutes, seed=seed, schedule=a.schedule,
                       picture_every=25 if pictures else 0, progress=False, ema=a.ema)
    run_dir = RUNS / f"gan-{data}-seed{seed}"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    trainer = Trainer(model, tcfg, splits, run_dir)
    summary = trainer.fit()
    judged = trainer.average.synced() if trainer.average is not None else model.eval()
    m = toy_metrics(data, judged.sample(N_EVAL, seed=10_000 + seed))  # the final generator
    if pictures:
        from dgm.eval.pictures import plot_gan_curves

        plot_gan_curves(run_dir)
    last = read_metrics(run_dir)[-1]
    return {"seed": seed, **m, "epochs": summary["epochs"],
            "train_seconds": summary["train_seconds"], "wall_seconds": time.perf_counter() - t0,
            "d_collapsed_last_epoch": last.get("train_d_collapsed"),
            "d_real_last_epoch": last.get("train_d_real"),
            "d_fake_last_epoch": last.get("train_d_fake")}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", nargs="*", default=["ring8", "grid25"])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--minutes", type=float, default=1.0, help="training budget per run")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=0,
                   help="planned epochs (the schedule's length); 0: until --minutes")
    p.add_argument("--schedule", default="constant", choices=["constant", "cosine"])
    p.add_argument("--ema", type=float, default=0.0,
                   help="decay of a moving average of the weights; the averaged generator is "
                        "the one judged (0: the last trained one)")
    p.add_argument("--seed-list", type=int, nargs="*", default=None,
                   help="run these seeds (default 0 .. --seeds - 1); runs of the same recipe "
                        "from other processes or sessions are merged by seed")
    p.add_argument("--dry-run", action="store_true", help="print, do not write the results")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override the model's settings, e.g. lr_g=1e-3 lr_d=1e-3 pack=4")
    a = p.parse_args()
    a.model = {}
    for item in a.set:
        key, sep, value = item.partition("=")
        try:
            a.model[key] = json.loads(value) if sep else None
        except json.JSONDecodeError:
            sep = ""
        if not sep or key not in GANConfig.__dataclass_fields__:
            p.error(f"--set {item!r}: expected KEY=VALUE with KEY a GANConfig field and VALUE "
                    "in JSON (e.g. lr_g=1e-3, g_hidden=[400,400])")
    torch.set_num_threads(a.threads)
    for data in a.data:
        runs = []
        seeds = a.seed_list if a.seed_list is not None else range(a.seeds)
        for seed in seeds:
            r = run_one(data, seed, a, pictures=seed == 0)
            print(f"{data} seed {seed}: modes {r['modes']}, hq {r['high_quality']:.3f}, "
                  f"rkl {r['reverse_kl']:.4f}, {r['epochs']} epochs", flush=True)
            runs.append({**r, "command": run_record()["command"]})
        recipe = json.loads(json.dumps(  # as it reads back from the results file
            {"model": {**MODEL[data], **a.model}, "minutes_per_run": a.minutes,
             "batch_size": a.batch, "epochs_planned": a.epochs, "schedule": a.schedule,
             "ema": a.ema, "objective": "nonsaturating", "k_steps": 1}))
        if a.dry_run:
            print(data, summarize(data, runs, recipe, a)["median"], flush=True)
            continue
        with locked_results("gan") as res:
            held = res.setdefault("stages", {}).get(data, {})
            if held.get("recipe") == recipe:  # the same recipe: merge the seeds
                merged = {r["seed"]: r for r in held["runs"]}
                merged.update({r["seed"]: r for r in runs})
                runs = [merged[k] for k in sorted(merged)]
            details = summarize(data, runs, recipe, a)
            res["stages"][data] = {**details, **run_record()}
            pre = PREFIX[data]
            set_figures(res, {f"{pre}_{k}": v for k, v in details["median"].items()})
        print(data, details["median"], f"over {len(runs)} seeds", flush=True)
    return 0


def summarize(data: str, runs: list[dict], recipe: dict, a) -> dict:
    """Medians over the seeds, the recipe, the floor and the goal."""
    med = {k: median_nan_worst([r[k] for r in runs])
           for k in ("modes", "high_quality", "reverse_kl")}
    return {"runs": runs, "median": med, "n_seeds": len(runs), "recipe": recipe,
            "threads": a.threads,
            "samples_per_eval": N_EVAL,
            "evaluated": (f"moving average of the generator's weights (decay {a.ema})"
                          if a.ema else "final generator"),
            "floor_true_samples": {k: v for k, v in toy_floor(data).items() if k != "counts"},
            "published_best": PUBLISHED[data], "goal": GOALS[data],
            "goal_met": bool(med["modes"] >= GOALS[data]["modes"]
                             and med["high_quality"] >= GOALS[data]["high_quality"]
                             and med["reverse_kl"] is not None
                             and med["reverse_kl"] <= GOALS[data]["reverse_kl"])}


def median_nan_worst(values: list[float]) -> float | None:
    """The median over seeds, a NaN (a run with no high-quality sample, whose reverse KL is
    undefined) ranked worst; None when the median itself falls on such a run.

    >>> median_nan_worst([0.1, float("nan"), 0.3]), median_nan_worst([float("nan"), 0.2])
    (0.3, None)
    """
    v = np.asarray(values, dtype=float)
    m = float(np.median(np.where(np.isnan(v), np.inf, v)))
    return m if np.isfinite(m) else None


if __name__ == "__main__":
    sys.exit(main())
