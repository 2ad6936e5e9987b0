"""Where `dgm pgm draw` puts labels and edges: no edge runs through a label it does not join."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from dgm.pgm.draw import geometry, network_figure
from dgm.pgm.examples import ising_grid, misconception

from .conftest import bif_path, load

ROOM = 0.03  # inches (about 2 points) every edge keeps from every label it does not join


def dense(path: np.ndarray, step: float = 0.005) -> np.ndarray:
    """Points along the drawn polyline, at most ``step`` inches apart."""
    pieces = [path[:1]]
    for a, b in zip(path, path[1:]):
        k = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        pieces.append(a + (b - a) * (np.arange(1, k + 1)[:, None] / k))
    return np.vstack(pieces)


def box_distance(points: np.ndarray, centre, half) -> np.ndarray:
    """Distance from each point to a label box (0 inside it); the box holds the node's disc."""
    gap = np.maximum(np.abs(points - np.asarray(centre)) - np.asarray(half), 0.0)
    return np.hypot(gap[:, 0], gap[:, 1])


def assert_edges_clear(g) -> None:
    for (u, v), path in g.paths.items():
        assert len(path) >= 2 and np.hypot(*(path[-1] - path[0])) > 0.05, (u, v)
        points = dense(path)
        for w in g.pos:
            if w not in (u, v):
                gap = box_distance(points, g.pos[w], g.half[w]).min()
                assert gap >= ROOM, f"edge {u} -> {v} passes {gap:.3f} in from label {w}"
        start = box_distance(path[:1], g.pos[u], g.half[u])[0]
        end = box_distance(path[-1:], g.pos[v], g.half[v])[0]
        assert start <= ROOM and end <= ROOM, f"edge {u} -> {v} does not join its labels"


def chain_with_shortcut():
    """a -> b -> c -> d and a -> d: drawn straight, a -> d runs through b and c."""
    parents = {"a": (), "b": ("a",), "c": ("b",), "d": ("c", "a")}
    return SimpleNamespace(name="shortcut", variables=tuple(parents), parents=parents,
                           edges=[(p, v) for v in parents for p in parents[v]])


def test_an_arc_that_skips_layers_goes_around_the_labels_between():
    g = geometry(chain_with_shortcut())
    assert_edges_clear(g)
    assert [g.pos[v][1] for v in "abcd"] == sorted((g.pos[v][1] for v in "abcd"), reverse=True)


def test_no_edge_of_a_bnlearn_network_passes_through_another_label(network_name):
    g = geometry(load(network_name))
    assert_edges_clear(g)
    for v, p in load(network_name).parents.items():  # a child sits below all its parents
        assert all(g.pos[u][1] > g.pos[v][1] for u in p), v


@pytest.mark.parametrize("model", [misconception, lambda: ising_grid(4)],
                         ids=["misconception", "ising-4x4"])
def test_no_edge_of_a_markov_network_passes_through_another_label(model):
    assert_edges_clear(geometry(model()))


def test_barycenter_sweeps_untangle_two_crossed_chains():
    # topological order a, b, b2, a2 puts the second layer as [b2, a2]: crossed arcs
    parents = {"a": (), "b": (), "b2": ("b",), "a2": ("a",)}
    model = SimpleNamespace(variables=tuple(parents), parents=parents,
                            edges=[(p, v) for v in parents for p in parents[v]])
    pos = geometry(model).pos
    assert (pos["a"][0] < pos["b"][0]) == (pos["a2"][0] < pos["b2"][0])


DIGEST = """
import hashlib, sys
from dgm.pgm import read_bif
from dgm.pgm.draw import geometry
g = geometry(read_bif(sys.argv[1]))
text = repr(sorted(g.pos.items())) + "".join(p.tobytes().hex() for p in g.paths.values())
print(hashlib.sha256(text.encode()).hexdigest())
"""


def test_layout_is_deterministic_across_calls_and_processes():
    first, again = geometry(load("alarm")), geometry(load("alarm"))
    assert first.pos == again.pos and list(first.paths) == list(again.paths)
    assert all(np.array_equal(first.paths[e], again.paths[e]) for e in first.paths)
    digests = set()
    for seed in ("1", "2"):  # another string hash seed: no set or hash order leaks in
        out = subprocess.run([sys.executable, "-c", DIGEST, str(bif_path("alarm"))],
                             env={**os.environ, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, check=True)
        digests.add(out.stdout)
    assert len(digests) == 1


def test_the_picture_draws_the_geometry_at_one_inch_per_unit():
    """The rendered label boxes lie inside the geometry's boxes, and each drawn edge follows
    its geometry path, so the clearance tests above are about the picture itself."""
    model = load("alarm")  # long capitalised labels
    g = geometry(model)
    plt, fig = network_figure(model)
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        unit = ax.transData.transform([(0, 0), (1, 1)])
        assert np.allclose(unit[1] - unit[0], fig.dpi)  # one data unit is one inch
        to_data = ax.transData.inverted()
        for text in ax.texts:
            (x0, y0), (x1, y1) = to_data.transform(text.get_bbox_patch().get_window_extent())
            (cx, cy), (w, h) = g.pos[text.get_text()], g.half[text.get_text()]
            assert cx - w <= x0 and x1 <= cx + w and cy - h <= y0 and y1 <= cy + h, text
        assert len(ax.patches) == len(g.paths)
        for patch, path in zip(ax.patches, g.paths.values()):
            drawn = patch.get_path()  # the line and its arrowhead, in inches
            drawn = drawn.vertices[drawn.codes != drawn.CLOSEPOLY]
            along = dense(path, 0.01)
            gaps = np.hypot(*(drawn[:, None, :] - along[None]).transpose(2, 0, 1)).min(1)
            assert gaps.max() < 0.05 and np.allclose(drawn[0], path[0], atol=0.01)
    finally:
        plt.close(fig)
