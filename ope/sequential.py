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
(tiny ESS), and the estimate's diagnostics say so.

Sequential DR and weighted DR add a model of the target's action value (``Q`` at the
logged slate, ``V`` at the state: :mod:`ltvrec.ope.fqe`) as a control variate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
        zero = self.target == 0
        with np.errstate(divide="ignore"):
            log_rho = np.where(zero, 0.0, np.log(np.where(zero, 1.0, self.target)))
        log_rho -= np.log(self.behaviour)
        starts = np.r_[0, np.flatnonzero(np.diff(self.user)) + 1]
        lengths = np.diff(np.r_[starts, len(self.user)])
        out = _segment_cumsum(log_rho, starts, lengths)
        zeros_so_far = _segment_cumsum(zero.astype(np.float64), starts, lengths)
        out[zeros_so_far > 0] = -np.inf
        return out


def _segment_cumsum(x: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each segment start."""
    out = np.cumsum(x)
    before = np.r_[0.0, out[:-1]][starts]  # the running sum just before each segment
    return out - np.repeat(before, lengths)


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
            "TrajectoryIS", {"gamma": self.gamma}, w * ret, None, w, alpha, n_bootstrap, seed
        )


def _per_user(
    name: str,
    gamma: float,
    traj: Trajectories,
    per_request: np.ndarray,
    alpha: float,
    n_bootstrap: int,
    seed: int,
) -> Estimate:
    """The estimate from per-request terms: ``sum_t gamma^t term_t`` per user, users as
    units, the users' final trajectory weights as the weight diagnostics."""
    contrib = np.bincount(traj.user, weights=gamma**traj.step * per_request, minlength=traj.n_users)
    return make_estimate(
        name, {"gamma": gamma}, contrib, None, traj.final_weights(), alpha, n_bootstrap, seed
    )


@dataclass(frozen=True)
class PDIS:
    """Per-decision importance sampling."""

    gamma: float = 1.0

    def estimate(
        self, traj: Trajectories, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0
    ) -> Estimate:
        w = np.exp(traj.cumulative_log_weights())
        return _per_user("PDIS", self.gamma, traj, w * traj.reward, alpha, n_bootstrap, seed)


def _normalised_weights(traj: Trajectories) -> np.ndarray:
    """Cumulative weight at each request divided by the mean cumulative weight over all
    users at that step; a user whose trajectory ended is in an absorbing state (ratio 1,
    reward 0) and keeps their final weight in the mean."""
    u = traj.n_users
    w = np.exp(traj.cumulative_log_weights())
    length = np.bincount(traj.user, minlength=u)
    horizon = int(traj.step.max()) + 1
    running = np.bincount(traj.step, weights=w, minlength=horizon)
    ended = np.cumsum(np.bincount(length, weights=traj.final_weights(), minlength=horizon + 1))
    mean_w = (running + ended[:horizon]) / u
    return w / np.where(mean_w > 0, mean_w, 1.0)[traj.step]


def _previous(w: np.ndarray, step: np.ndarray) -> np.ndarray:
    """``w_{t-1}`` per request, 1 at a trajectory's first request."""
    return np.where(step == 0, 1.0, np.r_[1.0, w[:-1]])


def resampled_weighted(
    traj: Trajectories,
    counts: np.ndarray,
    gamma: float,
    advantage: np.ndarray,
    v: np.ndarray | None = None,
) -> np.ndarray:
    """The weighted estimator on resamples of the users, its per-step normalisers
    recomputed on each: ``[B]`` values for ``counts [B, U]`` (how often each user is
    drawn). The estimate is ``sum_t gamma^t [sum_i c_i w_it a_it / D_t + sum_i c_i
    w_i,t-1 v_it / D_t-1] + sum_i c_i v_i0 / U``, ``D_t = sum_i c_i W_it`` with ``W_it``
    the user's cumulative weight at step t (its final weight once its trajectory ended),
    ``a = r`` (weighted PDIS) or ``r - Q`` (weighted DR, with its ``v``). With every
    count 1 it is the point estimate."""
    from scipy import sparse

    u, b = traj.n_users, len(counts)
    w = np.exp(traj.cumulative_log_weights())
    horizon = int(traj.step.max()) + 1
    length = np.bincount(traj.user, minlength=u)

    def by_step(values: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((values, (traj.user, traj.step)), shape=(u, horizon))

    c = sparse.csr_matrix(np.asarray(counts, np.float64))
    ended = sparse.csr_matrix(
        (traj.final_weights(), (np.arange(u), np.minimum(length, horizon))),
        shape=(u, horizon + 1),
    )
    den = (c @ by_step(w)).toarray() + np.cumsum((c @ ended).toarray(), axis=1)[:, :horizon]
    safe = np.where(den > 0, den, np.inf)  # no weight at a step: its terms are 0
    disc = gamma ** np.arange(horizon)
    out = ((c @ by_step(w * advantage)).toarray() / safe) @ disc
    if v is not None:
        first = traj.step == 0
        previous = np.where(first, 0.0, np.r_[1.0, w[:-1]]) * v
        shifted = np.c_[np.full((b, 1), np.inf), safe[:, :-1]]
        out += ((c @ by_step(previous)).toarray() / shifted) @ disc
        v0 = np.bincount(traj.user[first], weights=v[first], minlength=u)
        out += (c @ v0) / u
    return np.asarray(out).ravel()


def _weighted_estimate(
    name: str,
    gamma: float,
    traj: Trajectories,
    advantage: np.ndarray,
    v: np.ndarray | None,
    alpha: float,
    n_bootstrap: int,
    seed: int,
) -> Estimate:
    """Point estimate from fixed normalisers; interval from a bootstrap over users that
    recomputes the normalisers on every resample (their own uncertainty included)."""
    w = _normalised_weights(traj)
    per_request = w * advantage + (0.0 if v is None else _previous(w, traj.step) * v)
    est = _per_user(name, gamma, traj, per_request, alpha, 0, seed)
    if n_bootstrap <= 0 or traj.n_users < 2:
        return est
    rng = np.random.default_rng(seed)
    u = traj.n_users
    chunk = max(1, 20_000_000 // (u * (int(traj.step.max()) + 1)))
    boot = np.concatenate(
        [
            resampled_weighted(
                traj,
                rng.multinomial(u, np.full(u, 1.0 / u), size=min(chunk, n_bootstrap - i)),
                gamma,
                advantage,
                v,
            )
            for i in range(0, n_bootstrap, chunk)
        ]
    )
    ci = (float(np.quantile(boot, alpha / 2)), float(np.quantile(boot, 1 - alpha / 2)))
    return replace(est, ci=ci, method="bootstrap-percentile (normalisers recomputed)")


@dataclass(frozen=True)
class WeightedPDIS:
    """Weighted (self-normalised per step) PDIS; see :func:`_normalised_weights`. Its
    bootstrap recomputes the per-step normalisers on every resample."""

    gamma: float = 1.0

    def estimate(
        self, traj: Trajectories, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0
    ) -> Estimate:
        return _weighted_estimate(
            "WeightedPDIS", self.gamma, traj, traj.reward, None, alpha, n_bootstrap, seed
        )


def _check_values(traj: Trajectories, q_logged: np.ndarray, v: np.ndarray) -> None:
    for name, arr in (("q_logged", q_logged), ("v", v)):
        if np.shape(arr) != traj.user.shape:
            raise ValueError(f"expected {name} of shape {traj.user.shape}, got {np.shape(arr)}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} has NaN or infinite values")


@dataclass(frozen=True)
class SequentialDR:
    """Per-decision doubly robust (Jiang and Li 2016; Thomas and Brunskill 2016):
    ``sum_t gamma^t [w_t (r_t - Q(s_t, a_t)) + w_{t-1} V(s_t)]`` per user with
    ``w_{-1} = 1``. Unbiased whatever the model when the propensities are right; the
    better ``Q`` and ``V``, the smaller the variance. ``q_logged`` and ``v`` come from
    :class:`ltvrec.ope.fqe.FQE` (cross-fitted)."""

    gamma: float = 1.0

    def _weights(self, traj: Trajectories) -> np.ndarray:
        return np.exp(traj.cumulative_log_weights())

    def estimate(
        self,
        traj: Trajectories,
        q_logged: np.ndarray,
        v: np.ndarray,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> Estimate:
        _check_values(traj, q_logged, v)
        w = self._weights(traj)
        per_request = w * (traj.reward - q_logged) + _previous(w, traj.step) * v
        return _per_user(
            type(self).__name__, self.gamma, traj, per_request, alpha, n_bootstrap, seed
        )


@dataclass(frozen=True)
class WeightedDR(SequentialDR):
    """Weighted doubly robust (Thomas and Brunskill 2016): sequential DR with the
    per-step self-normalised weights of weighted PDIS. Biased, consistent; usually the
    lowest-variance member of the family. Its bootstrap recomputes the normalisers on
    every resample (the model's ``Q`` and ``V`` are held fixed)."""

    def _weights(self, traj: Trajectories) -> np.ndarray:
        return _normalised_weights(traj)

    def estimate(
        self,
        traj: Trajectories,
        q_logged: np.ndarray,
        v: np.ndarray,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> Estimate:
        _check_values(traj, q_logged, v)
        return _weighted_estimate(
            "WeightedDR", self.gamma, traj, traj.reward - q_logged, v, alpha, n_bootstrap, seed
        )
