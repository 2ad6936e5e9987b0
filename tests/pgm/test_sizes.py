"""Table sizes are Python ints: a product of cardinalities beyond int64 is reported as it is,
never wrapped round to a small number (2^64 to 0) that lets a wrong table through."""

from __future__ import annotations

import pytest

from dgm.pgm import Factor, MarkovNetwork, cpd
from dgm.pgm.gibbs import gibbs_transition_matrix

TWO_TO_64 = str(2**64)


def _factor():
    return Factor([f"v{i}" for i in range(4)], [2**16] * 4, [])


def _cpd():
    return cpd("C", [], [f"p{i}" for i in range(64)], {"C": ["a", "b"]})


def _kernel():
    binary = MarkovNetwork([Factor([f"v{i}"], [2], [1.0, 1.0]) for i in range(64)])
    return gibbs_transition_matrix(binary)


@pytest.mark.parametrize(("make", "message"), [
    (_factor, f"needs {TWO_TO_64} values, got 0"),
    (_cpd, f"needs {2 * 2**64} numbers \\({TWO_TO_64} parent configurations x 2 states\\)"),
    (_kernel, f"{TWO_TO_64} joint states: too many for an explicit kernel"),
], ids=["factor", "cpd", "gibbs-kernel"])
def test_a_size_of_2_to_the_64_is_named_not_wrapped_to_0(make, message):
    with pytest.raises(ValueError, match=message):
        make()
