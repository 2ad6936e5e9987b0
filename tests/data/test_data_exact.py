"""Tiny data sets with exactly known distributions."""

from __future__ import annotations

import numpy as np
import pytest

from dgm.data import (
    exact,
    load_dataset,
    sample_tiny,
    states_to_index,
    tiny_exact_distribution,
    tiny_rbm_log_partition,
)


def tv(samples: np.ndarray, probs: np.ndarray) -> float:
    emp = np.bincount(states_to_index(samples), minlength=len(probs)) / len(samples)
    return 0.5 * float(np.abs(emp - probs).sum())


@pytest.mark.parametrize("name", ["tiny:bn", "tiny:rbm"])
def test_distribution_is_normalized_and_complete(name):
    states, probs = tiny_exact_distribution(name)
    assert states.shape == (256, 8) and probs.shape == (256,)
    assert len(np.unique(states, axis=0)) == 256
    assert np.array_equal(states_to_index(states), np.arange(256))
    assert abs(probs.sum() - 1) < 1e-12 and (probs > 0).all()
    assert probs.max() < 0.5  # not degenerate


@pytest.mark.parametrize("name", ["tiny:bn", "tiny:rbm"])
def test_samples_match_exact_distribution(name):
    _, probs = tiny_exact_distribution(name)
    s = load_dataset(name)
    assert (len(s.train), len(s.valid), len(s.test)) == (20_000, 5_000, 5_000)
    assert s.train.kind == "binary" and s.train.shape == (8,)
    # E[TV] for n samples is about 0.5 * sum sqrt(2 p / (pi n)); allow 1.5x
    bound = 1.5 * 0.5 * np.sqrt(2 * probs / (np.pi * len(s.train))).sum()
    assert tv(s.train.x, probs) < bound
    big = sample_tiny(name, 200_000, seed=7)
    assert tv(big, probs) < 1.5 * 0.5 * np.sqrt(2 * probs / (np.pi * 200_000)).sum()


def test_tv_check_has_power():
    _, p_rbm = tiny_exact_distribution("rbm")
    assert tv(sample_tiny("bn", 20_000, seed=0), p_rbm) > 0.2


def test_bn_marginals_from_cpts():
    states, probs = tiny_exact_distribution("tiny:bn")
    assert abs(probs[states[:, 0] == 1].sum() - 0.3) < 1e-12
    assert abs(probs[states[:, 5] == 1].sum() - 0.55) < 1e-12
    p1 = 0.3 * 0.85 + 0.7 * 0.2  # P(x1 = 1)
    assert abs(probs[states[:, 1] == 1].sum() - p1) < 1e-12
    # x5 is a root independent of x0
    joint = probs[(states[:, 0] == 1) & (states[:, 5] == 1)].sum()
    assert abs(joint - 0.3 * 0.55) < 1e-12


def test_rbm_against_joint_enumeration():
    """p(v) by summing exp(-E(v, h)) over all 2^12 (v, h) pairs."""
    v = exact.all_states(8).astype(float)
    h = exact.all_states(4).astype(float)
    neg_e = (
        (v @ exact.TINY_RBM_B)[:, None]
        + (h @ exact.TINY_RBM_C)[None, :]
        + v @ exact.TINY_RBM_W @ h.T
    )
    log_z = np.logaddexp.reduce(neg_e.ravel())
    pv = np.exp(np.logaddexp.reduce(neg_e, axis=1) - log_z)
    np.testing.assert_allclose(pv, tiny_exact_distribution("tiny:rbm")[1], rtol=1e-10)
    assert abs(tiny_rbm_log_partition() - log_z) < 1e-10


def test_unknown_name():
    with pytest.raises(ValueError, match="tiny:bn"):
        tiny_exact_distribution("tiny:hmm")


@pytest.mark.parametrize(
    "x, d, match",
    [
        ([[2, 0, 0, 0, 0, 0, 0, 0]], None,
         r"expected 0/1 values \(binary states\) but found 2 at row 0, column 0 \(1 such value\)"),
        ([[0.6, 0, 0, 0, 0, 0, 0, 1]], None, r"but found 0.6 at row 0, column 0"),
        ([[1, 0], [-1, 0.5]], None, r"but found -1 at row 1, column 0 \(2 such values\)"),
        ([[0, np.nan]], None, r"1 non-finite value\(s\) .* nan at row 0, column 1"),
        ([0, 1, 1], None, r"expected a 2-D array but got shape \(3,\)"),
        (np.ones((1, 7)), 8, r"rows of 8 bits but got shape \(1, 7\)"),
        (np.ones((1, 63)), None, r"rows of 63 bits do not fit an int64 index"),
    ],
)
def test_states_to_index_refuses_non_binary_or_wrong_width_rows(x, d, match):
    """0.6 was truncated to 0, 2 gave index 256 (past all_states(8)), 7 bits went unnoticed."""
    with pytest.raises(ValueError, match=r"states_to_index: .*" + match):
        states_to_index(np.asarray(x), d)


def test_states_to_index_with_the_width_given():
    states = exact.all_states(8)
    assert np.array_equal(states_to_index(states.astype(np.float32), 8), np.arange(256))
    assert states_to_index(np.zeros((0, 8)), 8).shape == (0,)
