"""GAN pictures: D and G losses and mean D(x), D(G(z)) per epoch; the theorem; the trick.

(The per-epoch sample grids and 2-D scatters come from :func:`dgm.plots.run_pictures`.)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dgm.plots import _plt, save_figure


def plot_gan_curves(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Two panels from metrics.jsonl: d_loss and g_loss; mean D(x) and D(G(z)), per epoch."""
    from dgm.train.metrics import read_metrics

    rows = read_metrics(run_dir)
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = [r["epoch"] for r in rows]
    for ax, keys, title in ((a, ("d_loss", "g_loss"), "losses"),
                            (b, ("d_real", "d_fake"), "mean D(x) and D(G(z))")):
        for k in keys:
            ax.plot(ep, [r.get(f"train_{k}", np.nan) for r in rows], label=k)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
    b.set_ylim(0, 1)
    fig.tight_layout()
    return save_figure(fig, out or Path(run_dir) / "gan_curves.png")


def plot_trick(out: str | Path) -> Path:
    """|d generator loss / d logit| against D(G(z)) under both objectives (log-log)."""
    from dgm.eval.theory import generator_gradients

    d = np.logspace(-6, -0.01, 200)
    g = generator_gradients(d)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.loglog(d, g["minimax"], label="minimax: min log(1 - D(G(z)))")
    ax.loglog(d, g["nonsaturating"], label="non-saturating: max log D(G(z))")
    ax.set_xlabel("D(G(z))")
    ax.set_ylabel("|gradient| w.r.t. D's logit")
    ax.set_title("why the trick matters: D rejects the fakes (left)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out)


def plot_theorem(out: str | Path, grid: np.ndarray, p: np.ndarray, q: np.ndarray,
                 d_trained: np.ndarray, value_trained: float) -> Path:
    """Trained D against D* = p / (p + q), with the game's value against -log 4 + 2 JSD."""
    from dgm.eval.theory import jsd, optimal_discriminator

    dx = float(grid[1] - grid[0])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(grid, p, "k:", label="p_data")
    ax.plot(grid, q, "k--", label="p_g (fixed generator)")
    ax.plot(grid, optimal_discriminator(p, q), label="D* = p_data / (p_data + p_g)")
    ax.plot(grid, d_trained, label="trained D")
    exact = -math.log(4) + 2 * jsd(p, q, dx)
    ax.set_title(f"V(D) = {value_trained:.4f}; -log 4 + 2 JSD = {exact:.4f}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out)
