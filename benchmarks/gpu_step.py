"""The training loop on a GPU: eager steps against the step replayed as a CUDA graph.

The IWAE paper's VAE (784-200-200-50, tanh; train k = 1 and k = 50) on binarized MNIST
(protocol 1), batch 100, trained by the library's Trainer for the same epochs from the same
seed, once with eager steps and twice with ``cuda_graph=True``. Figures: examples/s of each
and their ratio; the best validation losses of both (equal when the replay reproduces the
eager steps); and the largest parameter difference between
the two graphed runs (0: the same seed gives the same run). The graph draws its noise from
the run's own generator, registered with it, so the graphed run can match the eager one.

Usage: python benchmarks/gpu_step.py [--epochs 3] [--data-dir D]    (needs a CUDA device;
on a CPU it runs the eager half only, as a smoke test, and writes nothing)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_results  # noqa: E402
from vae_mnist import RUNS, paper_model  # noqa: E402

from dgm.data import load_dataset  # noqa: E402
from dgm.train import TrainConfig, Trainer  # noqa: E402


def train(splits, k: int, graph: bool, epochs: int, device: str, max_train: int = 0,
          seed: int = 0) -> dict:
    cfg = TrainConfig(data="mnist", epochs=epochs, batch_size=100, lr=1e-3, adam_eps=1e-4,
                      max_train=max_train,
                      seed=seed, picture_every=0, progress=False, device=device,
                      checkpoint_minutes=60.0, cuda_graph=graph)
    model = paper_model(k).reset_parameters(seed)
    trainer = Trainer(model, cfg, splits, RUNS / f"gpu_step_k{k}_{'graph' if graph else 'eager'}")
    t0 = time.perf_counter()
    summary = trainer.fit()
    wall = time.perf_counter() - t0
    g = trainer.graphed
    return {
        "examples_per_s": epochs * (max_train or len(splits.train)) / summary["train_seconds"],
        "train_seconds": summary["train_seconds"], "wall_seconds": wall,
        "best_valid_loss": summary["best_valid_loss"],
        "captured": bool(g and g.captured), "capture_error": g.failed if g else None,
        "params": torch.cat([p.detach().flatten() for p in trainer.model.parameters()]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--max-train", type=int, default=0, help="first N training images (0: all)")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    splits = load_dataset("mnist", data_dir=args.data_dir)
    figures = {}
    details = {"epochs": args.epochs, "batch": 100, "data": "mnist (protocol 1)",
               "max_train": args.max_train}
    for k in (1, 50):
        eager = train(splits, k, False, args.epochs, device, args.max_train)
        row = {"eager_examples_per_s": eager["examples_per_s"],
               "eager_best_valid_loss": eager["best_valid_loss"]}
        if cuda:
            a = train(splits, k, True, args.epochs, device, args.max_train)
            b = train(splits, k, True, args.epochs, device, args.max_train)
            row.update({
                "graph_examples_per_s": a["examples_per_s"],
                "graph_best_valid_loss": a["best_valid_loss"],
                "graph_speedup": a["examples_per_s"] / eager["examples_per_s"],
                "graph_repeat_max_param_diff": float((a["params"] - b["params"]).abs().max()),
                "captured": a["captured"], "capture_error": a["capture_error"],
            })
            figures[f"vae_k{k}_graph_speedup"] = row["graph_speedup"]
            figures[f"vae_k{k}_graph_examples_per_s"] = row["graph_examples_per_s"]
        details[f"k{k}"] = row
        print(f"k={k}: {row}", flush=True)
    if not cuda:
        print("no CUDA device: the eager half ran as a smoke test; nothing written")
        return
    path = update_results("gpu_step", figures, "vae", details, device)
    print(f"{figures} -> {path}")


if __name__ == "__main__":
    main()
