"""``dgm data ...`` commands: ``download``, ``info``, ``list``.

Wire into the main CLI with ``add_data_subparser(subparsers)`` and dispatch
``args.func(args)`` (set to :func:`run_data`), or call :func:`main` directly.

Errors print ``dgm data CMD: error: ...`` and exit 2; Ctrl-C prints
``dgm data CMD: interrupted`` and exits 130; a closed stdout (``| head``) ends quietly
with status 0.

>>> main(["list"])  # doctest: +ELLIPSIS
mnist
...
0
"""

from __future__ import annotations

import argparse
import sys
import warnings

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
    d.add_argument(
        "--force",
        action="store_true",
        help="download even if the data set is already usable or the files are present",
    )

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


def _already_usable(data_dir) -> str | None:
    """Where MNIST loads from in ``data_dir`` (the files), or None if it does not load."""
    from dgm.data.mnist import find_mnist, load_mnist

    try:
        _, paths = find_mnist(data_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # other sizes than the official ones still load
            load_mnist("gray", data_dir)
    except (OSError, ValueError):  # missing, corrupt or inconsistent: download
        return None
    return ", ".join(str(p) for p in paths.values())


def _download(args: argparse.Namespace) -> None:
    from dgm.data import download_mnist, resolve_data_dir

    if not args.force:
        found = _already_usable(args.data_dir)
        if found is not None:
            print(
                f"MNIST is already usable in {resolve_data_dir(args.data_dir)} ({found}); "
                "nothing downloaded (--force downloads the four IDX files anyway)"
            )
            return
    mirrors = tuple(args.mirror) if args.mirror else None
    where = download_mnist(
        args.data_dir,
        mirrors=mirrors,
        progress=not args.no_progress,
        force=args.force,
    )
    print(f"MNIST files are in {where}")


def run_data(args: argparse.Namespace) -> int:
    """Run a parsed ``dgm data ...`` command: 0, or 2 after an error, 130 after Ctrl-C."""
    from dgm._errors import run_command
    from dgm.data import DATASETS

    cmd = args.data_command

    def body() -> None:
        if cmd == "list":
            print("\n".join(DATASETS))
        elif cmd == "info":
            _info(args.spec, args.data_dir)
        elif cmd == "download":
            _download(args)
        else:  # pragma: no cover - argparse rejects it first
            raise ValueError(f"unknown data command {cmd!r}")

    return run_command(f"dgm data {cmd}", body, (OSError, ValueError, RuntimeError))


def main(argv: list[str] | None = None) -> int:
    """Stand-alone ``data`` command line (``main(["info", "ring8"])``)."""
    parser = argparse.ArgumentParser(prog="dgm")
    sub = parser.add_subparsers(dest="command")
    add_data_subparser(sub)
    args = parser.parse_args(["data", *(argv if argv is not None else sys.argv[1:])])
    return run_data(args)
