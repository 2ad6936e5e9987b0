"""The ``dgm`` command line: train | sample | eval | info | data | pgm.

Model flags are generated from each model's config dataclass (``dgm.registry``),
training flags from :class:`dgm.train.TrainConfig` (:mod:`dgm._flags`); nothing here knows a
model. ``train``, ``sample`` and ``info`` live here; ``eval`` and ``classifier`` in
:mod:`dgm.eval.cli`, ``data`` in :mod:`dgm.data.cli`, ``pgm`` in :mod:`dgm.pgm.cli`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from dgm._errors import run_command
from dgm._flags import (
    add_dataclass_flags,
    command,
    flag,
    memory_named,
    options_as_flags,
    split_args,
)
from dgm.data.cli import add_data_subparser, run_data
from dgm.eval.cli import add_eval_subparsers
from dgm.pgm.cli import add_pgm_subparser, run_pgm
from dgm.registry import MODEL_NAMES


def _resumable() -> tuple[str, ...]:
    """The training settings a resumed run may change (``dgm.train.loop.RESUME_FREE``) as
    flags of ``dgm train --resume RUN_DIR``; its length comes from ``--more-epochs``."""
    from dgm.train.loop import RESUME_FREE

    return tuple(k for k in RESUME_FREE if k != "epochs")


def _resumable_flags() -> tuple[set[str], set[str]]:
    """:func:`_resumable` as the flags a user may type: (those that take a value, the
    switches, ``--no-X`` too)."""
    from dgm.train import TrainConfig

    switches = {f.name for f in dataclasses.fields(TrainConfig) if str(f.type) == "bool"}
    valued = {flag(k) for k in _resumable() if k not in switches}
    return valued, {f"--{p}{k.replace('_', '-')}" for k in _resumable() if k in switches
                    for p in ("", "no-")}


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
    with options_as_flags(names):
        tcfg = TrainConfig.from_dict(split_args(args, TrainConfig))
        mcfg = cls.Config.from_dict({**presets.get(args.preset or "", {}),
                                     **split_args(args, cls.Config)})
    return cls, tcfg, mcfg


def cmd_train(args: argparse.Namespace) -> int:
    from dgm.data import load_dataset
    from dgm.train import Trainer, TrainingInterrupted
    from dgm.train.rundir import check_new_run_dir

    if args.resume:
        resumed = _resumed_run(args)
        if resumed is None:
            return 0
        run_dir, tcfg, model = resumed
    else:
        if not args.model:
            print("dgm train: name a model (" + ", ".join(MODEL_NAMES) + ") or --resume RUN_DIR",
                  file=sys.stderr)
            return 2
        if getattr(args, "more_epochs", None) is not None:
            raise ValueError("--more-epochs continues a run: use it with --resume RUN_DIR "
                             "(a new run takes --epochs)")
        cls, tcfg, mcfg = train_configs(args)
        run_dir = Path(args.out) if args.out else _default_run_dir(args.model, tcfg.data)
        check_new_run_dir(run_dir)  # (nothing there may be lost)
    splits = load_dataset(tcfg.data, data_dir=tcfg.data_dir)
    if not args.resume:
        model = _new_model(args, cls, mcfg, tcfg.seed, splits.train.shape)
    t0 = time.perf_counter()
    preset = getattr(args, "preset", None) or None  # (a resumed run keeps its record's)
    trainer = Trainer(model, tcfg, splits, run_dir, resume=bool(args.resume), preset=preset)
    try:
        summary = trainer.fit()
    except TrainingInterrupted as stop:
        print(str(stop), file=sys.stderr)
        return 128 + (stop.signum or 2)  # the shell's convention: 130 Ctrl-C, 143 SIGTERM
    if trainer.info.is_main:
        try:
            _final_pictures(run_dir, splits)
        except Exception as err:  # a picture never turns a finished run into an error
            print(f"warning: final pictures failed: {err!r}", file=sys.stderr)
        best = summary["best_valid_loss"]
        kept = (f"best valid {model.valid_loss_name} {best:.4f} (epoch {summary['best_epoch']})"
                if best is not None
                else "no validation split: the last weights kept")
        n = summary["epochs"]
        print(f"trained {n} epoch{'s' if n != 1 else ''} in {time.perf_counter() - t0:.1f}s; "
              f"{kept}; run directory: {run_dir}")
    return 0


def _resumed_run(args: argparse.Namespace) -> tuple[Path, Any, Any] | None:
    """``dgm train --resume RUN_DIR``: (the run directory, the TrainConfig it goes on with,
    its model), every file and flag checked first; None when it has trained all its epochs
    (said on stderr). A budget that stopped it and still holds is an error naming the flag
    that extends it: "training up to N" and then no epoch would hide why."""
    from dgm.train.checkpoint import CONFIG, build_run_model
    from dgm.train.rundir import resume_config
    from dgm.train.state import spent_budget
    from dgm.train.stops import BudgetSpent

    resumable = _resumable()
    if args.model:
        raise ValueError(f"--resume continues {args.resume} as it was configured: a model "
                         f"and its flags ({args.model} ...) cannot change it (only "
                         f"{', '.join(flag(k) for k in resumable)} and --more-epochs can)")
    run_dir = Path(args.resume)
    given = {k: v for k, v in vars(args).items() if k in resumable}
    more = getattr(args, "more_epochs", None)
    rec, tcfg, state = resume_config(run_dir, given, more)
    if state.epoch >= tcfg.epochs:
        print(f"dgm train: {run_dir} has already trained all its {state.epoch} epochs; "
              f"--more-epochs N trains N more", file=sys.stderr)
        return None
    why = spent_budget(state, tcfg) if state.done else None
    if why:
        raise BudgetSpent.at(run_dir, state.epoch, why)
    if more is not None:
        print(f"dgm train: {state.epoch} epochs done; training up to {tcfg.epochs}",
              file=sys.stderr)
    return run_dir, tcfg, build_run_model(rec, run_dir / CONFIG)


def _new_model(args: argparse.Namespace, cls: type, mcfg: Any, seed: int, shape: tuple):
    """A new run's model, initialized from its seed. An option its constructor refuses is
    named by its flag, and one too large for the memory too (the largest size given)."""
    from dgm._rng import derive_seed

    given = split_args(args, cls.Config)
    sizes = {k: max(v, default=0) if isinstance(v, (list, tuple)) else v  # (--hidden 8 8)
             for k, v in given.items()}
    sizes = {k: v for k, v in sizes.items() if isinstance(v, int) and not isinstance(v, bool)}
    big = max(sizes, key=sizes.__getitem__, default=None)
    lower = f"{flag(big)} (given {given[big]})" if big else "the model's sizes"
    with options_as_flags(f.name for f in dataclasses.fields(cls.Config)), \
            memory_named(f"the {args.model} model", lower):
        # ("init" alone would equal the loop's first shuffle seed, derive_seed(seed, "perm", 0))
        return cls(mcfg, shape).reset_parameters(derive_seed(seed, "cli", "init"))


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
    import dgm
    from dgm.plots import save_grid
    from dgm.train.config import check_seed

    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    check_seed("--seed", args.seed)  # (the model's own check would name "seed")
    out = Path(args.output)
    if out.suffix not in (".png", ".npy"):
        raise ValueError(f"output must end in .png or .npy, got {out}")
    model = dgm.load(args.run_dir)
    if not hasattr(model, "sample"):
        print(f"dgm sample: model {model.name!r} cannot generate", file=sys.stderr)
        return 2
    if out.suffix == ".png" and len(model.input_shape) != 3:
        raise ValueError(f"{out}: a .png grid needs image data, but this {model.name} draws "
                         f"examples of shape {model.input_shape}; write a .npy instead")
    with memory_named(f"drawing {args.n} samples", "-n"):
        x = model.sample(args.n, seed=args.seed).cpu().numpy()
        if len(model.input_shape) == 3:  # images in [0, 1], as the README says: [-1, 1] data
            from dgm.eval.samples import to_unit  # mapped, and a generator whose range is

            x = to_unit(x, model.data_range)  # wider than its data's (tanh on [0, 1]) clipped
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":  # atomically, as every file dgm writes
        from dgm._files import atomic_save_npy

        atomic_save_npy(out, x.reshape(args.n, *model.input_shape))
    else:
        save_grid(out, x, model.input_shape)
    print(f"wrote {args.n} samples to {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import dgm
    from dgm.train.checkpoint import CHECKPOINT, checkpoint_epochs, read_run_config
    from dgm.train.metrics import read_metrics

    run_dir = Path(args.run_dir)
    rec = read_run_config(run_dir)
    rows = read_metrics(run_dir)
    model = dgm.load(run_dir)
    n_params = sum(p.numel() for p in model.parameters())
    ckpt = run_dir / CHECKPOINT  # the epochs a resume goes on from: the checkpoint's (the
    # metrics may hold fewer, deleted, or more, written after a sparse checkpoint)
    done = checkpoint_epochs(ckpt) if ckpt.is_file() else len(rows)
    info = {"model": rec["model"], "preset": rec.get("preset"),  # None: none, or an older run
            "model_config": rec["model_config"], "data": rec["data"],
            "parameters": n_params, "epochs_done": done,
            "last": rows[-1] if rows else None}
    print(json.dumps(info, indent=2))
    return 0


# -- parser ------------------------------------------------------------------------------------
#: the commands whose flags come from the models' and the loop's configs (they import torch to
#: build them); the others, ``dgm --help`` included, parse without it
MODEL_COMMANDS = ("train", "eval")


def build_parser(models: bool = True) -> argparse.ArgumentParser:
    """The ``dgm`` parser; ``models=False`` leaves out the flags of ``train`` and ``eval``
    (each model's, the loop's), which import torch: ``dgm pgm``, ``dgm data`` and ``dgm --help``
    start in a fraction of the time."""
    p = argparse.ArgumentParser(
        prog="dgm", description="Deep generative models and probabilistic graphical models.",
        allow_abbrev=False)
    sub = p.add_subparsers(dest="command", required=True)

    t = command(sub, "train", help="train a model into a run directory")
    if models:
        _add_train_flags(t)


    s = command(sub, "sample", help="draw samples from a trained model")
    s.add_argument("run_dir", help="a run directory written by dgm train")
    s.add_argument("-n", type=int, default=64, help="number of samples (default: 64)")
    s.add_argument("-o", "--output", required=True, help=".png grid or .npy array (N, ...); "
                   "images in [0, 1]")
    s.add_argument("--seed", type=int, default=0, help="seed of the samples (default: 0)")
    s.set_defaults(func=cmd_sample)

    i = command(sub, "info", help="describe a run directory")
    i.add_argument("run_dir", help="a run directory written by dgm train")
    i.set_defaults(func=cmd_info)

    add_eval_subparsers(sub, models=models)
    add_data_subparser(sub).set_defaults(func=run_data)
    add_pgm_subparser(sub).set_defaults(func=run_pgm)
    return p


def _add_train_flags(t: argparse.ArgumentParser) -> None:
    """``dgm train``'s flags: --resume and the loop's, then one subcommand per model with its
    config's flags and the loop's."""
    from dgm.registry import model_class
    from dgm.train import TrainConfig

    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run (its "
                   "settings are kept; the flags below may change)")
    t.add_argument("--more-epochs", type=int, dest="more_epochs", metavar="N",
                   help="with --resume: train N epochs beyond those the checkpoint holds")
    add_dataclass_flags(t.add_argument_group("training (the settings a --resume may change)"),
                        TrainConfig,
                        keep=_resumable())
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


def _check_choice(kind: str, given: str | None, choices: tuple[str, ...]) -> str | None:
    """An error naming an unknown command or model, with the closest one (argparse's own
    message lists the choices but suggests none)."""
    from dgm.pgm._hints import did_you_mean  # (torch-free)

    if given is None or given in choices:
        return None
    return f"unknown {kind} {given!r}{did_you_mean(given, choices)} (choose from " \
           f"{', '.join(choices)})"


def _resume_flag_error(argv: list[str]) -> str | None:
    """``dgm train --resume RUN --epochs 5``: argparse would read ``5`` as a model name; say
    instead which flag cannot change and what can."""
    if "--resume" not in argv and not any(a.startswith("--resume=") for a in argv):
        return None
    valued, switches = _resumable_flags()
    valued |= {"--resume", "--more-epochs"}
    may = valued | switches | {"-h", "--help"}
    after = iter(argv[argv.index("train") + 1 :])
    for a in after:
        if a in MODEL_NAMES:  # a model's flags: cmd_train says a model cannot be given
            return None
        name = a.split("=", 1)[0]
        is_flag = name.startswith("--") or (name[:1] == "-" and name[1:2].isalpha())
        if is_flag and name not in may:  # (not a negative number: cmd_train checks values)
            how = ("use --more-epochs N to train N epochs more" if name == "--epochs" else
                   "a resumed run keeps its settings; only "
                   f"{', '.join(sorted(may - {'-h', '--help'}))} may be given")
            return f"{name} cannot change when resuming a run: {how}"
        if a in valued:  # its value (a run folder named "vae") is neither a model nor a flag
            next(after, None)
    return None


#: the parser's commands (a test keeps this list and build_parser's in step)
COMMANDS = ("train", "sample", "info", "eval", "classifier", "data", "pgm")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv in (["--version"], ["-V"]):
        from dgm import __version__

        print(f"dgm {__version__}")
        return 0
    first = next((a for a in argv if not a.startswith("-")), None)  # the command, if any
    what = "dgm" + (f" {first}" if first in COMMANDS else "")
    try:  # the checks and the parser of train and eval import torch: seconds a Ctrl-C may hit
        problem = _command_line_problem(argv, first)
        args = None if problem else _parse(build_parser(models=first in MODEL_COMMANDS), argv)
    except KeyboardInterrupt:
        print(f"{what}: interrupted", file=sys.stderr)
        return 130
    if args is None:
        print(f"{what}: error: {problem}", file=sys.stderr)
        return 2
    return run_command(f"dgm {args.command}", lambda: args.func(args))


def _command_line_problem(argv: list[str], first: str | None) -> str | None:
    """An unknown command or model, or a flag a resumed run cannot take (before argparse,
    whose messages would mislead: see :func:`_resume_flag_error`)."""
    problem = _check_choice("command", first, COMMANDS)
    if first == "train":
        after = argv[argv.index("train") + 1 :]
        problem = _resume_flag_error(argv)
        if problem is None and after and not after[0].startswith("-"):  # the model's name
            problem = _check_choice("model", after[0], MODEL_NAMES)
    return problem


if __name__ == "__main__":
    sys.exit(main())
