"""Pictures: a network drawing and a Markov-chain mixing curve (PNG, SVG, PDF or JPEG;
matplotlib Agg).

matplotlib is imported inside the functions, so ``import dgm.pgm`` stays light.

A Bayesian network is drawn in layers, as ``dot`` does: a node sits one layer below its
deepest parent (a parentless node just above its highest child); an arc that skips layers
runs through a free slot in every layer it crosses; a few barycenter sweeps order each
layer to cut crossings, and the slots are then spread to keep arcs straight. Markov
networks are drawn on a circle. :func:`geometry` gives it all in inches, without drawing:
every edge is a polyline from box to box that keeps clear of every other label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

FONT = 8.0  # label font size, points
PAD = 0.3 * FONT / 72  # label box padding ("round" box default), inches
SLOT = 0.25  # inches between neighbouring labels; an arc through a layer takes SLOT / 2
CLEAR = 0.05  # inches an edge keeps from every label it does not join
GAPS = (0.9, 1.2, 1.6, 2.2)  # inches between layers: the first that lets every arc clear
WEIGHT = (1, 2, 8)  # pull between two nodes, a node and a slot, two slots (as dot)


class Geometry(NamedTuple):
    """A drawing in inches: label centres, label box half-sizes, one polyline per edge."""

    pos: dict[str, tuple[float, float]]
    half: dict[str, tuple[float, float]]
    paths: dict[tuple[str, str], np.ndarray]


def _half_sizes(names: Sequence[str]) -> dict[str, tuple[float, float]]:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop, ttp = FontProperties(size=FONT), TextToPath()
    width = {v: ttp.get_text_width_height_descent(v, prop, ismath=False)[0] for v in names}
    line = 0.01  # the box's edge, inches
    return {v: (w / 144 + PAD + line, 0.6 * FONT / 72 + PAD + line) for v, w in width.items()}


def _pava(target: list[float], weight: list[float], sep: list[float]) -> list[float]:
    """Nearest ``x`` to ``target`` (weighted least squares) with ``x[i+1] - x[i] >= sep[i]``."""
    off = np.concatenate([[0.0], np.cumsum(sep)])
    blocks: list[list] = []  # [mean, weight, count] of pooled adjacent violators
    for z, w in zip(np.asarray(target) - off, weight):
        blocks.append([z, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, w2, c2), (m1, w1, c1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return list(np.repeat([b[0] for b in blocks], [b[2] for b in blocks]) + off)


def _layers(model: Any) -> tuple[list[list], dict, dict, dict]:
    """Rows of items (the nodes, and ``(u, v, layer)``: arc u -> v's slot in a layer it
    crosses), each arc's items from u to v, and every item's neighbours above and below."""
    depth: dict[str, int] = {}
    for v in model.variables:  # topological order
        depth[v] = 1 + max((depth[p] for p in model.parents[v]), default=-1)
    low: dict[str, int] = {}  # a parentless node moves down to just above its highest child
    for u, v in model.edges:
        if not model.parents[u]:
            low[u] = min(low.get(u, depth[v]), depth[v] - 1)
    depth.update(low)
    rows: list[list] = [[] for _ in range(1 + max(depth.values(), default=0))]
    for v in model.variables:
        rows[depth[v]].append(v)
    up: dict = {v: [] for v in model.variables}
    down: dict = {v: [] for v in model.variables}
    chains = {}
    for u, v in model.edges:
        chain = chains[u, v] = [u, *((u, v, d) for d in range(depth[u] + 1, depth[v])), v]
        for a, b in zip(chain, chain[1:]):
            if b not in up:
                up[b], down[b] = [], []
                rows[b[2]].append(b)
            down[a].append(b)
            up[b].append(a)
    return rows, chains, up, down


def _crossings(rows: list[list], down: dict) -> int:
    idx = {it: i for row in rows for i, it in enumerate(row)}
    total = 0
    for row in rows[:-1]:
        a, b = np.array([(idx[u], idx[v]) for u in row for v in down[u]] or [(0, 0)]).T
        total += int(np.sum((a[:, None] < a[None]) & (b[:, None] > b[None])))
    return total


def _order(rows: list[list], up: dict, down: dict, sweeps: int = 8) -> list[list]:
    """Barycenter sweeps, down then up (a stable sort: deterministic); the best order seen."""
    rows = [list(r) for r in rows]
    best, fewest = [list(r) for r in rows], _crossings(rows, down)
    for sweep in range(sweeps):
        seq = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        for i in seq:
            nbr, ref = (up, rows[i - 1]) if sweep % 2 == 0 else (down, rows[i + 1])
            at, here = {it: j for j, it in enumerate(ref)}, {it: j for j, it in enumerate(rows[i])}
            rows[i].sort(key=lambda it: (np.mean([at[n] for n in nbr[it]]) if nbr[it]
                                         else here[it], here[it]))
        crossings = _crossings(rows, down)
        if crossings < fewest:
            best, fewest = [list(r) for r in rows], crossings
    return best


def _place(rows: list[list], up: dict, down: dict, width: dict, sweeps: int = 40) -> dict:
    """x of every item: each row in turn goes as near its linked items as widths allow."""
    x = {}
    for row in rows:  # start packed and centred
        left = -sum(width[it] for it in row) / 2
        for it in row:
            x[it], left = left + width[it] / 2, left + width[it]
    for sweep in range(sweeps):  # block coordinate descent on sum(weight * dx**2) over links
        for row in rows if sweep % 2 == 0 else rows[::-1]:
            links = [[(n, WEIGHT[isinstance(it, tuple) + isinstance(n, tuple)])
                      for n in up[it] + down[it]] for it in row]
            wt = [sum(w for _, w in ls) or 1e-3 for ls in links]
            target = [sum(x[n] * w for n, w in ls) / s if ls else x[it]
                      for it, ls, s in zip(row, links, wt)]
            sep = [(width[a] + width[b]) / 2 for a, b in zip(row, row[1:])]
            x.update(zip(row, _pava(target, wt, sep)))
    return x


def _clearance(path: np.ndarray, centre: np.ndarray, half: np.ndarray) -> float:
    """Least distance from the points of ``path`` to the boxes (inches; inf if none)."""
    gap = np.maximum(np.abs(path[:, None, :] - centre[None]) - half[None], 0.0)
    return float(np.hypot(gap[..., 0], gap[..., 1]).min(initial=np.inf))


def _exit(inside: np.ndarray, outside: np.ndarray, centre, half) -> np.ndarray:
    d = outside - inside
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d != 0, (np.asarray(centre) + np.sign(d) * half - inside) / d, np.inf)
    return inside + min(float(t.min()), 1.0) * d


def _clip(path: np.ndarray, c0, h0, c1, h1) -> np.ndarray:
    """``path`` from where it leaves the first box to where it enters the second."""
    h0, h1 = np.asarray(h0) + 0.02, np.asarray(h1) + 0.02
    out0 = np.any(np.abs(path - c0) > h0, axis=1)
    out1 = np.any(np.abs(path - c1) > h1, axis=1)
    i, j = int(np.argmax(out0)), len(path) - 1 - int(np.argmax(out1[::-1]))
    if not out0.any() or not out1.any() or i > j:  # overlapping boxes: nothing to draw
        return path[[0, 0]]
    ends = [_exit(path[i - 1], path[i], c0, h0)], [_exit(path[j + 1], path[j], c1, h1)]
    return np.vstack([ends[0], path[i:j + 1], ends[1]])


def _candidates(points: np.ndarray):
    """Ways to join the points: a smooth curve through them, the polyline, then bows."""
    t = np.linspace(0, 1, 25)[:-1, None]
    ext = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    yield np.vstack([0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                            + (3 * p1 - p0 - 3 * p2 + p3) * t**3)  # Catmull-Rom
                     for p0, p1, p2, p3 in zip(ext, ext[1:], ext[2:], ext[3:])] + [points[-1:]])
    if len(points) > 2:
        yield np.vstack([a + (b - a) * t for a, b in zip(points, points[1:])] + [points[-1:]])
    a, b = points[0], points[-1]
    t = np.linspace(0, 1, 97)[:, None]
    for bend in (0.15, -0.15, 0.3, -0.3, 0.45, -0.45, 0.6, -0.6, 0.8, -0.8):
        c = (a + b) / 2 + bend * np.array([b[1] - a[1], a[0] - b[0]])
        yield (1 - t) ** 2 * a + 2 * t * (1 - t) * c + t**2 * b  # quadratic Bezier


def _route(points, u, v, pos, half) -> tuple[np.ndarray, float]:
    """The first candidate path that keeps clear of the other labels (else the clearest)."""
    others = [w for w in pos if w not in (u, v)]
    centre = np.array([pos[w] for w in others]).reshape(-1, 2)
    size = np.array([half[w] for w in others]).reshape(-1, 2)
    best, most = None, -1.0
    for path in _candidates(np.asarray(points, dtype=float)):
        path = _clip(path, pos[u], half[u], pos[v], half[v])
        room = _clearance(path, centre, size)
        if room >= CLEAR:
            return path, room
        if room > most:
            best, most = path, room
    return best, most


def geometry(model: Any) -> Geometry:
    """Where :func:`draw_network` puts labels and edges, in inches (deterministic).

    >>> from dgm.pgm.examples import student
    >>> g = geometry(student())
    >>> sorted(g.pos) == sorted(student().variables) and len(g.paths) == len(student().edges)
    True
    """
    half = _half_sizes(model.variables)
    if not hasattr(model, "parents"):
        n = len(model.variables)
        radius = max(0.8, sum(2 * w + SLOT for w, _ in half.values()) / (2 * np.pi))
        angles = 2 * np.pi * np.arange(n) / max(n, 1)
        pos = {v: (radius * float(np.cos(a)), radius * float(np.sin(a)))
               for v, a in zip(model.variables, angles)}
        paths = {(u, v): _route([pos[u], pos[v]], u, v, pos, half)[0] for u, v in model.edges}
        return Geometry(pos, half, paths)
    rows, chains, up, down = _layers(model)
    rows = _order(rows, up, down)
    x = _place(rows, up, down, {it: 2 * half[it][0] + SLOT if isinstance(it, str)
                                else SLOT / 2 for it in up})
    for gap in GAPS:  # the first layer spacing at which every arc clears (else the last)
        y = {it: -gap * i for i, row in enumerate(rows) for it in row}
        pos = {v: (x[v], y[v]) for v in model.variables}
        paths, clear = {}, True
        for u, v in model.edges:
            points = [(x[it], y[it]) for it in chains[u, v]]
            paths[u, v], room = _route(points, u, v, pos, half)
            clear = clear and room >= CLEAR
        if clear:
            break
    return Geometry(pos, half, paths)


def layout(model: Any) -> dict[str, tuple[float, float]]:
    """Label centres in inches: layers for a DAG, a circle for an undirected model."""
    return geometry(model).pos


def _figure(width: float, height: float):
    from dgm.plots import _plt  # (torch-free; matplotlib only when a picture is drawn)

    plt = _plt()
    return plt, plt.figure(figsize=(width, height))


PICTURE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")
"""The suffixes a picture may have: matplotlib writes each in its own format (JPEG through
Pillow, which dgm depends on)."""


def picture_path(path: str | Path) -> tuple[Path, str]:
    """``(path, format)``: ``path`` with ``.png`` added when it has no suffix (as matplotlib
    does), the format its suffix names; a ValueError for any other suffix, which would
    otherwise get PNG bytes under a name that promises something else."""
    path = Path(path)
    if not path.suffix:
        return path.with_suffix(".png"), "png"
    fmt = path.suffix[1:].lower()
    if fmt not in PICTURE_FORMATS:
        allowed = ", ".join(f".{f}" for f in PICTURE_FORMATS)
        raise ValueError(f"{path}: cannot write a {path.suffix} picture; give a file ending "
                         f"in {allowed} (or no suffix, for .png)")
    return path, fmt


def _save_picture(fig, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (checked by the caller with :func:`picture_path` before the
    figure was made) in its suffix's format with :func:`dgm.plots.save_figure`: atomically,
    then closed."""
    from dgm.plots import save_figure

    path, fmt = picture_path(path)
    return save_figure(fig, path, dpi=120, bbox_inches="tight", format=fmt)


