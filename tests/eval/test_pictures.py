"""Pictures are written whole (atomically) and their figures closed; the GAN theory pictures
draw what their titles state."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from dgm.eval.pictures import plot_theorem, plot_trick
from dgm.plots import _plt, save_figure


def test_a_figure_is_saved_whole_or_not_at_all_and_closed(tmp_path, monkeypatch):
    plt = _plt()
    path = tmp_path / "p.png"
    fig = plt.figure(figsize=(2, 1))
    assert save_figure(fig, path) == path
    assert Image.open(path).size == (180, 90)  # 90 dpi
    assert not plt.fignum_exists(fig.number)
    before = path.read_bytes()
    fig = plt.figure(figsize=(3, 1))

    def broken(*args, **kwargs):  # a crash in the middle of writing
        open(args[0], "wb").write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig, path)
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]
    assert not plt.fignum_exists(fig.number)


def test_the_gan_theory_pictures_state_the_theorem_and_the_trick(tmp_path):
    grid = np.linspace(-4, 4, 401)
    p = np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi)
    q = np.exp(-(grid - 1) ** 2 / 2) / math.sqrt(2 * math.pi)
    plt = _plt()
    shown = []
    real_savefig = plt.Figure.savefig

    def keep_title(fig, *args, **kwargs):
        shown.append(fig.axes[0].get_title())
        return real_savefig(fig, *args, **kwargs)

    plt.Figure.savefig = keep_title
    try:
        plot_theorem(tmp_path / "t.png", grid, p, q, p / (p + q), -1.2)
        plot_trick(tmp_path / "k.png")
    finally:
        plt.Figure.savefig = real_savefig
    dx = grid[1] - grid[0]
    m = (p + q) / 2
    jsd = 0.5 * np.sum(p * np.log(p / m)) * dx + 0.5 * np.sum(q * np.log(q / m)) * dx
    assert shown[0] == f"V(D) = -1.2000; -log 4 + 2 JSD = {-math.log(4) + 2 * jsd:.4f}"
    assert "trick" in shown[1]
    assert all(Image.open(tmp_path / f).format == "PNG" for f in ("t.png", "k.png"))
