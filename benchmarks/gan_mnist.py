"""DCGAN on MNIST within a CPU budget, judged by the classifier metrics beside a VAE and the floor.

1. the MNIST feature classifier (``dgm.eval.classifier``): loaded from its cache, or trained;
2. a DCGAN (preset ``mnist-cpu``: latent 64, width 32, PacGAN2; Adam 2e-4, beta1 0.5) on
   ``mnist:pm1`` through the library's loop, for ``--minutes`` of training;
3. 10,000 samples of the final generator: Frechet distance in classifier feature space
   (against 10,000 training images), predicted-class histogram, k-NN precision/recall;
4. the same metrics for a VAE of the foundation issue (``--vae-run``, default the
   ``benchmarks/runs/quick`` run of vae_mnist.py: decoder means) and for real test images
   (the floor).

Usage: python benchmarks/gan_mnist.py [--minutes 12] [--threads 1] [--pack 2] [--ema 0]
       [--epochs 1000] [--schedule constant|cosine]
       [--data-dir D] [--vae-run RUN]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RUNS, update_results  # noqa: E402

import dgm  # noqa: E402
from dgm.data import load_dataset  # noqa: E402
from dgm.eval.classifier import find_classifier, load_mnist_classifier, train_classifier  # noqa: E402
from dgm.eval.samples import RealReference, image_floor, image_metrics, model_samples  # noqa: E402
from dgm.models.dcgan import DCGAN, DCGANConfig  # noqa: E402
from dgm.train import TrainConfig, Trainer  # noqa: E402
from dgm.train.metrics import read_metrics  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=12.0, help="DCGAN training budget")
    p.add_argument("--data-dir")
    p.add_argument("--vae-run", default=str(RUNS / "quick"))
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1000,
                   help="planned epochs (what the schedule spans; the budget may stop earlier)")
    p.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                   help="both players' learning rates over the planned epochs")
    p.add_argument("--pack", type=int, default=None,
                   help="PacGAN: the discriminator judges this many images stacked as channels "
                        "(default: the preset's, 2)")
    p.add_argument("--ema", type=float, default=0.0,
                   help="decay of a moving average of the weights; when set, the averaged "
                        "generator (batch-norm statistics re-estimated for it) is the one "
                        "judged, the last trained one reported beside it")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if find_classifier(a.data_dir) is None:
        train_classifier(a.data_dir)
    clf, clf_info = load_mnist_classifier(a.data_dir)

    splits = load_dataset("mnist:pm1", data_dir=a.data_dir)
    preset = DCGANConfig.presets["mnist-cpu"]
    cfg = DCGANConfig.from_dict({**preset, **({"pack": a.pack} if a.pack else {})})
    model = DCGAN(cfg, (1, 28, 28)).reset_parameters(a.seed)
    tcfg = TrainConfig(data="mnist:pm1", data_dir=a.data_dir, epochs=a.epochs,
                       schedule=a.schedule, batch_size=a.batch,
                       max_minutes=a.minutes, seed=a.seed, picture_every=1, progress=False,
                       eval_batch=500, ema=a.ema)
    run_dir = RUNS / "dcgan-mnist"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    trainer = Trainer(model, tcfg, splits, run_dir)
    summary = trainer.fit()
    wall = time.perf_counter() - t0
    from dgm.eval.pictures import plot_gan_curves

    plot_gan_curves(run_dir)
    model.eval()

    gray = load_dataset("mnist:gray", data_dir=a.data_dir)
    ref = RealReference(clf, gray.train.x, gray.test.x, n=a.samples)
    floor = image_floor(clf, ref)
    dc = image_metrics(clf, model_samples(model, a.samples, seed=1), ref)
    raw = None
    if trainer.average is not None:
        averaged = trainer.average.synced()
        averaged.refresh_statistics(batches=100, batch=a.batch, seed=a.seed)
        averaged.eval()
        raw, dc = dc, image_metrics(clf, model_samples(averaged, a.samples, seed=1), ref)
        dc["generator"] = (f"moving average of the weights (decay {a.ema} per step), batch "
                           "norm statistics re-estimated on 100 batches of its own samples")
    vae = None
    if Path(a.vae_run, "config.json").is_file():
        vae_model = dgm.load(a.vae_run)
        vae = image_metrics(clf, model_samples(vae_model, a.samples, seed=1), ref)
        vae["run"] = str(a.vae_run)
        vae["model_config"] = json.loads(Path(a.vae_run, "config.json").read_text())["model_config"]
        vae["samples"] = "decoder means of z ~ N(0, I)"
    rows = read_metrics(run_dir)
    figures = {"dcgan_mnist_fid": dc["fid"], "dcgan_mnist_min_class_share": dc["min_class_share"],
               "vae_mnist_fid": vae["fid"] if vae else None, "real_data_fid_floor": floor["fid"],
               "dcgan_train_seconds": summary["train_seconds"]}
    details = {"dcgan": dc, "dcgan_last_weights": raw, "vae": vae,
               "floor_real_test_vs_train": floor,
               "classifier": clf_info, "dcgan_config": cfg.to_dict(),
               "train": {"minutes_budget": a.minutes, "epochs": summary["epochs"],
                         "epochs_planned": a.epochs, "schedule": a.schedule,
                         "train_seconds": summary["train_seconds"], "wall_seconds": wall,
                         "batch_size": a.batch, "threads": a.threads,
                         "steps": summary["epochs"] * (-(-len(splits.train) // a.batch)),
                         "d_collapsed_per_epoch": [r.get("train_d_collapsed") for r in rows],
                         "d_real_per_epoch": [r.get("train_d_real") for r in rows],
                         "d_fake_per_epoch": [r.get("train_d_fake") for r in rows]},
               "samples_per_eval": a.samples, "evaluated": (
                   f"moving average of the generator's weights (decay {a.ema}), batch-norm "
                   f"statistics re-estimated" if a.ema else "final generator (BN in eval mode)"),
               "goal": {"min_class_share": 0.07, "fid_below_vae": True},
               "goal_met": bool(dc["min_class_share"] >= 0.07 and vae is not None
                                and dc["fid"] < vae["fid"])}
    update_results("gan", figures, "dcgan_mnist", details)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
