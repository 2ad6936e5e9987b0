"""Fill the README's results table from benchmarks/results/*.json (never by hand)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fmt(v) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e6:
        return str(int(v))  # a count stored as a float
    if isinstance(v, float):
        return f"{v:#.4g}".rstrip(".")  # 89.00, not 89: the digits shown are significant
    return str(v)


# The goals the issues set (and, in brackets, the published figure they improve on); the
# values themselves always come from the results files.
GOALS = {
    "loop_time_ratio": "<= 1.1",
    "quick_profile_test_nll_nats": "<= 90.0 in < 30 min",
    "vae_test_nll_nats": "<= 88.0 (88.71)",
    "iwae50_test_nll_nats": "<= 86.5 (87.10)",
    "dynamic_vae_test_nll_nats": "<= 86.5 (86.76)",
    "dynamic_iwae50_test_nll_nats": "<= 84.7 (84.78)",
    "worst_latency_ratio_vs_pgmpy": "<= 0.5",
    "batched_speedup_vs_pgmpy": ">= 500",
    "forward_sampling_speedup_vs_pgmpy": ">= 30",
    "ising20_logz_seconds": "< 1",
    "ratio_to_floor": "<= 1.3",
    "speedup_vs_sklearn": ">= 2.5",
    "best_test_nll_nats": "<= 86.0 (86.34)",
    "digits_rbm_logreg_accuracy": ">= 0.95 (0.94)",
    "nade_test_nll_nats": "<= 88.5 (88.86)",
    "made_1mask_test_nll_nats": "<= 88.0 (88.40)",
    "made_ensemble_test_nll_nats": "<= 86.5 (86.64)",
    "ring_modes": "8", "ring_high_quality": ">= 0.98 (0.956)", "ring_reverse_kl": "<= 0.05",
    "grid_modes": "25", "grid_high_quality": ">= 0.95 (0.936)", "grid_reverse_kl": "<= 0.03",
    "dcgan_mnist_min_class_share": ">= 0.07",
    "dcgan_mnist_fid": "< vae_mnist_fid",
}


def table() -> str:
    lines = ["| benchmark | figure | value | goal (published) | measured on |",
             "| --- | --- | --- | --- | --- |"]
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        data = json.loads(path.read_text())
        where = data.get("figure_device", {})
        for key, val in data.items():
            scalar = isinstance(val, (int, float, str)) and not isinstance(val, bool)
            if scalar and key != "command":
                lines.append(f"| {path.stem} | `{key}` | {fmt(val)} | {GOALS.get(key, '')} "
                             f"| {where.get(key, '')} |")
    return "\n".join(lines)


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 when README.md's table differs from the JSON")
    args = p.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = re.sub(r"(<!-- results:start -->\n).*?(<!-- results:end -->)",
                 lambda m: m.group(1) + table() + "\n" + m.group(2), text, flags=re.S)
    if args.check:
        if new != text:
            print("README.md's results table differs from benchmarks/results/*.json: run "
                  "python benchmarks/make_table.py")
            return 1
        print("README.md's results table matches benchmarks/results/*.json")
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
