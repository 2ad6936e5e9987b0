"""Pictures: image grids (Pillow), learning curves and 2-D plots (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dgm._files import atomic_write


def image_grid(images: np.ndarray, shape: tuple[int, ...], ncol: int | None = None,
               scale: int = 0, pad: int = 1) -> np.ndarray:
    """Tile (N, prod(shape)) values in [0, 1] into one uint8 image (H, W) or (H, W, 3).

    >>> image_grid(np.zeros((6, 4)), (1, 2, 2), ncol=3).shape
    (7, 10)
    """
    images = np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0)
    c, h, w = shape if len(shape) == 3 else (1, *shape[-2:])
    n = images.shape[0]
    ncol = ncol or int(np.ceil(np.sqrt(n)))
    nrow = int(np.ceil(n / ncol))
    imgs = images.reshape(n, c, h, w).transpose(0, 2, 3, 1)  # (N, h, w, c)
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 0.5)
    for i in range(n):
        r, q = divmod(i, ncol)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h,
             pad + q * (w + pad) : pad + q * (w + pad) + w] = imgs[i]
    out = (grid * 255).round().astype(np.uint8)
    if scale > 1:
        out = out.repeat(scale, 0).repeat(scale, 1)
    return out[..., 0] if c == 1 else out


def save_grid(path: str | Path, images: Any, shape: tuple[int, ...],
              ncol: int | None = None) -> Path:
    """Write an image grid PNG (upscaled so that small digits stay visible)."""
    from PIL import Image

    arr = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images)
    side = shape[-1]
    grid = image_grid(arr, shape, ncol=ncol, scale=max(1, 56 // side))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))
    return path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 90, **savefig: Any) -> Path:
    """Write a matplotlib figure atomically (a crash leaves the old picture or none, never
    half of one), close it, and return the path; ``savefig``: more of matplotlib's options
    (e.g. ``bbox_inches="tight"``, ``format="svg"``; PNG unless a format is given: the
    temporary file's ``.tmp`` suffix tells matplotlib nothing)."""
    path = Path(path)
    savefig = {"format": "png", **savefig}
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, **savefig))
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def plot_curves(run_dir: str | Path, out: str | Path | None = None) -> Path | None:
    """Training and validation loss (and the other logged terms) per epoch."""
    from dgm.train.metrics import read_metrics

    rows = read_metrics(run_dir)
    if not rows:
        return None
    plt = _plt()
    terms = sorted({k[6:] for r in rows for k in r if k.startswith("train_")
                    and k not in ("train_seconds", "train_examples_per_s")})
    fig, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.2), squeeze=False)
    for ax, t in zip(axes[0], terms):
        for split in ("train", "valid"):
            pts = [(r["epoch"], r[f"{split}_{t}"]) for r in rows if f"{split}_{t}" in r]
            if pts:
                ax.plot(*zip(*pts), label=split)
        ax.set_title(t)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, out or Path(run_dir) / "curves.png")


def scatter_2d(path: str | Path, points: np.ndarray, real: np.ndarray | None = None,
               title: str = "") -> Path:
    """Generated (and real) 2-D points."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 4))
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.3, label="real")
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, label="generated")
    ax.set_title(title)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return save_figure(fig, path)


def latent_pictures(model, run_dir: str | Path, x: np.ndarray, y: np.ndarray | None,
                    n_side: int = 20) -> list[Path]:
    """For a 2-D latent space: the decoded manifold and encoded points coloured by label."""
    import torch
    from scipy.stats import norm

    run_dir = Path(run_dir)
    grid = norm.ppf(np.linspace(0.03, 0.97, n_side))  # evenly spaced in probability
    zz = np.array([[a, b] for b in grid[::-1] for a in grid], dtype=np.float32)
    imgs = model.decode_grid(torch.as_tensor(zz)).cpu().numpy()
    out = [save_grid(run_dir / "latent_manifold.png", imgs, model.input_shape, ncol=n_side)]
    mu = model.transform(x).cpu().numpy()
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    sc = ax.scatter(mu[:, 0], mu[:, 1], c=y if y is not None else None, s=4, cmap="tab10")
    if y is not None:
        fig.colorbar(sc, ax=ax)
    ax.set_title("posterior means of test points")
    fig.tight_layout()
    out.append(save_figure(fig, run_dir / "latent_scatter.png"))
    return out


def run_pictures(model, run_dir: str | Path, x_valid, epoch: int, seed: int = 0) -> None:
    """Per-epoch pictures: samples from fixed noise, reconstructions, learning curves."""
    run_dir = Path(run_dir)
    shape = model.input_shape
    if hasattr(model, "sample"):
        s = model.sample(64, seed=seed).cpu().numpy()
        if len(shape) == 3:
            if shape[0] <= 3 and getattr(model, "data_range", "unit") == "pm1":
                s = (s + 1) / 2
            save_grid(run_dir / "samples" / f"epoch_{epoch:04d}.png", s, shape, ncol=8)
            save_grid(run_dir / "samples.png", s, shape, ncol=8)
        elif shape == (2,):
            real = x_valid.cpu().numpy()[:2000] if x_valid is not None else None
            pts = model.sample(2000, seed=seed).cpu().numpy()
            (run_dir / "samples").mkdir(exist_ok=True)
            for path in (run_dir / "samples" / f"epoch_{epoch:04d}.png", run_dir / "samples.png"):
                scatter_2d(path, pts, real, title=f"epoch {epoch}")
    if hasattr(model, "reconstruct") and x_valid is not None and len(shape) == 3:
        xv = x_valid[:32]
        rec = model.reconstruct(xv).cpu().numpy()
        both = np.concatenate([xv.cpu().numpy().reshape(4, 8, -1),
                               rec.reshape(4, 8, -1)], axis=1).reshape(64, -1)
        save_grid(run_dir / "reconstructions.png", both, shape, ncol=8)
    plot_curves(run_dir)
