"""VAE and IWAE on binarized MNIST (Burda, Grosse & Salakhutdinov 2016), and the loop's overhead.

Architecture: the IWAE paper's one-stochastic-layer model, 784-200-200-50 (tanh), Bernoulli
decoder. Test NLL: the IWAE estimate with K = 5000, as the paper reports it. Early stopping
on the validation split (never on test).

Stages (each merges its figures into benchmarks/results/vae_mnist.json):

  throughput   library loop vs a plain hand-written PyTorch loop, same net, same run
  quick        protocol 1 (fixed binarization 50k/10k/10k), a 30-minute training budget
  vae, iwae50  protocol 1, the longer budget --minutes
  dynamic_vae, dynamic_iwae50
               protocol 2 (dynamic binarization, all 60k training images, no validation)

Usage: python benchmarks/vae_mnist.py --stages throughput quick [--minutes 120] [--data-dir D]
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
from _common import (  # noqa: E402
    RESULTS,
    RUNS,
    check_same_run,
    device_label,
    keep_weights,
    record_label,
    run_source,
    saved_train_config,
    say_interrupted,
    select_variant,
    update_results,
    warm_start,
)

from dgm.data import load_dataset  # noqa: E402
from dgm.models.vae import VAE, VAEConfig  # noqa: E402
from dgm.train import TrainConfig, Trainer, TrainingInterrupted  # noqa: E402
from dgm.train.distributed import resolve_device  # noqa: E402
from dgm.train.graphed import GraphedStep  # noqa: E402
from dgm.train.optim import make_optimizer, tensor_lrs  # noqa: E402

PUBLISHED = {"vae": 88.71, "iwae50": 87.10, "dynamic_vae": 86.76, "dynamic_iwae50": 84.78}
CPU = torch.device("cpu")
GOALS = {"vae": 88.0, "iwae50": 86.5, "dynamic_vae": 86.5, "dynamic_iwae50": 84.7,
         "quick": 90.0}  # quick: protocol 1's VAE within 30 minutes on 2 CPU cores


def paper_model(k: int, kl_warmup: int = 0) -> VAE:
    return VAE(VAEConfig(latent=50, hidden=(200, 200), activation="tanh", iwae_k=k,
                         kl_warmup=kl_warmup), (1, 28, 28))


def epoch_seconds(k: int, x: torch.Tensor, batch: int, n_steps: int = 150,
                  warmup: int = 20, device: torch.device = CPU, cuda_graph: bool = False
                  ) -> float:
    """Seconds per 50k-example epoch, measured on a throwaway model after ``warmup`` steps
    (the first steps are slower: a plan timed on them leaves budget unused), with the step
    the run will use (``cuda_graph``: replayed as a CUDA graph, as the Trainer does)."""
    model = paper_model(k).reset_parameters(0).to(device)
    x = x.to(device)
    cfg = TrainConfig(lr=1e-3, adam_eps=1e-4, cuda_graph=cuda_graph)
    opts = {"main": make_optimizer(model.parameters(), cfg)}
    if cuda_graph:
        tensor_lrs(opts.values(), device)
    gen = torch.Generator(device=device).manual_seed(0)

    def step(xb: torch.Tensor) -> dict:
        return model.training_step(model, xb, opts, gen)

    run = GraphedStep(step, gen) if cuda_graph else step
    for i in range(warmup + n_steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        j = i % (x.shape[0] // batch)
        run(x[j * batch : (j + 1) * batch])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / (n_steps * batch) * x.shape[0]


def train_and_eval(stage: str, key: str, spec: str, k: int, minutes: float, batch: int,
                   eval_k: int, data_dir, seed: int, schedule: str, ema: float = 0.0,
                   kl_warmup_epochs: float = 0.0, pilot: int = 0,
                   kl_warmup_frac: float = 0.0, device: torch.device = CPU,
                   eval_only: bool = False, cuda_graph: bool = False,
                   clock: str = "epoch", resume: bool = False,
                   lr: tuple[float, float] = (1e-3, 1e-4),
                   init_from: str | None = None, keep: bool = False) -> dict | None:
    """Train protocol ``stage`` into runs/``key`` (the stage and its --tag), evaluate on the
    test split (a pilot: on its first ``pilot`` validation images, never on test).
    ``eval_only``: evaluate the finished run already in runs/``key`` (same arguments).
    ``resume``: continue the interrupted run in runs/``key`` (same arguments), e.g. a budget
    longer than one lent GPU session, trained in pieces. ``init_from``: start from the last
    weights of the finished run runs/INIT_FROM (a longer training with a new schedule,
    ``lr`` from its first value to its second, and a fresh optimizer; the record's
    ``train_seconds`` counts both pieces). Returns None when the training is
    interrupted (Ctrl-C, SIGTERM: ``timeout``): its checkpoint is saved, nothing evaluated.
    ``keep``: copy the trained weights to benchmarks/weights/ (``keep_weights``) before the
    evaluation, so that a later session can continue them even if this one ends first."""
    base = stage.replace("quick", "vae")  # the quick profile is protocol 1's VAE
    splits = load_dataset(spec, data_dir=data_dir)
    if pilot and splits.valid is None:
        raise SystemExit(f"--pilot evaluates on validation images, and {stage} has none "
                         f"(protocol 2 trains on all 60k); the test split is never a pilot's")
    run_dir = RUNS / key
    if eval_only or resume:
        saved = saved_train_config(run_dir, "--eval-only" if eval_only else "--resume")
        epochs = saved["epochs"]
    else:
        x = torch.tensor(splits.train.x[:20000])
        n_measure = 1000 if device.type == "cuda" else 150
        per_epoch = (epoch_seconds(k, x, batch, n_measure, device=device,
                                   cuda_graph=cuda_graph)
                     * len(splits.train) / x.shape[0])
        epochs = max(3, int(minutes * 60 / per_epoch))
    cfg = TrainConfig(data=spec, data_dir=str(data_dir) if data_dir else None, epochs=epochs,
                      batch_size=batch, lr=lr[0], adam_eps=1e-4, schedule=schedule,
                      lr_decay=float(np.log(lr[0] / lr[1]) / epochs),
                      patience=0, max_minutes=minutes, seed=seed, picture_every=0,
                      progress=False, ema=ema, device=device.type, checkpoint_minutes=1.0,
                      cuda_graph=cuda_graph, schedule_clock=clock)
    if kl_warmup_frac:  # the same share of the planned epochs at any budget or machine speed
        kl_warmup_epochs = kl_warmup_frac * epochs
    warmup_steps = int(kl_warmup_epochs * -(-len(splits.train) // batch))
    share = f", {kl_warmup_frac:g} of the planned epochs" if kl_warmup_frac else ""
    warmup = (f"KL weight 0 -> 1 over {kl_warmup_epochs:g} epochs ({warmup_steps} steps{share})"
              if warmup_steps else "none")
    if eval_only or resume:  # the arguments must describe the saved run (its record is
        # written from them), the plan is the saved one
        check_same_run(run_dir, cfg.to_dict(), saved,
                       model_config=paper_model(k, warmup_steps).config.to_dict())
    source = None
    if eval_only:
        summary = json.loads((run_dir / "summary.json").read_text())
    else:
        model = paper_model(k, warmup_steps).reset_parameters(seed)
        if init_from:
            source = warm_start(model, run_source(init_from))
            stored = json.loads((RESULTS / "vae_mnist.json").read_text())["stages"]
            source["label"] = (record_label(stored[init_from]) if init_from in stored
                               else source["device"])
        if run_dir.exists() and not resume:
            import shutil

            shutil.rmtree(run_dir)
        try:
            summary = Trainer(model, cfg, splits, run_dir, resume=resume).fit()
        except TrainingInterrupted as stop:
            say_interrupted(key, stop)
            return None
        if source:  # kept beside the run, for --eval-only
            (run_dir / "warm_start.json").write_text(json.dumps(source, indent=1) + "\n")
        if keep:
            print(f"kept in {keep_weights(run_dir)}", flush=True)
    if eval_only and (run_dir / "warm_start.json").is_file():
        source = json.loads((run_dir / "warm_start.json").read_text())
    import dgm

    # the early-stopping best weights (the last weights when there is no validation split)
    best = dgm.load(run_dir, map_location=device)
    t0 = time.perf_counter()
    x_eval = splits.valid.x[:pilot] if pilot else splits.test.x
    nll = best.nll(x_eval, iwae_k=eval_k, seed=seed)
    eval_seconds = time.perf_counter() - t0
    lp = nll["nll_nats"].double().cpu().numpy()
    ne = nll["neg_elbo_nats"].double().cpu().numpy()
    return {
        "test_nll_nats": float(lp.mean()),
        "test_nll_stderr": float(lp.std(ddof=1) / np.sqrt(len(lp))),
        "test_neg_elbo_nats": float(ne.mean()),
        # the steps (wall: validation etc. too), of both pieces when warm-started
        "train_seconds": summary["train_seconds"] + (source["train_seconds"] if source else 0),
        **({"train_seconds_this_piece": summary["train_seconds"], "warm_start": source}
           if source else {}),
        "wall_seconds": summary.get("wall_seconds"),
        "epochs_run": summary["epochs"],
        "epochs_planned": epochs,
        "best_epoch": summary["best_epoch"],
        "best_valid_loss": summary["best_valid_loss"],
        "eval_iwae_k": eval_k,
        "eval_split": f"valid[:{pilot}] (pilot)" if pilot else "test",
        "eval_seconds": eval_seconds,
        "device": device_label(device),
        **({"evaluated_by": "--eval-only: the finished run evaluated again"}
           if eval_only else {}),
        "recipe": {"data": spec, "batch": batch, "optimizer": "adam(0.9, 0.999, eps=1e-4)",
                   "lr": (f"{lr[0]:g} * 10^(-i/7), stage i lasting 3^i/3280 of the planned "
                          "epochs" if schedule == "iwae" else
                          f"{lr[0]:g} decaying exponentially to {lr[1]:g} over the planned "
                          "epochs")
                         + (" or the time budget, whichever is further along"
                            if clock == "time" else ""),
                   "train_k": k, "time_budget_minutes": minutes, "seed": seed,
                   "weight_average": (f"EMA of the weights, decay {ema} per step" if ema
                                      else "none"),
                   "kl_warmup": warmup, "cuda_graph": cuda_graph},
        "published_nats": PUBLISHED.get(base),
        "goal_nats": GOALS.get(stage, GOALS.get(base)),
    }


def pieces_label(res: dict, device: torch.device) -> str:
    """Where a run was trained: this machine, after the warm start's when it had one."""
    here = device_label(device)
    source = res.get("warm_start")
    if not source:
        return here
    return f"{source['label']} ({source['epochs']} epochs), then {here}"


