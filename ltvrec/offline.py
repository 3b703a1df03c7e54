"""Off-policy evaluation of whole policies on a simulator-world log (``ltvrec ope``).

A log in the interaction schema (known-world logs, fitted-simulator logs, served logs)
is replayed through the same user-state encoder the policies were trained with, so each
logged request gets the state the policy would have seen. Then, per target policy:

- exact joint slate probabilities of the logged slates (the policy protocol), ratios to
  the logged ``pscore``, and the trajectory estimators (trajectory IS, PDIS, weighted
  PDIS) and marginalised IS (a state-visitation ratio on the replayed state times the
  one-request ratio: no product over the trajectory);
- cross-fitted FQE on (state, slate) features, with ``V(s)`` averaged over slates
  sampled from the target, as the direct method and inside sequential / weighted DR.

Estimates are of the undiscounted long-term value per user (``gamma = 1``), the scale
of the simulator's own evaluation, so the known world's truth can sit beside them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ltvrec.encoders.state import StateLayout, UserStateEncoder
from ltvrec.interactions import InteractionLog, ItemCatalog
from ltvrec.names import ESTIMATORS
from ltvrec.ope import (
    FQE,
    PDIS,
    Estimate,
    FQEConfig,
    MarginalizedIS,
    SequentialDR,
    Trajectories,
    TrajectoryIS,
    WeightedDR,
    WeightedPDIS,
)
from ltvrec.simulators.base import SimState, UserSimulator
from ltvrec.simulators.policies import ScoredPolicy, SimPolicy, require_scored
from ltvrec.simulators.replay import replay_log

logger = logging.getLogger(__name__)

IS_FAMILY = (
    "trajectory-is",
    "pdis",
    "weighted-pdis",
    "pdis-cascade",
    "weighted-pdis-cascade",
    "dr",
    "weighted-dr",
)
"""Estimators that multiply the per-request ratios over a trajectory."""

CASCADE = ("pdis-cascade", "weighted-pdis-cascade", "marginalized-cascade")
"""Cascade-factored estimators: the ratio of a request is that of the slate's prefix
through its last click (the whole slate without a click). Unbiased when the user's
response and next state at a request with its last click at position k depend on the
slate only through its first k items (a cascade user who stops after a click); biased
where the choice at a position depends on the items below it."""


@dataclass(frozen=True)
class LoggedRequests:
    """A log replayed for OPE, one row per request, sorted by user then time.

    Attributes:
        user, step: user row and the request's index in the user's trajectory.
        state: ``[R, S]`` the observable state before the request.
        elapsed: ``[R]`` days since the user's first request.
        slates: ``[R, K]`` logged item indices.
        reward: ``[R]`` the request's total reward.
        pscore: ``[R]`` the logging policy's joint slate probability (None if the log
            has no propensities).
        consumed: ``[R, N]`` bool, the items the user consumed before each request
            (None unless asked for: policies that mask consumed items need it).
        last_click: ``[R]`` the position of the request's last click, -1 without one.
        pscore_to_click: ``[R]`` the logging policy's probability of the slate's prefix
            through the last click (the joint ``pscore`` without a click); None if the
            log has no ``pscore_cascade``. The cascade-factored estimators' ratio.
    """

    user: np.ndarray
    step: np.ndarray
    state: np.ndarray
    elapsed: np.ndarray
    slates: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray | None
    consumed: np.ndarray | None = None
    last_click: np.ndarray | None = None
    pscore_to_click: np.ndarray | None = None

    @property
    def n_users(self) -> int:
        return int(self.user.max()) + 1


def replay(
    log: InteractionLog,
    catalog: ItemCatalog,
    encoder: UserStateEncoder,
    slate_size: int | None = None,
    consumed: bool = False,
) -> LoggedRequests:
    """Replay ``log`` through ``encoder``; see :class:`LoggedRequests`. ``slate_size``:
    the policies' slate size, which the logged slates must have; ``consumed``: also
    keep each request's consumed items (for targets that mask them)."""
    if catalog is None or catalog.n_items != encoder.item_embeddings.shape[0]:
        have = "no catalog" if catalog is None else f"{catalog.n_items:,} items"
        raise ValueError(
            f"the log's catalog ({have}) is not the simulator's "
            f"({encoder.item_embeddings.shape[0]:,} items): replay needs the same catalog"
        )
    t = replay_log(log, catalog, encoder)
    if (t.slates < 0).any():
        raise ValueError("OPE needs full slates: some logged requests have empty positions")
    if slate_size is not None and t.slates.shape[1] != slate_size:
        raise ValueError(
            f"the log's slates have {t.slates.shape[1]} positions but the policies show "
            f"{slate_size}: OPE of whole slates needs logs of the same slate size"
        )
    firsts = np.r_[0, np.flatnonzero(np.diff(t.user)) + 1]
    counts = np.diff(np.r_[firsts, len(t.user)])
    step = np.arange(len(t.user)) - np.repeat(firsts, counts)
    elapsed = t.time - np.repeat(t.time[firsts], counts)
    pscore = None
    if "pscore" in log.frame.columns and log.frame["pscore"].notna().all():
        f = log.frame
        by_request = f.groupby("request_id", sort=False)["pscore"].first()
        pscore = by_request.loc[t.request].to_numpy(dtype=np.float64)
    before = _consumed_before(t.user, t.consumed_item, firsts, encoder.item_embeddings.shape[0])
    last_click, to_click = _to_last_click(log, t.request, pscore)
    return LoggedRequests(
        t.user,
        step,
        t.before,
        elapsed,
        t.slates,
        t.reward,
        pscore,
        before if consumed else None,
        last_click,
        to_click,
    )


