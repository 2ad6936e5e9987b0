"""Factor algebra: known values, immutability, and algebraic laws (hypothesis)."""

from __future__ import annotations

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
    with pytest.raises(ValueError, match="different states"):
        f * g
