"""BIF and UAI readers/writers: bnlearn files, round trips, errors with line numbers."""

from __future__ import annotations

import gzip
import re
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dgm.pgm import BayesianNetwork, BIFError, cpd, parse_bif, read_bif, write_bif
from dgm.pgm.data import read_csv
from dgm.pgm.examples import misconception, student
from dgm.pgm.io.bif import write_bif_string
from dgm.pgm.io.uai import UAIError, parse_uai, read_uai, write_uai, write_uai_string

from .conftest import load

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


A = "variable a { type discrete [ 2 ] { x, y }; }\n"
B = "variable b { type discrete [ 2 ] { u, v }; }\n"
P_A = "probability ( a ) { table 0.5, 0.5; }\n"  # line 3 after A and B

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
        A + "probability ( a ) { table 0.5, 0.6; }\n",
        "line 2: probability of 'a': the table sums to 1.1",
    ),
    ("bogus stuff\n", "line 1: expected 'network', 'variable' or 'probability'"),
    *[
        (
            A + f"probability ( a ) {{ table {bad}, 1; }}\n",
            f"line 2: probability of 'a': '{bad}' is not",
        )
        for bad in ("-0.1", "nan", "inf")
    ],
    (
        A + B + P_A + "probability ( b | a ) {\n (x) 0.5, 0.5;\n (y) 0.7, 0.8;\n}\n",
        r"line 6: probability of 'b': the row for parents \{'a': 'y'\} sums to 1.5, not 1",
    ),
    (
        A + B + P_A + "probability ( b | a ) {\n table 0.5,\n 0.3,\n 0.5,\n 0.8; }\n",
        r"line 6: probability of 'b': the row for parents \{'a': 'y'\} sums to 1.1",
    ),
    (A + B + "probability ( a | a ) { table 0.5, 0.5; }\n", "line 3: .*'a' as its own parent"),
    (A + B + P_A + "probability ( b | a, a ) { table 1, 1; }\n", "line 4: .*parent 'a' twice"),
    ("variable a { type discrete [ 0 ] { }; }\n", "line 1: variable 'a' has no states"),
    (A + B + P_A + "probability ( b | a ) { table 0.5, 0.5, 0.5; }\n", "line 4: .*needs 4 numbers"),
    (A + P_A.replace(" table", "\n table") * 2, "line 4: a second probability block for 'a'"),
    (
        A + B + P_A + "probability ( b | a ) {\n (x) 0.5, 0.5;\n (x) 0.1, 0.9; (y) 0.2, 0.8; }\n",
        r"line 6: row \('x',\) of 'b' is given twice",
    ),
    (
        A + B + P_A + "probability ( b | a ) {\n default 0.5, 0.5;\n default 0.1, 0.9; }\n",
        "line 6: probability of 'b' has a second default row",
    ),
    (
        A + B + P_A + "probability ( b | a ) {\n (x) 0.5, 0.5; }\n",
        r"line 4: probability of 'b' has no row for parents \{'a': 'y'\}",
    ),
    *[  # a row of the wrong length is reported on its own line (5), not the next one
        (
            A + B + P_A + f"probability ( b | a ) {{\n (x) {row};\n (y) 0.2, 0.8;\n}}\n",
            rf"line 5: row \('x',\) of 'b' needs 2 numbers, got {n}",
        )
        for row, n in (("0.5", 1), ("0.5, 0.3, 0.2", 3))
    ],
    (A + "/* a comment\n", "line 2: unterminated comment"),
    (A + 'variable "b { }\n', "line 2: unterminated string"),
    ("/* three\nline\ncomment */ bogus\n", "line 3: expected 'network', 'variable' or"),
    (  # a quoted property value over two lines: 'wat' is on line 5
        A + 'variable b {\n property "drawn at\n (1, 2)";\n wat;\n}\n',
        r"line 5: variable 'b': unexpected 'wat' \(expected 'type' or 'property'\)",
    ),
    (A + "probability ( a ) {\n table 0.5, 0.5;\n", "line 3: unexpected end of file"),
    ("variable a [ 2 ]\n", r"line 1: expected '\{', found '\['"),
    (A + "\n" + A, r"line 3: variable 'a' declared twice \(first on line 1\)"),
    (
        "variable t { type continuous; }\n",
        r"line 1: variable 't': type 'continuous' is not supported \(only 'type discrete'\)",
    ),
    (  # on the line of the declaration, not of the closing brace
        "variable a {\n type discrete [ 2 ] { x, x };\n}\n",
        r"line 2: variable 'a' has the state 'x' twice: \['x', 'x'\]",
    ),
    ("variable a {\n property p = 1;\n}\n" + P_A, "line 1: variable 'a' has no 'type discrete"),
    (A + B + P_A, "line 2: no probability block for variable 'b'$"),
    (A + "probability ( ) { table 1; }\n", r"line 2: 'probability \( \)' names no variable"),
    (
        A + B + P_A + "probability ( b | a ) {\n default 0.5, 0.6; }\n",
        "line 5: probability of 'b': the default row sums to 1.1, not 1",
    ),
    (
        A + B + P_A + "probability ( b | a ) {\n default 0.2, 0.3, 0.5; }\n",
        "line 5: default row of 'b' needs 2 numbers, got 3",
    ),
    (
        A + B + P_A + "probability ( b | a ) {\n (x) 0.5, 0.5;\n table 0.5, 0.5, 0.5, 0.5; }\n",
        "line 6: table of 'b' repeats rows given earlier in the block",
    ),
    (
        A + B + P_A + "probability ( b | a ) {\n (x, u) 0.5, 0.5; }\n",
        r"line 5: row \('x', 'u'\) of 'b' gives 2 parent states, but 'b' has 1 parent \['a'\]",
    ),
    (
        A + "probability ( a ) {\n tabel 0.5, 0.5; }\n",
        r"line 3: probability of 'a': unexpected 'tabel' \(expected 'table', 'default'",
    ),
    (  # 28 binary parents: one default row would ask for 2^29 float64 entries (4 GB)
        "".join(f"variable p{i} {{ type discrete [ 2 ] {{ u, v }}; }}\n" for i in range(28))
        + A + "probability ( a | " + ", ".join(f"p{i}" for i in range(28))
        + " ) {\n default 0.5, 0.5; }\n",
        "line 30: the table of 'a' given 28 parents has 536,870,912 entries; at most",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_BIF)