def _to_last_click(
    log: InteractionLog, requests: np.ndarray, pscore: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per request (in ``requests`` order): the last clicked position (-1: none) and the
    logger's prefix probability through it (the joint ``pscore`` without a click)."""
    import pandas as pd

    f = log.frame
    last = f.loc[f["click"] == 1].groupby("request_id", sort=False)["position"].max()
    pos = last.reindex(requests).fillna(-1).to_numpy(dtype=np.int64)
    if pscore is None or "pscore_cascade" not in f.columns or f["pscore_cascade"].isna().any():
        return pos, None
    prefix = f.set_index(["request_id", "position"])["pscore_cascade"]
    at = prefix.reindex(pd.MultiIndex.from_arrays([requests, np.maximum(pos, 0)])).to_numpy()
    return pos, np.where(pos >= 0, at, pscore).astype(np.float64)


def _consumed_before(
    user: np.ndarray, clicked: np.ndarray, firsts: np.ndarray, n_items: int
) -> np.ndarray:
    """``[R, N]`` bool: what each request's user had consumed before it (rows sorted by
    user then time; ``firsts`` are each user's first rows)."""
    hits = np.zeros((len(user), n_items), dtype=np.int32)
    c = clicked >= 0
    hits[np.flatnonzero(c), clicked[c]] = 1
    total = np.cumsum(hits, axis=0) - hits  # consumed before the row, over all rows
    at_start = total[firsts]
    return (total - np.repeat(at_start, np.diff(np.r_[firsts, len(user)]), axis=0)) > 0


def slate_features(
    state: np.ndarray, slates: np.ndarray, embeddings: np.ndarray, elapsed: np.ndarray
) -> np.ndarray:
    """(state, slate) features for FQE: the state, the slate's mean item vector, its
    product with the state's interest block (user-item affinity), and elapsed days.
    ``slates`` may carry extra leading dims (``[R, M, K]``); output ``[..., F]``."""
    d = embeddings.shape[1]
    mean = embeddings[slates].mean(axis=-2)
    lead = mean.shape[:-1]
    s = np.broadcast_to(
        state.reshape(state.shape[0], *([1] * (len(lead) - 1)), -1), (*lead, state.shape[1])
    )
    e = np.broadcast_to(elapsed.reshape(elapsed.shape[0], *([1] * (len(lead) - 1)), 1), (*lead, 1))
    return np.concatenate([s, mean, s[..., :d] * mean, e], axis=-1)


def ratio_features(req: LoggedRequests) -> np.ndarray:
    """State features of the marginalised estimator's visitation ratio: the replayed
    state and the days since the user's first request (the horizon is in days)."""
    return np.c_[req.state, req.elapsed]


def target_probabilities(
    policy: ScoredPolicy, req: LoggedRequests, batch: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """``[R]`` the target's joint probability of each logged slate, and ``[R]`` its
    probability of the slate's prefix through the last click (joint without a click)."""
    joint = np.empty(len(req.user))
    to_click = np.empty(len(req.user))
    rows = np.arange(len(req.user))
    last = req.last_click if req.last_click is not None else np.full(len(rows), -1)
    for i in range(0, len(joint), batch):
        sl = slice(i, i + batch)
        consumed = None if req.consumed is None else req.consumed[sl]
        p = policy.slate_probabilities(req.state[sl], req.slates[sl], consumed)
        joint[sl] = p["pscore"]
        k = last[sl]
        to_click[sl] = np.where(k >= 0, p["pscore_cascade"][rows[sl] - i, np.maximum(k, 0)],
                                p["pscore"])  # fmt: skip
    return joint, to_click


def sampled_target_features(
    policy: ScoredPolicy,
    sim: UserSimulator,
    req: LoggedRequests,
    samples: int,
    seed: int,
    batch: int = 4096,
) -> np.ndarray:
    """``[R, 1, F]``: the mean of ``samples`` target slates' features per state (exact
    for FQE's linear model, whose ``V`` is linear in the features)."""
    rng = np.random.default_rng(seed)
    emb = sim.item_embeddings.astype(np.float64)
    out = np.empty((len(req.user), 1, req.state.shape[1] + 2 * emb.shape[1] + 1))
    for i in range(0, len(req.user), batch):
        sl = slice(i, i + batch)
        obs, el = req.state[sl], req.elapsed[sl]
        state = SimState(obs, el, {}, None if req.consumed is None else req.consumed[sl])
        feats = [slate_features(obs, policy.act(sim, state, rng), emb, el) for _ in range(samples)]
        out[sl, 0] = np.mean(feats, axis=0)
    return out


@dataclass(frozen=True)
class _InLayout:
    """``policy`` acting on the columns ``cols`` of a simulator's states: the state
    layout it was built on, inside a wider one (:meth:`StateLayout.columns_for`)."""

    policy: SimPolicy
    cols: np.ndarray

    @property
    def name(self) -> str:
        return self.policy.name

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        return self.policy.act(sim, replace(state, obs=state.obs[:, self.cols]), rng)


def model_based(
    policy: SimPolicy,
    members: Sequence[UserSimulator],
    n_users: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    layout: StateLayout | None = None,
) -> Estimate:
    """The direct model-based estimate: the policy's value simulated in ``members``,
    simulators fitted on bootstrap resamples of the log's users
    (:func:`ltvrec.simulators.ensemble.fit_ensemble`), on the same ``n_users`` fresh
    users. Point: the members' mean; interval: ``mean +- t_{K-1} sd``, ``sd`` the
    members' spread (the fit's sampling noise; the bootstrap's normal interval) with
    the simulation's own Monte Carlo error added in quadrature. ``params`` keep the
    members' values and their users' mean sessions (``members_sessions_per_user``). It needs no
    propensities and no support, and it is only as right as the fitted model's form:
    the interval omits the model's misspecification (docs/ope.md measures it).

    ``layout``: the state layout the policy reads, where the members' is wider (members
    whose item vectors carry an appended consequence column, ``fit.item_consequences``):
    the policy acts on the columns of their states that form its own."""
    from scipy import stats

    from ltvrec.simulators.rollout import evaluate

    if len(members) < 2:
        raise ValueError(f"a model-based interval needs >= 2 ensemble members, got {len(members)}")

    def seen(m: UserSimulator) -> SimPolicy:
        wide = m.state_encoder.layout
        if layout is None or wide == layout:
            return policy
        return _InLayout(policy, wide.columns_for(layout))

    runs = [evaluate(m, seen(m), n_users, seed=seed) for m in members]
    values = np.array([r.value[0] for r in runs])
    sessions = [float(r.sessions.mean()) for r in runs]  # how, beside how much
    mc = np.array([r.returns.std(ddof=1) / np.sqrt(len(r.returns)) for r in runs])
    k = len(values)
    sd = float(np.sqrt(values.var(ddof=1) + np.mean(mc**2)))
    half = float(stats.t.ppf(1 - alpha / 2, k - 1)) * sd
    mean = float(values.mean())
    return Estimate(
        mean, sd, (mean - half, mean + half), 1 - alpha,
        f"ensemble of {k} fits (t interval)", n_users, float(n_users), float("nan"),
        "ModelBased", {"members": values.tolist(), "members_sessions_per_user": sessions},
        (mean - half, mean + half),
    )  # fmt: skip


@dataclass(frozen=True)
class PolicyResult:
    """One target policy's estimates and diagnostics."""

    name: str
    estimates: dict[str, Estimate]
    final_weights: np.ndarray | None
    zero_support: float
    fqe_quality: dict[str, float] | None


def evaluate_policy(
    name: str,
    policy: ScoredPolicy,
    sim: UserSimulator,
    req: LoggedRequests,
    estimators: tuple[str, ...] = ESTIMATORS,
    fqe: FQEConfig | None = None,
    samples: int = 8,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> PolicyResult:
    """Every requested estimator for ``policy`` on ``req``; IS-family estimators are
    skipped (not guessed) when the log has no propensities. A policy that reads the
    simulator's latent state (an oracle) is refused: nothing in a log can answer for it."""
    policy = require_scored(policy, "off-policy evaluation")
    unknown = sorted(set(estimators) - set(ESTIMATORS))
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; known: {', '.join(ESTIMATORS)}")
    has_ps = req.pscore is not None
    target, target_to_click = target_probabilities(policy, req)
    traj = Trajectories(
        req.user,
        req.step,
        req.reward,
        req.pscore if req.pscore is not None else np.ones(len(req.user)),
        target,
    )
    out: dict[str, Estimate] = {}
    kw = {"n_bootstrap": n_bootstrap, "seed": seed}
    if has_ps:
        for key, est in (
            ("trajectory-is", TrajectoryIS()),
            ("pdis", PDIS()),
            ("weighted-pdis", WeightedPDIS()),
        ):
            if key in estimators:
                out[key] = est.estimate(traj, **kw)
        if "marginalized" in estimators:
            out["marginalized"] = MarginalizedIS().estimate(traj, ratio_features(req), **kw)
    if req.pscore_to_click is not None and set(CASCADE) & set(estimators):
        cascade = Trajectories(req.user, req.step, req.reward, req.pscore_to_click, target_to_click)
        for key, est in (
            ("pdis-cascade", PDIS()),
            ("weighted-pdis-cascade", WeightedPDIS()),
        ):
            if key in estimators:
                out[key] = est.estimate(cascade, **kw)
        if "marginalized-cascade" in estimators:
            out["marginalized-cascade"] = MarginalizedIS().estimate(
                cascade, ratio_features(req), **kw
            )
    quality = None
    wants_model = {"fqe", "dr", "weighted-dr"} & set(estimators)
    if wants_model:
        logger.info(f"{name}: fitted Q evaluation ({samples} target slates per state)")
        emb = sim.item_embeddings.astype(np.float64)
        x_logged = slate_features(req.state, req.slates, emb, req.elapsed)
        x_target = sampled_target_features(policy, sim, req, samples, seed)
        model = FQE(fqe or FQEConfig(seed=seed))
        values = model.fit_predict(traj, x_logged, x_target, n_bootstrap, seed)
        quality = values.quality
        if "fqe" in estimators:
            out["fqe"] = model.estimate(traj, values, **kw)
        if has_ps:
            for key, dr in (("dr", SequentialDR()), ("weighted-dr", WeightedDR())):
                if key in estimators:
                    out[key] = dr.estimate(traj, values.q_logged, values.v, **kw)
    return PolicyResult(
        name,
        out,
        traj.final_weights() if has_ps else None,
        float(np.mean(target == 0)),
        quality,
    )
