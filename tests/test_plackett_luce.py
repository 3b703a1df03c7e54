"""Plackett-Luce identities, checked exactly on small catalogs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ltvrec.simulators.plackett_luce import (
    cascade_probs,
    enumerate_slates,
    gumbel_top_k,
    item_position_marginals,
    position_log_probs,
    slate_log_prob,
    top_k,
)


@pytest.mark.parametrize(("n", "k", "scale"), [(5, 2, 1.0), (6, 3, 3.0), (5, 5, 0.5)])
def test_probabilities_of_all_slates_sum_to_one(n: int, k: int, scale: float) -> None:
    s = np.random.default_rng(n).normal(size=n) * scale
    slates = enumerate_slates(n, k)
    p = np.exp(slate_log_prob(np.tile(s, (len(slates), 1)), slates))
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_position_log_probs_sum_to_joint_and_prefix_to_cascade() -> None:
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 8))
    slates = gumbel_top_k(s, 3, rng)
    pos = position_log_probs(s, slates)
    np.testing.assert_allclose(pos.sum(axis=1), slate_log_prob(s, slates), rtol=1e-12)
    np.testing.assert_allclose(cascade_probs(s, slates), np.exp(np.cumsum(pos, axis=1)))
    # First position: a softmax. By hand: exp(s_a) / sum_j exp(s_j).
    first = np.exp(s[np.arange(4), slates[:, 0]]) / np.exp(s).sum(axis=1)
    np.testing.assert_allclose(np.exp(pos[:, 0]), first, rtol=1e-12)


@pytest.mark.parametrize(("n", "k", "scale"), [(6, 3, 1.0), (7, 4, 3.0), (6, 6, 6.0)])
def test_item_position_marginals_equal_enumeration(n: int, k: int, scale: float) -> None:
    s = np.random.default_rng(1).normal(size=n) * scale
    slates = enumerate_slates(n, k)
    p = np.exp(slate_log_prob(np.tile(s, (len(slates), 1)), slates))
    brute = np.zeros((n, k))
    for pos in range(k):
        np.add.at(brute[:, pos], slates[:, pos], p)
    np.testing.assert_allclose(item_position_marginals(s, k), brute, atol=1e-9)


def test_marginals_of_a_large_catalog_are_distributions() -> None:
    s = np.random.default_rng(2).normal(size=500) * 2
    m = item_position_marginals(s, 5)
    np.testing.assert_allclose(m.sum(axis=0), 1.0, atol=1e-9)
    assert (m.sum(axis=1) <= 1 + 1e-9).all() and (m >= 0).all()


def test_gumbel_top_k_samples_the_exact_distribution() -> None:
    # Chi-square goodness of fit over all 20 slates of 2 from 5 items.
    rng = np.random.default_rng(3)
    s = np.array([1.0, 0.5, 0.0, -0.5, 2.0])
    n = 40_000
    draws = gumbel_top_k(np.tile(s, (n, 1)), 2, rng)
    slates = enumerate_slates(5, 2)
    expected = np.exp(slate_log_prob(np.tile(s, (len(slates), 1)), slates)) * n
    code = draws[:, 0] * 5 + draws[:, 1]
    observed = np.bincount(code, minlength=25)[slates[:, 0] * 5 + slates[:, 1]]
    assert observed.sum() == n  # no duplicates, nothing outside the 20 slates
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_top_k_orders_best_first() -> None:
    s = np.array([[0.1, 3.0, -1.0, 2.0]])
    assert top_k(s, 3).tolist() == [[1, 3, 0]]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="1 <= k <= N"):
        gumbel_top_k(np.zeros((2, 3)), 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="1 <= k <= N"):
        item_position_marginals(np.zeros(3), 0)
