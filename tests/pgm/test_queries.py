"""Exact queries: batched posteriors, soft evidence, MAP, errors for bad evidence."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from dgm.pgm import BayesianNetwork, ImpossibleEvidenceError, cpd
from dgm.pgm.data import TableError, encode_table
from dgm.pgm.examples import misconception, student

from .conftest import load


def evidence_table(bn, n: int, seed: int, target: str, frac_missing: float = 0.2):
    rng = np.random.default_rng(seed)
    samples = bn.sample(n, seed=seed)
    cols = [v for v in bn.variables if v != target][:: max(1, len(bn.variables) // 6)]
    table = {}
    for c in cols:
        codes = samples[:, bn.variables.index(c)].copy()
        codes[rng.random(n) < frac_missing] = -1
        table[c] = codes
    return table


@pytest.mark.parametrize("name", ["asia", "child", "alarm"])
def test_batched_posteriors_equal_one_by_one_queries(name):
    bn = load(name)
    target = bn.variables[len(bn.variables) // 2]
    table = evidence_table(bn, 300, seed=1, target=target)
    batch = bn.query_batch(target, table, chunk_size=128)
    for i in range(0, 300, 23):
        ev = {c: int(codes[i]) for c, codes in table.items() if codes[i] >= 0}
        assert np.abs(batch[i] - bn.query(target, ev).values).max() < 1e-12


def test_batched_rows_accept_state_names_and_missing_entries():
    bn = student()
    rows = [{"G": "g1", "S": "1"}, {"G": None, "S": "0"}, {"G": "g3"}]
    out = bn.query_batch("I", rows)
    expected = [
        bn.query("I", {"G": "g1", "S": "1"}),
        bn.query("I", {"S": "0"}),
        bn.query("I", {"G": "g3"}),
    ]
    assert np.allclose(out, [f.values for f in expected])


@pytest.mark.parametrize("marker", ["NA", "?", "nan", ""])
def test_evidence_in_a_state_named_like_a_missing_value_is_observed(marker):
    states = {"A": ("yes", marker), "B": ("lo", "hi")}
    prior = cpd("A", [0.5, 0.5], state_names=states)
    bn = BayesianNetwork([prior, cpd("B", [[0.9, 0.1], [0.2, 0.8]], ["A"], states)])
    other = "?" if marker != "?" else "NA"  # a missing marker that is not a state stays missing
    expected = [bn.query("B", {"A": marker}).values, bn.query("B").values]
    assert np.allclose(bn.query_batch("B", {"A": [marker, other]}), expected)
    assert np.allclose(bn.query_batch("B", [{"A": marker}, {"A": other}]), expected)


NUMBERED = ("1", "2", "3")


def pandas_csv(text: str):
    return pytest.importorskip("pandas").read_csv(io.StringIO(text))


@pytest.mark.parametrize(
    ("states", "table", "expected"),
    [
        (NUMBERED, lambda: {"A": [1, 2, 2]}, [0, 1, 1]),
        (NUMBERED, lambda: {"A": np.array([3, 1], dtype=np.uint8)}, [2, 0]),
        (NUMBERED, lambda: [{"A": 1}, {"A": np.int64(2)}, {"A": "3"}], [0, 1, 2]),
        (NUMBERED, lambda: pandas_csv("A\n1\n2\n2\n"), [0, 1, 1]),  # an int64 column
        (NUMBERED, lambda: pandas_csv("A,B\n1,x\n,y\n3,z\n")[["A"]], [0, -1, 2]),  # float, NaN
        (NUMBERED, lambda: {"A": [-1, 2]}, [-1, 1]),  # -1 is missing unless a state is named -1
        (("-1", "+1"), lambda: {"A": [-1, 1, 1]}, [0, 1, 1]),  # an Ising spin's states
        (("0", "1"), lambda: {"A": [1, 0, -1]}, [1, 0, -1]),  # names and indices agree
        (("a", "b", "c"), lambda: {"A": [2, 0]}, [2, 0]),  # other names: integers are indices
        (NUMBERED, lambda: np.array([[0], [2]]), [0, 2]),  # a 2-D code array holds indices
    ],
    ids=[
        "list",
        "uint8",
        "rows",
        "pandas-int",
        "pandas-float",
        "missing",
        "signed",
        "zero-based",
        "letters",
        "code-array",
    ],
)
def test_integers_are_state_names_when_every_state_is_named_by_an_integer(states, table, expected):
    cols, codes = encode_table(table(), {"A": states})
    assert cols == ["A"] and codes.ravel().tolist() == expected


def test_an_integer_that_names_no_state_is_reported():
    with pytest.raises(ValueError, match=r"row 1, column 'A': no state named 4; states are"):
        encode_table({"A": [1, 4]}, {"A": NUMBERED})


def test_decimal_numbers_are_read_as_the_state_names_they_spell():
    cols, codes = encode_table({"A": [1.5, 0.5, np.nan]}, {"A": ("0.5", "1.5")})
    assert codes.ravel().tolist() == [1, 0, -1]


XY = {"A": ("x", "y"), "B": ("u", "v")}


@pytest.mark.parametrize(
    ("table", "states", "kwargs", "error", "message"),
    [
        ({"A": np.array([0, 5])}, XY, {}, TableError,
         r"^row 1, column 'A': state index 5 out of range for 2 states \['x', 'y'\]$"),
        ([{"A": 1}, {"A": 4}], {"A": NUMBERED}, {}, TableError,
         r"^row 1, column 'A': no state named 4; states are \['1', '2', '3'\]$"),
        ([{"A": "x"}, {"A": 2}], XY, {}, TableError,
         r"^row 1, column 'A': state index 2 out of range for 2 states \['x', 'y'\]$"),
        ([{"A": "x"}, {"A": "maybe"}], XY, {}, TableError,
         r"^row 1, column 'A': unknown state 'maybe'; states are \['x', 'y'\]$"),
        ({"A": ["x", None]}, XY, {"allow_missing": False}, TableError,
         "^row 1, column 'A': missing value where complete data is needed$"),
        ({"A": [["x", "y"], ["y", "x"]]}, XY, {}, ValueError,
         r"column 'A' must be one-dimensional, got shape \(2, 2\)"),
        ({"A": ["x", "y"], "B": ["u"]}, XY, {}, ValueError,
         "column 'B' has 1 rows, but column 'A' has 2"),
        (np.array([0, 1]), XY, {}, ValueError, r"an array table must be 2-D, got shape \(2,\)"),
        (np.zeros((4, 3), dtype=int), XY, {}, ValueError,
         r"the table array has 3 columns but 2 column names \['A', 'B'\]"),
        (csv.DictReader(io.StringIO("A\nx\n")), XY, {}, TypeError,
         "cannot read a table from a DictReader: give a mapping"),
    ],
    ids=[
        "index-out-of-range",
        "integer-names-no-state",
        "index-in-rows",
        "unknown-name-in-rows",
        "missing-in-complete-data",
        "2-d-column",
        "ragged-columns",
        "1-d-array",
        "array-columns",
        "csv-reader",
    ],
)
def test_bad_table_error_names_the_row_column_and_value(table, states, kwargs, error, message):
    with pytest.raises(error, match=message):
        encode_table(table, states, **kwargs)


@pytest.mark.parametrize("table", [[[0, 1]], ["AB"], [{"A": "x"}, ("A", "x")]])
def test_rows_that_are_not_mappings_are_a_type_error(table):
    with pytest.raises(TypeError, match=r"row \d of the table is a \w+, not a mapping"):
        encode_table(table, {"A": ("x", "y"), "B": ("x", "y")})


def test_soft_evidence_equals_hard_evidence_for_an_indicator_and_reweights_otherwise():
    bn = student()
    hard = bn.query("I", {"G": "g2"}).values
    assert np.allclose(bn.query("I", soft_evidence={"G": [0, 1, 0]}).values, hard)
    lik = np.array([0.2, 0.5, 0.3])
    joint = bn.query(["I", "G"]).values * lik
    assert np.allclose(bn.query("I", soft_evidence={"G": lik}).values, joint.sum(1) / joint.sum())
    rows = np.array([[0, 1, 0], [0.2, 0.5, 0.3]])
    assert np.allclose(
        bn.query_batch("I", soft_evidence={"G": rows})[1], joint.sum(1) / joint.sum()
    )


def test_impossible_rows_are_named_in_the_error():
    bn = load("asia")
    table = {"lung": ["yes", "no", "yes"], "either": ["yes", "no", "no"]}
    with pytest.raises(ImpossibleEvidenceError, match=r"rows \[2\]"):
        bn.query_batch("dysp", table)


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ({"lung": "perhaps"}, "unknown state 'perhaps' for variable 'lung'"),
        ({"lungs": "yes"}, r"unknown evidence variables \['lungs'\]; .*did you mean 'lung'\?"),
        ({"dysp": "yes"}, "both queried and observed"),
    ],
)
def test_bad_evidence_gets_a_clear_error(evidence, message):
    with pytest.raises(ValueError, match=message):
        load("asia").query("dysp", evidence)


@pytest.mark.parametrize(
    ("ask", "message"),
    [
        (lambda bn: bn.map_query(["G"], {"G": "g3"}), r"\['G'\] are both queried and observed"),
        (lambda bn: bn.map_query(["I", "G"], {"G": 2}), r"\['G'\] are both queried and observed"),
        (
            lambda bn: bn.query("I", {"L": "1"}, soft_evidence={"L": [0.2, 0.8]}),
            r"\['L'\] have both hard and soft evidence",
        ),
        (
            lambda bn: bn.log_probability_of_evidence({"L": "1"}, soft_evidence={"L": [0.2, 0.8]}),
            r"\['L'\] have both hard and soft evidence",
        ),
    ],
    ids=["map", "marginal-map", "query-soft", "log-p-soft"],
)
def test_conflicting_query_and_evidence_is_rejected(ask, message):
    with pytest.raises(ValueError, match=message):
        ask(student())


def naive_bayes(n: int, p_one: tuple[float, float]) -> BayesianNetwork:
    """``C -> F0 .. F{n-1}``, ``P(F = 1 | C = c) = p_one[c]``, ``P(C)`` uniform."""
    rows = [[1 - p_one[0], p_one[0]], [1 - p_one[1], p_one[1]]]
    return BayesianNetwork([cpd("C", [0.5, 0.5])] + [cpd(f"F{i}", rows, ["C"]) for i in range(n)])


@pytest.mark.parametrize(
    ("n", "p_one"),
    [(62, (0.1, 0.4)), (400, (0.01, 0.02))],  # more tables than einsum takes; P(e) underflows
)
def test_many_observed_children_of_one_variable_match_the_closed_form(n, p_one):
    bn = naive_bayes(n, p_one)
    ev = {f"F{i}": "1" for i in range(n)}
    log_joint = np.log(0.5) + n * np.log(p_one)
    log_pe = np.logaddexp(*log_joint)
    post = np.exp(log_joint - log_pe)
    assert bn.log_probability_of_evidence(ev) == pytest.approx(log_pe, rel=1e-12)
    assert bn.query("C", ev).values == pytest.approx(post, rel=1e-9, abs=0)
    batch = bn.query_batch("C", {v: [s, None] for v, s in ev.items()})
    assert batch == pytest.approx(np.array([post, [0.5, 0.5]]), rel=1e-9, abs=0)


def joint_by_factor_algebra(bn: BayesianNetwork, target: str, evidence: dict) -> np.ndarray:
    """``P(target, evidence)`` by Factor products and sums, children before parents.

    A second elimination order (reverse topological) in other code than ``query`` uses.
    """
    factors = [
        f.reduce({v: s for v, s in evidence.items() if v in f.variables}) for f in bn.cpds.values()
    ]
    for v in reversed(bn.variables):
        if v != target and v not in evidence:
            touching = [f for f in factors if v in f.variables]
            factors = [f for f in factors if v not in f.variables]
            factors.append(touching[0].product(*touching[1:]).marginalize([v]))
    return factors[0].product(*factors[1:]).transpose([target]).values


def test_tiny_evidence_probability_and_posterior_match_a_second_elimination_order():
    bn = load("alarm")
    ev = {v: bn.states[v][-1] for v in bn.variables[:20]}
    joint = joint_by_factor_algebra(bn, "HR", ev)
    assert 1e-10 < joint.sum() < 1e-9  # possible but tiny: P(e) = 1.88e-10
    assert bn.probability_of_evidence(ev) == pytest.approx(joint.sum(), rel=1e-10)
    post = bn.query("HR", ev).values
    assert np.all(np.isfinite(post)) and np.abs(post - joint / joint.sum()).max() < 1e-12


def test_mpe_of_student_matches_enumeration():
    bn = student()
    grid = np.array(list(bn.states_product(bn.variables)))
    logp = bn.log_probability(grid) + np.where(grid[:, 4] == 1, 0, -np.inf)
    best = grid[np.argmax(logp)]
    expected = {v: bn.states[v][i] for v, i in zip(bn.variables, best) if v != "L"}
    assert bn.map_query(evidence={"L": 1}) == expected


def test_marginal_map_sums_out_the_rest():
    bn = student()
    joint = bn.query(["I", "D"], {"L": 0}).values
    i, d = np.unravel_index(np.argmax(joint), joint.shape)
    assert bn.map_query(["I", "D"], {"L": 0}) == {"I": str(i), "D": str(d)}


def test_probability_of_evidence_sums_to_one_over_states():
    bn = load("survey")
    v = bn.variables[-1]
    total = sum(
        bn.probability_of_evidence({v: s, bn.variables[0]: bn.states[bn.variables[0]][0]})
        for s in bn.states[v]
    )
    assert total == pytest.approx(bn.query(bn.variables[0]).values[0])


def test_markov_network_batch_matches_single_queries():
    mn = misconception()
    rows = {"A": [0, 1, -1], "C": [1, -1, 0]}
    out = mn.query_batch("B", rows)
    assert np.allclose(out[0], mn.query("B", {"A": 0, "C": 1}).values)
    assert np.allclose(out[1], mn.query("B", {"A": 1}).values)
    assert np.allclose(out[2], mn.query("B", {"C": 0}).values)


def certain() -> BayesianNetwork:
    """``A -> B`` with ``A = 0`` for sure: any evidence ``A = 1`` is impossible."""
    return BayesianNetwork([cpd("A", [1.0, 0.0]), cpd("B", [[0.5, 0.5], [0.1, 0.9]], ["A"])])


@pytest.mark.parametrize(
    ("ask", "error", "message"),
    [
        (lambda: student().query("I", soft_evidence={"L": [0.2, 0.5, 0.3]}), ValueError,
         "soft evidence for 'L' needs 2 non-negative numbers"),
        (lambda: student().query("I", soft_evidence={"L": [0.2, -0.5]}), ValueError,
         "soft evidence for 'L' needs 2 non-negative numbers"),
        (lambda: student().query("I", soft_evidence={"L": np.ones((3, 2))}), ValueError,
         r"'L' has shape \(3, 2\); give \(2,\) likelihoods \(or one row per example, with "
         "query_batch"),
        (lambda: student().query_batch("I", {"S": [0, 1, 1]}, {"L": np.ones((3, 2, 2))}),
         ValueError, r"'L' has shape \(3, 2, 2\); give \(2,\) likelihoods or \(3, 2\)"),
        (lambda: student().query_batch("I", {"S": [0, 1, 1]}, {"L": np.ones((2, 2))}),
         ValueError, "soft evidence for 'L' has 2 rows, not 3"),
        (lambda: student().query_batch("I"), ValueError,
         "needs an evidence table or per-row soft evidence"),
        (lambda: student().query_batch("I", {"I": [0, 1]}), ValueError,
         "the target 'I' is also an evidence column"),
        (lambda: student().log_probability({"I": [0], "D": [1]}), ValueError,
         r"the table lacks columns \['G', 'S', 'L'\]"),
        (lambda: certain().query("B", {"A": 1}), ImpossibleEvidenceError,
         r"the evidence \{'A': 1\} has probability 0"),
        (lambda: certain().map_query(["B"], {"A": 1}), ImpossibleEvidenceError,
         r"the evidence \{'A': 1\} has probability 0"),
        (lambda: BayesianNetwork([cpd("A", [0.5, 0.5], state_names={"A": ("x", "y")}),
                                  cpd("B", [[0.5, 0.5], [0.1, 0.9]], ["A"])]), ValueError,
         r"CPD of 'B': parent 'A' has states \['0', '1'\], but its own CPD says \['x', 'y'\]"),
    ],
    ids=["soft-length", "soft-negative", "soft-rows-in-query", "soft-3d", "soft-rows",
         "batch-nothing", "batch-target", "log-p-columns", "impossible-query", "impossible-map",
         "parent-states"],
)
def test_bad_queries_and_networks_name_the_variable_and_the_problem(ask, error, message):
    with pytest.raises(error, match=message):
        ask()


def test_structure_helpers_of_a_network():
    bn = student()
    assert repr(bn) == "BayesianNetwork('student', 5 nodes, 4 edges)"
    assert bn.cardinality == {"I": 2, "D": 2, "G": 3, "S": 2, "L": 2}
    codes = bn.sample(6, seed=0)
    decoded = bn.decode(codes)
    for j, v in enumerate(bn.variables):
        assert decoded[v] == [bn.states[v][k] for k in codes[:, j]]
