"""A user simulator fitted from a log alone (DESIGN.md 3.2).

It never sees latent state: everything is a function of the observable user state
(:mod:`ltvrec.encoders.state`, replayed along the log) and the encoded items.

Components, each fitted on its own:

- **choice** (torch): multinomial logit over the slate plus no click. The utility of
  item j at position k is ``q(x) . v(e_j) + b_j + p_k`` — a two-tower bilinear score of
  the standardised state ``x`` and the item embedding ``e_j`` plus an item bias and a
  position bias; no click has utility ``w . x + c``. For consumption-only logs (no
  impressions, e.g. MovieLens) it is a next-item model trained with sampled negatives;
  there the no-click level is *not identifiable*, so it is set by an explicit
  assumption (``assumed_click_rate``: the probability of a click on a slate of the K
  most popular items) and reported as such.
- **reward given a click**: ridge regression on (state, item embedding); sampled as
  prediction + Gaussian residual, snapped to the observed reward values when there
  are few of them (ratings).
- **leave**: logistic regression of "the session ends after this request" on the
  state after the request; certain after ``max_session_requests`` requests.
- **return**: a mixture-cure exponential survival model at each session end: with
  probability ``pi(x)`` the user never returns (churn), else the gap is
  ``Exp(rate = exp(beta . x + beta_0))`` days. Users not seen again before the log
  ends are *censored* (their likelihood term is the survival probability), never
  labelled as churned.
- **state transition**: the same user-state encoder as everywhere else.

Saved as ``simulator.safetensors`` + ``simulator.json`` (config, provenance, metrics,
assumptions); no pickle.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ltvrec.artifacts import HEADER, read_record, write_record
from ltvrec.encoders.state import UserStateEncoder
from ltvrec.errors import ConfigError
from ltvrec.interactions.io import atomic_path
from ltvrec.interactions.schema import InteractionLog, ItemCatalog, LogValidationError
from ltvrec.simulators.base import SessionSimulator, SimState

if TYPE_CHECKING:
    from ltvrec.encoders.items import ItemEncoding
    from ltvrec.interactions.datasets import Dataset

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
REWARD_FLOOR = 1e-3
"""Floor of the fitted mean reward inside ``log`` (greedy-model's ranking)."""


@dataclass(frozen=True)
class FitConfig:
    """How a simulator is fitted from a log."""

    hidden: int = 32
    """Width of the two-tower choice model's query and item vectors."""
    epochs: int = 10
    """Passes over the requests when fitting the choice model."""
    batch_size: int = 2048
    """Requests per gradient step."""
    lr: float = 0.003
    """Adam learning rate of the choice and return models."""
    weight_decay: float = 1e-5
    """L2 penalty of the choice model (AdamW)."""
    n_negatives: int = 20
    """Sampled negative items per consumption (consumption-only logs)."""
    assumed_click_rate: float = 0.3
    """Consumption-only logs: assumed click probability of a slate of the K most popular
    items; it fixes the no-click utility, which such logs cannot identify."""
    slate_size: int | None = None
    """Slate size K to simulate (default: the log's; 10 for consumption-only logs)."""
    horizon_days: float | None = None
    """Days each simulated user is followed (default: the log's time span)."""
    ridge: float = 1.0
    """L2 penalty of the reward and leave models."""
    clip_inputs: bool = False
    """Clip every component's standardised inputs to the range the training states
    covered (per feature): a linear model must not extrapolate into states no logged
    user was ever in. Either way the simulator counts the share of inputs outside that
    range (``FittedSimulator.outside_share``)."""
    leave_model: str = "logistic"
    """The leave model: 'logistic' (linear in the standardised state, ridge ``ridge``) or
    'mlp' (one hidden tanh layer of ``leave_hidden`` units, trained on 90% of the users
    with the epoch chosen on the other 10%); docs/simulators.md measures both."""
    leave_hidden: int = 32
    """Hidden units of the 'mlp' leave model."""
    return_bins: int = 1
    """Bins of the return model's piecewise-constant baseline hazard over the excess
    gap (edges at quantiles of the observed gaps): it can follow a return curve that
    rises fast in the first hours and slowly after. 1 (the default): a single
    exponential rate; docs/simulators.md measures both."""
    state_decay: float = 0.8
    """Decay of the interest mean in the user state."""
    engagement_decays: tuple[float, ...] = ()
    """Per-request decays of the state's engagement memory, which every component model
    then reads (``()``, the default: none; see encoders/state.py)."""
    max_session_requests: int | None = None
    """A session ends for sure after this many requests (default: the longest session in
    the log). A linear leave model can extrapolate a hazard that keeps falling with
    session length; without a cap a simulated session could last forever."""
    repeats: str = "auto"
    """Whether a user can consume an item again: 'auto' (allowed when the log holds
    repeat consumptions, forbidden when it holds none, as in MovieLens), 'allow' or
    'forbid'."""
    seed: int = 0
    """Seed of every random draw in fitting."""

    def __post_init__(self) -> None:
        if self.leave_model not in ("logistic", "mlp"):
            raise ConfigError(f"leave_model must be 'logistic' or 'mlp', got {self.leave_model!r}")
        if self.repeats not in ("auto", "allow", "forbid"):
            raise ConfigError(f"repeats must be 'auto', 'allow' or 'forbid', got {self.repeats!r}")
        if self.hidden < 1 or self.epochs < 1 or self.batch_size < 1 or self.return_bins < 1:
            raise ConfigError("hidden, epochs, batch_size and return_bins must be >= 1")
        if not 0 < self.assumed_click_rate < 1:
            raise ConfigError(
                f"assumed_click_rate must be in (0, 1), got {self.assumed_click_rate}"
            )


# --------------------------------------------------------------------- trajectories


@dataclass(frozen=True)
class Trajectories:
    """A log replayed through the state encoder, one row per request (``R`` rows).

    Attributes:
        user: ``[R]`` user row (0..U-1), requests sorted by user then time.
        time: ``[R]`` days since the log's start.
        slates: ``[R, K]`` item indices by position, -1 where nothing was shown.
        clicked_position: ``[R]`` first clicked position, -1 if none.
        clicked_item: ``[R]`` its item index, -1 if none.
        reward: ``[R]`` the request's total reward.
        before: ``[R, S]`` state before the request (session start applied).
        after: ``[R, S]`` state after the request.
        session_end: ``[R]`` the last request of its session.
        gap_days: ``[R]`` at a session end, days to the user's next session, or to the
            log's end if censored; NaN elsewhere.
        censored: ``[R]`` at a session end, True if the user was not seen again.
        request: ``[R]`` the log's ``request_id`` of each row.
    """

    user: np.ndarray
    time: np.ndarray
    slates: np.ndarray
    clicked_position: np.ndarray
    clicked_item: np.ndarray
    reward: np.ndarray
    before: np.ndarray
    after: np.ndarray
    session_end: np.ndarray
    gap_days: np.ndarray
    censored: np.ndarray
    request: np.ndarray

    @property
    def n(self) -> int:
        return len(self.user)


def replay_log(
    log: InteractionLog, catalog: ItemCatalog, encoder: UserStateEncoder
) -> Trajectories:
    """Replay every user's requests through ``encoder`` (batched over users)."""
    f = log.frame
    item_index = catalog.index_of(f["item_id"])
    k = int(f["position"].max()) + 1
    rows = pd.DataFrame(
        {
            "req": f["request_id"].to_numpy(),
            "user": f["user_id"].to_numpy(),
            "t": f["timestamp"].to_numpy(),
            "session": f["session_id"].to_numpy(),
            "pos": f["position"].to_numpy(),
            "item": item_index,
            "click": f["click"].to_numpy(),
            "reward": f["reward"].to_numpy(),
        }
    )
    req_codes, req_values = pd.factorize(rows["req"])
    rows["r"] = req_codes
    n_req = int(req_codes.max()) + 1
    slates = np.full((n_req, k), -1, dtype=np.int64)
    slates[req_codes, rows["pos"].to_numpy()] = rows["item"].to_numpy()
    first = rows.groupby("r", sort=True).agg(
        user=("user", "first"),
        t=("t", "min"),
        session=("session", "first"),
        reward=("reward", "sum"),
    )
    clicks = rows[rows["click"] == 1].sort_values(["r", "pos"]).groupby("r").first()
    cpos = np.full(n_req, -1, dtype=np.int64)
    citem = np.full(n_req, -1, dtype=np.int64)
    cpos[clicks.index.to_numpy()] = clicks["pos"].to_numpy()
    citem[clicks.index.to_numpy()] = clicks["item"].to_numpy()

    user_codes = pd.factorize(first["user"], sort=True)[0]
    order = np.lexsort((np.arange(n_req), first["t"].to_numpy(), user_codes))
    user = user_codes[order]
    t0 = f["timestamp"].min()
    time = ((first["t"] - t0).dt.total_seconds().to_numpy() / 86400.0)[order]
    session = first["session"].to_numpy()[order]
    slates, cpos, citem = slates[order], cpos[order], citem[order]
    reward = first["reward"].to_numpy()[order]

    same_user_prev = np.r_[False, user[1:] == user[:-1]]
    start = ~same_user_prev | np.r_[True, session[1:] != session[:-1]]
    end = np.r_[start[1:], True]
    prev_time = np.r_[np.nan, time[:-1]]
    hours = np.where(same_user_prev & start, (time - prev_time) * 24.0, np.nan)
    next_start_same_user = np.r_[user[1:] == user[:-1], False] & end
    log_end = float(time.max())
    gap = np.full(n_req, np.nan)
    censored = np.zeros(n_req, dtype=bool)
    nxt = np.r_[time[1:], np.nan]
    gap[next_start_same_user] = (nxt - time)[next_start_same_user]
    last = end & ~next_start_same_user
    gap[last] = log_end - time[last]
    censored[last] = True

    n_users = int(user.max()) + 1
    firsts = np.r_[0, np.flatnonzero(user[1:] != user[:-1]) + 1]
    rank = np.arange(n_req) - np.repeat(firsts, np.diff(np.r_[firsts, n_req]))
    state = encoder.initial(n_users)
    before = np.empty((n_req, encoder.size), dtype=np.float32)
    after = np.empty_like(before)
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(rank.max() + 2))
    for r in range(int(rank.max()) + 1):
        idx = by_rank[bounds[r] : bounds[r + 1]]
        u = user[idx]
        sub = encoder.start_session(state[u], hours[idx], start[idx])
        before[idx] = sub
        sub = encoder.observe(sub, citem[idx], reward[idx])
        after[idx] = sub
        state[u] = sub
    return Trajectories(
        user=user,
        time=time,
        slates=slates,
        clicked_position=cpos,
        clicked_item=citem,
        reward=reward,
        before=before,
        after=after,
        session_end=end,
        gap_days=gap,
        censored=censored,
        request=np.asarray(req_values)[order],
    )


