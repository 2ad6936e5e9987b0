"""``dgm eval`` (the likelihood on a split, or sample quality) and ``dgm classifier``."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

from dgm._checks import check_count
from dgm._flags import command, flag, options_as_flags
from dgm.registry import MODEL_NAMES


def add_eval_subparsers(sub: Any, models: bool = True) -> None:
    """``dgm eval`` and ``dgm classifier`` on the ``dgm`` parser's subcommands
    (``models=False``: without the models' evaluation options, which import torch)."""
    from dgm.registry import model_class

    e = command(sub, "eval", help="negative log-likelihood on a split, or sample quality")
    e.add_argument("run_dir", help="a run directory written by dgm train")
    e.add_argument("--split", default="test", choices=("train", "valid", "test"),
                   help="the split evaluated (default: test)")
    e.add_argument("--json", action="store_true", help="one JSON object on stdout")
    e.add_argument("--data-dir", dest="data_dir",
                   help="where the data is (default: the run's, then $DGM_DATA)")
    e.add_argument("--max-examples", type=int, default=0, metavar="N",
                   help="the split's first N examples (default: 0, all)")
    e.add_argument("--samples", type=int, default=0, metavar="N",
                   help="instead of the likelihood: sample-quality metrics of N samples (toy "
                   "modes for ring8/grid25; Frechet distance, class histogram, precision and "
                   "recall for MNIST; for other data, Frechet distance and precision/recall on "
                   "the raw values) beside the real-data floor")
    e.add_argument("--seed", type=int, default=0,
                   help="seed of the samples (with --samples), of an estimate's noise (the "
                        "VAE's importance samples, the RBM's AIS runs) and of the bits of a "
                        "dynamically binarized split (default: 0)")
    seen: set[str] = set()
    for name in MODEL_NAMES if models else ():
        for opt, (typ, default, hlp) in model_class(name).eval_options.items():
            if opt not in seen:
                seen.add(opt)
                kind = {"action": "store_true"} if typ is bool else {"type": typ}
                e.add_argument(flag(opt), dest=opt, default=None, **kind,
                               help=f"{hlp} (default: {default})")
    e.set_defaults(func=cmd_eval)


    c = command(sub, "classifier", help="train and cache the MNIST feature classifier "
                       "that the sample-quality metrics use")
    c.add_argument("--data-dir", dest="data_dir")
    c.add_argument("--out", help="file to write (default: the per-user cache "
                   "~/.cache/dgm, else <data dir>/cache; both are looked in)")
    c.add_argument("--epochs", type=int, default=4, help="passes over the 50k training images")
    c.add_argument("--seed", type=int, default=0, help="initialization and batch order")
    c.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    c.set_defaults(func=cmd_classifier)



def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    import dgm
    from dgm.data import load_dataset
    from dgm.registry import model_class
    from dgm.train.checkpoint import CONFIG, read_run_config, saved_data
    from dgm.train.config import check_seed

    if args.samples < 0 or 0 < args.samples < 10:
        raise ValueError(f"--samples must be 0 (the likelihood) or at least 10, got "
                         f"{args.samples}")
    if args.max_examples < 0:
        raise ValueError(f"--max-examples must be >= 0 (0: the whole split), got "
                         f"{args.max_examples}")
    check_seed("--seed", args.seed)
    model = dgm.load(args.run_dir)
    if not args.samples and not hasattr(model, "nll"):
        print(f"dgm eval: model {model.name!r} has no likelihood; --samples N measures the "
              "quality of its samples instead", file=sys.stderr)
        return 2
    for name in MODEL_NAMES:  # every model's options are flags: only this one's apply
        for opt in model_class(name).eval_options:
            if getattr(args, opt, None) is not None and opt not in model.eval_options:
                raise ValueError(f"{flag(opt)} is an option of {name}, not of this "
                                 f"{model.name} run (its options: "
                                 f"{[flag(o) for o in model.eval_options] or 'none'})")
    spec, saved_dir = saved_data(read_run_config(args.run_dir), Path(args.run_dir) / CONFIG)
    data_dir = args.data_dir or saved_dir
    splits = load_dataset(spec, data_dir=data_dir)
    ds = getattr(splits, args.split)
    if ds is None:
        have = ", ".join(name for name, _ in splits.items())
        print(f"dgm eval: the run's data {spec} has no {args.split!r} split "
              f"(it has: {have}); choose one with --split", file=sys.stderr)
        return 2
    if args.samples:
        from dgm.eval.samples import sample_metrics_for_run

        out = sample_metrics_for_run(model, splits, n_samples=args.samples, seed=args.seed,
                                     data_dir=data_dir)
        out["run_dir"] = str(args.run_dir)
        print_record(out, args.json)
        return 0
    x = ds.x[: args.max_examples] if args.max_examples else ds.x
    binarized = None
    if ds.dynamic_binarize:  # grayscale whose bits training redraws: evaluate one fixed draw
        from dgm.data import dynamic_binarize

        x, binarized = dynamic_binarize(x, seed=args.seed), f"one Bernoulli draw, seed {args.seed}"
    opts = {k: getattr(args, k) for k in model.eval_options if getattr(args, k, None) is not None}
    # an estimate (the VAE's IWAE, the RBM's AIS) draws its noise from --seed: replicates differ
    noise = {"seed": args.seed} if "seed" in inspect.signature(model.nll).parameters else {}
    t0 = time.perf_counter()
    with options_as_flags(model.eval_options):
        per_example = {k: v.double().cpu().numpy()
                       for k, v in model.nll(x, **opts, **noise).items()}
    out: dict[str, Any] = {"model": model.name, "run_dir": str(args.run_dir), "split": args.split,
                           "n_examples": int(x.shape[0]), **model.eval_settings(opts), **noise}
    if binarized:
        out["binarized"] = binarized
    for k, v in per_example.items():
        out[k] = float(v.mean())
        if not k.endswith("_nats"):  # a split-wide value (log Z and its error): no stderr
            continue
        err = k.replace("_nats", "") + "_stderr" if k != "nll_nats" else "nll_stderr"
        # (no spread of an infinite bound, e.g. AIS's lower 3-sd NLL when Z-hat - 3 sd <= 0)
        spread = len(v) > 1 and bool(np.isfinite(v).all())
        out[err] = float(v.std(ddof=1) / np.sqrt(len(v))) if spread else float("nan")
    if "log_z_stderr" in out:  # nll_stderr is the examples' spread; add log Z-hat's error
        out["nll_stderr_with_log_z"] = float(np.hypot(out["nll_stderr"], out["log_z_stderr"]))
    out["seconds"] = time.perf_counter() - t0
    if getattr(model, "last_ais", None) is not None:  # the AIS run's log Z-hat trace
        from dgm.models.rbm_ais import plot_ais_trace

        exact = None  # the exact log Z beside it, read off nll's output (not summed again)
        if "nll_exact_nats" in per_example:  # (nll_exact - nll = exact - log Z-hat)
            gap = per_example["nll_exact_nats"] - per_example["nll_nats"]
            exact = model.last_ais.log_z + float(gap.mean())
        out["ais_trace"] = str(plot_ais_trace(model.last_ais, Path(args.run_dir) /
                                              "ais_trace.png", exact=exact))
    print_record(out, args.json)
    return 0


def print_record(out: dict[str, Any], as_json: bool) -> None:
    """One strict JSON object (a value without a finite figure, e.g. the stderr of one
    example or AIS's lower 3 sd bound when the interval reaches Z = 0, is null), or lines."""
    if as_json:
        from dgm._json import strict_json

        print(json.dumps(strict_json(out), allow_nan=False))
    else:
        for k, v in out.items():
            print(f"{k:>24}: {v}")


def cmd_classifier(args: argparse.Namespace) -> int:
    import torch

    from dgm.eval.classifier import train_classifier
    from dgm.train.config import check_seed

    check_count("--threads", args.threads)
    check_count("--epochs", args.epochs)
    check_seed("--seed", args.seed)
    torch.set_num_threads(args.threads)
    _, info = train_classifier(args.data_dir, args.out, args.epochs, args.seed,
                               log=lambda s: print(s, file=sys.stderr, flush=True))
    print(json.dumps(info, indent=2))
    return 0
