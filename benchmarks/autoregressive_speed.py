"""NADE: the O(nd) recursion vs the naive O(n^2 d) computation of every h_k, as n grows.

Times ``log p(x)`` (forward, no gradient) of a batch under both computations, for
n in {16, 64, 196, 784} (the largest is binarized MNIST), on one thread by default,
and writes the ratios to benchmarks/results/autoregressive.json
(``nade_fast_vs_naive_speedup`` at n = 784).

Usage: flock /tmp/dgm-bench.lock python benchmarks/autoregressive_speed.py [--hidden 500]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_results  # noqa: E402

from dgm.models._masked import bernoulli_log_lik  # noqa: E402
from dgm.models.nade import NADE  # noqa: E402


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--sizes", type=int, nargs="*", default=[16, 64, 196, 784])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: ratios robust to other load on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for n in args.sizes:
        model = NADE.create(n, args.hidden, seed=0)
        x = torch.bernoulli(torch.full((args.batch, n), 0.3),
                            generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            def fast_fn(model=model, x=x):
                return bernoulli_log_lik(*model.ordered_logits(x, model.order))

            def naive_fn(model=model, x=x):
                return bernoulli_log_lik(*model.ordered_logits_naive(x, model.order))

            fast = best_of(fast_fn, args.repeats)
            naive = best_of(naive_fn, args.repeats)
            diff = (model.log_prob(x) - model.log_prob_naive(x)).abs().max().item()
        rows.append({"n": n, "fast_seconds": fast, "naive_seconds": naive,
                     "speedup": naive / fast, "max_abs_log_prob_diff": diff})
        print(rows[-1], flush=True)
    figures = {}
    at784 = [r for r in rows if r["n"] == 784]
    if at784:
        figures["nade_fast_vs_naive_speedup"] = at784[0]["speedup"]
    path = update_results("autoregressive", figures, "nade_speed",
                          {"hidden": args.hidden, "batch": args.batch, "rows": rows,
                           "threads": args.threads,
                           "what": "log p(x) of one batch, forward only, best of "
                                   f"{args.repeats}: naive O(n^2 d) / fast O(n d)"})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
