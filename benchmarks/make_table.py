"""Fill the README's results table from benchmarks/results/*.json (never by hand)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table() -> str:
    lines = ["| benchmark | figure | value |", "| --- | --- | --- |"]
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        data = json.loads(path.read_text())
        for key, val in data.items():
            if isinstance(val, (int, float, str)) and not isinstance(val, bool):
                lines.append(f"| {path.stem} | `{key}` | {fmt(val)} |")
    return "\n".join(lines)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = re.sub(r"(<!-- results:start -->\n).*?(<!-- results:end -->)",
                 lambda m: m.group(1) + table() + "\n" + m.group(2), text, flags=re.S)
    readme.write_text(new)


if __name__ == "__main__":
    main()
