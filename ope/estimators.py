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

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ltvrec.ope.feedback import BanditFeedback, SlateFeedback
from ltvrec.ope.intervals import Estimate, make_estimate


def _check_action_dist(
    fb: BanditFeedback, action_dist: np.ndarray, rows: int | None = None
) -> np.ndarray:
    """``action_dist [n, n_actions, len_list]`` (``rows`` instead of ``n``: a table shared
    by every request) checked: finite, >= 0, summing to 1 over actions."""
    a = np.asarray(action_dist, dtype=np.float64)
    want = (fb.n if rows is None else rows, fb.n_actions, fb.len_list)
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


@dataclass(frozen=True)
class Target:
    """What the bandit estimators need of a target policy, per logged request ``[n]``.

    Attributes:
        pi_logged: ``pi(a_i | x_i, k_i)``, the target's probability of the logged action.
        dm: ``sum_a pi(a | x_i, k_i) q_hat(x_i, a, k_i)`` (DM/DR family), or None.
        q_logged: ``q_hat(x_i, a_i, k_i)`` (DR family), or None.

    Build it from OBP's dense layout with :meth:`from_action_dist`, from a context-free
    table ``[n_actions, len_list]`` with :meth:`from_table`, or directly when the caller
    can compute the three per-request numbers cheaper (a policy that scores only the
    logged candidates): the fast path, ``[n]`` not ``[n, n_actions, len_list]``.
    """

    pi_logged: np.ndarray
    dm: np.ndarray | None = None
    q_logged: np.ndarray | None = None
    _validated: bool = field(default=False, repr=False, compare=False)
    """Built by :meth:`from_action_dist` or :meth:`from_table`, whose inputs were checked:
    :meth:`checked` need not pass over the ``[n]`` arrays again."""

    @classmethod
    def from_action_dist(
        cls,
        fb: BanditFeedback,
        action_dist: np.ndarray,
        estimated_rewards: np.ndarray | None = None,
    ) -> Target:
        """Reduce ``action_dist`` (and ``q_hat``) ``[n, n_actions, len_list]``, checked."""
        pi = _check_action_dist(fb, action_dist)
        rows = np.arange(fb.n)
        pi_logged = pi[rows, fb.action, fb.position]
        if estimated_rewards is None:
            return cls(pi_logged, _validated=True)
        q = np.asarray(estimated_rewards, dtype=np.float64)
        want = (fb.n, fb.n_actions, fb.len_list)
        if q.shape != want:
            raise ValueError(f"expected estimated_rewards of shape {want}, got {q.shape}")
        dm = (pi[rows, :, fb.position] * q[rows, :, fb.position]).sum(axis=1)
        return cls(pi_logged, dm, q[rows, fb.action, fb.position], _validated=True)

    @classmethod
    def from_table(
        cls,
        fb: BanditFeedback,
        table: np.ndarray,
        reward_table: np.ndarray | None = None,
    ) -> Target:
        """A context-free target (the same ``pi(a | k)`` for every request, ``table
        [n_actions, len_list]``, checked), and optionally a context-free reward model
        ``q_hat(a, k)`` of the same shape: each per-request number is one ``take`` of the
        flattened table at :attr:`BanditFeedback.slot`."""
        want = (fb.n_actions, fb.len_list)
        pi = np.asarray(table, dtype=np.float64)
        if pi.shape != want:
            raise ValueError(f"expected a target table of shape {want}, got {pi.shape}")
        _check_action_dist(fb, pi[None], rows=1)
        pi_logged = pi.ravel().take(fb.slot)
        if reward_table is None:
            return cls(pi_logged, _validated=True)
        q = np.asarray(reward_table, dtype=np.float64)
        if q.shape != want:
            raise ValueError(f"expected a reward table of shape {want}, got {q.shape}")
        dm = (pi * q).sum(axis=0).take(fb.position)
        return cls(pi_logged, dm, q.ravel().take(fb.slot), _validated=True)

    def checked(self, fb: BanditFeedback) -> Target:
        """This target, its arrays checked against ``fb`` (shapes ``[n]``, probabilities in
        [0, 1]); a target built from checked inputs is returned as it is."""
        if self._validated and len(self.pi_logged) == fb.n:
            return self
        pi = np.asarray(self.pi_logged, dtype=np.float64)
        if pi.shape != (fb.n,):
            raise ValueError(f"expected pi_logged of shape ({fb.n},), got {pi.shape}")
        if not (pi.min() >= 0 and pi.max() <= 1):  # also rejects NaN
            raise ValueError("pi_logged must hold target probabilities in [0, 1]")
        arrays = {}
        for name in ("dm", "q_logged"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v, dtype=np.float64)
                if v.shape != (fb.n,):
                    raise ValueError(f"expected {name} of shape ({fb.n},), got {v.shape}")
            arrays[name] = v
        return Target(pi, arrays["dm"], arrays["q_logged"])

    def need_model(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if self.dm is None or self.q_logged is None:
            raise ValueError(
                f"{name} needs estimated_rewards (a reward model's q_hat [n, n_actions, "
                "len_list]) or Target(dm=..., q_logged=...)"
            )
        return self.dm, self.q_logged


@dataclass(frozen=True)
class _Bandit:
    """Shared plumbing: ``estimate`` reduces the inputs to a :class:`Target`; each
    estimator's kernel maps it to per-request contributions."""

    def _kernel(
        self, fb: BanditFeedback, t: Target
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    def estimate(
        self,
        feedback: BanditFeedback,
        action_dist: np.ndarray | Target,
        estimated_rewards: np.ndarray | None = None,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> Estimate:
        """Value of the target policy with a ``1 - alpha`` interval.

        Args:
            feedback: the logged requests.
            action_dist: ``[n, n_actions, len_list]`` target probabilities (OBP's
                layout, validated), or a :class:`Target` (the fast per-request form).
            estimated_rewards: ``[n, n_actions, len_list]`` reward model (DM/DR family;
                with a dense ``action_dist`` only).
            n_bootstrap: resamples of the percentile bootstrap (0: normal interval only).
        """
        if isinstance(action_dist, Target):
            if estimated_rewards is not None:
                raise ValueError("with a Target, give the reward model as Target(dm, q_logged)")
            target = action_dist.checked(feedback)
        else:
            target = Target.from_action_dist(feedback, action_dist, estimated_rewards)
        num, den, w = self._kernel(feedback, target)
        return make_estimate(
            self.name, asdict(self), num, den, w, alpha=alpha, n_bootstrap=n_bootstrap, seed=seed
        )


def _clipped(w: np.ndarray, clip: float | None) -> np.ndarray:
    return w if clip is None else np.minimum(w, clip)


@dataclass(frozen=True)
class IPS(_Bandit):
    clip: float | None = None

    def _kernel(self, fb: BanditFeedback, t: Target) -> Any:
        w = _clipped(t.pi_logged / fb.pscore, self.clip)
        return w * fb.reward, None, w


@dataclass(frozen=True)
class SNIPS(_Bandit):
    def _kernel(self, fb: BanditFeedback, t: Target) -> Any:
        w = t.pi_logged / fb.pscore
        return w * fb.reward, w, w


@dataclass(frozen=True)
class DM(_Bandit):
    def _kernel(self, fb: BanditFeedback, t: Target) -> Any:
        dm, _ = t.need_model("DM")
        return dm, None, None


@dataclass(frozen=True)
class DR(_Bandit):
    clip: float | None = None

    def _kernel(self, fb: BanditFeedback, t: Target) -> Any:
        dm, q = t.need_model("DR")
        w = _clipped(t.pi_logged / fb.pscore, self.clip)
        return dm + w * (fb.reward - q), None, w


@dataclass(frozen=True)
class SNDR(_Bandit):
    """DR whose correction term is self-normalised: ``DM_i + w_i (r_i - q_i) / mean(w)``.
    Not a ratio of sums, so its contributions use the full-data ``mean(w)`` (as OBP)."""

    def _kernel(self, fb: BanditFeedback, t: Target) -> Any:
        dm, q = t.need_model("SNDR")
        w = t.pi_logged / fb.pscore
        return dm + w * (fb.reward - q) / w.mean(), None, w


@dataclass(frozen=True)
class SwitchDR(_Bandit):
    tau: float = 1.0

    def _kernel(self, fb: BanditFeedback, t: Target) -> Any:
        dm, q = t.need_model("SwitchDR")
        w = t.pi_logged / fb.pscore
        return dm + np.where(w <= self.tau, w, 0.0) * (fb.reward - q), None, w


@dataclass(frozen=True)
class DRShrinkage(_Bandit):
    """DR with optimistic shrinkage: weights ``lambda w / (w^2 + lambda)``."""

    lambda_: float = 1.0

    def _kernel(self, fb: BanditFeedback, t: Target) -> Any:
        dm, q = t.need_model("DRShrinkage")
        w = t.pi_logged / fb.pscore
        shrunk = self.lambda_ * w / (w * w + self.lambda_)
        return dm + shrunk * (fb.reward - q), None, shrunk


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
            None,
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
