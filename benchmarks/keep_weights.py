"""Keep finished benchmark runs' trained weights in the repository, under benchmarks/weights/.

A benchmark's run folders (benchmarks/runs/) stay on the machine that trained them, and a
session's machine ends with it. A model trained longer than one session does it in pieces
(``--init-from RUN``, RBM and VAE benchmarks), which needs the last piece's weights: this
copies a finished run's config, summary, metrics and weights only (no optimizer state:
about the size of the model) to benchmarks/weights/<run name>/, where ``--init-from`` finds it when
benchmarks/runs/ no longer has the run. The copy is a run folder that ``dgm.load``,
``dgm eval``, ``dgm sample`` and ``dgm info`` read, so the kept models are also the trained
models a user can try without training them:

    python benchmarks/keep_weights.py benchmarks/runs/rbm-cd25_wd1e3_s1_cpu
    dgm sample benchmarks/weights/rbm-cd25_wd1e3_s1_cpu -n 64 -o samples.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import KEPT, keep_weights  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                    help="finished run folders, e.g. benchmarks/runs/rbm-cd25_wd1e3_s1_cpu")
    ap.add_argument("--to", type=Path, default=KEPT, metavar="DIR",
                    help=f"where the copies go (default {KEPT})")
    args = ap.parse_args(argv)
    for run in args.runs:
        dest = keep_weights(run, args.to)
        size = sum(p.stat().st_size for p in dest.iterdir()) / 2**20
        print(f"kept {run} -> {dest} ({size:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