def test_malformed_bif_error_names_file_and_line(text, message):
    with pytest.raises(BIFError, match="^bad.bif, line [0-9]+: ") as err:
        parse_bif(text, source="bad.bif")
    err.match(message)


DOG = (
    "variable fo { type discrete [ 2 ] { true, false }; }\n"
    "variable bp { type discrete [ 2 ] { true, false }; }\n"
    "variable do { type discrete [ 2 ] { true, false }; }\n"
    "probability ( fo ) { table 0.15, 0.85; }\n"
    "probability ( bp ) { table 0.01, 0.99; }\n"
    "probability ( do | bp, fo ) { table 0.99, 0.97, 0.9, 0.3, 0.01, 0.03, 0.1, 0.7; }\n"
)
MIXED = (  # parents of different sizes, so a wrong order cannot pass by symmetry
    "variable a { type discrete [ 2 ] { a0, a1 }; }\n"
    "variable b { type discrete [ 3 ] { b0, b1, b2 }; }\n"
    "variable c { type discrete [ 2 ] { c0, c1 }; }\n"
    "probability ( a ) { table 0.2, 0.8; }\n"
    "probability ( b ) { table 0.2, 0.3, 0.5; }\n"
    "probability ( c | a, b ) {\n"
    "  table 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4;\n}\n"
)


def test_table_with_parents_lists_the_child_slowest():
    bn = parse_bif(DOG)  # the JavaBayes dog-problem: P(do = true | bp, fo)
    p_true = bn.cpds["do"].transpose(["do", "bp", "fo"]).values[0]
    assert p_true.tolist() == [[0.99, 0.97], [0.9, 0.3]]
    back = parse_bif(write_bif_string(bn))
    assert all(back.cpds[v].allclose(bn.cpds[v]) for v in bn.variables)


