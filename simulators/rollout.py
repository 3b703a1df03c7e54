"""Monte Carlo value of a policy in a simulator: the ground truth for PPO and OPE.

``evaluate(sim, policy, n_users, seed)`` follows fresh users over their whole horizon
(sessions and returns included) and reports the long-term value — the expected sum of
rewards per user — undiscounted (the headline) and discounted per request, each with a
95% normal confidence interval over users, beside clicks per request, requests per
session, sessions per user, return rate, churn, catalog coverage (share of items ever
shown) and intra-slate diversity (mean pairwise cosine distance of item vectors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ltvrec.simulators.base import SimState, StepResult, UserSimulator
from ltvrec.simulators.policies import SimPolicy

Z95 = 1.959963984540054


def mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% normal CI ``(mean, low, high)`` of i.i.d. per-user values."""
    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean())
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    return m, m - Z95 * se, m + Z95 * se


@dataclass(frozen=True)
class PolicyValue:
    """A policy's long-term value in a simulator, from ``n_users`` fresh users.

    Per-user arrays (``[n_users]``) are kept so that callers can pool or compare.
    """

    policy: str
    gamma: float
    returns: np.ndarray
    discounted: np.ndarray
    clicks: np.ndarray
    requests: np.ndarray
    sessions: np.ndarray
    churned: np.ndarray
    truncated: np.ndarray
    coverage: float = float("nan")
    diversity: float = float("nan")
    outside_support: float = float("nan")
    """Share of the simulated states (before and after each request) outside the range
    of the states the simulator was fitted on (a fitted simulator that kept its
    support; NaN otherwise): how far the policy drove the simulator from the logs."""

    @property
    def value(self) -> tuple[float, float, float]:
        """Undiscounted long-term value per user: (mean, 95% low, 95% high)."""
        return mean_ci(self.returns)

    @property
    def discounted_value(self) -> tuple[float, float, float]:
        return mean_ci(self.discounted)

    def summary(self) -> dict[str, Any]:
        v, lo, hi = self.value
        dv, dlo, dhi = self.discounted_value
        return {
            "policy": self.policy,
            "users": len(self.returns),
            "value": v,
            "value_ci": [lo, hi],
            "discounted_value": dv,
            "discounted_ci": [dlo, dhi],
            "gamma": self.gamma,
            "clicks_per_request": float(self.clicks.sum() / self.requests.sum()),
            "reward_per_click": float(self.returns.sum() / max(self.clicks.sum(), 1.0)),
            "requests_per_session": float(self.requests.sum() / self.sessions.sum()),
            "sessions_per_user": float(self.sessions.mean()),
            # A session is followed by a return unless the user churned or hit the horizon.
            "return_rate": float((self.sessions - 1).sum() / self.sessions.sum()),
            "churn_rate": float(self.churned.mean()),
            "coverage": self.coverage,
            "diversity": self.diversity,
            "outside_support": self.outside_support,
        }


def run_users(
    sim: UserSimulator,
    policy: SimPolicy,
    state: SimState,
    rng: np.random.Generator,
    on_step: Any = None,
    ids: np.ndarray | None = None,
    max_steps: int = 100_000,
) -> None:
    """Step every user in ``state`` until churn or the horizon; after each step call
    ``on_step(active_ids, state, slates, result)``, where ``active_ids`` are the ids
    (default ``0..n-1``) of the users that made this request."""
    active = np.arange(state.n) if ids is None else np.asarray(ids)
    for _ in range(max_steps):
        if len(active) == 0:
            return
        slates = policy.act(sim, state, rng)
        state, result = sim.step(state, slates, rng)
        if on_step is not None:
            on_step(active, state, slates, result)
        keep = ~result.done
        active, state = active[keep], state.take(keep)
    raise RuntimeError(f"users still active after {max_steps} steps; is the horizon finite?")


def evaluate(
    sim: UserSimulator,
    policy: SimPolicy,
    n_users: int,
    seed: int,
    gamma: float = 0.995,
    batch_size: int = 2048,
) -> PolicyValue:
    """Monte Carlo long-term value of ``policy`` over ``n_users`` fresh users.

    Args:
        gamma: per-request discount for the discounted value.
        seed: seeds the users and every random draw (same seed, same numbers).
    """
    rng = np.random.default_rng(seed)
    out = {k: np.zeros(n_users) for k in ("ret", "disc", "clicks", "req", "sess", "churn", "trunc")}
    out["sess"][:] = 1.0
    emb = sim.item_embeddings.astype(np.float64)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    shown = np.zeros(sim.n_items, dtype=bool)
    div = [0.0, 0.0]  # sum of per-slate diversity, number of slates

    def on_step(g: np.ndarray, _s: SimState, slates: np.ndarray, r: StepResult) -> None:
        shown[slates.ravel()] = True
        k = slates.shape[1]
        if k > 1:
            total = unit[slates].sum(axis=1)
            mean_cos = ((total * total).sum(axis=1) - k) / (k * (k - 1))
            div[0] += float((1.0 - mean_cos).sum())
            div[1] += len(slates)
        out["ret"][g] += r.reward
        out["disc"][g] += gamma ** out["req"][g] * r.reward
        out["clicks"][g] += r.clicked_position >= 0
        out["req"][g] += 1
        out["sess"][g] += r.session_end & ~r.done
        out["churn"][g] += r.churned
        out["trunc"][g] += r.truncated

    counted = getattr(sim, "reset_support_counts", None)
    if counted is not None:
        counted()
    for start in range(0, n_users, batch_size):
        n = min(batch_size, n_users - start)
        run_users(sim, policy, sim.reset(n, rng), rng, on_step, ids=np.arange(start, start + n))
    outside = getattr(sim, "outside_share", None)
    return PolicyValue(
        policy=policy.name,
        gamma=gamma,
        returns=out["ret"],
        discounted=out["disc"],
        clicks=out["clicks"],
        requests=out["req"],
        sessions=out["sess"],
        churned=out["churn"].astype(bool),
        truncated=out["trunc"].astype(bool),
        coverage=float(shown.mean()),
        diversity=div[0] / div[1] if div[1] else float("nan"),
        outside_support=float("nan") if outside is None else outside,
    )
