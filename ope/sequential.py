"""Long-horizon estimators over whole user trajectories (importance sampling family).

A user's trajectory is the ordered requests ``t = 0..T_u-1`` of the user over the log
(sessions and returns included, variable length). With per-request slate ratios
``rho_t = pi(slate_t | s_t) / mu(slate_t | s_t)`` (joint slate probabilities; ``mu``
the logged ``pscore``) and discount ``gamma`` per request:

- trajectory-wise IS: ``(prod_t rho_t) * sum_t gamma^t r_t`` (Precup et al. 2000);
- per-decision IS (PDIS): ``sum_t gamma^t (prod_{s<=t} rho_s) r_t``;
- weighted PDIS: the cumulative weight at step t divided by its mean over the users
  who reached step t (Thomas 2015) — biased, consistent, far less variance.

With ``gamma = 1`` the estimates are on the simulator's long-term-value scale: the sum
of rewards per user over the horizon. Intervals are over users (each user one unit).
Weights are products over many requests: far from the logging policy they degenerate
(tiny ESS), and the estimate's diagnostics say so. Sequential DR, weighted DR and FQE
are not built yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltvrec.ope.intervals import Estimate, make_estimate


@dataclass(frozen=True)
class Trajectories:
    """Per-request arrays ``[R]`` sorted by user then time.

    Attributes:
        user: user row 0..U-1 (non-decreasing).
        step: the request's index within its user's trajectory (0, 1, ...).
        reward: the request's reward.
        behaviour: the logging policy's joint slate probability (``pscore``).
        target: the target policy's joint probability of the same slate.
    """

    user: np.ndarray
    step: np.ndarray
    reward: np.ndarray
    behaviour: np.ndarray
    target: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.user)
        for name in ("step", "reward", "behaviour", "target"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"Trajectories.{name} has {len(getattr(self, name))} rows, expected {n}"
                )
        if n == 0:
            raise ValueError("no trajectories: expected at least one logged request")
        if np.any(np.diff(self.user) < 0):
            raise ValueError("Trajectories.user must be non-decreasing (sort by user, then time)")
        if self.behaviour.min() <= 0 or self.behaviour.max() > 1:
            raise ValueError("behaviour probabilities must be in (0, 1]")
        if self.target.min() < 0 or self.target.max() > 1:
            raise ValueError("target probabilities must be in [0, 1]")

    @property
    def n_users(self) -> int:
        return int(self.user.max()) + 1

    def final_weights(self) -> np.ndarray:
        """``prod_t rho_t`` over each user's whole trajectory: ``[U]``."""
        last = np.r_[np.flatnonzero(np.diff(self.user)), len(self.user) - 1]
        return np.exp(self.cumulative_log_weights()[last])

    def cumulative_log_weights(self) -> np.ndarray:
        """``log prod_{s<=t} rho_s`` per request (``-inf`` once a ratio is 0)."""
        with np.errstate(divide="ignore"):
            log_rho = np.log(self.target) - np.log(self.behaviour)
        out = np.cumsum(log_rho)
        starts = np.r_[0, np.flatnonzero(np.diff(self.user)) + 1]
        before = np.r_[0.0, out[:-1]][starts]  # cumulative sum up to each user's start
        return out - np.repeat(before, np.diff(np.r_[starts, len(out)]))


@dataclass(frozen=True)
class TrajectoryIS:
    """Trajectory-wise importance sampling."""

    gamma: float = 1.0

    def estimate(
        self, traj: Trajectories, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0
    ) -> Estimate:
        u = traj.n_users
        ret = np.bincount(traj.user, weights=self.gamma**traj.step * traj.reward, minlength=u)
        w = traj.final_weights()
        return make_estimate(
            "TrajectoryIS", {"gamma": self.gamma}, w * ret, np.ones(u), w, alpha, n_bootstrap, seed
        )


@dataclass(frozen=True)
class PDIS:
    """Per-decision importance sampling."""

    gamma: float = 1.0

    def estimate(
        self, traj: Trajectories, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0
    ) -> Estimate:
        u = traj.n_users
        w = np.exp(traj.cumulative_log_weights())
        contrib = np.bincount(
            traj.user, weights=self.gamma**traj.step * w * traj.reward, minlength=u
        )
        final = traj.final_weights()
        return make_estimate(
            "PDIS", {"gamma": self.gamma}, contrib, np.ones(u), final, alpha, n_bootstrap, seed
        )


@dataclass(frozen=True)
class WeightedPDIS:
    """Weighted (self-normalised per step) PDIS. A user whose trajectory ended before
    step t is in an absorbing state (ratio 1, reward 0): the normaliser at t counts
    them with their final cumulative weight."""

    gamma: float = 1.0

    def estimate(
        self, traj: Trajectories, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0
    ) -> Estimate:
        u = traj.n_users
        w = np.exp(traj.cumulative_log_weights())
        final = traj.final_weights()
        length = np.bincount(traj.user, minlength=u)
        horizon = int(traj.step.max()) + 1
        running = np.bincount(traj.step, weights=w, minlength=horizon)
        ended = np.cumsum(np.bincount(length, weights=final, minlength=horizon + 1))[:horizon]
        mean_w = (running + ended) / u
        norm = np.where(mean_w > 0, mean_w, 1.0)[traj.step]
        contrib = np.bincount(
            traj.user, weights=self.gamma**traj.step * w / norm * traj.reward, minlength=u
        )
        return make_estimate(
            "WeightedPDIS",
            {"gamma": self.gamma},
            contrib,
            np.ones(u),
            final,
            alpha,
            n_bootstrap,
            seed,
        )
