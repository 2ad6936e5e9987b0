"""Pictures: a network drawing and a Markov-chain mixing curve (PNG, matplotlib Agg).

matplotlib is imported inside the functions, so ``import dgm.pgm`` stays light.
Nodes of a Bayesian network are placed in layers (a node sits one layer below
its deepest parent); Markov networks are drawn on a circle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dgm._files import atomic_write


def layout(model: Any) -> dict[str, tuple[float, float]]:
    """Node positions: layers for a DAG, a circle for an undirected model."""
    parents = getattr(model, "parents", None)
    if parents is None:
        n = len(model.variables)
        angles = 2 * np.pi * np.arange(n) / max(n, 1)
        return {v: (float(np.cos(a)), float(np.sin(a))) for v, a in zip(model.variables, angles)}
    depth: dict[str, int] = {}
    for v in model.variables:  # topological order
        depth[v] = 1 + max((depth[p] for p in parents[v]), default=-1)
    layers: dict[int, list[str]] = {}
    for v in model.variables:
        layers.setdefault(depth[v], []).append(v)
    pos = {}
    for d, nodes in layers.items():
        for k, v in enumerate(nodes):
            stagger = 0.3 * (k % 2) if len(nodes) > 6 else 0.0  # keep long labels apart
            pos[v] = ((k + 0.5) / len(nodes), -float(d) - stagger)
    return pos


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt, plt.figure(figsize=(width, height))


def _png(path: str | Path) -> Path:
    """``path``, with ``.png`` added when it has no suffix (as matplotlib does when saving)."""
    path = Path(path)
    return path if path.suffix else path.with_suffix(".png")


def draw_network(model: Any, path: str | Path, title: str | None = None) -> Path:
    """Save a picture of the network's graph to ``path`` (PNG); return the path written."""
    pos = layout(model)
    directed = hasattr(model, "parents")
    rows: dict[float, int] = {}
    for _, y in pos.values():
        rows[round(y)] = rows.get(round(y), 0) + 1
    widest = max(rows.values(), default=1)
    plt, fig = _figure(max(6.0, 0.75 * widest), max(4.0, 1.1 * len(rows)))
    ax = fig.add_subplot(1, 1, 1)
    for u, v in model.edges:
        (x0, y0), (x1, y1) = pos[u], pos[v]
        style = "-|>" if directed else "-"
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": style, "color": "0.4", "shrinkA": 12, "shrinkB": 12},
        )
    for v, (x, y) in pos.items():
        ax.text(
            x,
            y,
            v,
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "#dde8f5", "ec": "#345"},
        )
    xs, ys = zip(*pos.values()) if pos else ((0,), (0,))
    ax.set_xlim(min(xs) - 0.1, max(xs) + 0.1)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    ax.axis("off")
    ax.set_title(title or getattr(model, "name", ""))
    path = _png(path)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120,
                                                   bbox_inches="tight"))
    finally:
        plt.close(fig)
    return path


def plot_mixing(
    curves: Mapping[str, Sequence[float]], path: str | Path, ylabel: str = "total variation to pi"
) -> Path:
    """Save a mixing-curve plot (PNG): one line per named curve, against the step (log scale).

    Returns the path written.
    """
    plt, fig = _figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for label, ys in curves.items():
        ys = np.maximum(np.asarray(ys, dtype=float), 1e-16)
        ax.semilogy(np.arange(len(ys)), ys, label=label)
    ax.set_xlabel("step k")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(True, alpha=0.3)
    path = _png(path)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120,
                                                   bbox_inches="tight"))
    finally:
        plt.close(fig)
    return path
