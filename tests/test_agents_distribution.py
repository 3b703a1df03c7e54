"""Identities of the torch Plackett-Luce slate distribution, and agreement with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from scipy import stats

from ltvrec.agents.distributions import PlackettLuceDistribution, gumbel_top_k, sequential_entropy
from ltvrec.simulators.plackett_luce import enumerate_slates, slate_log_prob


def _dist(scores: th.Tensor, k: int) -> PlackettLuceDistribution:
    return PlackettLuceDistribution(k).proba_distribution(scores)


@pytest.mark.parametrize(("n", "k"), [(4, 2), (5, 3), (5, 5)])
def test_all_slates_sum_to_one_and_match_numpy(n: int, k: int) -> None:
    s = th.randn(1, n, dtype=th.float64, generator=th.Generator().manual_seed(n))
    slates = th.as_tensor(enumerate_slates(n, k))
    logp = _dist(s.expand(len(slates), n), k).log_prob(slates)
    assert float(logp.exp().sum()) == pytest.approx(1.0, abs=1e-12)
    ref = slate_log_prob(np.tile(s.numpy(), (len(slates), 1)), slates.numpy())
    np.testing.assert_allclose(logp.numpy(), ref, rtol=1e-10)


def test_per_position_log_probs_sum_to_joint_and_cascade_is_their_prefix() -> None:
    s = th.randn(6, 9, dtype=th.float64)
    d = _dist(s, 4)
    a = d.sample()
    pos = d.position_log_prob(a)
    th.testing.assert_close(pos.sum(1), d.log_prob(a))
    th.testing.assert_close(d.cascade_prob(a), th.exp(th.cumsum(pos, 1)))


def test_no_duplicates_and_mode_is_top_k() -> None:
    s = th.randn(200, 12)
    a = _dist(s, 5).sample()
    assert all(len(set(row.tolist())) == 5 for row in a)
    th.testing.assert_close(_dist(s, 5).mode(), th.topk(s, 5, dim=1).indices)


def test_sampling_frequencies_match_probabilities() -> None:
    th.manual_seed(0)
    s = th.tensor([[1.0, 0.0, -1.0, 0.5]], dtype=th.float64)
    n = 30_000
    draws = gumbel_top_k(s.expand(n, 4), 2)
    slates = enumerate_slates(4, 2)
    expected = np.exp(slate_log_prob(np.tile(s.numpy(), (12, 1)), slates)) * n
    code = (draws[:, 0] * 4 + draws[:, 1]).numpy()
    observed = np.bincount(code, minlength=16)[slates[:, 0] * 4 + slates[:, 1]]
    assert observed.sum() == n
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_log_prob_gradient_matches_finite_differences() -> None:
    s = th.randn(1, 6, dtype=th.float64, requires_grad=True)
    a = th.tensor([[4, 1, 2]])
    _dist(s, 3).log_prob(a).sum().backward()
    assert s.grad is not None
    eps = 1e-6
    for j in range(6):
        up, down = s.detach().clone(), s.detach().clone()
        up[0, j] += eps
        down[0, j] -= eps
        fd = (_dist(up, 3).log_prob(a) - _dist(down, 3).log_prob(a)) / (2 * eps)
        assert float(s.grad[0, j]) == pytest.approx(float(fd), abs=1e-6)


def test_entropy_estimate_is_unbiased() -> None:
    # Exact joint entropy by enumeration vs the mean of the sequential estimate.
    s = th.tensor([[1.5, 0.2, -0.3, 0.9, -1.0]], dtype=th.float64)
    slates = th.as_tensor(enumerate_slates(5, 3))
    logp = _dist(s.expand(len(slates), 5), 3).log_prob(slates)
    exact = float(-(logp.exp() * logp).sum())
    th.manual_seed(1)
    n = 20_000
    big = s.expand(n, 5)
    est = sequential_entropy(big, gumbel_top_k(big, 3))
    se = float(est.std()) / np.sqrt(n)
    assert abs(float(est.mean()) - exact) < 4 * se
    # The first term alone is the exact first-position entropy (a lower bound here).
    p = th.softmax(s, 1)
    assert float(est.mean()) > float(-(p * p.log()).sum())


def test_masked_candidates_are_never_drawn() -> None:
    s = th.randn(50, 8)
    s[:, :3] = -1e9
    a = _dist(s, 5).sample()
    assert int(a.min()) >= 3
