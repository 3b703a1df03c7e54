"""The pseudo-inverse slate estimator against enumeration: unbiased where the reward is
additive over (position, item), weights of exactly 1 at the logging policy, biased
where positions interact, and the sampled pairwise marginals' approximation."""

from __future__ import annotations

import numpy as np
import pytest

from ltvrec.ope.pseudo_inverse import (
    SlatePseudoInverse,
    pairwise_marginals,
    sampled_pairwise_marginals,
)
from ltvrec.simulators.plackett_luce import enumerate_slates, gumbel_top_k, slate_log_prob

N, K = 5, 2
SLATES = enumerate_slates(N, K)
RNG = np.random.default_rng(0)
MU = RNG.standard_normal(N)
PI = 2.0 * RNG.standard_normal(N)
PHI = RNG.uniform(0, 1, (K, N))  # additive reward: sum_j PHI[j, s_j]


def _probs(scores: np.ndarray) -> np.ndarray:
    return np.exp(slate_log_prob(np.broadcast_to(scores, (len(SLATES), N)), SLATES))


def _marginals(probs: np.ndarray) -> np.ndarray:
    q = np.zeros((K, N))
    for j in range(K):
        np.add.at(q[j], SLATES[:, j], probs)
    return q


def _expected(reward: np.ndarray, target: np.ndarray, gamma: np.ndarray) -> tuple[float, float]:
    """Exact ``(E_mu[PI estimate], truth)`` for mean slate rewards ``reward [S]``."""
    mu, pi = _probs(MU), _probs(target)
    w = SlatePseudoInverse().weights(SLATES, _marginals(pi), gamma)
    return float(mu @ (w * reward)), float(pi @ reward)


def test_unbiased_for_an_additive_reward():
    gamma = pairwise_marginals(SLATES, _probs(MU), N)
    additive = PHI[0, SLATES[:, 0]] + PHI[1, SLATES[:, 1]]
    expected, truth = _expected(additive, PI, gamma)
    assert expected == pytest.approx(truth, rel=1e-9)


def test_weights_are_one_at_the_logging_policy():
    mu = _probs(MU)
    gamma = pairwise_marginals(SLATES, mu, N)
    w = SlatePseudoInverse().weights(SLATES, _marginals(mu), gamma)
    np.testing.assert_allclose(w, 1.0, atol=1e-9)


def test_biased_when_positions_interact():
    gamma = pairwise_marginals(SLATES, _probs(MU), N)
    additive = PHI[0, SLATES[:, 0]] + PHI[1, SLATES[:, 1]]
    pair = (SLATES[:, 0] == int(np.argmax(PI))) * (SLATES[:, 1] == int(np.argsort(PI)[-2]))
    expected, truth = _expected(additive + 3.0 * pair, PI, gamma)
    assert abs(expected - truth) > 0.01 * truth


def test_per_request_marginals_equal_the_context_free_form():
    gamma = pairwise_marginals(SLATES, _probs(MU), N)
    q = _marginals(_probs(PI))
    logged = SLATES[RNG.integers(0, len(SLATES), 50)]
    est = SlatePseudoInverse()
    np.testing.assert_allclose(
        est.weights(logged, np.broadcast_to(q, (50, K, N)), gamma), est.weights(logged, q, gamma)
    )


def test_sampled_marginals_approximate_the_estimate_and_logs_agree_with_the_truth():
    logged = gumbel_top_k(np.broadcast_to(MU, (200_000, N)), K, np.random.default_rng(1))
    gamma = sampled_pairwise_marginals(logged, N)
    exact = pairwise_marginals(SLATES, _probs(MU), N)
    assert np.abs(gamma - exact).max() < 0.01
    mean_reward = PHI[0, logged[:, 0]] + PHI[1, logged[:, 1]]
    reward = mean_reward + np.random.default_rng(2).normal(0, 0.5, len(logged))
    q = _marginals(_probs(PI))
    truth = float(_probs(PI) @ (PHI[0, SLATES[:, 0]] + PHI[1, SLATES[:, 1]]))
    e = SlatePseudoInverse().estimate(logged, reward, q, gamma, n_bootstrap=200)
    assert e.ci[0] < truth < e.ci[1]


def test_bad_shapes_are_named():
    gamma = pairwise_marginals(SLATES, _probs(MU), N)
    with pytest.raises(ValueError, match="target_marginals"):
        SlatePseudoInverse().weights(SLATES, np.ones((K + 1, N)), gamma)
    with pytest.raises(ValueError, match="gamma"):
        SlatePseudoInverse().weights(SLATES, np.ones((K, N)), np.eye(3))
    with pytest.raises(ValueError, match="sum to 1"):
        pairwise_marginals(SLATES, np.ones(len(SLATES)), N)
