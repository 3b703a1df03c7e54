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
        return self.weights()[1]

    def weights(self, clip: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative weights per request ``[R]`` and each user's final weight ``[U]``,
        each at most ``clip`` when given."""
        w = np.exp(self.cumulative_log_weights())
        if clip is not None:
            w = np.minimum(w, clip)
        last = np.r_[np.flatnonzero(np.diff(self.user)), len(self.user) - 1]
        return w, w[last]

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
    clip: float | None = None,
) -> Estimate:
    """The estimate from per-request terms: ``sum_t gamma^t term_t`` per user, users as
    units, the users' final trajectory weights (clipped as the estimator's) as the
    weight diagnostics."""
    contrib = np.bincount(traj.user, weights=gamma**traj.step * per_request, minlength=traj.n_users)
    params: dict[str, float | None] = {"gamma": gamma, "clip": clip}
    return make_estimate(
        name, params, contrib, None, traj.weights(clip)[1], alpha, n_bootstrap, seed
    )


def _with_clipping_shift(
    clipped: Estimate, unclipped: float, traj: Trajectories, clip: float | None
) -> Estimate:
    """Report what clipping did: the share of requests whose cumulative weight was cut,
    and the shift of the point estimate against the same estimator unclipped (a
    measured stand-in for the bias clipping buys its variance with)."""
    if clip is None:
        return clipped
    w = np.exp(traj.cumulative_log_weights())
    params = {
        **clipped.params,
        "clipped_share": float((w > clip).mean()),
        "shift_from_clipping": clipped.value - unclipped,
    }
    return replace(clipped, params=params)


def _check_clip(clip: float | None) -> None:
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be > 0 (a cap on the cumulative weight), got {clip}")


@dataclass(frozen=True)
class PDIS:
    """Per-decision importance sampling. ``clip``: cap on the cumulative weight (biased,
    less variance; the estimate reports the share of requests cut and the shift against
    the unclipped estimate)."""

    gamma: float = 1.0
    clip: float | None = None

    def estimate(
        self, traj: Trajectories, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0
    ) -> Estimate:
        _check_clip(self.clip)
        w = traj.weights(self.clip)[0]
        est = _per_user(
            "PDIS", self.gamma, traj, w * traj.reward, alpha, n_bootstrap, seed, self.clip
        )
        if self.clip is None:
            return est
        unclipped = PDIS(self.gamma).estimate(traj, n_bootstrap=0).value
        return _with_clipping_shift(est, unclipped, traj, self.clip)


def _normalised_weights(traj: Trajectories, clip: float | None = None) -> np.ndarray:
    """Cumulative weight at each request divided by the mean cumulative weight over all
    users at that step; a user whose trajectory ended is in an absorbing state (ratio 1,
    reward 0) and keeps their final weight in the mean."""
    u = traj.n_users
    w, final = traj.weights(clip)
    length = np.bincount(traj.user, minlength=u)
    horizon = int(traj.step.max()) + 1
    running = np.bincount(traj.step, weights=w, minlength=horizon)
    ended = np.cumsum(np.bincount(length, weights=final, minlength=horizon + 1))
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
    clip: float | None = None,
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
    w, final = traj.weights(clip)
    horizon = int(traj.step.max()) + 1
    length = np.bincount(traj.user, minlength=u)

    def by_step(values: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((values, (traj.user, traj.step)), shape=(u, horizon))

    c = sparse.csr_matrix(np.asarray(counts, np.float64))
    ended = sparse.csr_matrix(
        (final, (np.arange(u), np.minimum(length, horizon))),
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
    clip: float | None = None,
) -> Estimate:
    """Point estimate from fixed normalisers; interval from a bootstrap over users that
    recomputes the normalisers on every resample (their own uncertainty included)."""
    _check_clip(clip)
    w = _normalised_weights(traj, clip)
    per_request = w * advantage + (0.0 if v is None else _previous(w, traj.step) * v)
    est = _per_user(name, gamma, traj, per_request, alpha, 0, seed, clip)
    if clip is not None:
        unclipped = _weighted_estimate(name, gamma, traj, advantage, v, alpha, 0, seed)
        est = _with_clipping_shift(est, unclipped.value, traj, clip)
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
                clip,
            )
            for i in range(0, n_bootstrap, chunk)
        ]
    )
    ci = (float(np.quantile(boot, alpha / 2)), float(np.quantile(boot, 1 - alpha / 2)))
    return replace(est, ci=ci, method="bootstrap-percentile (normalisers recomputed)")


@dataclass(frozen=True)
class WeightedPDIS:
    """Weighted (self-normalised per step) PDIS; see :func:`_normalised_weights`. Its
    bootstrap recomputes the per-step normalisers on every resample. ``clip`` as
    :class:`PDIS`'s."""

    gamma: float = 1.0
    clip: float | None = None

    def estimate(
        self, traj: Trajectories, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0
    ) -> Estimate:
        return _weighted_estimate(
            "WeightedPDIS", self.gamma, traj, traj.reward, None, alpha, n_bootstrap, seed,
            self.clip,
        )  # fmt: skip


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
    :class:`ltvrec.ope.fqe.FQE` (cross-fitted). ``clip`` as :class:`PDIS`'s."""

    gamma: float = 1.0
    clip: float | None = None

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
        _check_clip(self.clip)
        w = traj.weights(self.clip)[0]
        per_request = w * (traj.reward - q_logged) + _previous(w, traj.step) * v
        est = _per_user(
            type(self).__name__, self.gamma, traj, per_request, alpha, n_bootstrap, seed,
            self.clip,
        )  # fmt: skip
        if self.clip is None:
            return est
        unclipped = SequentialDR(self.gamma).estimate(traj, q_logged, v, n_bootstrap=0).value
        return _with_clipping_shift(est, unclipped, traj, self.clip)


@dataclass(frozen=True)
class WeightedDR(SequentialDR):
    """Weighted doubly robust (Thomas and Brunskill 2016): sequential DR with the
    per-step self-normalised weights of weighted PDIS. Biased, consistent; usually the
    lowest-variance member of the family. Its bootstrap recomputes the normalisers on
    every resample (the model's ``Q`` and ``V`` are held fixed)."""

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
            "WeightedDR", self.gamma, traj, traj.reward - q_logged, v, alpha, n_bootstrap, seed,
            self.clip,
        )  # fmt: skip
