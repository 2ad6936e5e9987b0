"""Bayesian networks: the factorized joint, validation, independencies, sampling, learning."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from dgm.pgm import BayesianNetwork, cpd
from dgm.pgm.examples import misconception, student
from dgm.pgm.learning import fit_parameters, refit

from .conftest import load


@pytest.mark.parametrize("grade", ["g2", 1, np.int64(1)], ids=["name", "int", "numpy-int"])
def test_student_joint_matches_the_seed_value(grade):
    p = student().probability({"I": 1, "D": 0, "G": grade, "S": 1, "L": 0})
    assert p == pytest.approx(0.3 * 0.6 * 0.08 * 0.8 * 0.4, rel=1e-12)


def test_joint_sums_to_one_over_all_assignments():
    bn = student()
    cols = list(bn.variables)
    grid = np.array(list(bn.states_product(cols)))
    assert np.exp(bn.log_probability(grid)).sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("cpds", "message"),
    [
        (
            lambda: [cpd("A", [[0.5, 0.5]] * 2, ["B"]), cpd("B", [[0.5, 0.5]] * 2, ["A"])],
            "cycle: A -> B -> A",
        ),
        (
            lambda: [cpd("A", [[0.5, 0.4], [0.5, 0.5]], ["B"]), cpd("B", [0.5, 0.5])],
            r"parents \{'B': '0'\} sums to 0.9",
        ),
        (lambda: [cpd("A", [[0.5, 0.5]] * 2, ["Z"])], "parents \\['Z'\\] that have no CPD"),
        (lambda: [cpd("A", [0.5, 0.5]), cpd("A", [0.5, 0.5])], "two CPDs"),
    ],
)
def test_invalid_networks_get_errors_that_name_the_problem(cpds, message):
    with pytest.raises(ValueError, match=message):
        BayesianNetwork(cpds())


def test_rows_that_sum_to_one_within_tolerance_are_renormalized():
    third = 0.33333  # a BIF file's rounded 1/3: the row sums to 0.99999
    rows = [[0.5, 0.49995], [0.2, 0.8], [0.1, 0.9]]
    bn = BayesianNetwork([cpd("A", [third] * 3), cpd("B", rows, ["A"])])
    grid = np.array(list(bn.states_product(bn.variables)))
    joint = np.exp(bn.log_probability(grid))
    assert joint.sum() == pytest.approx(1.0, rel=1e-12)
    p_b0 = joint[grid[:, bn.variables.index("B")] == 0].sum()
    assert bn.query("B").values[0] == pytest.approx(p_b0, rel=1e-12)
    assert bn.probability_of_evidence({"A": 0}) == pytest.approx(1 / 3, rel=1e-12)


def test_cycle_error_names_every_node_of_a_long_cycle():
    cpds = [cpd(v, [[0.5, 0.5]] * 2, [p]) for v, p in [("A", "C"), ("B", "A"), ("C", "B")]]
    with pytest.raises(ValueError, match="A -> B -> C -> A"):
        BayesianNetwork(cpds)


def test_cpd_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="needs 4 numbers"):
        cpd("A", [0.5, 0.5, 0.5], ["B"], {"A": ["x", "y"], "B": ["u", "v"]})


def test_local_independencies_of_the_student_network():
    found = {str(ind) for ind in student().local_independencies()}
    assert "(L ⟂ D, I, S | G)" in found
    assert "(S ⟂ D, G, L | I)" in found
    assert "(D ⟂ I, S)" in found


@pytest.mark.parametrize(
    ("x", "y", "z", "separated"),
    [
        ("D", "I", [], True),
        ("D", "I", ["G"], False),
        ("D", "I", ["L"], False),  # observing a descendant of the collider
        ("L", "S", ["I"], True),
        ("L", "S", [], False),
        ("D", "S", ["L"], False),
        ("D", "D", [], False),  # a variable is not independent of itself
        (["D", "I"], ["I"], ["G"], False),
        ("G", "G", ["G"], True),  # ... unless it is observed
    ],
)
def test_dseparation_follows_the_bayes_ball_rules(x, y, z, separated):
    assert student().is_dseparated(x, y, z) is separated


def test_dseparation_agrees_with_numerical_independence():
    bn = student()
    for x, y, z in [("D", "S", ["G"]), ("D", "S", []), ("L", "S", ["G"])]:
        joint = bn.query([x, y], {v: 0 for v in z}).values
        independent = np.allclose(joint, np.outer(joint.sum(1), joint.sum(0)))
        assert independent == bn.is_dseparated(x, y, z)


def test_markov_blanket_includes_coparents():
    assert load("asia").markov_blanket("lung") == ["either", "smoke", "tub"]


@pytest.mark.parametrize("model", [student, misconception], ids=["bayes", "markov"])
def test_markov_blanket_of_an_unknown_variable_names_it(model):
    with pytest.raises(
        ValueError, match=r"^unknown variables \['Z'\]; the model has \d+ variables$"
    ):
        model().markov_blanket("Z")


def test_moral_graph_marries_parents_and_keeps_the_joint():
    bn = student()
    mn = bn.moralize()
    assert mn.name == "student"
    assert "D" in mn.markov_blanket("I")
    assert mn.partition_function() == pytest.approx(1.0)
    assert mn.query("G", {"L": 1}).allclose(bn.query("G", {"L": 1}))


@pytest.mark.parametrize("n", [-1, 2.5, True, "3"])
def test_sample_size_must_be_a_non_negative_integer(n):
    with pytest.raises(ValueError, match=f"n must be an integer >= 0, got {n!r}"):
        student().sample(n, seed=0)


def test_no_samples_is_an_empty_array():
    assert student().sample(0, seed=0).shape == (0, 5)


@pytest.mark.parametrize(("xs", "zs"), [("D", set()), ("D", "S"), ({"D"}, ["S"])])
def test_reachable_takes_one_name_or_several(xs, zs):
    bn = student()
    as_set = {xs} if isinstance(xs, str) else set(xs)
    given = {zs} if isinstance(zs, str) else set(zs)
    assert bn.reachable(xs, zs) == bn.reachable(as_set, given) != set()


@pytest.mark.parametrize(("xs", "zs"), [({"Smoke"}, set()), ({"D"}, {"Smoke"})])
def test_reachable_from_an_unknown_variable_names_it(xs, zs):
    with pytest.raises(ValueError, match=r"unknown variables \['Smoke'\]"):
        student().reachable(xs, zs)


def test_forward_samples_are_seeded_and_match_marginals():
    bn = load("alarm")
    a, b = bn.sample(20000, seed=3), bn.sample(20000, seed=3)
    assert np.array_equal(a, b)
    for v in bn.variables[::6]:
        col = bn.variables.index(v)
        freq = np.bincount(a[:, col], minlength=len(bn.states[v])) / len(a)
        assert np.abs(freq - bn.query(v).values).max() < 0.02


@pytest.mark.parametrize("prior", ["mle", "laplace", "bdeu"])
def test_learning_recovers_parameters_from_samples(prior):
    bn = load("asia")
    data = bn.sample(50000, seed=1)
    learned = refit(bn, data, prior=prior)
    for v in bn.variables:
        assert np.abs(learned.cpds[v].values - bn.cpds[v].values).max() < 0.05, v
    assert learned.log_likelihood(data) >= bn.log_likelihood(data) - (prior != "mle") * 50


TINY_STATES = {"A": ("a0", "a1", "a2"), "B": ("b0", "b1")}
TINY_DATA = {"A": ["a0", "a0", "a0", "a1"], "B": ["b0", "b0", "b1", "b1"]}  # a2 never seen


@pytest.mark.parametrize(
    ("prior", "ess", "p_a", "p_b_given_a"),
    [
        # counts N(A) = 3, 1, 0; N(B | a0) = 2, 1; N(B | a1) = 0, 1; an unseen row is uniform
        ("mle", 1.0, [3 / 4, 1 / 4, 0], [[2 / 3, 1 / 3], [0, 1], [1 / 2, 1 / 2]]),
        # every count + 1
        ("laplace", 1.0, [4 / 7, 2 / 7, 1 / 7], [[3 / 5, 2 / 5], [1 / 3, 2 / 3], [1 / 2, 1 / 2]]),
        # + 12 / 3 = 4 for A, + 12 / (2 states x 3 parent configurations) = 2 for B
        ("bdeu", 12.0, [7 / 16, 5 / 16, 4 / 16], [[4 / 7, 3 / 7], [2 / 5, 3 / 5], [1 / 2, 1 / 2]]),
    ],
    ids=["mle", "laplace", "bdeu"],
)
def test_learned_cpds_equal_the_hand_computed_estimates(prior, ess, p_a, p_b_given_a):
    bn = fit_parameters([("A", "B")], TINY_DATA, TINY_STATES, prior, equivalent_sample_size=ess)
    assert bn.cpds["A"].values == pytest.approx(p_a, rel=1e-12, abs=0)
    assert bn.cpds["B"].variables == ("B", "A")
    assert bn.cpds["B"].values.T == pytest.approx(np.array(p_b_given_a), rel=1e-12, abs=0)


def test_mle_maximizes_the_data_log_likelihood_over_smoothed_fits():
    bn = load("cancer")
    data = bn.sample(500, seed=2)
    mle = refit(bn, data).log_likelihood(data)
    assert mle >= refit(bn, data, prior="laplace").log_likelihood(data)
    assert mle >= refit(bn, data, prior="bdeu", equivalent_sample_size=10).log_likelihood(data)


def test_learning_rejects_unknown_prior_and_missing_columns():
    states = {"A": ("0", "1")}
    with pytest.raises(ValueError, match="unknown prior"):
        fit_parameters([], {"A": [0, 1]}, states, prior="jeffreys")
    with pytest.raises(ValueError, match="lacks columns"):
        fit_parameters([], {"B": [0]}, {"A": ("0", "1"), "B": ("0", "1")} | {})


@pytest.mark.parametrize("ess", [0, -1.0, float("nan"), float("inf"), "2", None])
def test_bdeu_rejects_an_equivalent_sample_size_that_is_not_positive(ess):
    data = {"A": ["y", "n"], "B": ["y", "n"]}
    with pytest.raises(ValueError, match=r"equivalent_sample_size .* > 0, got"):
        fit_parameters([("A", "B")], data, {"A": ("y", "n"), "B": ("y", "n")}, "bdeu", ess)


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([("A", "B"), ("A", "B")], r"edge \('A', 'B'\) is given twice"),
        ([("A", "A")], r"edge \('A', 'A'\) is a self-loop"),
        ([("A", "B"), ("B", "A")], "cycle: A -> B -> A"),
    ],
)
def test_learning_rejects_a_structure_that_is_not_a_dag_naming_the_edge(edges, message):
    data = {"A": ["y", "n"], "B": ["y", "n"]}
    with pytest.raises(ValueError, match=message):
        fit_parameters(edges, data, {"A": ("y", "n"), "B": ("y", "n")})


def test_refit_is_annotated_to_return_a_bayesian_network():
    assert typing.get_type_hints(refit)["return"] is BayesianNetwork


@pytest.mark.parametrize("marker", ["NA", "?", "nan", ""])
def test_a_state_named_like_a_missing_value_is_that_state(marker):
    states = {"A": ("yes", marker)}
    bn = BayesianNetwork([cpd("A", [0.3, 0.7], state_names=states)])
    assert bn.probability({"A": marker}) == pytest.approx(0.7)
    learned = fit_parameters([], {"A": [marker, marker, "yes"]}, states)
    assert learned.cpds["A"].values.tolist() == pytest.approx([1 / 3, 2 / 3])
