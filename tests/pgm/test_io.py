"""BIF and UAI readers/writers: bnlearn files, round trips, errors with line numbers."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from dgm.pgm import BIFError, parse_bif, read_bif, write_bif
from dgm.pgm.examples import misconception, student
from dgm.pgm.io.uai import UAIError, parse_uai, read_uai, write_uai, write_uai_string

from .conftest import bif_path, load

EXPECTED_SIZES = {
    "asia": 8,
    "cancer": 5,
    "earthquake": 5,
    "survey": 6,
    "sachs": 11,
    "child": 20,
    "insurance": 27,
    "alarm": 37,
}


def test_bnlearn_network_reads_with_all_nodes(network_name):
    assert len(load(network_name).variables) == EXPECTED_SIZES[network_name]


@pytest.mark.parametrize(
    ("variable", "state"),
    [
        ("ChestXray", "Asy/Patch"),
        ("XrayReport", "Asy/Patchy"),
        ("CO2Report", ">=7.5"),
        ("CardiacMixing", "Transp."),
        ("LowerBodyO2", "12+"),
        ("Age", "0-3_days"),
    ],
)
def test_punctuated_state_names_survive_reading(variable, state):
    assert state in load("child").states[variable]


@pytest.mark.parametrize("suffix", [".bif", ".bif.gz"])
def test_bif_round_trip_keeps_cpds_and_states(tmp_path, suffix):
    bn = load("child")
    path = tmp_path / f"child{suffix}"
    write_bif(bn, path)
    back = read_bif(path)
    assert back.states == bn.states
    for v in bn.variables:
        assert back.cpds[v].allclose(bn.cpds[v])


BAD_BIF = [
    (
        "variable a { type discrete [ 2 ] { x, y }; }\nprobability ( a ) { table 0.5, oops; }\n",
        "line 2: expected a probability, found 'oops'",
    ),
    (
        "variable a { type discrete [ 3 ] { x, y }; }\n",
        "line 1: variable 'a': \\[3\\] states declared, 2 listed",
    ),
    (
        "variable a { type discrete [ 2 ] { x, y }; }\n\nprobability ( a | b ) { (x) 0.5, 0.5; }\n",
        "line 3: probability block uses undeclared variable 'b'",
    ),
    (
        "variable a { type discrete [ 2 ] { x, y }; }\n"
        "variable b { type discrete [ 2 ] { u, v }; }\n"
        "probability ( a ) { table 0.5, 0.5; }\n"
        "probability ( b | a ) {\n (x) 0.5, 0.5;\n (z) 0.5, 0.5;\n}\n",
        "line 6: unknown state 'z' of parent 'a'",
    ),
    (
        "variable a { type discrete [ 2 ] { x, y }; }\nprobability ( a ) { table 0.5, 0.6; }\n",
        "sums to 1.1",
    ),
    ("bogus stuff\n", "line 1: expected 'network', 'variable' or 'probability'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_BIF)
def test_malformed_bif_error_names_file_and_line(text, message):
    with pytest.raises(BIFError, match=message):
        parse_bif(text, source="bad.bif")


def test_bif_error_names_the_file_path(tmp_path):
    path = tmp_path / "broken.bif.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("variable a { type discrete [ 2 ] { x, y }; }\nprobability ( a ) { table 0.5; }\n")
    with pytest.raises(BIFError, match=r"broken\.bif\.gz, line 2: table of 'a' needs 2 numbers"):
        read_bif(path)


@pytest.mark.parametrize("model", [misconception, student], ids=["markov", "bayes"])
def test_uai_round_trip_keeps_the_distribution(tmp_path, model):
    m = model()
    path = tmp_path / "m.uai"
    write_uai(m, path)
    back = read_uai(path)
    grid = np.array(list(np.ndindex(*[len(m.states[v]) for v in m.variables])))
    assert np.allclose(back.log_probability(grid), m.log_probability(grid))


BAD_UAI = [
    (
        "MARKOV\n2\n2 2\n1\n2 0 1\n\n3\n1 2 3\n",
        "line 7: table for scope \\[0, 1\\] needs 4 entries, says 3",
    ),
    (
        "MARKOV\n2\n2 2\n1\n2 0 1\n\n4\n1 2 x 3\n",
        "line 8: expected a table entry \\(a number\\), found 'x'",
    ),
    ("GRAPH\n", "line 1: expected MARKOV or BAYES"),
    ("MARKOV\n2\n2 2\n1\n2 0 1\n\n4\n1 2 3\n", "unexpected end of file"),
]


@pytest.mark.parametrize(("text", "message"), BAD_UAI)
def test_malformed_uai_error_names_the_line(text, message):
    with pytest.raises(UAIError, match=message):
        parse_uai(text)


def test_uai_bayes_file_of_a_bnlearn_network_gives_the_same_posteriors():
    bn = load("asia")
    back = parse_uai(write_uai_string(bn))
    names = {v: f"x{i}" for i, v in enumerate(bn.variables)}
    ev = {"xray": 0, "dysp": 0}
    ours = bn.query("lung", ev).values
    theirs = back.query(names["lung"], {names[k]: s for k, s in ev.items()}).values
    assert np.allclose(ours, theirs)


def test_pgmpy_round_trip_keeps_posteriors():
    pytest.importorskip("pgmpy")
    from dgm.pgm.interop import from_pgmpy, to_pgmpy

    bn = load("sachs")
    back = from_pgmpy(to_pgmpy(bn))
    ev = {"Erk": "HIGH", "PKA": "LOW"}
    assert back.query("Akt", ev).allclose(bn.query("Akt", ev))


def test_networkx_graph_has_the_arcs():
    pytest.importorskip("networkx")
    from dgm.pgm.interop import to_networkx

    g = to_networkx(load("asia"))
    assert sorted(g.predecessors("either")) == ["lung", "tub"]
    assert g.nodes["asia"]["states"] == ["yes", "no"]


def test_bif_path_fixture_points_at_gzip_files():
    assert bif_path("asia").name == "asia.bif.gz"
