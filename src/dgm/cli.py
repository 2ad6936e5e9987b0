"""The ``dgm`` command line: train | sample | eval | info | data | pgm.

Model flags are generated from each model's config dataclass (``dgm.registry``),
training flags from :class:`dgm.train.TrainConfig`; nothing here knows a model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from dgm._errors import DGMError
from dgm.data.cli import add_data_subparser, run_data
from dgm.pgm.cli import add_pgm_subparser, run_pgm
from dgm.registry import MODEL_NAMES


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple = ()) -> None:
    """One flag per field, typed from the field's annotation, default from the class, help
    from the comment beside the field (:meth:`dgm.models.base.ModelConfig.field_help`)."""
    helps = cls.field_help() if hasattr(cls, "field_help") else {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        t, default = str(f.type), f.default
        text = helps.get(f.name, "").replace("%", "%%")  # argparse formats help with %
        kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS,
                              "help": f"{text} (default: {default})".lstrip()}
        if t == "bool":
            kw["action"] = argparse.BooleanOptionalAction
        elif t.startswith("tuple["):
            kw.update(nargs="*", type=int if "int" in t else float, metavar="N")
        elif t in ("int", "float"):
            kw["type"] = int if t == "int" else float
        else:
            kw["type"] = str
        parser.add_argument(_flag(f.name), **kw)


def _split_args(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}


def _default_run_dir(model: str, data: str) -> Path:
    base = Path("runs") / f"{model}-{data.replace(':', '-')}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


# -- train -----------------------------------------------------------------------------------
def train_configs(args: argparse.Namespace) -> tuple[type, Any, Any]:
    """``(model class, TrainConfig, model config)`` of a new ``dgm train MODEL`` command:
    the preset, then the flags given, each checked."""
    from dgm.registry import model_class
    from dgm.train import TrainConfig

    cls = model_class(args.model)
    tcfg = TrainConfig.from_dict(_split_args(args, TrainConfig))
    presets = cls.Config.presets
    if args.preset and args.preset not in presets:
        raise ValueError(f"{args.model} has no preset {args.preset!r}; "
                         f"choose one of {sorted(presets)}")
    mcfg = cls.Config.from_dict({**presets.get(args.preset or "", {}),
                                 **_split_args(args, cls.Config)})
    return cls, tcfg, mcfg


def cmd_train(args: argparse.Namespace) -> int:
    from dgm.data import load_dataset
    from dgm.registry import build_model
    from dgm.train import TrainConfig, Trainer, TrainingInterrupted
    from dgm.train.checkpoint import read_run_config

    if args.resume:
        if args.model:
            raise ValueError(f"--resume continues {args.resume} as it was configured: a model "
                             f"and its flags ({args.model} ...) cannot change it (only "
                             f"--more-epochs can)")
        run_dir = Path(args.resume)
        rec = read_run_config(run_dir)
        more = getattr(args, "more_epochs", None)
        tcfg = TrainConfig.from_dict({**rec["train"], **({"epochs": more} if more else {})})
        model = build_model(rec["model"], rec["model_config"], tuple(rec["input_shape"]))
    else:
        if not args.model:
            print("dgm train: name a model (" + ", ".join(MODEL_NAMES) + ") or --resume RUN_DIR",
                  file=sys.stderr)
            return 2
        cls, tcfg, mcfg = train_configs(args)
        run_dir = Path(args.out) if args.out else _default_run_dir(args.model, tcfg.data)
        if (run_dir / "checkpoint.safetensors").exists():
            print(f"dgm train: {run_dir} already holds a run; use --resume {run_dir} "
                  "or another --out", file=sys.stderr)
            return 2
    splits = load_dataset(tcfg.data, data_dir=tcfg.data_dir)
    if not args.resume:
        from dgm._rng import derive_seed

        # ("init" alone would equal the loop's first shuffle seed, derive_seed(seed, "perm", 0))
        init = derive_seed(tcfg.seed, "cli", "init")
        model = cls(mcfg, splits.train.shape).reset_parameters(init)
    model.check_data(splits.train)
    t0 = time.perf_counter()
    trainer = Trainer(model, tcfg, splits, run_dir, resume=bool(args.resume))
    try:
        summary = trainer.fit()
    except TrainingInterrupted as stop:
        print(str(stop), file=sys.stderr)
        return 130
    if trainer.info.is_main:
        try:
            _final_pictures(run_dir, splits)
        except Exception as err:  # a picture never turns a finished run into an error
            print(f"warning: final pictures failed: {err!r}", file=sys.stderr)
        best = summary["best_valid_loss"]
        kept = (f"best valid loss {best:.4f} (epoch {summary['best_epoch']})" if best is not None
                else "no validation split: the last weights kept")
        print(f"trained {summary['epochs']} epochs in {time.perf_counter() - t0:.1f}s; {kept}; "
              f"run directory: {run_dir}")
    return 0


def _final_pictures(run_dir: Path, splits) -> None:
    import dgm

    model = dgm.load(run_dir)
    if hasattr(model, "pictures") and len(model.input_shape) == 3:  # filters, conditionals
        model.pictures(run_dir)
    if getattr(model, "adversarial", False):
        from dgm.eval.pictures import plot_gan_curves

        plot_gan_curves(run_dir)
    if (getattr(model.config, "latent", None) == 2 and hasattr(model, "decode_grid")
            and len(model.input_shape) == 3):
        from dgm.plots import latent_pictures

        ds = splits.test
        latent_pictures(model, run_dir, ds.x[:2000], None if ds.y is None else ds.y[:2000])


# -- sample / eval / info --------------------------------------------------------------------
def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    import dgm
    from dgm.plots import save_grid

    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    out = Path(args.output)
    if out.suffix not in (".png", ".npy"):
        raise ValueError(f"output must end in .png or .npy, got {out}")
    model = dgm.load(args.run_dir)
    if not hasattr(model, "sample"):
        print(f"dgm sample: model {model.name!r} cannot generate", file=sys.stderr)
        return 2
    if out.suffix == ".png" and len(model.input_shape) != 3:
        raise ValueError("a .png grid needs image data; use .npy")
    x = model.sample(args.n, seed=args.seed).cpu().numpy()
    if len(model.input_shape) == 3 and model.data_range == "pm1":
        from dgm.eval.samples import to_unit

        x = to_unit(x, "pm1")  # images in [0, 1], as the README says
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, x.reshape(args.n, *model.input_shape))
    else:
        save_grid(out, x, model.input_shape)
    print(f"wrote {args.n} samples to {out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    import dgm
    from dgm.data import load_dataset
    from dgm.registry import model_class
    from dgm.train.checkpoint import read_run_config

    if args.samples < 0 or 0 < args.samples < 10:
        raise ValueError(f"--samples must be 0 (the likelihood) or at least 10, got "
                         f"{args.samples}")
    if args.max_examples < 0:
        raise ValueError(f"--max-examples must be >= 0 (0: the whole split), got "
                         f"{args.max_examples}")
    model = dgm.load(args.run_dir)
    for name in MODEL_NAMES:  # every model's options are flags: only this one's apply
        for opt in model_class(name).eval_options:
            if getattr(args, opt, None) is not None and opt not in model.eval_options:
                raise ValueError(f"{_flag(opt)} is an option of {name}, not of this "
                                 f"{model.name} run (its options: "
                                 f"{[_flag(o) for o in model.eval_options] or 'none'})")
    for opt, (typ, _, _) in model.eval_options.items():
        if typ is int and getattr(args, opt, None) is not None and getattr(args, opt) < 1:
            raise ValueError(f"{_flag(opt)} must be at least 1, got {getattr(args, opt)}")
    rec = read_run_config(args.run_dir)
    splits = load_dataset(rec["data"]["spec"], data_dir=args.data_dir or rec["train"]["data_dir"])
    ds = getattr(splits, args.split)
    if ds is None:
        print(f"dgm eval: this data set has no {args.split!r} split", file=sys.stderr)
        return 2
    if args.samples:
        from dgm.eval.samples import sample_metrics_for_run

        out = sample_metrics_for_run(model, splits, n_samples=args.samples, seed=args.seed,
                                     data_dir=args.data_dir or rec["train"]["data_dir"])
        out["run_dir"] = str(args.run_dir)
        _print_record(out, args.json)
        return 0
    x = ds.x[: args.max_examples] if args.max_examples else ds.x
    binarized = None
    if ds.dynamic_binarize:  # grayscale whose bits training redraws: evaluate one fixed draw
        from dgm.data import dynamic_binarize

        x, binarized = dynamic_binarize(x, seed=args.seed), f"one Bernoulli draw, seed {args.seed}"
    if not hasattr(model, "nll"):
        print(f"dgm eval: model {model.name!r} has no likelihood", file=sys.stderr)
        return 2
    opts = {k: getattr(args, k) for k in model.eval_options if getattr(args, k, None) is not None}
    t0 = time.perf_counter()
    per_example = {k: v.double().cpu().numpy() for k, v in model.nll(x, **opts).items()}
    out: dict[str, Any] = {"model": model.name, "run_dir": str(args.run_dir), "split": args.split,
                           "n_examples": int(x.shape[0]), **opts}
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
    out["seconds"] = time.perf_counter() - t0
    if getattr(model, "last_ais", None) is not None:  # the AIS run's log Z-hat trace
        from dgm.models.rbm_ais import plot_ais_trace

        exact = float(model.log_partition().detach()) if model.exact_feasible else None
        out["ais_trace"] = str(plot_ais_trace(model.last_ais, Path(args.run_dir) /
                                              "ais_trace.png", exact=exact))
    _print_record(out, args.json)
    return 0


def _print_record(out: dict[str, Any], as_json: bool) -> None:
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

    torch.set_num_threads(args.threads)
    _, info = train_classifier(args.data_dir, args.out, args.epochs, args.seed,
                               log=lambda s: print(s, file=sys.stderr, flush=True))
    print(json.dumps(info, indent=2))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import dgm
    from dgm.plots import read_metrics
    from dgm.train.checkpoint import read_run_config

    run_dir = Path(args.run_dir)
    rec = read_run_config(run_dir)
    rows = read_metrics(run_dir)
    model = dgm.load(run_dir)
    n_params = sum(p.numel() for p in model.parameters())
    info = {"model": rec["model"], "model_config": rec["model_config"], "data": rec["data"],
            "parameters": n_params, "epochs_done": len(rows),
            "last": rows[-1] if rows else None}
    print(json.dumps(info, indent=2))
    return 0


# -- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from dgm.registry import model_class
    from dgm.train import TrainConfig

    p = argparse.ArgumentParser(
        prog="dgm", description="Deep generative models and probabilistic graphical models.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model into a run directory")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    t.add_argument("--more-epochs", type=int, dest="more_epochs",
                   help="with --resume: raise the total number of epochs")
    t.set_defaults(func=cmd_train, model=None)
    tsub = t.add_subparsers(dest="model")
    for name in MODEL_NAMES:
        cls = model_class(name)
        m = tsub.add_parser(name, help=(cls.__doc__ or name).strip().splitlines()[0])
        m.add_argument("--out", "-o", help="run directory (default: runs/<model>-<data>)")
        m.add_argument("--preset", help="named model config: " + ", ".join(cls.Config.presets))
        add_dataclass_flags(m.add_argument_group("model"), cls.Config)
        add_dataclass_flags(m.add_argument_group("training"), TrainConfig)

    s = sub.add_parser("sample", help="draw samples from a trained model")
    s.add_argument("run_dir")
    s.add_argument("-n", type=int, default=64)
    s.add_argument("-o", "--output", required=True, help=".png grid or .npy array")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("eval", help="negative log-likelihood on a split, or sample quality")
    e.add_argument("run_dir")
    e.add_argument("--split", default="test", choices=("train", "valid", "test"))
    e.add_argument("--json", action="store_true")
    e.add_argument("--data-dir", dest="data_dir")
    e.add_argument("--max-examples", type=int, default=0)
    e.add_argument("--samples", type=int, default=0, metavar="N",
                   help="instead of the likelihood: sample-quality metrics of N samples (toy "
                   "modes for ring8/grid25; Frechet distance, class histogram, precision and "
                   "recall for MNIST) beside the real-data floor")
    e.add_argument("--seed", type=int, default=0,
                   help="seed of the samples (with --samples) and of the bits of a dynamically "
                        "binarized split")
    seen: set[str] = set()
    for name in MODEL_NAMES:
        for opt, (typ, default, hlp) in model_class(name).eval_options.items():
            if opt not in seen:
                seen.add(opt)
                kind = {"action": "store_true"} if typ is bool else {"type": typ}
                e.add_argument(_flag(opt), dest=opt, default=None, **kind,
                               help=f"{hlp} (default: {default})")
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("info", help="describe a run directory")
    i.add_argument("run_dir")
    i.set_defaults(func=cmd_info)

    c = sub.add_parser("classifier", help="train and cache the MNIST feature classifier "
                       "that the sample-quality metrics use")
    c.add_argument("--data-dir", dest="data_dir")
    c.add_argument("--out", help="file to write (default: <data dir>/cache, then ~/.cache/dgm)")
    c.add_argument("--epochs", type=int, default=4)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--threads", type=int, default=1)
    c.set_defaults(func=cmd_classifier)

    add_data_subparser(sub).set_defaults(func=run_data)
    add_pgm_subparser(sub).set_defaults(func=run_pgm)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, DGMError) as err:
        print(f"dgm {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
