"""The Plackett-Luce slate distribution, in torch, for stable-baselines3.

Scores ``s [B, N]`` (masked candidates at ``-inf``) define

    P(a_1..a_K) = prod_k exp(s_{a_k}) / sum_{j not in a_<k} exp(s_j)

(Plackett 1975, Luce 1959). Sampling is Gumbel-top-K (exact; Kool et al. 2019), the
mode is the top-K, and the joint, per-position and cascade (prefix) log-probabilities
are exact, so PPO's probability ratio and every OPE estimator get true propensities.
No slate ever holds a duplicate — unlike SB3's ``MultiDiscrete`` (one independent
categorical per slot), which is not a slate distribution.

Entropy has no closed form over N!/(N-K)! slates. We use the chain rule,
``H(A) = sum_k E[H(A_k | A_<k)]``, estimated along one sampled slate:
``H_hat = sum_k H(softmax(s over items not in a_<k))`` with ``a`` drawn from the
distribution itself (without gradient through the draw). The first term is the exact
first-position entropy; the sum is an unbiased estimate of the joint entropy, and
differentiable in the scores.
"""

from __future__ import annotations

from typing import Any

import torch as th
from stable_baselines3.common.distributions import Distribution
from torch import nn

NEG = -1e9


def gumbel_top_k(scores: th.Tensor, k: int, generator: th.Generator | None = None) -> th.Tensor:
    """Sample slates ``[B, k]`` from Plackett-Luce over ``scores [B, N]``."""
    u = th.rand(scores.shape, generator=generator, device=scores.device, dtype=scores.dtype)
    gumbel = -th.log(-th.log(u.clamp(1e-20, 1.0 - 1e-7)))
    return th.topk(scores.detach() + gumbel, k, dim=1).indices


def position_log_probs(scores: th.Tensor, slates: th.Tensor) -> th.Tensor:
    """``log P(a_k | a_<k)`` for every position: ``[B, K]``."""
    b, k = slates.shape
    running = scores
    out = []
    rows = th.arange(b, device=scores.device)
    for pos in range(k):
        logp = th.log_softmax(running, dim=1)
        item = slates[:, pos]
        out.append(logp[rows, item])
        running = running.index_put(
            (rows, item), th.full((b,), NEG, dtype=scores.dtype, device=scores.device)
        )
    return th.stack(out, dim=1)


def sequential_entropy(scores: th.Tensor, slates: th.Tensor) -> th.Tensor:
    """``sum_k H(softmax over items not in a_<k)`` along ``slates``: ``[B]``."""
    b, k = slates.shape
    rows = th.arange(b, device=scores.device)
    running = scores
    total = th.zeros(b, dtype=scores.dtype, device=scores.device)
    for pos in range(k):
        logp = th.log_softmax(running, dim=1)
        total = total - (logp.exp() * logp.clamp(min=NEG)).sum(dim=1)
        item = slates[:, pos]
        running = running.index_put(
            (rows, item), th.full((b,), NEG, dtype=scores.dtype, device=scores.device)
        )
    return total


class PlackettLuceDistribution(Distribution):
    """SB3 ``Distribution`` over slates of ``slate_size`` distinct items."""

    def __init__(self, slate_size: int) -> None:
        super().__init__()
        self.slate_size = slate_size
        self.scores: th.Tensor | None = None

    def proba_distribution_net(self, *args: Any, **kwargs: Any) -> nn.Module:
        # The scores come from the policy's two-tower scorer, not from a linear head.
        return nn.Identity()

    def proba_distribution(self, scores: th.Tensor) -> PlackettLuceDistribution:
        """Set the scores ``[B, N]`` (masked candidates at ``-inf`` or a large negative)."""
        self.scores = scores.clamp(min=NEG)
        return self

    def _s(self) -> th.Tensor:
        if self.scores is None:
            raise RuntimeError("call proba_distribution(scores) first")
        return self.scores

    def log_prob(self, actions: th.Tensor) -> th.Tensor:
        """Joint log-probability ``[B]`` of slates ``[B, K]``."""
        return position_log_probs(self._s(), actions.long()).sum(dim=1)

    def position_log_prob(self, actions: th.Tensor) -> th.Tensor:
        """Per-position conditional log-probabilities ``[B, K]``."""
        return position_log_probs(self._s(), actions.long())

    def cascade_prob(self, actions: th.Tensor) -> th.Tensor:
        """``P(a_1..a_k)`` for every prefix ``[B, K]``."""
        return th.exp(th.cumsum(self.position_log_prob(actions), dim=1))

    def entropy(self) -> th.Tensor:
        """Unbiased, differentiable estimate of the joint entropy (module docstring)."""
        s = self._s()
        return sequential_entropy(s, gumbel_top_k(s, self.slate_size))

    def sample(self) -> th.Tensor:
        return gumbel_top_k(self._s(), self.slate_size)

    def mode(self) -> th.Tensor:
        return th.topk(self._s(), self.slate_size, dim=1).indices

    def actions_from_params(self, scores: th.Tensor, deterministic: bool = False) -> th.Tensor:
        self.proba_distribution(scores)
        return self.get_actions(deterministic=deterministic)

    def log_prob_from_params(self, scores: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        actions = self.actions_from_params(scores)
        return actions, self.log_prob(actions)
