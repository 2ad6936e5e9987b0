"""``dgm data ...`` commands: ``download``, ``info``, ``list``.

Wire into the main CLI with ``add_data_subparser(subparsers)`` and dispatch
``args.func(args)`` (set to :func:`run_data`), or call :func:`main` directly.

>>> main(["list"])  # doctest: +ELLIPSIS
mnist
...
0
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

DOWNLOADABLE = ("mnist",)


def add_data_subparser(subparsers) -> argparse.ArgumentParser:
    """Add the ``data`` command (with ``download``, ``info``, ``list``) to ``subparsers``."""
    from dgm.data import DATASETS, ENV_VAR

    p = subparsers.add_parser(
        "data",
        help="download and inspect data sets",
        description="Download and inspect data sets.",
    )
    sub = p.add_subparsers(dest="data_command", metavar="{download,info,list}")
    sub.required = True
    dir_help = f"data directory (default: ${ENV_VAR}, else $XDG_CACHE_HOME/dgm, else ~/.cache/dgm)"

    d = sub.add_parser("download", help="download a data set's files into the data directory")
    d.add_argument("name", choices=DOWNLOADABLE, help="data set to download")
    d.add_argument("--data-dir", default=None, help=dir_help)
    d.add_argument(
        "--mirror",
        action="append",
        default=None,
        help="base URL to try instead of the built-in mirrors (repeatable)",
    )
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.add_argument("--force", action="store_true", help="download even if files are present")

    i = sub.add_parser("info", help="print sizes, kind and shape of a data set")
    i.add_argument("spec", help="data set spec: " + ", ".join(DATASETS))
    i.add_argument("--data-dir", default=None, help=dir_help)

    sub.add_parser("list", help="list the data set specs")
    p.set_defaults(func=run_data)
    return p


def _info(spec: str, data_dir) -> None:
    from dgm.data import load_dataset

    splits = load_dataset(spec, data_dir)
    print(f"{spec}")
    for split, ds in splits.items():
        y = "" if ds.y is None else f", {len(np.unique(ds.y))} classes"
        dyn = ", dynamically binarized per batch" if ds.dynamic_binarize else ""
        print(
            f"  {split:5s}: n={len(ds)}, shape={ds.shape}, kind={ds.kind}{dyn}, "
            f"mean={float(ds.x.mean()):.4f}{y}"
        )
    if splits.valid is None:
        print("  valid: none")


def run_data(args: argparse.Namespace) -> int:
    """Run a parsed ``dgm data ...`` command; returns the exit status."""
    from dgm.data import DATASETS, download_mnist

    cmd = args.data_command
    try:
        if cmd == "list":
            print("\n".join(DATASETS))
        elif cmd == "info":
            _info(args.spec, args.data_dir)
        elif cmd == "download":
            mirrors = tuple(args.mirror) if args.mirror else None
            where = download_mnist(
                args.data_dir,
                mirrors=mirrors,
                progress=not args.no_progress,
                force=args.force,
            )
            print(f"MNIST files are in {where}")
        else:  # pragma: no cover - argparse rejects it first
            raise ValueError(f"unknown data command {cmd!r}")
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone ``data`` command line (``main(["info", "ring8"])``)."""
    parser = argparse.ArgumentParser(prog="dgm")
    sub = parser.add_subparsers(dest="command")
    add_data_subparser(sub)
    args = parser.parse_args(["data", *(argv if argv is not None else sys.argv[1:])])
    return run_data(args)
