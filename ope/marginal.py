"""Marginalised importance sampling: a state-distribution ratio instead of a product of
ratios over the whole trajectory.

Trajectory IS and PDIS weigh a request at step ``t`` by ``prod_{s<=t} rho_s``; over ~60
requests that product degenerates for any target unlike the logging policy. The target's
value is also ``sum_t gamma^t E_{d_pi}[r]``, an expectation over the *states* the target
visits, so it suffices to reweigh each logged request by ``w(s_t) rho_t`` with
``w(s) = d_pi(s) / d_mu(s)``: the target's discounted state visitation over the logging
policy's (Liu et al. 2018; Xie et al. 2019). No product over time appears.

``w`` is estimated from the log alone by minimax weight learning (MWL, Uehara, Huang and
Jiang 2020) with linear classes: for every test function ``f`` (``f = 0`` after a
trajectory's last request) the visitation satisfies the flow equation

    sum_t w(s_t) (f(s_t) - gamma rho_t f(s_{t+1}))  =  sum_users f(s_0)   (per user, in
    expectation over the log),

because under the target the discounted sum ``sum_t gamma^t (f(s_t) - gamma f(s_{t+1}))``
telescopes to ``f(s_0)``. With ``w = phi^T theta`` and ``f`` ranging over the same
features (an intercept included) this is one ``F x F`` linear system; the value is
``(1 / U) sum_t w(s_t) rho_t r_t``.

What it assumes, stated plainly: (1) the target's visitation ratio is linear in the given
state features (or close to it: the error is the ratio's approximation error, not
variance); (2) the per-request ratio ``rho_t`` is right, i.e. the logged propensities are
exact, and the target gives positive probability only where the logger does; (3) the
features are Markov enough that ``f(s_{t+1})`` under the logged slate reweighted by
``rho_t`` is the target's next-state expectation. With one-hot (tabular) features and
enough data it is exact; with the target equal to the logging policy and ``gamma = 1`` the
solution is ``w = 1`` and the estimate is the logged mean return (tests). The one-step
ratio ``rho_t`` remains: for a target that gives the logged slates probability 0 it
cannot answer, and its diagnostics (ESS of the per-user weight mass, the share of
negative ``w``) say how far to trust it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ltvrec.ope.intervals import Estimate, make_estimate
from ltvrec.ope.sequential import Trajectories


def _next_rows(user: np.ndarray) -> np.ndarray:
    """Row of the same user's next request, -1 at a trajectory's end."""
    nxt = np.arange(1, len(user) + 1)
    nxt[np.r_[user[1:] != user[:-1], True]] = -1
    return nxt


@dataclass(frozen=True)
class MarginalizedIS:
    """Marginalised importance sampling with linear minimax state-ratio weights; see the
    module docstring.

    Attributes:
        gamma: per-request discount (1: the simulator's undiscounted long-term value).
        ridge: L2 penalty on the ratio's weights (not its intercept), relative to the
            number of requests; 0 solves the flow equations exactly (they must then be
            non-singular).
        standardize: standardise the features (on the log) before fitting.
    """

    gamma: float = 1.0
    ridge: float = 1e-4
    standardize: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge}")

    def _design(self, traj: Trajectories, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) != len(traj.user):
            raise ValueError(f"expected features [{len(traj.user)}, F], got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("features have NaN or infinite values")
        if self.standardize:
            sd = x.std(axis=0)
            x = (x - x.mean(axis=0)) / np.where(sd > 1e-12, sd, 1.0)
        return np.c_[np.ones(len(x)), x]

    def _system(
        self, traj: Trajectories, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-request pieces of the flow equations: ``z`` (the features), the
        ``f``-side rows ``z - gamma rho z_next``, the ratio ``rho`` and the first-state
        indicator."""
        nxt = _next_rows(traj.user)
        rho = traj.target / traj.behaviour
        z_next = np.where((nxt >= 0)[:, None], z[np.maximum(nxt, 0)], 0.0)
        lhs = z - self.gamma * rho[:, None] * z_next
        return z, lhs, rho, traj.step == 0

    def _penalty(self, f: int, rows: int) -> np.ndarray:
        pen = self.ridge * rows * np.eye(f)
        pen[0, 0] = 0.0
        return pen

    def state_ratios(self, traj: Trajectories, features: np.ndarray) -> np.ndarray:
        """``[R]`` the estimated ratio ``w(s_t)`` at every logged request."""
        z, _, _, _, theta = self._fit(traj, features)
        return z @ theta

    def _fit(
        self, traj: Trajectories, features: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The flow equations' pieces (:meth:`_system`) and their solution ``theta``."""
        z, lhs, rho, first = self._system(traj, self._design(traj, features))
        a = lhs.T @ z + self._penalty(z.shape[1], len(z))
        return z, lhs, rho, first, _solve(a, z[first].sum(axis=0))

    def estimate(
        self,
        traj: Trajectories,
        features: np.ndarray,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> Estimate:
        """The value with a percentile bootstrap over users that refits the ratio on
        every resample (the flow equations are sums over users: one small solve per
        resample). ``features [R, F]``: the state at each logged request (the same
        encoder the target reads; add the elapsed time if the horizon is in days)."""
        z, lhs, rho, first, theta = self._fit(traj, features)
        u = traj.n_users
        w = z @ theta
        per_user_value = np.bincount(traj.user, weights=w * rho * traj.reward, minlength=u)
        mass = np.bincount(traj.user, weights=np.abs(w * rho), minlength=u)
        params = {
            **asdict(self),
            "negative_ratio_share": float(np.mean(w < 0)),
            "mean_ratio": float(w.mean()),
        }
        est = make_estimate("MarginalizedIS", params, per_user_value, None, mass, alpha, 0, seed)
        if n_bootstrap <= 0 or u < 2:
            return est
        penalty = self._penalty(z.shape[1], len(z))
        boot = _refitted_bootstrap(traj, z, lhs, rho, first, penalty, n_bootstrap, seed)
        ci = (float(np.quantile(boot, alpha / 2)), float(np.quantile(boot, 1 - alpha / 2)))
        return replace(est, ci=ci, se=float(boot.std()), method="bootstrap-percentile (refitted)")


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0]


def _refitted_bootstrap(
    traj: Trajectories,
    z: np.ndarray,
    lhs: np.ndarray,
    rho: np.ndarray,
    first: np.ndarray,
    penalty: np.ndarray,
    n_bootstrap: int,
    seed: int,
) -> np.ndarray:
    """``[B]`` values refitted on user resamples: per-user sums of the system
    (``A_u [F, F]``, ``b_u [F]``) and of the value's features (``g_u [F]``) reweighted by
    each resample's counts."""
    from scipy import sparse

    u, f, r = traj.n_users, z.shape[1], len(z)
    by_user = sparse.csr_matrix((np.ones(r), (traj.user, np.arange(r))), shape=(u, r))
    a_u = np.zeros((u, f * f))
    step = max(1, 20_000_000 // (f * f))
    for i in range(0, r, step):
        sl = slice(i, i + step)
        a_u += by_user[:, sl] @ (lhs[sl, :, None] * z[sl, None, :]).reshape(-1, f * f)
    b_u = by_user @ (z * first[:, None])
    g_u = by_user @ (z * (rho * traj.reward)[:, None])
    rng = np.random.default_rng(seed)
    out = np.empty(n_bootstrap)
    chunk = max(1, 50_000_000 // max(u * f * f, 1))
    for i in range(0, n_bootstrap, chunk):
        counts = rng.multinomial(u, np.full(u, 1.0 / u), size=min(chunk, n_bootstrap - i))
        counts = counts.astype(np.float64)
        a = (counts @ a_u).reshape(-1, f, f) + penalty
        theta = np.stack([_solve(ai, bi) for ai, bi in zip(a, counts @ b_u, strict=True)])
        out[i : i + len(counts)] = np.einsum("bf,bf->b", counts @ g_u, theta) / u
    return out