@pytest.mark.parametrize("text", [DOG, MIXED], ids=["dog", "mixed"])
def test_table_order_agrees_with_pgmpy(text):
    pytest.importorskip("pgmpy")
    from pgmpy.readwrite import BIFReader

    ours = parse_bif(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = BIFReader(string=text).get_model()
    for v in ours.variables:
        their_cpd = theirs.get_cpds(v)
        assert {u: tuple(s) for u, s in their_cpd.state_names.items()} == ours.cpds[v].state_names
        assert np.allclose(ours.cpds[v].transpose(their_cpd.variables).values, their_cpd.values)


@pytest.mark.parametrize(
    "text",
    ["", "network e {\n}\n", "// nothing but a comment\n"],
    ids=["empty", "no-variables", "comment"],
)
def test_bif_without_variables_is_refused(tmp_path, text):
    path = tmp_path / "empty.bif"
    path.write_text(text)
    with pytest.raises(BIFError, match=f"^{re.escape(str(path))}: no variables"):
        read_bif(path)


def test_bif_with_a_cycle_is_refused_naming_the_file_and_the_cycle(tmp_path):
    path = tmp_path / "loop.bif"
    path.write_text(A + B + "probability ( a | b ) { table 1, 0, 0, 1; }\n"
                    "probability ( b | a ) { table 1, 0, 0, 1; }\n")
    with pytest.raises(BIFError, match=f"^{re.escape(str(path))}: the graph has a cycle: "):
        read_bif(path)


def test_bif_comments_quotes_properties_and_default_rows_are_read():
    text = (
        "/* written by an editor,\n   over two lines */\n"
        'network "my net" { property version 1.0; }\n'
        'variable a { type discrete [ 3 ] { lo, mid, "very high" }; property xy = (1, 2); }\n'
        + B
        + "probability ( a ) { table 0.2, 0.3, 0.5; }\n"
        "probability ( b | a ) {\n"
        '  property note = "default first";\n'
        "  default 0.5, 0.5;\n"
        "  (mid) 0.9, 0.1;\n"
        "}\n"
    )
    bn = parse_bif(text)
    assert bn.name == "my net"
    assert bn.states["a"] == ("lo", "mid", "very high")
    b_given_a = bn.cpds["b"].transpose(["a", "b"]).values
    assert b_given_a.tolist() == [[0.5, 0.5], [0.9, 0.1], [0.5, 0.5]]


@pytest.mark.parametrize("compressed", [True, False], ids=["gzipped", "plain"])
@pytest.mark.parametrize("name", ["net", "net.txt", "net.gz"])
@pytest.mark.parametrize(
    ("suffix", "text", "reader", "parse"),
    [
        (".bif", write_bif_string(student()), read_bif, parse_bif),
        (".uai", write_uai_string(student()), read_uai, parse_uai),
    ],
    ids=["bif", "uai"],
)
def test_network_file_is_read_whether_gzipped_or_not_whatever_its_name(
    tmp_path, compressed, name, suffix, text, reader, parse
):
    """gzip is told by its magic bytes, not by the name: a.bif may be gzipped, a.gz plain."""
    path = tmp_path / name.replace("net", "net" + suffix, 1)
    path.write_bytes(gzip.compress(text.encode()) if compressed else text.encode())
    assert reader(path).states == parse(text).states


@pytest.mark.parametrize(
    ("declared", "file", "expected"),
    [
        ("unknown", "asia.bif.gz", "asia"),
        ("unknown", "my-net.bif", "my-net"),
        ("dog", "d.bif", "dog"),
    ],
)
def test_network_named_unknown_is_named_after_its_file(tmp_path, declared, file, expected):
    text = write_bif_string(student()).replace("network student", f"network {declared}", 1)
    path = tmp_path / file
    path.write_bytes(gzip.compress(text.encode()) if file.endswith(".gz") else text.encode())
    assert read_bif(path).name == expected


def test_bif_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "bom.bif"
    path.write_bytes(b"\xef\xbb\xbf" + write_bif_string(student()).encode())
    assert read_bif(path).states == student().states


# Names the BIF writer must accept: no white space, quote or delimiter, and "/" or "*"
# only after the first character (a leading // or /* would start a comment).
FIRST = "abcxyzAZ019_-.+'#=!é"
NAME = st.one_of(
    st.builds(str.__add__, st.sampled_from(FIRST), st.text(FIRST + "/*", max_size=4)),
    st.sampled_from(["network", "variable", "probability", "table", "type", "discrete"]),
)


def two_node_net(net: str, var: str, child: str, s0: str, s1: str) -> BayesianNetwork:
    """``var -> child``; ``var`` has the states ``s0, s1`` and ``child`` copies it."""
    states = {var: (s0, s1)}
    return BayesianNetwork(
        [cpd(var, [0.25, 0.75], state_names=states), cpd(child, [[1, 0], [0, 1]], [var], states)],
        name=net,
    )


@settings(max_examples=60, deadline=None)
@given(NAME, st.lists(NAME, min_size=4, max_size=4, unique=True))
@example("n", ["v", "c", "x/*", "y//"])
@example("table", ["network", "variable", "probability", "type"])
def test_names_without_blanks_quotes_or_delimiters_round_trip_through_bif(net, names):
    bn = two_node_net(net, *names)
    back = parse_bif(write_bif_string(bn))
    assert (back.name, back.states, back.parents) == (net, bn.states, bn.parents)
    assert all(np.array_equal(back.cpds[v].values, bn.cpds[v].values) for v in bn.variables)


REFUSED = [
    "",
    "a b",
    "a\tb",
    "a\nb",
    "a\u00a0b",  # a non-breaking space is white space too
    'a"b',
    *(f"a{d}b" for d in "{}()[],;|"),
    "//x",
    "/*x",
]
POSITIONS = {
    "network name": lambda name: two_node_net(name, "v", "c", "x", "y"),
    "variable": lambda name: two_node_net("n", name, "c", "x", "y"),
    "state": lambda name: two_node_net("n", "v", "c", "x", name),
}


@pytest.mark.parametrize("kind", POSITIONS)
@pytest.mark.parametrize("name", REFUSED)
def test_bif_writer_refuses_a_name_the_reader_would_split_naming_it(kind, name):
    bn = POSITIONS[kind](name)
    with pytest.raises(ValueError, match=re.escape(f"{kind} {name!r} cannot be written to BIF")):
        write_bif_string(bn)


def test_bif_error_names_the_file_path(tmp_path):
    path = tmp_path / "broken.bif.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("variable a { type discrete [ 2 ] { x, y }; }\nprobability ( a ) { table 0.5; }\n")
    with pytest.raises(BIFError, match=r"broken\.bif\.gz, line 2: table of 'a' needs 2 numbers"):
        read_bif(path)


@pytest.mark.parametrize(
    ("name", "text", "reader", "error"),
    [
        ("t.bif.gz", write_bif_string(student()), read_bif, BIFError),
        ("t.uai.gz", write_uai_string(misconception()), read_uai, UAIError),
    ],
    ids=["bif", "uai"],
)
def test_truncated_gzip_file_error_names_the_file(tmp_path, name, text, reader, error):
    path = tmp_path / name
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(error, match=f"^{re.escape(str(path))}: truncated or corrupt file"):
        reader(path)


@pytest.mark.parametrize(
    "text",
    ["A,B\nx,y\n\n", "\ufeffA,B\nx,y\n", "A,B\n\nx,y\n", 'A,B\n"x\n",y\n'],
    ids=["trailing-blank-line", "byte-order-mark", "blank-line", "quoted-newline"],
)
def test_csv_reader_skips_blank_lines_and_a_byte_order_mark(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    assert read_csv(path) == {"A": ["x"], "B": ["y"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A,B,A\nx,y,x\n", r"t\.csv, line 1: column 'A' appears twice in the header"),
        ('A,B\n"x\n\n",y\nz\n', r"t\.csv, line 5: 1 fields, header has 2"),  # row 1: lines 2-4
    ],
    ids=["repeated-column", "after-a-quoted-newline"],
)
def test_malformed_csv_error_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_csv(path)


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
    ("MARKOV\n2\n2 2\n1\n2 0 1\n\n4\n1 2 3\n", "line 8: unexpected end of file"),
    ("BAYES\n2\n2 2\n1\n1 0\n\n2\n0.5 0.5\n", r"BAYES variables \[1\] have no CPD"),
    ("MARKOV\ntwo\n", "line 2: expected the number of variables \\(an integer\\), found 'two'"),
    ("MARKOV\n2\n2 0\n", "line 3: the cardinality of variable 1 must be at least 1, found 0"),
    ("MARKOV\n2\n2 2\n1\n2 0 -1\n", r"line 5: variable index -1 out of range \(2 variables\)"),
    ("MARKOV\n0\n\n1\n1 0\n", r"line 5: variable index 0 out of range \(0 variables\)"),
    (
        "MARKOV\n2\n2 2\n1\n2 1 1\n",
        r"line 5: factor 0: variable 1 appears twice in its scope \[1, 1\]",
    ),
    *[  # reported on the line of the bad entry (8), not of the table's last one (9)
        (
            f"MARKOV\n2\n2 2\n1\n2 0 1\n\n4\n1 {bad}\n2 4\n",
            rf"line 8: table of factor 0 \(scope \[0, 1\]\): entry 1 is '{bad}', not a finite",
        )
        for bad in ("-3", "nan", "inf")
    ],
    ("MARKOV\n1\n2\n1\n1 0\n\n2\n1 1\n3\n", "line 9: unexpected trailing token '3'"),
    (
        "BAYES\n1\n2\n1\n1 0\n\n2\n0.5 0.6\n",
        "^bad.uai: CPD of 'x0': the table sums to 1.1, not 1",
    ),
    (
        "BAYES\n2\n2 2\n2\n2 1 0\n2 0 1\n\n4\n1 0 0 1\n4\n1 0 0 1\n",
        "^bad.uai: the graph has a cycle: x[01] -> x[01] -> x[01]",
    ),
    # sizes: a variable no factor mentions once got a table of 10^11 ones (745 GiB), and
    # 65536^4 = 2^64 wrapped to 0 in an int64, matching a table size of 0
    ("MARKOV\n1\n100000000000\n0\n",
     r"line 3: variable 0 \(x0\) has 100000000000 states; at most 1,000,000 are supported"),
    ("MARKOV\n2\n2 4294967296\n1\n2 0 1\n0\n", r"line 3: variable 1 \(x1\) has 4294967296"),
    ("MARKOV\n4\n65536 65536 65536 65536\n1\n4 0 1 2 3\n0\n",
     rf"line 6: table for scope \[0, 1, 2, 3\] needs {2**64} entries, says 0"),
]


@pytest.mark.parametrize(("text", "message"), BAD_UAI)
def test_malformed_uai_error_names_the_line(text, message):
    with pytest.raises(UAIError, match=r"^bad\.uai[,:] ") as err:
        parse_uai(text, source="bad.uai")
    err.match(message)


def test_uai_markov_keeps_variables_that_no_factor_mentions():
    mn = parse_uai("MARKOV\n3\n2 2 3\n1\n2 0 1\n\n4\n1 2 3 4\n")  # x2 (3 states) is free
    back = parse_uai(write_uai_string(mn))
    for m in (mn, back):
        assert m.cardinality == {"x0": 2, "x1": 2, "x2": 3}
        assert m.partition_function() == pytest.approx(30.0)


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


def test_an_interrupted_csv_write_leaves_the_old_file_whole(tmp_path):
    """Ctrl-C while `dgm pgm sample -o F` streams rows: F keeps its old content (or does not
    exist) and no temporary file is left beside it."""
    from dgm.pgm.data import write_csv

    target = tmp_path / "samples.csv"
    write_csv(target, ["A"], [["old"]])

    def rows():
        yield ["x"]
        yield ["y"]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_csv(target, ["A"], rows())
    assert read_csv(target) == {"A": ["old"]}
    assert [p.name for p in tmp_path.iterdir()] == ["samples.csv"]


@pytest.mark.parametrize("suffix", [".bif", ".bif.gz", ".uai"])
def test_network_writers_replace_the_file_whole(tmp_path, suffix):
    target = tmp_path / f"net{suffix}"
    target.write_text("stale")
    (write_uai if suffix == ".uai" else write_bif)(student(), target)
    reread = (read_uai if suffix == ".uai" else read_bif)(target)
    assert len(reread.variables) == 5  # (UAI files have no names: x0 ..)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