def throughput(data_dir, batch: int = 20, n: int = 10000, repeats: int = 3) -> dict:
    """The library's Trainer against a plain loop: same model, data, batch. The plain loop
    is run twice: with ``torch.optim.Adam``'s default (what a user writes; on CPU a Python
    loop over the tensors) and with ``fused=True``, the implementation the library picks,
    so the loop's own overhead is the second ratio."""
    splits = load_dataset("mnist", data_dir=data_dir)
    x = torch.tensor(splits.train.x[:n])

    def plain(fused: bool = False) -> float:
        model = paper_model(1).reset_parameters(0)
        opt = torch.optim.Adam(model.parameters(), 1e-3, eps=1e-4, **({"fused": True} if fused
                                                                      else {}))
        gen = torch.Generator().manual_seed(0)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            loss = model(x[perm[i : i + batch]], gen)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    def library() -> float:
        import dataclasses

        model = paper_model(1).reset_parameters(0)
        sub = dataclasses.replace(splits, valid=None)
        cfg = TrainConfig(data="mnist", epochs=1, batch_size=batch, lr=1e-3, adam_eps=1e-4,
                          max_train=n, picture_every=0, progress=False)
        run = RUNS / "throughput"
        summary = Trainer(model, cfg, sub, run).fit()
        return summary["train_seconds"]

    plain_t, fused_t, lib_t = [], [], []
    for _ in range(repeats):  # interleaved, so that machine noise hits all alike
        plain_t.append(plain())
        fused_t.append(plain(fused=True))
        lib_t.append(library())
    return {
        "loop_time_ratio": float(np.median(lib_t) / np.median(plain_t)),
        "loop_time_ratio_same_optimizer": float(np.median(lib_t) / np.median(fused_t)),
        "library_examples_per_s": float(n / np.median(lib_t)),
        "plain_examples_per_s": float(n / np.median(plain_t)),
        "plain_fused_examples_per_s": float(n / np.median(fused_t)),
        "library_seconds": lib_t, "plain_seconds": plain_t, "plain_fused_seconds": fused_t,
        "batch": batch, "examples": n, "optimizer": "library: Adam(fused=True); plain: "
        "torch.optim.Adam's default (plain_seconds) and fused=True (plain_fused_seconds)",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", nargs="+", default=["throughput", "quick"],
                    choices=["throughput", "quick", "vae", "iwae50", "dynamic_vae",
                             "dynamic_iwae50"])
    ap.add_argument("--minutes", type=float, default=120.0, help="training budget of long stages")
    ap.add_argument("--quick-minutes", type=float, default=28.0)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--eval-k", type=int, default=5000)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--schedule", default="exp", choices=["exp", "iwae"],
                    help="exp: 1e-3 -> 1e-4 over the budget; iwae: the paper's 3^i stages, "
                         "compressed (right for the full 3,280 epochs, too slow a start for less)")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="decay of the moving average of the weights (0 = off)")
    ap.add_argument("--kl-warmup", type=float, default=0.0, metavar="EPOCHS",
                    help="ramp the KL weight from 0 to 1 over this many epochs (0 = off)")
    ap.add_argument("--kl-warmup-frac", type=float, default=0.0, metavar="F",
                    help="the ramp over this fraction of the planned epochs (overrides "
                         "--kl-warmup; the planned epochs depend on the machine's speed)")
    ap.add_argument("--pilot", type=int, default=0, metavar="N",
                    help="a pilot: the NLL of the first N validation images instead of the "
                         "test split, printed, nothing written to the results")
    ap.add_argument("--tag", default="",
                    help="suffix of the stage's key, to keep a variant beside the others; the "
                         "top-level figures are the variant with the best validation loss")
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                    help="where the long stages train and evaluate (throughput: CPU)")
    ap.add_argument("--schedule-clock", default="epoch", choices=["epoch", "time"],
                    help="time: the schedule follows the further of the planned epochs and the "
                         "time budget (it ends with the budget on a machine that slowed down)")
    ap.add_argument("--cuda-graph", action="store_true",
                    help="replay each training step as a captured CUDA graph (GPU only: several "
                         "times the examples/s of eager steps here, benchmarks/gpu_step.py)")
    ap.add_argument("--eval-only", action="store_true",
                    help="evaluate the finished runs of the stages again (same arguments)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the stages' interrupted runs (same arguments): a budget "
                         "longer than one session, trained in pieces (SIGTERM or Ctrl-C saves "
                         "a checkpoint and stops: timeout -s TERM ...)")
    ap.add_argument("--lr", type=float, nargs=2, default=(1e-3, 1e-4), metavar=("START", "END"),
                    help="exp schedule: from START to END over the planned epochs (iwae: "
                         "START is the first stage's rate)")
    ap.add_argument("--init-from", metavar="RUN",
                    help="start from the last (averaged) weights of the finished run "
                         "runs/RUN (e.g. dynamic_vae_ema_warm) with a new schedule (--lr) and "
                         "a fresh optimizer: a longer training in two pieces, perhaps on two "
                         "machines (the figure's label names both)")
    ap.add_argument("--keep", action="store_true",
                    help="copy each trained run's weights to benchmarks/weights/ before its "
                    "evaluation (keep_weights.py), for --init-from in a later session")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: torch's default, one per core)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.eval_only and args.resume:
        ap.error("--eval-only evaluates a finished run, --resume continues one: choose one")
    if args.cuda_graph and device.type != "cuda":
        ap.error(f"--cuda-graph replays steps on a GPU: it needs --device cuda (got {device})")
    interrupted = False
    for stage in args.stages:
        print(f"== {stage}", flush=True)
        if stage == "throughput":
            res = throughput(args.data_dir)
            figures = {k: res[k] for k in ("loop_time_ratio", "loop_time_ratio_same_optimizer")}
        else:
            spec = "mnist:dynamic60k" if stage.startswith("dynamic") else "mnist"
            k = 50 if stage.endswith("iwae50") else 1
            minutes = args.quick_minutes if stage == "quick" else args.minutes
            key = stage + args.tag
            res = train_and_eval(stage, key, spec, k, minutes, args.batch, args.eval_k,
                                 args.data_dir, args.seed, args.schedule, args.ema,
                                 args.kl_warmup, args.pilot, args.kl_warmup_frac, device,
                                 args.eval_only, args.cuda_graph, args.schedule_clock,
                                 args.resume, tuple(args.lr), args.init_from, args.keep)
            if res is None:  # stopped by a signal: the later stages wait for --resume too
                interrupted = True
                break
            if args.pilot:
                print(f"{key} (pilot): valid NLL {res['test_nll_nats']:.3f} "
                      f"+- {res['test_nll_stderr']:.3f}, valid neg-ELBO "
                      f"{res['test_neg_elbo_nats']:.3f}, best valid loss "
                      f"{res['best_valid_loss']:.3f}, {res['epochs_run']} epochs", flush=True)
                continue
            name = "quick_profile" if stage == "quick" else stage
            figures = {f"{name}_test_nll_nats": res["test_nll_nats"],
                       f"{name}_train_seconds" if stage != "quick" else "quick_profile_seconds":
                       res["train_seconds"]}
            # variants (--tag) of a stage are kept side by side; the top-level figures are
            # those of the best validation loss (protocol 2 has none: the latest run)
            time_key = f"{name}_train_seconds" if stage != "quick" else "quick_profile_seconds"
            select_variant("vae_mnist", stage, key, res, figures, "best_valid_loss", device,
                           figures_of=lambda r, n=name, t=time_key: {
                               f"{n}_test_nll_nats": r["test_nll_nats"],
                               t: r["train_seconds"]},
                           label=pieces_label(res, device))
            print(f"{key}: {figures}", flush=True)
            continue
        path = update_results("vae_mnist", figures, stage, res)
        print(f"{stage}: {figures} -> {path}", flush=True)
    return 130 if interrupted else 0  # 130: as Ctrl-C; the checkpoints wait for --resume


if __name__ == "__main__":
    sys.exit(main())