# --------------------------------------------------------------------- components


@dataclass(frozen=True)
class Standardizer:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        return cls(x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


@dataclass(frozen=True)
class ChoiceParams:
    """Numpy parameters of the choice model (see the module docstring)."""

    wq: np.ndarray  # [S, h]
    bq: np.ndarray  # [h]
    item_keys: np.ndarray  # [N, h] = v(e_j)
    item_bias: np.ndarray  # [N]
    position_bias: np.ndarray  # [K]
    w_no_click: np.ndarray  # [S]
    b_no_click: float


def _fit_choice(
    traj: Trajectories,
    x: np.ndarray,
    items: np.ndarray,
    cfg: FitConfig,
    consumption_only: bool,
    k_sim: int,
) -> tuple[ChoiceParams, dict[str, Any]]:
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    s_dim, n_items = x.shape[1], items.shape[0]
    k_log = traj.slates.shape[1]
    q = torch.nn.Linear(s_dim, cfg.hidden)
    v = torch.nn.Linear(items.shape[1], cfg.hidden, bias=False)
    bias = torch.nn.Parameter(torch.zeros(n_items))
    pos = torch.nn.Parameter(torch.zeros(max(k_log, k_sim)))
    nc = torch.nn.Linear(s_dim, 1)
    params = [*q.parameters(), *v.parameters(), bias, pos, *nc.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    emb = torch.as_tensor(items, dtype=torch.float32)
    xt = torch.as_tensor(x, dtype=torch.float32)

    if consumption_only:
        rows = np.flatnonzero(traj.clicked_item >= 0)
    else:
        rows = np.arange(traj.n)
    losses = []
    for _ in range(cfg.epochs):
        perm = rng.permutation(rows)
        for start in range(0, len(perm), cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            qb = q(xt[idx])  # [B, h]
            if consumption_only:
                cand = np.concatenate(
                    [
                        traj.clicked_item[idx, None],
                        rng.integers(0, n_items, (len(idx), cfg.n_negatives)),
                    ],
                    axis=1,
                )
                ct = torch.as_tensor(cand)
                logits = torch.einsum("bh,bnh->bn", qb, v(emb[ct])) + bias[ct]
                target = torch.zeros(len(idx), dtype=torch.long)
            else:
                sl = torch.as_tensor(traj.slates[idx])
                shown = sl >= 0
                safe = sl.clamp(min=0)
                u = torch.einsum("bh,bkh->bk", qb, v(emb[safe])) + bias[safe] + pos[:k_log]
                u = u.masked_fill(~shown, -1e9)
                logits = torch.cat([nc(xt[idx]), u], dim=1)
                target = torch.as_tensor(traj.clicked_position[idx] + 1)
            loss = torch.nn.functional.cross_entropy(logits, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    with torch.no_grad():
        out = ChoiceParams(
            wq=q.weight.T.numpy().copy(),
            bq=q.bias.numpy().copy(),
            item_keys=v(emb).numpy().copy(),
            item_bias=bias.numpy().copy(),
            position_bias=(pos.numpy()[:k_sim] if not consumption_only else np.zeros(k_sim)).copy(),
            w_no_click=nc.weight[0].numpy().copy(),
            b_no_click=float(nc.bias[0]),
        )
    info: dict[str, Any] = {"final_train_loss": float(np.mean(losses[-20:]))}
    if consumption_only:
        out, c0 = _calibrate_no_click(out, x, traj, cfg.assumed_click_rate, k_sim)
        info["no_click_utility"] = c0
    return out, info


def _item_utilities(p: ChoiceParams, x: np.ndarray) -> np.ndarray:
    return (x @ p.wq + p.bq) @ p.item_keys.T + p.item_bias


def _calibrate_no_click(
    p: ChoiceParams, x: np.ndarray, traj: Trajectories, rate: float, k: int
) -> tuple[ChoiceParams, float]:
    """Set the constant no-click utility so that a slate of the K most consumed items
    gets a click with probability ``rate`` on average over the logged states."""
    counts = np.bincount(traj.clicked_item[traj.clicked_item >= 0], minlength=len(p.item_bias))
    top = np.argsort(-counts, kind="stable")[:k]
    rng = np.random.default_rng(0)
    sample = x[rng.choice(len(x), min(len(x), 5000), replace=False)]
    u = _item_utilities(p, sample)[:, top] + p.position_bias[None, :k]
    lse = np.logaddexp.reduce(u, axis=1)
    lo, hi = -50.0, 50.0
    for _ in range(100):
        c = (lo + hi) / 2
        click = np.mean(1.0 / (1.0 + np.exp(c - lse)))
        lo, hi = (c, hi) if click > rate else (lo, c)
    c0 = (lo + hi) / 2
    return ChoiceParams(
        p.wq, p.bq, p.item_keys, p.item_bias, p.position_bias, np.zeros_like(p.w_no_click), c0
    ), c0


@dataclass(frozen=True)
class RewardParams:
    coef: np.ndarray  # [S + d]
    intercept: float
    resid_std: float
    support: np.ndarray  # observed reward values when few (else empty)
    low: float
    high: float


def _fit_reward(
    traj: Trajectories, x: np.ndarray, items: np.ndarray, cfg: FitConfig
) -> RewardParams:
    c = traj.clicked_item >= 0
    y = traj.reward[c]
    feats = np.concatenate([x[c], items[traj.clicked_item[c]]], axis=1)
    values = np.unique(y)
    if len(y) == 0 or y.std() < 1e-12:
        const = float(y.mean()) if len(y) else 0.0
        return RewardParams(np.zeros(feats.shape[1]), const, 0.0, values, const, const)
    mu = feats.mean(axis=0)
    a = feats - mu
    coef = np.linalg.solve(a.T @ a + cfg.ridge * np.eye(a.shape[1]), a.T @ (y - y.mean()))
    intercept = float(y.mean() - mu @ coef)
    resid = y - (feats @ coef + intercept)
    return RewardParams(
        coef,
        intercept,
        float(resid.std()),
        values if len(values) <= 10 else np.zeros(0),
        float(y.min()),
        float(y.max()),
    )


@dataclass(frozen=True)
class LeaveModel:
    """Logit of ending the session after a request, from the standardised state after
    it: ``x . coef + intercept`` (logistic), or with a hidden layer ``tanh(x W + c) .
    coef + intercept`` (mlp)."""

    coef: np.ndarray
    intercept: float
    hidden_w: np.ndarray | None = None
    hidden_b: np.ndarray | None = None

    def logit(self, x: np.ndarray) -> np.ndarray:
        h = x if self.hidden_w is None else np.tanh(x @ self.hidden_w + self.hidden_b)
        return h @ self.coef + self.intercept


def _fit_leave(traj: Trajectories, xa: np.ndarray, cfg: FitConfig) -> LeaveModel:
    from sklearn.linear_model import LogisticRegression

    y = traj.session_end.astype(int)
    if y.min() == y.max():
        p = min(max(float(y.mean()), 1e-3), 1 - 1e-3)
        return LeaveModel(np.zeros(xa.shape[1]), float(np.log(p / (1 - p))))
    if cfg.leave_model == "mlp":
        return _fit_leave_mlp(xa, y, traj.user, cfg)
    m = LogisticRegression(C=1.0 / cfg.ridge, max_iter=500).fit(xa, y)
    return LeaveModel(m.coef_[0].copy(), float(m.intercept_[0]))


def _fit_leave_mlp(x: np.ndarray, y: np.ndarray, user: np.ndarray, cfg: FitConfig) -> LeaveModel:
    """One hidden tanh layer, Adam on the log-loss, weight decay ``1e-4``; the epoch
    (of at most 30) with the best log-loss on a tenth of the users held out."""
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    valid = (user % 10) == 0
    xt = torch.as_tensor(x[~valid], dtype=torch.float32)
    yt = torch.as_tensor(y[~valid], dtype=torch.float32)
    xv = torch.as_tensor(x[valid], dtype=torch.float32)
    yv = torch.as_tensor(y[valid], dtype=torch.float32)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], cfg.leave_hidden), torch.nn.Tanh(),
        torch.nn.Linear(cfg.leave_hidden, 1),
    )  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    loss = torch.nn.BCEWithLogitsLoss()
    best, state = float("inf"), None
    for _ in range(30):
        for idx in np.array_split(rng.permutation(len(xt)), max(1, len(xt) // cfg.batch_size)):
            opt.zero_grad()
            loss(net(xt[idx]).squeeze(-1), yt[idx]).backward()
            opt.step()
        with torch.no_grad():
            v = float(loss(net(xv).squeeze(-1), yv)) if len(xv) else 0.0
        if v < best:
            best, state = v, [p.detach().numpy().copy() for p in net.parameters()]
    assert state is not None
    w1, b1, w2, b2 = state
    return LeaveModel(
        w2[0].astype(np.float64), float(b2[0]), w1.T.astype(np.float64), b1.astype(np.float64)
    )


@dataclass(frozen=True)
class ReturnParams:
    """Mixture-cure proportional-hazards return model. After a session a user churns
    with probability ``sigmoid(x . churn_coef + churn_intercept)``; else the next session
    starts ``min_gap_days`` plus an excess gap whose hazard at excess ``t`` is
    ``exp(log_hazard[j(t)] + lp)``: a piecewise-constant baseline over the bins
    ``hazard_edges`` (``[0, ..., inf]``) times ``exp(lp)``, ``lp = x . rate_coef +
    rate_intercept``. One bin is an exponential gap with rate ``exp(log_hazard[0] +
    lp)``. The linear predictor is clipped to the range seen on the training sessions
    (``log_rate_range``): a linear model must not extrapolate to gaps of 1e-30 days for
    states the log never held."""

    churn_coef: np.ndarray
    churn_intercept: float
    rate_coef: np.ndarray
    rate_intercept: float
    log_rate_range: tuple[float, float]
    min_gap_days: float
    hazard_edges: np.ndarray = field(default_factory=lambda: np.array([0.0, np.inf]))
    log_hazard: np.ndarray = field(default_factory=lambda: np.zeros(1))

    def linear_predictor(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x @ self.rate_coef + self.rate_intercept, *self.log_rate_range)

    def exposure(self, t: np.ndarray) -> np.ndarray:
        """``[n, B]`` time spent in each hazard bin by excess gaps ``t [n]``."""
        lo, hi = self.hazard_edges[:-1], self.hazard_edges[1:]
        return np.clip(np.minimum(t[:, None], hi) - lo, 0.0, None)

    def log_hazard_at(self, t: np.ndarray) -> np.ndarray:
        j = np.searchsorted(self.hazard_edges, t, side="right") - 1
        return self.log_hazard[np.clip(j, 0, len(self.log_hazard) - 1)]

    def excess_gap(self, lp: np.ndarray, exponential: np.ndarray) -> np.ndarray:
        """Invert the cumulative hazard: the excess gap ``t`` with ``H0(t) exp(lp)`` equal
        to a unit-exponential draw (exact)."""
        h = np.exp(self.log_hazard)
        width = np.diff(self.hazard_edges)[:-1]  # the last bin is open-ended
        cum = np.r_[0.0, np.cumsum(h[:-1] * width)]  # H0 at each bin's left edge
        target = np.asarray(exponential, np.float64) * np.exp(-lp)
        j = np.searchsorted(cum, target, side="right") - 1
        return self.hazard_edges[j] + (target - cum[j]) / h[j]


def _hazard_edges(excess: np.ndarray, bins: int) -> np.ndarray:
    """``[0, q_1, ..., q_{B-1}, inf]``: quantiles of the observed excess gaps (fewer
    bins where quantiles coincide)."""
    if bins <= 1 or len(excess) < 2 * bins:
        return np.array([0.0, np.inf])
    inner = np.unique(np.quantile(excess, np.arange(1, bins) / bins))
    return np.r_[0.0, inner[inner > 0], np.inf]


def _fit_return(
    traj: Trajectories, xa: np.ndarray, cfg: FitConfig
) -> tuple[ReturnParams, dict[str, Any]]:
    import torch

    torch.manual_seed(cfg.seed)
    e = traj.session_end
    x = torch.as_tensor(xa[e], dtype=torch.float32)
    # Gaps are at least the smallest observed one (a session gap defines sessions):
    # model the excess over it.
    observed = traj.gap_days[e][~traj.censored[e]]
    min_gap = float(observed.min()) if len(observed) else 0.0
    excess = np.maximum(traj.gap_days[e] - min_gap, 1e-6)
    edges = _hazard_edges(excess[~traj.censored[e]], cfg.return_bins)
    shape = ReturnParams(np.zeros(0), 0.0, np.zeros(0), 0.0, (0.0, 0.0), 0.0, edges)
    exposure = torch.as_tensor(shape.exposure(excess), dtype=torch.float32)  # [n, B]
    bin_of = torch.as_tensor(np.searchsorted(edges, excess, side="right") - 1)
    cens = torch.as_tensor(traj.censored[e])
    d = x.shape[1]
    a = torch.zeros(d, requires_grad=True)
    a0 = torch.tensor(-2.0, requires_grad=True)
    b = torch.zeros(d, requires_grad=True)
    mean_gap = float(excess[~traj.censored[e]].mean()) if (~traj.censored[e]).any() else 1.0
    log_h = torch.full((len(edges) - 1,), -float(np.log(max(mean_gap, 1e-3))), requires_grad=True)
    opt = torch.optim.Adam([a, a0, b, log_h], lr=0.05)
    for _ in range(400):
        logit_pi = x @ a + a0
        lp = x @ b
        cum = (exposure @ log_h.exp()) * lp.exp()  # cumulative hazard at the gap
        log_pi = torch.nn.functional.logsigmoid(logit_pi)
        log_1mpi = torch.nn.functional.logsigmoid(-logit_pi)
        ll_obs = log_1mpi + log_h[bin_of] + lp - cum
        ll_cens = torch.logaddexp(log_pi, log_1mpi - cum)
        ll = torch.where(cens, ll_cens, ll_obs).mean()
        loss = -ll + 1e-3 * (a.square().sum() + b.square().sum())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        lp_train = (x @ b).numpy()
    params = ReturnParams(
        a.detach().numpy().copy(),
        float(a0.detach()),
        b.detach().numpy().copy(),
        0.0,
        (float(lp_train.min()), float(lp_train.max())),
        min_gap,
        edges,
        log_h.detach().numpy().astype(np.float64),
    )
    return params, {"return_loglik_per_session": float(ll.detach()), "return_bins": len(edges) - 1}


def leave_log_likelihood(leave: LeaveModel, xa: np.ndarray, end: np.ndarray) -> float:
    """Mean log-likelihood per request of the leave model on ``end`` (1 at a session's
    last request), from standardised after-request states ``xa``."""
    z = leave.logit(xa)
    y = np.asarray(end, dtype=bool)
    return float(np.mean(-np.logaddexp(0.0, np.where(y, -z, z))))


def return_log_likelihood(
    ret: ReturnParams, xa: np.ndarray, gap_days: np.ndarray, censored: np.ndarray
) -> float:
    """Mean log-likelihood per session end of the return model (churn mixture, the excess
    gap over ``min_gap_days`` under the hazard the simulator draws from, with the clipped
    linear predictor; a censored gap contributes its survival), as the fit's objective."""
    logit_pi = xa @ ret.churn_coef + ret.churn_intercept
    lp = ret.linear_predictor(xa)
    g = np.maximum(np.asarray(gap_days, np.float64) - ret.min_gap_days, 1e-6)
    log_pi, log_1mpi = -np.logaddexp(0.0, -logit_pi), -np.logaddexp(0.0, logit_pi)
    cum = (ret.exposure(g) @ np.exp(ret.log_hazard)) * np.exp(lp)
    ll = np.where(
        np.asarray(censored, dtype=bool),
        np.logaddexp(log_pi, log_1mpi - cum),
        log_1mpi + ret.log_hazard_at(g) + lp - cum,
    )
    return float(ll.mean())


def fit_leave_and_return(
    train: Trajectories, config: FitConfig | None = None
) -> tuple[Standardizer, LeaveModel, ReturnParams]:
    """The standardiser, leave model and return model :func:`fit_simulator` fits on
    ``train`` (for held-out comparisons of state definitions)."""
    cfg = config or FitConfig()
    std = Standardizer.fit(train.before)
    xa = std(train.after)
    return std, _fit_leave(train, xa, cfg), _fit_return(train, xa, cfg)[0]


# --------------------------------------------------------------------- simulator


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


class FittedSimulator(SessionSimulator):
    """The simulator fitted by :func:`fit_simulator`; same protocol as the known world."""

    def __init__(
        self,
        item_embeddings: np.ndarray,
        item_ids: np.ndarray,
        standardizer: Standardizer,
        choice: ChoiceParams,
        reward: RewardParams,
        leave: LeaveModel,
        ret: ReturnParams,
        slate_size: int,
        horizon_days: float,
        state_decay: float,
        max_session_requests: int,
        meta: dict[str, Any],
        item_counts: np.ndarray | None = None,
        allow_repeats: bool = True,
        engagement_decays: tuple[float, ...] = (),
        support: tuple[np.ndarray, np.ndarray] | None = None,
        clip_inputs: bool = False,
    ) -> None:
        self.item_embeddings = np.asarray(item_embeddings, dtype=np.float32)
        self.support = support
        """Per-feature (low, high) of the standardised training states (None for
        simulators saved before it was kept)."""
        self.clip_inputs = bool(clip_inputs and support is not None)
        self._counts = np.zeros(2, dtype=np.int64)  # inputs outside the support, inputs
        self.item_ids = np.asarray(item_ids)
        self.state_encoder = UserStateEncoder(
            self.item_embeddings, decay=state_decay, engagement_decays=engagement_decays
        )
        self.standardizer = standardizer
        self.choice = choice
        self.reward_params = reward
        self.leave_params = leave
        self.return_params = ret
        self.n_items = len(self.item_embeddings)
        self.slate_size = slate_size
        self.horizon_days = horizon_days
        self.state_decay = state_decay
        self.max_session_requests = max_session_requests
        self._session_col = self.state_encoder.layout.index("session_requests")
        self.meta = meta
        self.allow_repeats = allow_repeats
        self.item_counts = None if item_counts is None else np.asarray(item_counts, np.float64)
        """``[N]`` clicks (consumptions) of each item in the log it was fitted on: what
        ``popularity-log`` ranks by. None for simulators saved before it was kept."""

    def _x(self, state: SimState) -> np.ndarray:
        return self._inputs(state.obs)

    def _inputs(self, obs: np.ndarray) -> np.ndarray:
        x = self.standardizer(obs)
        if self.support is None:
            return x
        low, high = self.support
        outside = ((x < low) | (x > high)).any(axis=1)
        self._counts += (int(outside.sum()), len(x))
        return np.clip(x, low, high) if self.clip_inputs else x

    @property
    def outside_share(self) -> float | None:
        """Share of component inputs (states) outside the training support since the
        last :meth:`reset_support_counts` (clipped to it with ``clip_inputs``); None for
        a simulator saved without its support."""
        if self.support is None:
            return None
        return float(self._counts[0] / max(self._counts[1], 1))

    def reset_support_counts(self) -> None:
        self._counts[:] = 0

    def item_click_logits(self, state: SimState) -> np.ndarray:
        c = self.choice
        return _item_utilities(c, self._x(state)) + c.position_bias[0]

    def expected_reward_logits(self, obs: np.ndarray) -> np.ndarray:
        """``[B, N]`` log of each item's expected immediate reward at the top position,
        up to a per-user constant: ``u_j(x) + log r_j(x)``, the fitted click utility plus
        the log of the fitted mean reward given a click (floored at ``REWARD_FLOOR``).
        ``greedy-model`` ranks by it; with a constant reward (clicks) it is the click
        utility itself. MNL: P(click j) = exp(u_j) / Z with Z shared by the slate."""
        x = self._inputs(obs)
        r = self.reward_params
        d = x.shape[1]
        mean = (x @ r.coef[:d])[:, None] + (self.item_embeddings @ r.coef[d:] + r.intercept)
        mean = np.clip(mean, max(r.low, REWARD_FLOOR), max(r.high, REWARD_FLOOR))
        return _item_utilities(self.choice, x) + self.choice.position_bias[0] + np.log(mean)

    def choice_logits(self, state: SimState, slates: np.ndarray) -> np.ndarray:
        c = self.choice
        x = self._x(state)
        qv = x @ c.wq + c.bq  # [B, h]
        u = np.einsum("bh,bkh->bk", qv, c.item_keys[slates]) + c.item_bias[slates]
        u = u + c.position_bias[None, : slates.shape[1]]
        u0 = x @ c.w_no_click + c.b_no_click
        return np.concatenate([u0[:, None], u], axis=1)

    def reward(self, state: SimState, item: np.ndarray, normal: np.ndarray) -> np.ndarray:
        r = self.reward_params
        safe = np.maximum(item, 0)
        feats = np.concatenate([self._x(state), self.item_embeddings[safe]], axis=1)
        mean = feats @ r.coef + r.intercept
        y = np.clip(mean + r.resid_std * normal, r.low, r.high)
        if len(r.support):
            y = r.support[np.abs(y[:, None] - r.support[None, :]).argmin(axis=1)]
        return y

    def leave_prob(self, state: SimState) -> np.ndarray:
        p = _sigmoid(self.leave_params.logit(self._x(state)))
        return np.where(state.obs[:, self._session_col] >= self.max_session_requests, 1.0, p)

    def churn_prob(self, state: SimState) -> np.ndarray:
        p = self.return_params
        return _sigmoid(self._x(state) @ p.churn_coef + p.churn_intercept)

    def return_gap(self, state: SimState, exponential: np.ndarray) -> np.ndarray:
        p = self.return_params
        return p.min_gap_days + p.excess_gap(p.linear_predictor(self._x(state)), exponential)

    # ----------------------------------------------------------------- persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        c, r, p = self.choice, self.reward_params, self.return_params
        return {
            "item_embeddings": self.item_embeddings,
            "std_mean": self.standardizer.mean,
            "std_std": self.standardizer.std,
            "choice_wq": c.wq,
            "choice_bq": c.bq,
            "choice_item_keys": c.item_keys,
            "choice_item_bias": c.item_bias,
            "choice_position_bias": c.position_bias,
            "choice_w_no_click": c.w_no_click,
            "choice_b_no_click": np.array([c.b_no_click]),
            "reward_coef": r.coef,
            "reward_scalars": np.array([r.intercept, r.resid_std, r.low, r.high]),
            "reward_support": r.support.astype(np.float64),
            "leave_coef": self.leave_params.coef,
            "leave_intercept": np.array([self.leave_params.intercept]),
            **(
                {}
                if self.leave_params.hidden_w is None
                else {
                    "leave_hidden_w": self.leave_params.hidden_w,
                    "leave_hidden_b": np.asarray(self.leave_params.hidden_b),
                }
            ),
            "return_churn_coef": p.churn_coef,
            "return_rate_coef": p.rate_coef,
            "return_intercepts": np.array([p.churn_intercept, p.rate_intercept]),
            "return_ranges": np.array([*p.log_rate_range, p.min_gap_days]),
            "return_hazard_edges": p.hazard_edges.astype(np.float64),
            "return_log_hazard": p.log_hazard.astype(np.float64),
            **({} if self.item_counts is None else {"item_counts": self.item_counts}),
            **(
                {}
                if self.support is None
                else {"support_low": self.support[0], "support_high": self.support[1]}
            ),
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``simulator.safetensors`` then ``simulator.json`` (atomic, that order)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        arrays = {
            k: np.ascontiguousarray(v, dtype=np.float64 if v.dtype == np.float64 else np.float32)
            for k, v in self._arrays().items()
        }
        with atomic_path(folder / "simulator.safetensors") as tmp:
            save_file(arrays, str(tmp))
        meta = {
            **{k: v for k, v in self.meta.items() if k not in (*HEADER, "arrays_sha256")},
            "slate_size": self.slate_size,
            "horizon_days": self.horizon_days,
            "state_decay": self.state_decay,
            "engagement_decays": list(self.state_encoder.engagement_decays),
            "max_session_requests": self.max_session_requests,
            "allow_repeats": self.allow_repeats,
            "clip_inputs": self.clip_inputs,
            "state_layout": self.state_encoder.layout.to_dict(),
            "item_ids": [i.item() if hasattr(i, "item") else i for i in self.item_ids],
        }
        write_record(folder, "simulator", FORMAT_VERSION, ["simulator.safetensors"], meta)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> FittedSimulator:
        """Read a saved simulator; refuse one whose arrays do not match their hash."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        meta = read_record(
            folder, "simulator", FORMAT_VERSION, ["simulator.safetensors"], "arrays_sha256"
        )
        t = load_file(str(folder / "simulator.safetensors"))
        rs = t["reward_scalars"]
        return cls(
            item_embeddings=t["item_embeddings"],
            item_ids=np.asarray(meta["item_ids"]),
            standardizer=Standardizer(t["std_mean"], t["std_std"]),
            choice=ChoiceParams(
                t["choice_wq"],
                t["choice_bq"],
                t["choice_item_keys"],
                t["choice_item_bias"],
                t["choice_position_bias"],
                t["choice_w_no_click"],
                float(t["choice_b_no_click"][0]),
            ),
            reward=RewardParams(
                t["reward_coef"],
                float(rs[0]),
                float(rs[1]),
                t["reward_support"],
                float(rs[2]),
                float(rs[3]),
            ),
            leave=LeaveModel(
                t["leave_coef"],
                float(t["leave_intercept"][0]),
                t.get("leave_hidden_w"),
                t.get("leave_hidden_b"),
            ),
            ret=ReturnParams(
                t["return_churn_coef"],
                float(t["return_intercepts"][0]),
                t["return_rate_coef"],
                float(t["return_intercepts"][1]),
                (float(t["return_ranges"][0]), float(t["return_ranges"][1])),
                float(t["return_ranges"][2]),
                # Simulators saved before the piecewise hazard: one exponential rate.
                t.get("return_hazard_edges", np.array([0.0, np.inf])),
                t.get("return_log_hazard", np.zeros(1)),
            ),
            slate_size=int(meta["slate_size"]),
            horizon_days=float(meta["horizon_days"]),
            state_decay=float(meta["state_decay"]),
            max_session_requests=int(meta["max_session_requests"]),
            meta={
                k: v for k, v in meta.items() if k in ("config", "provenance", "fit", "assumptions")
            },
            item_counts=t.get("item_counts"),
            allow_repeats=bool(meta.get("allow_repeats", True)),
            # Simulators saved before the engagement blocks: none.
            engagement_decays=tuple(meta.get("engagement_decays", ())),
            support=(t["support_low"], t["support_high"]) if "support_low" in t else None,
            clip_inputs=bool(meta.get("clip_inputs", False)),
        )


def fit_simulator(
    log: InteractionLog,
    catalog: ItemCatalog,
    item_embeddings: np.ndarray,
    config: FitConfig | None = None,
    provenance: dict[str, Any] | None = None,
) -> FittedSimulator:
    """Fit every component from ``log`` (see the module docstring).

    Args:
        log: a validated interaction log with timestamps.
        catalog: its items; row i of ``item_embeddings`` is catalog item i.
        item_embeddings: ``[n_items, d]`` encoded items (e.g. ``ItemEncoding.embeddings``).

    Raises:
        LogValidationError: the log lacks what a component needs.
    """
    cfg = config or FitConfig()
    emb = np.asarray(item_embeddings, dtype=np.float32)
    if emb.shape[0] != catalog.n_items:
        raise ValueError(
            f"expected one embedding per catalog item ({catalog.n_items}), got {emb.shape[0]}"
        )
    if log.frame["timestamp"].nunique() < 2:
        raise LogValidationError(
            "the return model needs timestamps spanning time; all requests share one time",
            column="timestamp",
        )
    consumption_only = log.consumption_only
    if not consumption_only and (log.frame["click"] == 0).sum() == 0:
        raise LogValidationError(
            "the slate choice model needs impressions that were not clicked; this log has "
            "none but is not consumption-only",
            column="click",
        )
    k_log = int(log.frame["position"].max()) + 1
    k_sim = cfg.slate_size or (10 if consumption_only else k_log)
    span = (log.frame["timestamp"].max() - log.frame["timestamp"].min()) / pd.Timedelta(days=1)
    horizon = cfg.horizon_days or float(span)

    encoder = UserStateEncoder(emb, decay=cfg.state_decay, engagement_decays=cfg.engagement_decays)
    traj = replay_log(log, catalog, encoder)
    std = Standardizer.fit(traj.before)
    xb, xa = std(traj.before), std(traj.after)
    choice, choice_info = _fit_choice(traj, xb, emb, cfg, consumption_only, k_sim)
    reward = _fit_reward(traj, xb, emb, cfg)
    leave = _fit_leave(traj, xa, cfg)
    ret, ret_info = _fit_return(traj, xa, cfg)
    repeat_share = _repeat_share(traj)
    allow_repeats = cfg.repeats == "allow" or (cfg.repeats == "auto" and repeat_share > 0)
    starts = np.r_[0, np.flatnonzero(traj.session_end)[:-1] + 1]
    longest = int((np.flatnonzero(traj.session_end) - starts + 1).max())
    assumptions = []
    if consumption_only:
        assumptions.append(
            f"consumption-only log: the no-click level is not identifiable; assumed a "
            f"{cfg.assumed_click_rate:.0%} click probability on a slate of the {k_sim} most "
            f"consumed items (no-click utility {choice_info['no_click_utility']:.3f}); "
            "position bias is not identifiable and set to zero"
        )
    if not allow_repeats:
        assumptions.append(
            f"repeats forbidden: {repeat_share:.1%} of the log's consumptions repeat an item "
            "the user consumed before, so a consumed item cannot be consumed again"
        )
    meta = {
        "config": asdict(cfg),
        "provenance": provenance or {},
        "fit": {
            "requests": traj.n,
            "users": int(traj.user.max()) + 1,
            "sessions": int(traj.session_end.sum()),
            "consumption_only": consumption_only,
            "repeat_share": repeat_share,
            "allow_repeats": allow_repeats,
            **choice_info,
            **ret_info,
        },
        "assumptions": assumptions,
    }
    return FittedSimulator(
        item_embeddings=emb,
        item_ids=catalog.item_ids.to_numpy(),
        standardizer=std,
        choice=choice,
        reward=reward,
        leave=leave,
        ret=ret,
        slate_size=k_sim,
        horizon_days=horizon,
        state_decay=cfg.state_decay,
        max_session_requests=cfg.max_session_requests or longest,
        meta=meta,
        item_counts=np.bincount(
            traj.clicked_item[traj.clicked_item >= 0], minlength=catalog.n_items
        ).astype(np.float64),
        allow_repeats=allow_repeats,
        engagement_decays=cfg.engagement_decays,
        support=_support(xb, xa),
        clip_inputs=cfg.clip_inputs,
    )


def _support(*xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (min, max) over the standardised training states."""
    x = np.concatenate(xs)
    return x.min(axis=0), x.max(axis=0)


def _repeat_share(traj: Trajectories) -> float:
    """Share of the log's consumptions (clicks) of an item the same user consumed before."""
    c = traj.clicked_item >= 0
    if not c.any():
        return 0.0
    pairs = (
        traj.user[c].astype(np.int64) * (int(traj.clicked_item.max()) + 1) + traj.clicked_item[c]
    )
    return float(1.0 - len(np.unique(pairs)) / len(pairs))


__all__ = [
    "FitConfig",
    "FittedSimulator",
    "LeaveModel",
    "Trajectories",
    "fit_leave_and_return",
    "fit_simulator",
    "leave_log_likelihood",
    "replay_log",
    "return_log_likelihood",
]


def fit_dataset(
    ds: Dataset, encoding: ItemEncoding, config: FitConfig, out: str | Path
) -> FittedSimulator:
    """``ltvrec sim fit``: :func:`fit_simulator` on a loaded data set and its item
    encoding, saved to ``out`` with what it was built from (data files' sha256, the
    encoder's identity, the texts' hash)."""
    logger.info(f"fitting on {ds.log.n_requests:,} requests")
    sim = fit_simulator(
        ds.log,
        ds.catalog,
        encoding.embeddings,
        config,
        provenance={
            "dataset": ds.name,
            "data_files": ds.provenance.get("converted_files", {}),
            "encoder": encoding.identity.to_dict(),
            "texts_sha256": encoding.texts_sha256,
        },
    )
    sim.save(out)
    return sim


def fit_config_of(sim: FittedSimulator) -> FitConfig:
    """The :class:`FitConfig` a saved simulator was fitted with (fields this version
    does not know are dropped; missing ones take their defaults)."""
    from dataclasses import fields

    known = {f.name for f in fields(FitConfig)}
    saved = {k: v for k, v in sim.meta.get("config", {}).items() if k in known}
    # The state it was fitted on (older simulators had no engagement blocks).
    saved["engagement_decays"] = sim.state_encoder.engagement_decays
    return FitConfig(**saved)
