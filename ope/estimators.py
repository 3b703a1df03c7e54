"""Off-policy estimators for one request at a time (bandit and slate feedback).

Each estimator is a frozen dataclass of hyperparameters with one private kernel that
returns per-request contributions ``(numerator [n], denominator [n])``; the value is
``sum(numerator) / sum(denominator)`` (the denominator is 1 per request except for the
self-normalised estimators), and the point estimate, the standard error and both
intervals come from those two arrays. Notation (Open Bandit Pipeline's, so numbers can
be compared with it): logged action ``a_i`` at position ``k_i`` with logging propensity
``p_i``; target probabilities ``pi(a | x_i, k)`` as ``action_dist [n, n_actions,
len_list]``; a reward model ``q_hat [n, n_actions, len_list]``; importance weight
``w_i = pi(a_i | x_i, k_i) / p_i``.

- IPS: ``w_i r_i`` (Horvitz and Thompson 1952). SNIPS: ``sum w r / sum w``
  (Swaminathan and Joachims 2015).
- DM: ``sum_a pi(a | x_i, k_i) q_hat(x_i, a, k_i)``.
- DR: ``DM_i + w_i (r_i - q_hat(x_i, a_i, k_i))`` (Dudik et al. 2014); SNDR divides
  the correction by ``mean(w)``; Switch-DR keeps the correction only where
  ``w_i <= tau`` (Wang et al. 2017); DR with optimistic shrinkage replaces ``w`` by
  ``lambda w / (w^2 + lambda)`` (Su et al. 2020).
- Slate (one row per slot, summed per slate; McInerney et al. 2020, Kiyohara et al.
  2022): standard IPS with the joint ``pscore``, independent IPS with
  ``pscore_item_position``, reward-interaction IPS with ``pscore_cascade``.

``clip`` (where offered) caps importance weights explicitly; ``None`` means no cap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ltvrec.ope.feedback import BanditFeedback, SlateFeedback
from ltvrec.ope.intervals import Estimate, make_estimate


def _check_action_dist(fb: BanditFeedback, action_dist: np.ndarray) -> np.ndarray:
    a = np.asarray(action_dist, dtype=np.float64)
    want = (fb.n, fb.n_actions, fb.len_list)
    if a.shape != want:
        raise ValueError(
            f"expected action_dist of shape {want} (n, n_actions, len_list), got {a.shape}"
        )
    sums = a.sum(axis=1)  # NaN or inf anywhere shows up in the sums: one pass, not three
    if not np.isfinite(sums).all() or a.min() < 0:
        raise ValueError("action_dist must hold finite probabilities >= 0")
    if not np.allclose(sums, 1.0, atol=1e-6):
        i, k = np.unravel_index(np.argmax(np.abs(sums - 1.0)), sums.shape)
        raise ValueError(
            f"target probabilities must sum to 1 over actions; request {i} position {k} "
            f"sums to {sums[i, k]:.6f}"
        )
    return a


def _check_q(fb: BanditFeedback, q_hat: np.ndarray | None, name: str) -> np.ndarray:
    if q_hat is None:
        raise ValueError(
            f"{name} needs estimated_rewards (a reward model's q_hat [n, n_actions, len_list])"
        )
    q = np.asarray(q_hat, dtype=np.float64)
    want = (fb.n, fb.n_actions, fb.len_list)
    if q.shape != want:
        raise ValueError(f"expected estimated_rewards of shape {want}, got {q.shape}")
    return q


@dataclass(frozen=True)
class _Bandit:
    """Shared plumbing: weights, DM term, and ``estimate``."""

    def _weights(self, fb: BanditFeedback, pi: np.ndarray) -> np.ndarray:
        return pi[np.arange(fb.n), fb.action, fb.position] / fb.pscore

    @staticmethod
    def _dm(fb: BanditFeedback, pi: np.ndarray, q: np.ndarray) -> np.ndarray:
        rows = np.arange(fb.n)
        return (pi[rows, :, fb.position] * q[rows, :, fb.position]).sum(axis=1)

    def _kernel(
        self, fb: BanditFeedback, pi: np.ndarray, q: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    def estimate(
        self,
        feedback: BanditFeedback,
        action_dist: np.ndarray,
        estimated_rewards: np.ndarray | None = None,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> Estimate:
        """Value of the target policy with a ``1 - alpha`` interval.

        Args:
            feedback: the logged requests.
            action_dist: ``[n, n_actions, len_list]`` target probabilities.
            estimated_rewards: ``[n, n_actions, len_list]`` reward model (DM/DR family).
            n_bootstrap: resamples of the percentile bootstrap (0: normal interval only).
        """
        pi = _check_action_dist(feedback, action_dist)
        num, den, w = self._kernel(feedback, pi, estimated_rewards)
        return make_estimate(
            self.name, asdict(self), num, den, w, alpha=alpha, n_bootstrap=n_bootstrap, seed=seed
        )


@dataclass(frozen=True)
class IPS(_Bandit):
    clip: float | None = None

    def _kernel(self, fb: BanditFeedback, pi: np.ndarray, q: np.ndarray | None) -> Any:
        w = self._weights(fb, pi)
        if self.clip is not None:
            w = np.minimum(w, self.clip)
        return w * fb.reward, np.ones(fb.n), w


@dataclass(frozen=True)
class SNIPS(_Bandit):
    def _kernel(self, fb: BanditFeedback, pi: np.ndarray, q: np.ndarray | None) -> Any:
        w = self._weights(fb, pi)
        return w * fb.reward, w, w


@dataclass(frozen=True)
class DM(_Bandit):
    def _kernel(self, fb: BanditFeedback, pi: np.ndarray, q: np.ndarray | None) -> Any:
        qq = _check_q(fb, q, "DM")
        return self._dm(fb, pi, qq), np.ones(fb.n), None


@dataclass(frozen=True)
class DR(_Bandit):
    clip: float | None = None

    def _kernel(self, fb: BanditFeedback, pi: np.ndarray, q: np.ndarray | None) -> Any:
        qq = _check_q(fb, q, "DR")
        w = self._weights(fb, pi)
        if self.clip is not None:
            w = np.minimum(w, self.clip)
        factual = qq[np.arange(fb.n), fb.action, fb.position]
        return self._dm(fb, pi, qq) + w * (fb.reward - factual), np.ones(fb.n), w


@dataclass(frozen=True)
class SNDR(_Bandit):
    """DR whose correction term is self-normalised: ``DM_i + w_i (r_i - q_i) / mean(w)``.
    Not a ratio of sums, so its contributions use the full-data ``mean(w)`` (as OBP)."""

    def _kernel(self, fb: BanditFeedback, pi: np.ndarray, q: np.ndarray | None) -> Any:
        qq = _check_q(fb, q, "SNDR")
        w = self._weights(fb, pi)
        factual = qq[np.arange(fb.n), fb.action, fb.position]
        return self._dm(fb, pi, qq) + w * (fb.reward - factual) / w.mean(), np.ones(fb.n), w


@dataclass(frozen=True)
class SwitchDR(_Bandit):
    tau: float = 1.0

    def _kernel(self, fb: BanditFeedback, pi: np.ndarray, q: np.ndarray | None) -> Any:
        qq = _check_q(fb, q, "SwitchDR")
        w = self._weights(fb, pi)
        factual = qq[np.arange(fb.n), fb.action, fb.position]
        keep = (w <= self.tau).astype(np.float64)
        return self._dm(fb, pi, qq) + keep * w * (fb.reward - factual), np.ones(fb.n), w


@dataclass(frozen=True)
class DRShrinkage(_Bandit):
    """DR with optimistic shrinkage: weights ``lambda w / (w^2 + lambda)``."""

    lambda_: float = 1.0

    def _kernel(self, fb: BanditFeedback, pi: np.ndarray, q: np.ndarray | None) -> Any:
        qq = _check_q(fb, q, "DRShrinkage")
        w = self._weights(fb, pi)
        shrunk = self.lambda_ * w / (w * w + self.lambda_)
        factual = qq[np.arange(fb.n), fb.action, fb.position]
        return self._dm(fb, pi, qq) + shrunk * (fb.reward - factual), np.ones(fb.n), shrunk


@dataclass(frozen=True)
class _Slate:
    column: str = ""
    clip: float | None = None

    @property
    def name(self) -> str:
        return type(self).__name__

    def estimate(
        self,
        feedback: SlateFeedback,
        target_pscore: np.ndarray,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> Estimate:
        """Value per slate. ``target_pscore [rows]``: the target policy's probability of
        the same kind as ``column`` (joint, item-position or cascade) for each logged slot."""
        behaviour = feedback.pscore(self.column)
        target = np.asarray(target_pscore, dtype=np.float64)
        if target.shape != behaviour.shape:
            raise ValueError(
                f"expected target_pscore of shape {behaviour.shape}, got {target.shape}"
            )
        if target.min() < 0 or target.max() > 1:
            raise ValueError("target_pscore must be probabilities in [0, 1]")
        w = target / behaviour
        if self.clip is not None:
            w = np.minimum(w, self.clip)
        per_slate = np.bincount(
            feedback.slate, weights=w * feedback.reward, minlength=feedback.n_slates
        )
        weights = np.bincount(feedback.slate, weights=w, minlength=feedback.n_slates) / np.maximum(
            np.bincount(feedback.slate, minlength=feedback.n_slates), 1
        )
        return make_estimate(
            self.name,
            {"clip": self.clip},
            per_slate,
            np.ones(feedback.n_slates),
            weights,
            alpha=alpha,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )


@dataclass(frozen=True)
class SlateStandardIPS(_Slate):
    column: str = "pscore"


@dataclass(frozen=True)
class SlateIndependentIPS(_Slate):
    column: str = "pscore_item_position"


@dataclass(frozen=True)
class SlateRewardInteractionIPS(_Slate):
    column: str = "pscore_cascade"