def network_figure(model: Any, title: str | None = None):
    """``(pyplot, figure)``: the network drawn at one inch per unit of :func:`geometry`."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MplPath

    g = geometry(model)
    pts = [np.asarray(p) + s * np.asarray(g.half[v]) for v, p in g.pos.items() for s in (-1, 1)]
    pts += list(g.paths.values())
    lo, hi = (np.vstack(pts).min(0), np.vstack(pts).max(0)) if pts else (np.zeros(2), np.ones(2))
    lo, hi = lo - 0.1, np.maximum(hi + 0.1, lo + 1.0)
    plt, fig = _figure(*(hi - lo))
    ax = fig.add_axes((0, 0, 1, 1))
    style = "-|>" if hasattr(model, "parents") else "-"
    for path in g.paths.values():
        ax.add_patch(FancyArrowPatch(path=MplPath(path), arrowstyle=style, mutation_scale=10,
                                     color="0.4", lw=1, zorder=1))
    for v, (x, y) in g.pos.items():
        ax.text(x, y, v, ha="center", va="center", fontsize=FONT, zorder=2,
                bbox={"boxstyle": "round", "fc": "#dde8f5", "ec": "#345"})
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.axis("off")
    ax.set_title(title or getattr(model, "name", ""))
    return plt, fig


def draw_network(model: Any, path: str | Path, title: str | None = None) -> Path:
    """Save a picture of the network's graph to ``path`` (PNG, SVG, PDF or JPEG, by its
    suffix; see :func:`picture_path`); return the path written."""
    picture_path(path)  # a wrong suffix before the layout, which may take a while
    return _save_picture(network_figure(model, title)[1], path)


def plot_mixing(
    curves: Mapping[str, Sequence[float]], path: str | Path, ylabel: str = "total variation to pi"
) -> Path:
    """Save a mixing-curve plot (PNG, or the format of the suffix: see :func:`picture_path`):
    one line per named curve, against the step (log scale).

    Returns the path written.
    """
    picture_path(path)  # a wrong suffix before a figure is made
    _, fig = _figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for label, ys in curves.items():
        ys = np.maximum(np.asarray(ys, dtype=float), 1e-16)
        ax.semilogy(np.arange(len(ys)), ys, label=label)
    ax.set_xlabel("step k")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(True, alpha=0.3)
    return _save_picture(fig, path)
