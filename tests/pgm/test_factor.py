"""Factor algebra: known values, immutability, and algebraic laws (hypothesis)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgm.pgm import Factor

VARS = ["A", "B", "C", "D"]
CARD = {"A": 2, "B": 3, "C": 2, "D": 4}


@st.composite
def factors(draw, min_vars: int = 1):
    scope = draw(st.lists(st.sampled_from(VARS), min_size=min_vars, max_size=3, unique=True))
    shape = [CARD[v] for v in scope]
    vals = draw(
        st.lists(st.floats(0.01, 10.0), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
    )
    return Factor(scope, shape, vals)


@settings(max_examples=40, deadline=None)
@given(factors(), factors())
def test_product_is_commutative(f, g):
    assert (f * g).allclose(g * f)


@settings(max_examples=40, deadline=None)
@given(factors(), factors(), factors())
def test_product_is_associative(f, g, h):
    assert ((f * g) * h).allclose(f * (g * h))


@settings(max_examples=40, deadline=None)
@given(factors(min_vars=2), st.data())
def test_marginalization_order_does_not_matter(f, data):
    a, b = data.draw(st.permutations(f.variables))[:2]
    one = f.marginalize([a]).marginalize([b])
    two = f.marginalize([b]).marginalize([a])
    assert one.allclose(two) and one.allclose(f.marginalize([a, b]))


@settings(max_examples=40, deadline=None)
@given(factors(min_vars=2), st.data())
def test_reduce_then_marginalize_equals_marginalize_then_reduce(f, data):
    a, b = data.draw(st.permutations(f.variables))[:2]
    state = data.draw(st.integers(0, CARD[a] - 1))
    left = f.reduce({a: state}).marginalize([b])
    right = f.marginalize([b]).reduce({a: state})
    assert left.allclose(right)


def test_factor_values_are_read_only():
    f = Factor(["A"], [2], [1.0, 2.0])
    with pytest.raises(ValueError, match="assignment destination is read-only"):
        f.values[0] = 5.0
    with pytest.raises(AttributeError, match="Factor is immutable; operations return new factors"):
        f.values = np.zeros(2)
    assert f.values.tolist() == [1.0, 2.0]


def test_maximize_and_normalize_known_values():
    f = Factor(["A", "B"], [2, 2], [[30, 5], [1, 10]])
    assert f.maximize(["B"]).values.tolist() == [30.0, 10.0]
    assert f.normalize().values.sum() == pytest.approx(1.0)
    assert f.argmax() == {"A": "0", "B": "0"}
    assert f.log_normalizer() == pytest.approx(np.log(46.0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variables": ["A", "A"], "cardinality": [2, 2], "values": np.ones(4)}, "repeated"),
        ({"variables": ["A"], "cardinality": [2], "values": [1, 2, 3]}, "needs 2 values"),
        ({"variables": ["A"], "cardinality": [2], "values": [1, -2]}, "negative"),
        (
            {"variables": ["A", "B"], "cardinality": [2, 2], "values": [[1, 2], [-3, 4]]},
            r"entry \{'A': '1', 'B': '0'\} = -3",
        ),
        (
            {"variables": ["A"], "cardinality": [2], "values": [1, np.nan]},
            r"entry \{'A': '1'\} = nan",
        ),
        ({"variables": ["A"], "cardinality": [0], "values": []}, "'A' has cardinality 0"),
        (
            {"variables": ["A", "B"], "cardinality": [2], "values": [1, 2]},
            r"2 variables \['A', 'B'\] but 1 cardinalities \[2\]",
        ),
        (
            {"variables": ["A"], "cardinality": [2], "values": [1, 2], "state_names": {"A": "xx"}},
            r"variable 'A' has the state 'x' twice",
        ),
        (
            {"variables": ["A"], "cardinality": [2], "values": [1, 2], "state_names": {"A": ["x"]}},
            "cardinality",
        ),
    ],
)
def test_bad_factor_gets_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Factor(**kwargs)


def test_product_of_more_factors_than_einsum_takes():
    fs = [Factor(["A"], [2], [2.0, 0.5])] * 40 + [Factor(["B"], [3], [1.0, 2.0, 3.0])] * 30
    prod = fs[0].product(*fs[1:])
    expected = np.outer([2.0**40, 0.5**40], [1.0, 2.0**30, 3.0**30])
    assert prod.variables == ("A", "B")
    assert prod.values == pytest.approx(expected, rel=1e-12)


def test_reduce_rejects_unknown_state_by_name():
    f = Factor(["A"], [2], [1, 2], {"A": ["yes", "no"]})
    with pytest.raises(ValueError, match="unknown state 'maybe' for variable 'A'"):
        f.reduce({"A": "maybe"})


def test_product_rejects_conflicting_state_names():
    f = Factor(["A"], [2], [1, 2], {"A": ["yes", "no"]})
    g = Factor(["A"], [2], [1, 2], {"A": ["no", "yes"]})
    with pytest.raises(
        ValueError,
        match=r"variable 'A' has different states in two factors: \['yes', 'no'\] and \['no', ",
    ):
        f * g


WEATHER = Factor(
    ["A", "B"], [2, 3], [[1, 2, 3], [4, 5, 6]], {"A": ["yes", "no"], "B": ["lo", "mid", "hi"]}
)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda f: f.reduce({"B": 3}), ValueError,
         r"state index 3 out of range for variable 'B' with 3 states \['lo', 'mid', 'hi'\]"),
        (lambda f: f.reduce({"B": -1}), ValueError, "state index -1 out of range for variable 'B'"),
        (lambda f: f.reduce({"A": True}), TypeError,
         "state of 'A' must be a state name or an index, got True"),
        (lambda f: f.value({"A": "no", "B": 1.0}), TypeError, "state of 'B' .* got 1.0"),
        (lambda f: f.value({"A": "no", "B": "max"}), ValueError,
         "unknown state 'max' for variable 'B'"),
        (lambda f: f.value({"A": "no"}), ValueError,
         r"assignment lacks variables \['B'\] of the factor over \['A', 'B'\]"),
        (lambda f: f.marginalize(["C"]), ValueError, r"variables \['C'\] are not in the factor"),
        (lambda f: f.transpose(["A", "C"]), ValueError,
         r"\['A', 'C'\] is not a permutation of \['A', 'B'\]"),
        (lambda f: (f * 0).normalize(), ValueError,
         r"cannot normalize factor over \['A', 'B'\]: it sums to 0"),
        (lambda f: f * -1, ValueError, r"negative or non-finite values: entry \{'A': 'yes'"),
        (lambda f: f * None, TypeError, r"unsupported operand .*'Factor' and 'NoneType'"),
    ],
    ids=[
        "index-too-big",
        "index-negative",
        "bool",
        "float",
        "unknown-name",
        "incomplete",
        "marginalize-unknown",
        "transpose-unknown",
        "normalize-zero",
        "negative-scalar",
        "none-scalar",
    ],
)
def test_bad_factor_operation_names_the_variable_and_value(call, error, message):
    with pytest.raises(error, match=message):
        call(WEATHER)


def test_scalar_product_entries_and_comparisons():
    f = WEATHER
    for g in (2 * f, f * np.float64(2.0)):
        assert g.scope == ("A", "B") and g.state_names == f.state_names
        assert g.values.tolist() == [[2, 4, 6], [8, 10, 12]]
    assert f.value({"A": "no", "B": 2}) == 6.0 and f.value({"A": 0, "B": "mid"}) == 2.0
    assert f.allclose(f.transpose(["B", "A"]))
    assert not f.allclose(f.marginalize(["B"]))  # another scope
    renamed = Factor(["A", "B"], [2, 3], f.values, {"A": ["no", "yes"], "B": ["lo", "mid", "hi"]})
    assert not f.allclose(renamed)  # the same numbers, other state names


def test_log_values_and_log_normalizer_of_zeros_and_huge_values():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # log(0) must not warn
        assert Factor(["A"], [2], [0, np.e]).log_values().tolist() == [-np.inf, 1.0]
        assert Factor(["A"], [2], [0, 0]).log_normalizer() == -np.inf
    huge = Factor(["A"], [2], [1e308, 1e308])  # their sum overflows a float
    assert huge.log_normalizer() == pytest.approx(np.log(2) + 308 * np.log(10), rel=1e-14)


def test_repr_shows_small_tables_and_only_the_header_of_big_ones():
    assert repr(WEATHER).splitlines()[:3] == [
        "Factor(['A', 'B'], cardinality=[2, 3])",
        "A    B    value",
        "yes  lo   1",
    ]
    big = Factor(["A", "B"], [8, 9], np.ones(72))
    assert repr(big) == "Factor(['A', 'B'], cardinality=[8, 9]) (72 values: see .values)"
