"""Markov networks: the misconception loop, exact log Z of Ising grids, independencies."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dgm.pgm import Factor, MarkovNetwork
from dgm.pgm.examples import ising_grid, misconception
from dgm.pgm.ordering import HEURISTICS, elimination_cost, greedy_order, interaction_graph


def brute_force_logz(mn: MarkovNetwork) -> float:
    grid = np.array(list(itertools.product(*[range(len(mn.states[v])) for v in mn.variables])))
    logw = mn.log_unnormalized(grid)
    m = logw.max()
    return float(m + np.log(np.exp(logw - m).sum()))


def test_misconception_partition_function_is_7201840():
    mn = misconception()
    assert mn.partition_function() == pytest.approx(7_201_840, rel=1e-12)
    assert mn.probability({"A": 0, "B": 1, "C": 1, "D": 0}) == pytest.approx(5e6 / 7_201_840)


def test_misconception_marginal_matches_brute_force():
    mn = misconception()
    grid = np.array(list(itertools.product(range(2), repeat=4)))
    p = np.exp(mn.log_probability(grid))
    assert mn.query("B").values == pytest.approx(
        [p[grid[:, 1] == 0].sum(), p[grid[:, 1] == 1].sum()]
    )


def grid_logz_by_transfer(mn: MarkovNetwork, n: int) -> float:
    """log Z of an ``ising_grid(n)`` by a row-major sweep over its sites (no elimination).

    ``v[s_0, ..., s_{n-1}]`` is the summed weight of everything above the current
    row front, indexed by the front's spin in each column (``2**n`` numbers): adding
    site ``(r, c)`` sums out the spin above it and multiplies in its left and unary factors.
    """
    pair = {frozenset(f.variables): f for f in mn.factors if len(f.variables) == 2}
    unary = {f.variables[0]: f.values for f in mn.factors if len(f.variables) == 1}

    def phi(a: str, b: str) -> np.ndarray:  # rows: a's state, columns: b's state
        f = pair[frozenset((a, b))]
        return f.values if f.variables == (a, b) else f.values.T

    v, log_scale = np.ones(2**n), 0.0
    for r in range(n):
        for c in range(n):
            site = f"x{r}_{c}"
            if r > 0:
                up = phi(f"x{r - 1}_{c}", site)
                v = np.matmul(up.T, v.reshape(2**c, 2, -1)).ravel()  # sum out the spin above
            w = unary.get(site, np.ones(2))
            if c > 0:
                w = phi(f"x{r}_{c - 1}", site) * w  # left neighbour x new spin
            v.reshape(2 ** max(c - 1, 0), *w.shape, -1)[...] *= w[None, ..., None]
        top = v.max()
        v /= top
        log_scale += float(np.log(top))
    return float(np.log(v.sum()) + log_scale)


@pytest.mark.parametrize(("n", "field"), [(3, 0.0), (4, 0.5)])
def test_ising_logz_matches_brute_force(n, field):
    mn = ising_grid(n, seed=n, field=field)
    exact = brute_force_logz(mn)
    assert mn.log_partition_function() == pytest.approx(exact, rel=1e-12)
    assert grid_logz_by_transfer(mn, n) == pytest.approx(exact, rel=1e-12)  # the helper too


def test_ising_16x16_logz_equals_the_transfer_matrix_value():
    mn = ising_grid(16, seed=0, field=0.3)  # 2**256 states; the sweep keeps 2**16 numbers
    assert mn.log_partition_function() == pytest.approx(grid_logz_by_transfer(mn, 16), rel=1e-10)
    assert mn.treewidth_bound() <= 18


@pytest.mark.parametrize("n", [3, 20])  # 20: elimination builds tables of ~2**20 entries
def test_uncoupled_grid_logz_is_the_sum_of_log_2cosh_of_the_fields(n):
    mn = ising_grid(n, seed=1, coupling=0.0, field=0.8)
    h = np.array([np.log(f.values[1]) for f in mn.factors if len(f.variables) == 1])
    assert h.shape == (n * n,)  # psi(s) = exp(h s): the "+1" entry is exp(h)
    closed_form = np.log(2 * np.cosh(h)).sum()
    assert mn.log_partition_function() == pytest.approx(closed_form, rel=1e-12)


@pytest.mark.parametrize(("n", "width"), [(3, 3), (10, 10)])
def test_treewidth_bound_of_a_grid_is_the_best_candidate_orders_width(n, width):
    assert ising_grid(n, seed=0).treewidth_bound() == width  # the sweep order reaches n


@pytest.mark.parametrize("heuristic", [*HEURISTICS, "auto"])
def test_orders_accept_a_variable_that_is_not_in_the_graph(heuristic):
    order = greedy_order({"A": {"B"}, "B": {"A"}}, ["A", "C"], heuristic)
    assert sorted(order) == ["A", "C"]


def test_elimination_cost_of_a_huge_clique_is_a_finite_log2():
    names = [f"x{i}" for i in range(30)]
    card = dict.fromkeys(names, 2**40)  # the first table has 2**1200 entries: beyond float range
    cost = elimination_cost(interaction_graph([names]), names, card)
    assert cost == pytest.approx(1200.0, rel=1e-12)


@pytest.mark.parametrize(
    ("coupling", "field", "message"),
    [
        (500.0, 0.0, r"the coupling drew the weight -?\d+\.?\d* for the edge x\d_\d - x\d_\d"),
        (1.0, 900.0, r"the field drew the weight -?\d+\.?\d* for the spin x\d_\d"),
        (float("nan"), 0.0, "coupling must be a finite number, got nan"),
    ],
)
def test_ising_grid_names_a_coupling_or_field_beyond_float_range(coupling, field, message):
    with pytest.raises(ValueError, match=message):
        ising_grid(5, seed=0, coupling=coupling, field=field)


def test_star_with_more_factors_than_einsum_takes():
    star = [Factor(["hub", f"leaf{i}"], [2, 2], [[2.0, 1.0], [1.0, 2.0]]) for i in range(70)]
    mn = MarkovNetwork(star)
    assert mn.log_partition_function() == pytest.approx(np.log(2) + 70 * np.log(3), rel=1e-12)
    assert mn.query("hub").values == pytest.approx([0.5, 0.5])
    assert mn.query("leaf0", {"hub": 1}).values == pytest.approx([1 / 3, 2 / 3])


def test_strong_couplings_do_not_overflow():
    mn = ising_grid(4, seed=1, coupling=100.0)  # Z far beyond float range
    logz = mn.log_partition_function()
    assert logz > 710 and logz == pytest.approx(brute_force_logz(mn), rel=1e-12)


def test_factors_whose_product_overflows_are_scaled_before_multiplying():
    big = MarkovNetwork([Factor(["A"], [2], [1.0, 1e200])] * 2)  # each fits; their product not
    assert big.log_partition_function() == pytest.approx(400 * np.log(10))  # log(1 + 1e400)
    assert big.query("A").values == pytest.approx([0.0, 1.0])
    tiny = MarkovNetwork([Factor(["A"], [2], [1e-200, 2e-200]), Factor(["A"], [2], [1e-200] * 2)])
    assert tiny.log_partition_function() == pytest.approx(np.log(3) - 400 * np.log(10))


def frustrated_triangle(j: float = 700.0) -> MarkovNetwork:
    """Antiferromagnetic couplings on a triangle: no state satisfies all three, so every
    product of the largest entries is exp(-2j) below 1 (0 in floats for j = 700)."""
    anti = np.exp(np.array([[-j, j], [j, -j]]))
    return MarkovNetwork([Factor(list(e), [2, 2], anti) for e in ("AB", "BC", "AC")]
                         + [Factor(["A"], [2], np.exp([0.0, 1.0]))])


def test_frustrated_strong_couplings_are_summed_in_log_space():
    mn = frustrated_triangle()
    assert mn.log_partition_function() == pytest.approx(brute_force_logz(mn), rel=1e-12)
    states = np.array(list(itertools.product(range(2), repeat=3)))  # (8, 3) over A, B, C
    log_w = mn.log_unnormalized(states)  # mn.variables is A, B, C
    p = np.exp(log_w - log_w.max())
    p /= p.sum()
    p_a = [p[states[:, 0] == a].sum() for a in (0, 1)]
    assert mn.query("A").values == pytest.approx(p_a)
    assert mn.log_probability_of_evidence({"A": 1}) == pytest.approx(np.log(p_a[1]))
    given = [p[(states[:, 0] == 1) & (states[:, 1] == b)].sum() / p_a[1] for b in (0, 1)]
    assert mn.query("B", {"A": 1}).values == pytest.approx(given)  # [2/3, 1/3]
    batch = mn.query_batch("B", {"A": [1, None]})
    assert batch[0] == pytest.approx(given)
    assert batch[1] == pytest.approx([p[states[:, 1] == b].sum() for b in (0, 1)])
    best = states[np.argmax(log_w)]
    assert mn.map_query() == {v: str(best[i]) for i, v in enumerate("ABC")}
    assert mn.map_query(["A"]) == {"A": str(int(np.argmax(p_a)))}


def test_logz_with_evidence_is_consistent_with_probability_of_evidence():
    mn = misconception()
    pe = mn.probability_of_evidence({"A": 0})
    assert pe == pytest.approx(mn.query("A").values[0])


def test_local_independencies_and_blanket_of_the_loop():
    mn = misconception()
    found = {str(i) for i in mn.local_independencies()}
    assert "(A ⟂ C | B, D)" in found and "(B ⟂ D | A, C)" in found
    assert mn.is_separated(["A"], ["C"], ["B", "D"]) and not mn.is_separated(["A"], ["C"], ["B"])


@pytest.mark.parametrize(
    ("x", "y", "z", "separated"),
    [
        ("x0_0", "x1_1", ["x0_1", "x1_0"], True),  # single names, not strings of characters
        ("x0_0", "x1_1", "x0_1", False),
        ("x0_0", "x0_0", [], False),  # a variable is not separated from itself
        (["x0_0", "x0_1"], "x0_1", "x1_1", False),
        ("x0_0", "x0_0", "x0_0", True),  # ... unless it is observed
    ],
)
def test_separation_in_a_grid(x, y, z, separated):
    assert ising_grid(2, seed=0).is_separated(x, y, z) is separated


@pytest.mark.parametrize(("x", "y"), [(["A"], ["Q"]), (["Zz"], ["A"])])
def test_separation_of_an_unknown_variable_names_it(x, y):
    with pytest.raises(ValueError, match=r"^unknown variables \['[QZz]+'\]; the model has 4"):
        misconception().is_separated(x, y, [])


def test_map_of_the_loop_is_the_heaviest_assignment():
    mn = misconception()
    grid = np.array(list(itertools.product(range(2), repeat=4)))
    best = grid[np.argmax(mn.log_unnormalized(grid))]
    assert mn.map_query() == {v: str(s) for v, s in zip(mn.variables, best)}


def test_inconsistent_state_names_are_rejected():
    with pytest.raises(ValueError, match="variable 'A' has states"):
        MarkovNetwork([Factor(["A"], [2], [1, 1], {"A": ["x", "y"]}), Factor(["A"], [2], [1, 1])])


def test_zero_partition_function_is_an_error():
    mn = MarkovNetwork([Factor(["A"], [2], [0, 0])])
    with pytest.raises(ValueError, match="Z = 0"):
        mn.log_partition_function()


@pytest.mark.parametrize("ask", [
    lambda mn: mn.query("A"),
    lambda mn: mn.query("A", {"B": 1}),
    lambda mn: mn.map_query(),
    lambda mn: mn.query_batch("A", {"B": [0, 1]}),
], ids=["query", "query-given-evidence", "map", "batch"])
def test_a_query_of_a_network_with_z_0_blames_the_factors_not_the_evidence(ask):
    """Not "the evidence {} has probability 0": no evidence was given, or it is not to blame."""
    from dgm.pgm.inference import ImpossibleEvidenceError, ZeroPartitionError

    mn = MarkovNetwork([Factor(["A", "B"], [2, 2], [[0, 0], [0, 0]])])
    with pytest.raises(ZeroPartitionError, match=r"^the factors give every joint state weight "
                                                 r"0 \(Z = 0\)") as err:
        ask(mn)
    assert isinstance(err.value, ImpossibleEvidenceError)  # still caught as before
