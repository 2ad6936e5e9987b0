"""RBMs on binarized MNIST (fixed binarization 50k/10k/10k): speed and AIS test NLL.

Stages (each merges its figures into benchmarks/results/rbm.json):

  speed    one CD-1 epoch (784 x 500, batch 100) through dgm's training loop, beside
           scikit-learn's BernoulliRBM (PCD-1, same sizes) and the arithmetic floor: five
           50000x784x500-sized products per epoch at the torch.mm rate measured in this run
  quality  CD-1, CD-3, CD-25 and PCD-1 with 500 hidden units, each trained for a fixed time
           budget, then AIS (Salakhutdinov & Murray 2008) on the test set; RAISE (reverse
           annealing, a conservative estimate) on a test subset of the best one

Recipe for every method (a public PCD recipe): SGD, batch 100, lr 0.01 decaying
exponentially to 0.001 over the planned epochs, momentum 0.9, L2 2e-4 on W (``--weight-decay``;
with ``--sparsity TARGET COST`` a hidden-activity penalty: the regularization to try when the
training-set NLL runs well below the test NLL, as the GPU's CD-25 did by 3 nats). The number of
epochs is planned from a timing of 20 steps so that the schedule ends near the budget;
``max_minutes`` stops training at the budget in any case.

Threads: ``--threads 1`` by default (torch); run with ``OMP_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1`` so that scikit-learn's BLAS gets the same single core.

Usage: python benchmarks/rbm_mnist.py --stages speed quality [--minutes cd1=5 pcd=10 ...]
       python benchmarks/rbm_mnist.py --stages reselect   (the selection over stored runs)
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RUNS,
    check_same_run,
    device_label,
    keep_weights,
    locked_results,
    record_label,
    run_record,
    run_source,
    saved_train_config,
    say_interrupted,
    set_figures,
    update_results,
    warm_start,
)

from dgm.data import load_dataset  # noqa: E402
from dgm.models.rbm import RBM, RBMConfig  # noqa: E402
from dgm.models.rbm_ais import PAPER_BETAS, plot_ais_trace  # noqa: E402
from dgm.train import TrainConfig, Trainer, TrainingInterrupted  # noqa: E402
from dgm.train.metrics import read_metrics  # noqa: E402

PAPER = {"cd1": 125.53, "cd3": 105.50, "cd25": 86.34}  # S&M 2008, Table 2 (500 hidden units)
METHODS = {
    "cd1": {"cd_k": 1},
    "cd3": {"cd_k": 3},
    "cd25": {"cd_k": 25},
    "pcd": {"pcd": True, "chains": 100},
    "pcd25": {"pcd": True, "chains": 100, "cd_k": 25},
}


def subset(splits, n_valid: int):
    """The splits with a smaller validation set (the per-epoch pseudo-likelihood monitor)."""
    v = splits.valid
    return replace(splits, valid=replace(v, x=v.x[:n_valid], y=None if v.y is None else
                                         v.y[:n_valid]))


def mm_seconds(a: torch.Tensor, b: torch.Tensor, reps: int) -> float:
    for _ in range(5):
        torch.mm(a, b)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def stage_speed(splits, epochs: int = 3) -> dict:
    x = torch.from_numpy(np.array(splits.train.x))  # (50000, 784)
    N, D, H, B = x.shape[0], x.shape[1], 500, 100
    g = torch.Generator().manual_seed(0)
    W = torch.randn(D, H, generator=g) * 0.01
    v, h = x[:B].contiguous(), torch.bernoulli(torch.full((B, H), 0.5), generator=g)
    t_vw = mm_seconds(v, W, 300)  # (B, D) @ (D, H): v W, twice per step
    t_hw = mm_seconds(h, W.T, 300)  # (B, H) @ (H, D): h W^T
    t_grad = mm_seconds(v.T.contiguous(), h, 300)  # (D, B) @ (B, H): gradient of W, twice
    steps = N // B
    floor = steps * (2 * t_vw + t_hw + 2 * t_grad)
    rate = 2 * B * D * H / t_vw / 1e9

    # dgm: one CD-1 epoch through the library's loop (train time only; valid excluded)
    run = RUNS / "rbm-speed"
    shutil.rmtree(run, ignore_errors=True)
    model = RBM(RBMConfig(hidden=H, cd_k=1), (1, 28, 28)).reset_parameters(0)
    cfg = TrainConfig(data="mnist", epochs=epochs, batch_size=B, optimizer="sgd", lr=0.05,
                      picture_every=0, progress=False, seed=0)
    Trainer(model, cfg, subset(splits, 200), run).fit()
    rows = read_metrics(run)
    cum = [r["train_seconds"] for r in rows]
    dgm_epochs = [cum[0]] + [b - a for a, b in zip(cum, cum[1:])]

    # scikit-learn's BernoulliRBM: PCD-1, same sizes, one epoch per fit
    from sklearn.neural_network import BernoulliRBM

    # in float64 (what it computes in for uint8 or float64 input) and in float32 (which it
    # keeps when given); the figure is the faster of the two: the peer at its best
    # its BLAS gets the threads torch has (an oversubscribed BLAS on a busy core is several
    # times slower, which would flatter dgm)
    from threadpoolctl import threadpool_limits

    sk: dict[str, list[float]] = {"float64": [], "float32": []}
    with threadpool_limits(limits=torch.get_num_threads()):
        for dtype in sk:
            xs = splits.train.x.astype(dtype)
            for seed in range(2):
                rbm = BernoulliRBM(n_components=H, learning_rate=0.05, batch_size=B, n_iter=1,
                                   random_state=seed)
                t0 = time.perf_counter()
                rbm.fit(xs)
                sk[dtype].append(time.perf_counter() - t0)
    sk_med = {k: statistics.median(v) for k, v in sk.items()}
    dgm_s, sk_s = statistics.median(dgm_epochs), min(sk_med.values())
    figures = {"cd1_epoch_seconds": dgm_s, "sklearn_pcd1_epoch_seconds": sk_s,
               "speedup_vs_sklearn": sk_s / dgm_s, "matmul_floor_seconds": floor,
               "ratio_to_floor": dgm_s / floor}  # the goal: within 1.3x of the floor
    details = {**figures, "dgm_epoch_seconds_all": dgm_epochs, "sklearn_epoch_seconds_all": sk,
               "sklearn_median_by_dtype": sk_med,
               "speedup_vs_sklearn_by_dtype": {k: v / dgm_s for k, v in sk_med.items()},
               "ratio_to_floor": dgm_s / floor, "mm_gflops": rate,
               "mm_seconds": {"vW": t_vw, "hWT": t_hw, "vT_g": t_grad},
               "threads": torch.get_num_threads(),
               "note": "dgm: median of the loop's per-epoch train seconds (validation and "
                       "checkpoints excluded); sklearn: median of fit(n_iter=1) wall times, "
                       "the faster dtype, its BLAS limited to torch's thread count; "
                       "floor: 500 steps x five products at the measured torch.mm times"}
    print(json.dumps(details, indent=1))
    update_results("rbm", figures, "speed", details)
    return details


def step_seconds(cfg: RBMConfig, x: torch.Tensor, device: torch.device, n: int = 20) -> float:
    """Seconds per training step (batch 100) on ``device``, after a few warm-up steps."""
    model = RBM(cfg, (1, 28, 28)).reset_parameters(0).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator(device=device).manual_seed(0)
    xs = x[: (n + 5) * 100].to(device)
    for i in range(n + 5):
        if i == 5:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        model.training_step(model, xs[i * 100 : (i + 1) * 100], {"main": opt}, gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n


def train_and_eval(name: str, minutes: float, splits, betas: int, runs: int,
                   device: torch.device, resume: bool = False, tag: str = "",
                   weight_decay: float = 2e-4,
                   sparsity: tuple[float, float] = (0.0, 0.0),
                   lr: tuple[float, float] = (0.01, 0.001),
                   init_from: str | None = None,
                   keep: bool = False) -> tuple[dict, RBM] | None:
    """Train method ``name`` for ``minutes`` into runs/rbm-NAME+TAG, then AIS. ``resume``:
    continue the interrupted run there (same budget): a budget longer than one lent GPU
    session, in pieces. ``init_from``: start from the last weights of the finished run
    runs/rbm-INIT_FROM (a longer training with a new schedule, ``lr`` from its first value
    to its second; the record's ``train_seconds`` counts both pieces). None when
    interrupted (Ctrl-C, SIGTERM): checkpoint saved, no AIS. ``keep``: copy the trained
    weights to benchmarks/weights/ (``keep_weights``) before the AIS, so that a later session
    can continue them even if this one ends during the evaluation."""
    cfg = RBMConfig(hidden=500, sparsity_target=sparsity[0], sparsity_cost=sparsity[1],
                    **METHODS[name])
    x = torch.from_numpy(np.array(splits.train.x))
    run = RUNS / f"rbm-{name}{tag}"
    if resume:  # the saved plan (the persistent chains come back with the checkpoint)
        saved = saved_train_config(run)
        epochs = saved["epochs"]
    else:
        per_epoch = step_seconds(cfg, x, device) * (x.shape[0] // 100)
        epochs = max(1, int(minutes * 60 / per_epoch))
        shutil.rmtree(run, ignore_errors=True)
    model = RBM(cfg, (1, 28, 28)).reset_parameters(0)
    source = warm_start(model, run_source(f"rbm-{init_from}")) if init_from else None
    tcfg = TrainConfig(data="mnist", epochs=epochs, batch_size=100, optimizer="sgd", lr=lr[0],
                       momentum=0.9, weight_decay=weight_decay, schedule="exp",
                       lr_decay=math.log(lr[0] / lr[1]) / max(1, epochs - 1),
                       max_minutes=minutes,
                       picture_every=0, progress=False, seed=0, device=device.type)
    if resume:  # the same budget (--minutes) and recipe as the saved run
        check_same_run(run, tcfg.to_dict(), saved, model_config=model.config.to_dict())
    t0 = time.perf_counter()
    try:
        summary = Trainer(model, tcfg, subset(splits, 500), run, resume=resume).fit()
    except TrainingInterrupted as stop:
        say_interrupted(f"rbm-{name}{tag}", stop)
        return None
    wall = time.perf_counter() - t0  # this piece's (a resumed run: the last piece's)
    if keep:
        print(f"kept in {keep_weights(run)}", flush=True)
    model.eval()
    test = torch.from_numpy(np.array(splits.test.x)).to(device)
    x = x.to(device)
    res = model.ais(betas, runs, seed=0)
    with torch.no_grad():
        f_test = torch.cat([model.free_energy(b).double() for b in test.split(1000)])
        f_train = torch.cat([model.free_energy(b).double() for b in x[:10000].split(1000)])
        valid = torch.from_numpy(np.array(splits.valid.x)).to(device)
        f_valid = torch.cat([model.free_energy(b).double() for b in valid.split(1000)])
    nll = f_test + res.log_z
    before = source["train_seconds"] if source else 0.0
    out = {"method": name, "config": cfg.to_dict(), "train": tcfg.to_dict(),
           "epochs_planned": epochs, "epochs_done": summary["epochs"],
           # the steps of both pieces when warm-started (this piece's alone: *_this_piece)
           "train_seconds": before + summary["train_seconds"],
           "train_seconds_this_piece": summary["train_seconds"],
           **({"warm_start": source} if source else {}),
           "wall_seconds_with_validation": wall,
           "ais": res.as_dict(), "test_nll_nats": float(nll.mean()),
           # over examples and, added in quadrature, AIS's error in the log Z they share
           "test_nll_stderr": math.hypot(float(nll.std() / math.sqrt(len(nll))),
                                         res.log_z_stderr),
           "test_nll_3sd_interval": [float(f_test.mean() + res.log_z_lo3),
                                     float(f_test.mean() + res.log_z_hi3)],
           "train10k_nll_nats": float((f_train + res.log_z).mean()),
           "valid_nll_nats": float((f_valid + res.log_z).mean()),  # what selects the best
           "test_nll_stderr_includes_log_z": True,
           "paper_nll_nats": PAPER.get(name), "device": str(device),
           "device_label": device_label(device), **run_record()}
    try:  # pictures must never lose a measured result
        from dgm.plots import plot_curves, save_grid

        plot_ais_trace(res, run / "ais_trace.png")
        model.pictures(run)
        plot_curves(run)
        save_grid(run / "samples.png", model.sample(64, seed=0, steps=1000), (1, 28, 28),
                  ncol=8)
    except Exception as err:
        print(f"warning: pictures failed: {err!r}", file=sys.stderr)
    print(json.dumps(out, indent=1), flush=True)
    return out, model


def raise_check(model: RBM, splits, log_z: float) -> dict:
    """RAISE (reverse annealing: conservative) on 100 test examples, beside AIS on the same."""
    xs = torch.from_numpy(np.array(splits.test.x[:100])).to(model.W.device)
    t0 = time.perf_counter()
    lp = model.raise_log_prob(xs, betas=1000, runs=5, seed=0)
    with torch.no_grad():
        ais_nll = model.free_energy(xs).double() + log_z
    return {"examples": 100, "raise_betas": 1000, "raise_runs": 5,
            "raise_nll_nats": float(-lp.mean()), "ais_nll_same_examples": float(ais_nll.mean()),
            "seconds": time.perf_counter() - t0,
            "note": "RAISE underestimates log p on average (conservative); AIS-based NLL "
                    "tends to be optimistic. The truth is expected between the two."}


def stage_quality(splits, minutes: dict[str, float], betas: int, runs: int,
                  device: torch.device, resume: bool = False, tag: str = "",
                  **recipe) -> dict:
    """Train and evaluate each method; each run is merged into ``stages.quality.runs`` under
    its method's name (``_cuda`` appended on a GPU, then ``tag``), beside earlier runs of
    other methods, devices or tags, and the best of all runs is the top-level figure."""
    results = {}
    for name, mins in minutes.items():
        if mins <= 0:
            continue
        done = train_and_eval(name, mins, splits, betas, runs, device, resume, tag, **recipe)
        if done is None:  # stopped by a signal: the later methods wait for the next piece too
            break
        out, model = done
        out["raise_check"] = raise_check(model, splits, out["ais"]["log_z"])
        print(json.dumps(out["raise_check"], indent=1), flush=True)
        key = (name if device.type == "cpu" else f"{name}_{device.type}") + tag
        results[key] = out
        with locked_results("rbm") as data:
            quality = data.setdefault("stages", {}).setdefault("quality", {})
            quality.setdefault("runs", {})[key] = out
            quality.update({"ais_betas": betas, "ais_runs": runs})
            select_best(data)
    return results


def combined_stderr(run: dict) -> float:
    """The test NLL's standard error: over examples, and AIS's error in the log Z they all
    share, in quadrature (runs recorded before ``test_nll_stderr`` included it hold the
    examples' part only; their ``ais.log_z_stderr`` is added here)."""
    if run.get("test_nll_stderr_includes_log_z"):
        return run["test_nll_stderr"]
    return math.hypot(run["test_nll_stderr"], run["ais"]["log_z_stderr"])


def select_best(data: dict) -> None:
    """The top-level figures from the best stored run by validation NLL, among the runs
    that have one; never by test. Runs recorded before the validation figure existed have
    only the NLL of 10,000 training images, which rewards overfitting (a longer run's can be
    lower while its test NLL is higher): they are candidates only when no run has a
    validation figure. Sets ``selected_by``."""
    quality = data["stages"]["quality"]
    everything = quality["runs"]
    validated = [k for k, r in everything.items() if "valid_nll_nats" in r]
    score = "valid_nll_nats" if validated else "train10k_nll_nats"
    best = min(validated or everything, key=lambda k: everything[k][score])
    figures = {"best_test_nll_nats": everything[best]["test_nll_nats"],
               "best_test_nll_stderr": combined_stderr(everything[best]),
               "best_method": best,
               "best_train_seconds": everything[best]["train_seconds"]}
    quality.update({"selected_by": score, "selection": run_record(), **figures})
    set_figures(data, figures, label=everything[best]["device_label"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stages", nargs="+", default=["speed", "quality"])
    p.add_argument("--minutes", nargs="*", default=["cd1=5", "cd3=4", "cd25=5", "pcd=10"])
    p.add_argument("--threads", type=int, default=1,
                   help="torch (and BLAS) threads; 1 is fastest on a shared 2-core machine")
    p.add_argument("--ais-betas", type=int, default=PAPER_BETAS)
    p.add_argument("--ais-runs", type=int, default=100)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--data-dir")
    p.add_argument("--tag", default="", help="quality: a suffix of each run's key and run "
                   "folder, so that a new recipe or budget is kept beside the earlier runs")
    p.add_argument("--resume", action="store_true",
                   help="quality: continue the methods' interrupted runs (same --minutes); "
                        "SIGTERM or Ctrl-C saves a checkpoint and stops")
    p.add_argument("--weight-decay", type=float, default=2e-4,
                   help="quality: L2 on W (the recipe's 2e-4 by default)")
    p.add_argument("--sparsity", type=float, nargs=2, default=(0.0, 0.0),
                   metavar=("TARGET", "COST"), help="quality: hidden-activity target and cost")
    p.add_argument("--lr", type=float, nargs=2, default=(0.01, 0.001), metavar=("START", "END"),
                   help="quality: the learning rate, decaying exponentially from START to END "
                        "over the planned epochs (the recipe's 0.01 to 0.001 by default)")
    p.add_argument("--keep", action="store_true",
                   help="copy each trained run's weights to benchmarks/weights/ before its AIS "
                   "(keep_weights.py), for --init-from in a later session")
    p.add_argument("--init-from", metavar="KEY",
                   help="quality: start from the last weights of the finished run "
                        "runs/rbm-KEY (e.g. cd25_wd1e3_cpu) with a new schedule (--lr) and "
                        "a fresh optimizer: a longer training in two pieces")
    a = p.parse_args()
    if a.stages == ["reselect"]:  # the selection rule again over the stored runs: no data
        with locked_results("rbm") as data:
            select_best(data)
            speed = data["stages"].get("speed", {})
            if "ratio_to_floor" in speed:  # recorded before it was a top-level figure
                set_figures(data, {"ratio_to_floor": speed["ratio_to_floor"]},
                            label=record_label(speed))
            print({k: data[k] for k in ("best_method", "best_test_nll_nats",
                                        "best_test_nll_stderr")})
        return
    torch.set_num_threads(a.threads)
    splits = load_dataset("mnist", data_dir=a.data_dir)
    if "speed" in a.stages:
        stage_speed(splits)
    if "quality" in a.stages:
        minutes = {k: float(v) for k, v in (s.split("=") for s in a.minutes)}
        stage_quality(splits, minutes, a.ais_betas, a.ais_runs, torch.device(a.device),
                      a.resume, a.tag, weight_decay=a.weight_decay,
                      sparsity=tuple(a.sparsity), lr=tuple(a.lr), init_from=a.init_from,
                      keep=a.keep)


if __name__ == "__main__":
    main()
