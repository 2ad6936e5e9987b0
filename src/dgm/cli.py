"""The ``dgm`` command line: train | sample | eval | info | data | pgm.

Model flags are generated from each model's config dataclass (``dgm.registry``),
training flags from :class:`dgm.train.TrainConfig`; nothing here knows a model.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dgm._checks import check_count
from dgm._errors import DGMError
from dgm.data.cli import add_data_subparser, run_data
from dgm.pgm.cli import add_pgm_subparser, run_pgm
from dgm.registry import MODEL_NAMES


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple = (),
                        keep: tuple | None = None) -> None:
    """One flag per field, typed from the field's annotation, default from the class, help
    from the comment beside the field (:meth:`dgm.models.base.ModelConfig.field_help`)."""
    helps = cls.field_help() if hasattr(cls, "field_help") else {}
    for f in dataclasses.fields(cls):
        if f.name in skip or (keep is not None and f.name not in keep):
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


# the training settings a resumed run may change (dgm.train.loop.RESUME_FREE): flags of
# `dgm train --resume RUN_DIR` (its length comes from --more-epochs)
RESUMABLE = ("max_minutes", "patience", "checkpoint_minutes", "data_dir", "device",
             "cuda_graph", "progress", "picture_every", "eval_batch")


@contextlib.contextmanager
def _options_as_flags(names: Iterable[str]) -> Iterator[None]:
    """A ValueError that names an option by its Python name (``batch_size must be ...``,
    ``ais_betas=3``) names it by its flag instead (``--batch-size``), as the user typed it."""
    try:
        yield
    except ValueError as err:
        msg = str(err)
        for name in sorted(names, key=len, reverse=True):
            msg = re.sub(rf"(?<![\w-]){name}(?=[ =])", _flag(name), msg)
        if msg == str(err):
            raise
        raise ValueError(msg) from err


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
    names = [f.name for c in (TrainConfig, cls.Config) for f in dataclasses.fields(c)]
    presets = cls.Config.presets
    if args.preset and args.preset not in presets:
        raise ValueError(f"{args.model} has no preset {args.preset!r}; "
                         f"choose one of {sorted(presets)}")
    with _options_as_flags(names):
        tcfg = TrainConfig.from_dict(_split_args(args, TrainConfig))
        mcfg = cls.Config.from_dict({**presets.get(args.preset or "", {}),
                                     **_split_args(args, cls.Config)})
    return cls, tcfg, mcfg


def cmd_train(args: argparse.Namespace) -> int:
    from dgm.data import load_dataset
    from dgm.registry import build_model
    from dgm.train import TrainConfig, Trainer, TrainingInterrupted
    from dgm.train.checkpoint import read_run_config

    more = getattr(args, "more_epochs", None)
    if args.resume:
        if args.model:
            raise ValueError(f"--resume continues {args.resume} as it was configured: a model "
                             f"and its flags ({args.model} ...) cannot change it (only "
                             f"{', '.join(_flag(k) for k in RESUMABLE)} and --more-epochs can)")
        run_dir = Path(args.resume)
        rec = read_run_config(run_dir)
        if not (run_dir / "checkpoint.safetensors").exists():
            raise ValueError(f"{run_dir} has no checkpoint yet: the run stopped before its "
                             "first epoch ended; start it again with its dgm train command")
        given = {k: v for k, v in vars(args).items() if k in RESUMABLE}
        if more is not None:
            from dgm.train.checkpoint import CHECKPOINT, checkpoint_epochs

            done = checkpoint_epochs(run_dir / CHECKPOINT)
            given["epochs"] = done + check_count("--more-epochs", more)
            print(f"dgm train: {done} epochs done; training up to {given['epochs']}",
                  file=sys.stderr)
        with _options_as_flags(RESUMABLE):
            tcfg = TrainConfig.from_dict({**rec["train"], **given})
        model = build_model(rec["model"], rec["model_config"], tuple(rec["input_shape"]))
    else:
        if not args.model:
            print("dgm train: name a model (" + ", ".join(MODEL_NAMES) + ") or --resume RUN_DIR",
                  file=sys.stderr)
            return 2
        if more is not None:
            raise ValueError("--more-epochs continues a run: use it with --resume RUN_DIR "
                             "(a new run takes --epochs)")
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
    if len(model.input_shape) == 3:  # images in [0, 1], as the README says: [-1, 1] data
        from dgm.eval.samples import to_unit  # mapped, and a generator whose range is wider

        x = to_unit(x, model.data_range)  # than its data's (tanh on [0, 1] images) clipped
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
    check_count("--seed", args.seed, allow_zero=True)
    model = dgm.load(args.run_dir)
    if not args.samples and not hasattr(model, "nll"):
        print(f"dgm eval: model {model.name!r} has no likelihood; --samples N measures the "
              "quality of its samples instead", file=sys.stderr)
        return 2
    for name in MODEL_NAMES:  # every model's options are flags: only this one's apply
        for opt in model_class(name).eval_options:
            if getattr(args, opt, None) is not None and opt not in model.eval_options:
                raise ValueError(f"{_flag(opt)} is an option of {name}, not of this "
                                 f"{model.name} run (its options: "
                                 f"{[_flag(o) for o in model.eval_options] or 'none'})")
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
    opts = {k: getattr(args, k) for k in model.eval_options if getattr(args, k, None) is not None}
    t0 = time.perf_counter()
    with _options_as_flags(model.eval_options):
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
    if "log_z_stderr" in out:  # nll_stderr is the examples' spread; add log Z-hat's error
        out["nll_stderr_with_log_z"] = float(np.hypot(out["nll_stderr"], out["log_z_stderr"]))
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

    check_count("--threads", args.threads)
    check_count("--epochs", args.epochs)
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
        prog="dgm", description="Deep generative models and probabilistic graphical models.",
        allow_abbrev=False)
    sub = p.add_subparsers(dest="command", required=True)

    def command(subparsers, name: str, **kw: Any) -> argparse.ArgumentParser:
        """A (sub)command: no abbreviated flags (--lat is not --latent), and it knows itself
        so that an unknown flag is reported with its usage (:func:`_parse`)."""
        c = subparsers.add_parser(name, allow_abbrev=False, **kw)
        c.set_defaults(cli_parser=c)
        return c

    t = command(sub, "train", help="train a model into a run directory")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run (its "
                   "settings are kept; the flags below may change)")
    t.add_argument("--more-epochs", type=int, dest="more_epochs", metavar="N",
                   help="with --resume: train N epochs beyond those the checkpoint holds")
    add_dataclass_flags(t.add_argument_group("with --resume"), TrainConfig,
                        keep=RESUMABLE)
    t.set_defaults(func=cmd_train, model=None)
    tsub = t.add_subparsers(dest="model")
    for name in MODEL_NAMES:
        cls = model_class(name)
        m = command(tsub, name, help=(cls.__doc__ or name).strip().splitlines()[0])
        m.add_argument("--out", "-o", help="run directory (default: runs/<model>-<data>)")
        m.add_argument("--preset", help="named model config (model options only; flags given "
                       "beside it win): " + ", ".join(cls.Config.presets))
        add_dataclass_flags(m.add_argument_group("model"), cls.Config)
        add_dataclass_flags(m.add_argument_group("training"), TrainConfig)

    s = command(sub, "sample", help="draw samples from a trained model")
    s.add_argument("run_dir", help="a run directory written by dgm train")
    s.add_argument("-n", type=int, default=64, help="number of samples (default: 64)")
    s.add_argument("-o", "--output", required=True, help=".png grid or .npy array (N, ...); "
                   "images in [0, 1]")
    s.add_argument("--seed", type=int, default=0, help="seed of the samples (default: 0)")
    s.set_defaults(func=cmd_sample)

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

    i = command(sub, "info", help="describe a run directory")
    i.add_argument("run_dir", help="a run directory written by dgm train")
    i.set_defaults(func=cmd_info)

    c = command(sub, "classifier", help="train and cache the MNIST feature classifier "
                       "that the sample-quality metrics use")
    c.add_argument("--data-dir", dest="data_dir")
    c.add_argument("--out", help="file to write (default: the per-user cache "
                   "~/.cache/dgm, else <data dir>/cache; both are looked in)")
    c.add_argument("--epochs", type=int, default=4, help="passes over the 50k training images")
    c.add_argument("--seed", type=int, default=0, help="initialization and batch order")
    c.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    c.set_defaults(func=cmd_classifier)

    add_data_subparser(sub).set_defaults(func=run_data)
    add_pgm_subparser(sub).set_defaults(func=run_pgm)
    return p


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse; an unknown option is reported by the (sub)command it was given to, with its
    usage and the closest flag it has (argparse alone shows the top-level usage)."""
    import difflib

    args, extra = parser.parse_known_args(argv)
    if extra:
        cmd = getattr(args, "cli_parser", parser)  # the deepest (sub)command given
        flags = [o for a in cmd._actions for o in a.option_strings]
        close = difflib.get_close_matches(extra[0].split("=")[0], flags, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        cmd.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(build_parser(), argv)
    what = f"dgm {args.command}"
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, DGMError) as err:
        print(f"{what}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`dgm info RUN | head`): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # cannot write an output, a folder that is a file, ...
        where = f": {err.filename}" if err.filename else ""
        print(f"{what}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{what}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
