"""The fitted simulator's component models, each fitted on its own from the replayed log
(:mod:`ltvrec.simulators.replay`): the state standardiser, choice, reward given a click,
leave, and return; plus the held-out likelihoods the component studies compare
(docs/simulators.md). :mod:`ltvrec.simulators.fitted` assembles them into a simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ltvrec.encoders.state import StateLayout
from ltvrec.simulators.fit_config import FitConfig
from ltvrec.simulators.replay import Trajectories


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
    history: np.ndarray | None = None,
    extra: np.ndarray | None = None,
    ignore: np.ndarray | None = None,
    unavailable: np.ndarray | None = None,
) -> tuple[ChoiceParams, dict[str, Any]]:
    """Fit the two-tower choice model on standardised states ``x``.

    Args:
        history: ``[S]`` bool, the state columns built from consumed items; unless
            ``cfg.choice_history`` is 'consumed' the user tower does not read them (their
            weights are 0, so the simulator's full state gives the same utilities as the
            masked one did).
        extra: ``[R, e]`` further standardised inputs of the user tower only (the
            residual interest); their weights come back as ``info["extra_wq"]`` ``[e, h]``.
        ignore: ``[S]`` bool, state columns neither the user tower nor the no-click
            utility reads (``cfg.choice_ignore``; their weights are 0).
        unavailable: ``[R, K]`` bool, shown items the user could not choose (consumed
            before, where repeats are forbidden): out of the choice set, as in the
            simulator. Without it a logging policy that keeps showing consumed items
            teaches the model that they, and items like them, are not wanted.
    """
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    s_dim, n_items = x.shape[1], items.shape[0]
    e_dim = 0 if extra is None else extra.shape[1]
    k_log = traj.slates.shape[1]
    q = torch.nn.Linear(s_dim + e_dim, cfg.hidden)
    v = torch.nn.Linear(items.shape[1], cfg.hidden, bias=False)
    bias = torch.nn.Parameter(torch.zeros(n_items))
    pos = torch.nn.Parameter(torch.zeros(max(k_log, k_sim)))
    nc = torch.nn.Linear(s_dim, 1)
    params = [*q.parameters(), *v.parameters(), bias, pos, *nc.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    emb = torch.as_tensor(items, dtype=torch.float32)
    xt = torch.as_tensor(x, dtype=torch.float32)
    hidden_cols = np.zeros(s_dim, dtype=bool)
    if cfg.choice_history != "consumed" and history is not None:
        hidden_cols = np.asarray(history, dtype=bool)
    ignored = np.zeros(s_dim, dtype=bool) if ignore is None else np.asarray(ignore, dtype=bool)
    hidden_cols = hidden_cols | ignored
    xq = xt.masked_fill(torch.as_tensor(hidden_cols)[None, :], 0.0)
    xt = xt.masked_fill(torch.as_tensor(ignored)[None, :], 0.0)  # the no-click utility's
    if extra is not None:
        xq = torch.cat([xq, torch.as_tensor(extra, dtype=torch.float32)], dim=1)

    if consumption_only:
        rows = np.flatnonzero(traj.clicked_item >= 0)
    else:
        rows = np.arange(traj.n)
        out_of_set = traj.slates < 0
        if unavailable is not None:  # a clicked item stays choosable, whatever the log says
            clicked = traj.clicked_position[:, None] == np.arange(k_log)[None, :]
            out_of_set = out_of_set | (unavailable & ~clicked)
        out_t = torch.as_tensor(out_of_set)
        # Start the no-click utility at the log's no-click share, items at 0: an item the
        # fit seldom sees then stays at the level of an average shown item. (At 0, every
        # item starts far above it, and the ones the log seldom shows stay there: a
        # policy that shows them looks far better than it is.)
        choosable = (~out_of_set).sum(axis=1)
        p0 = float(np.clip((traj.clicked_position < 0).mean(), 1e-3, 1 - 1e-3))
        with torch.no_grad():
            nc.bias.fill_(float(np.log(max(choosable.mean(), 1.0) * p0 / (1 - p0))))
    losses = []
    per_epoch = -(-len(rows) // cfg.batch_size)
    epochs = max(cfg.epochs, -(-cfg.min_steps // max(per_epoch, 1)))
    for _ in range(epochs):
        perm = rng.permutation(rows)
        for start in range(0, len(perm), cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            qb = q(xq[idx])  # [B, h]
            # Every item's key once, then the batch's rows of it (the same numbers as
            # projecting the gathered vectors, without projecting an item once per row);
            # the utilities as a product and a sum rather than a batched matrix product
            # of [B, 1, h] by [B, h, K], slow on CPU: ~1.5x per step in all
            # (benchmarks/fit_speed.py).
            keys = v(emb)  # [N, h]
            if consumption_only:
                cand = np.concatenate(
                    [
                        traj.clicked_item[idx, None],
                        rng.integers(0, n_items, (len(idx), cfg.n_negatives)),
                    ],
                    axis=1,
                )
                ct = torch.as_tensor(cand)
                logits = (qb[:, None, :] * keys[ct]).sum(-1) + bias[ct]
                target = torch.zeros(len(idx), dtype=torch.long)
            else:
                safe = torch.as_tensor(traj.slates[idx]).clamp(min=0)
                u = (qb[:, None, :] * keys[safe]).sum(-1) + bias[safe] + pos[:k_log]
                u = u.masked_fill(out_t[idx], -1e9)
                logits = torch.cat([nc(xt[idx]), u], dim=1)
                target = torch.as_tensor(traj.clicked_position[idx] + 1)
            loss = torch.nn.functional.cross_entropy(logits, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    with torch.no_grad():
        wq_all = q.weight.T.numpy().copy()
        wq = wq_all[:s_dim]
        wq[hidden_cols] = 0.0
        out = ChoiceParams(
            wq=wq,
            bq=q.bias.numpy().copy(),
            item_keys=v(emb).numpy().copy(),
            item_bias=bias.numpy().copy(),
            position_bias=(pos.numpy()[:k_sim] if not consumption_only else np.zeros(k_sim)).copy(),
            w_no_click=np.where(ignored, 0.0, nc.weight[0].numpy()).astype(np.float32),
            b_no_click=float(nc.bias[0]),
        )
    info: dict[str, Any] = {
        "final_train_loss": float(np.mean(losses[-20:])),
        "choice_epochs": epochs,
        "choice_steps": len(losses),
    }
    if extra is not None:
        info["extra_wq"] = wq_all[s_dim:]
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
    item = traj.consumed_item  # organic consumptions' rewards come from the same model
    c = item >= 0
    y = traj.consumed_reward[c]
    feats = np.concatenate([x[c], items[item[c]]], axis=1)
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
class DurationBaseline:
    """A discrete-time baseline hazard of leaving, added to the leave model's logit: one
    coefficient per bin of the requests so far in the session, separately for a user's
    first session and for later ones. Everything reads the standardised state: the bins'
    lower bounds ``edges`` and the first-session threshold ``first_below`` are in the
    standardised units of the ``session_requests`` and ``sessions`` columns."""

    session_col: int
    sessions_col: int
    edges: np.ndarray  # [B] lower bounds, ascending; edges[0] at or below any value
    first_below: float
    coef: np.ndarray  # [2, B]: first session, later sessions

    def cells(self, x: np.ndarray) -> np.ndarray:
        """``[R]`` each state's cell: its bin, plus ``B`` in a later session."""
        b = np.searchsorted(self.edges, x[:, self.session_col], side="right") - 1
        later = x[:, self.sessions_col] >= self.first_below
        return np.clip(b, 0, None) + len(self.edges) * later

    def features(self, x: np.ndarray) -> np.ndarray:
        """``[R, 2B]`` one-hot of the cells."""
        out = np.zeros((len(x), self.coef.size))
        out[np.arange(len(x)), self.cells(x)] = 1.0
        return out

    def logit(self, x: np.ndarray) -> np.ndarray:
        return self.coef.reshape(-1)[self.cells(x)]


@dataclass(frozen=True)
class LeaveModel:
    """Logit of ending the session after a request, from the standardised state after
    it: ``x . coef + intercept`` (logistic), or with a hidden layer ``tanh(x W + c) .
    coef + intercept`` (mlp); plus the baseline hazard of the session's duration when
    there is one (``leave_duration_bins``)."""

    coef: np.ndarray
    intercept: float
    hidden_w: np.ndarray | None = None
    hidden_b: np.ndarray | None = None
    duration: DurationBaseline | None = None

    def logit(self, x: np.ndarray) -> np.ndarray:
        h = x if self.hidden_w is None else np.tanh(x @ self.hidden_w + self.hidden_b)
        z = h @ self.coef + self.intercept
        return z if self.duration is None else z + self.duration.logit(x)


def duration_edges(session_lengths: np.ndarray, bins: int) -> np.ndarray:
    """Lower bounds of up to ``bins`` duration bins: 1, then the distinct quantiles of the
    completed sessions' lengths (in requests), so that about as many sessions end in
    each bin."""
    q = np.quantile(session_lengths, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.unique(np.r_[1.0, np.floor(q) + 1.0])


def _duration_baseline(
    traj: Trajectories, std: Standardizer, layout: StateLayout | None, cfg: FitConfig
) -> DurationBaseline | None:
    """The leave model's duration bins (``cfg.leave_duration_bins``) for ``traj``, in
    ``std``'s units, coefficients 0 (to be fitted); None without them."""
    if not cfg.leave_duration_bins:
        return None
    if layout is None:
        raise ValueError("leave_duration_bins reads the state's session columns: pass the layout")
    s, n = layout.index("session_requests"), layout.index("sessions")
    raw = duration_edges(traj.after[traj.session_end, s], cfg.leave_duration_bins)
    return DurationBaseline(
        s,
        n,
        # Just below each bound, so a state at the bound falls in its bin after rounding.
        (raw - std.mean[s]) / std.std[s] - 1e-9,
        float((1.5 - std.mean[n]) / std.std[n]),
        np.zeros((2, len(raw))),
    )


def _fit_leave(
    traj: Trajectories,
    xa: np.ndarray,
    cfg: FitConfig,
    ignore: np.ndarray | None = None,
    duration: DurationBaseline | None = None,
) -> LeaveModel:
    """The leave model on the standardised after-request states ``xa``; the columns in the
    boolean mask ``ignore`` are read as 0, so their coefficients stay exactly 0. With
    ``duration``, its bins' coefficients are fitted jointly (an indicator per bin)."""
    from sklearn.linear_model import LogisticRegression

    skip = np.zeros(xa.shape[1], dtype=bool) if ignore is None else np.asarray(ignore, bool)
    dur = np.zeros((len(xa), 0)) if duration is None else duration.features(xa)
    xa = np.where(skip[None, :], 0.0, xa)
    y = traj.session_end.astype(int)
    if y.min() == y.max():
        p = min(max(float(y.mean()), 1e-3), 1 - 1e-3)
        return LeaveModel(np.zeros(xa.shape[1]), float(np.log(p / (1 - p))), duration=duration)
    if cfg.leave_model == "mlp":
        model, base = _fit_leave_mlp(xa, y, traj.user, cfg, dur)
        assert model.hidden_w is not None
        # Inputs that were 0 in training: their first-layer weights never mattered.
        model.hidden_w[skip] = 0.0
    else:
        m = LogisticRegression(C=1.0 / cfg.ridge, max_iter=500).fit(np.c_[xa, dur], y)
        d = xa.shape[1]
        model = LeaveModel(np.where(skip, 0.0, m.coef_[0][:d]), float(m.intercept_[0]))
        base = m.coef_[0][d:]
    if duration is None:
        return model
    return replace(model, duration=replace(duration, coef=base.reshape(duration.coef.shape)))


def _fit_leave_mlp(
    x: np.ndarray, y: np.ndarray, user: np.ndarray, cfg: FitConfig, dur: np.ndarray
) -> tuple[LeaveModel, np.ndarray]:
    """One hidden tanh layer, Adam on the log-loss, weight decay ``1e-4``; the epoch
    (of at most 30) with the best log-loss on a tenth of the users held out. The
    duration one-hot ``dur`` (no columns without a baseline) enters the output linearly;
    its weights come back beside the model."""
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    valid = (user % 10) == 0

    def tensors(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
        return tuple(torch.as_tensor(a[rows], dtype=torch.float32) for a in (x, dur, y))

    (xt, dt, yt), (xv, dv, yv) = tensors(~valid), tensors(valid)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], cfg.leave_hidden), torch.nn.Tanh(),
        torch.nn.Linear(cfg.leave_hidden, 1),
    )  # fmt: skip
    base = torch.nn.Linear(dur.shape[1], 1, bias=False)
    torch.nn.init.zeros_(base.weight)
    params = [*net.parameters(), base.weight]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-4)
    loss = torch.nn.BCEWithLogitsLoss()

    def logit(xs: torch.Tensor, ds: torch.Tensor) -> torch.Tensor:
        return (net(xs) + base(ds)).squeeze(-1)

    best, state = float("inf"), None
    for _ in range(30):
        for idx in np.array_split(rng.permutation(len(xt)), max(1, len(xt) // cfg.batch_size)):
            opt.zero_grad()
            loss(logit(xt[idx], dt[idx]), yt[idx]).backward()
            opt.step()
        with torch.no_grad():
            v = float(loss(logit(xv, dv), yv)) if len(xv) else 0.0
        if v < best:
            best, state = v, [p.detach().numpy().copy() for p in params]
    assert state is not None
    w1, b1, w2, b2, wd = state
    model = LeaveModel(
        w2[0].astype(np.float64), float(b2[0]), w1.T.astype(np.float64), b1.astype(np.float64)
    )
    return model, wd[0].astype(np.float64)


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
    traj: Trajectories, xa: np.ndarray, cfg: FitConfig, ignore: np.ndarray | None = None
) -> tuple[ReturnParams, dict[str, Any]]:
    """The return model on the session ends' standardised after-states ``xa``; the
    columns in the boolean mask ``ignore`` are read as 0, so their coefficients (which
    start at 0 and are penalised) stay exactly 0."""
    import torch

    torch.manual_seed(cfg.seed)
    e = traj.session_end
    x = torch.as_tensor(xa[e], dtype=torch.float32)
    if ignore is not None:
        x[:, torch.as_tensor(ignore)] = 0.0
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
    train: Trajectories, config: FitConfig | None = None, layout: StateLayout | None = None
) -> tuple[Standardizer, LeaveModel, ReturnParams]:
    """The standardiser, leave model and return model :func:`fit_simulator` fits on
    ``train`` (for held-out comparisons of state definitions); ``layout`` (the states')
    is needed for ``config.return_ignore``, ``leave_ignore`` and ``leave_duration_bins``."""
    cfg = config or FitConfig()
    if (cfg.return_ignore or cfg.leave_ignore) and layout is None:
        raise ValueError("return_ignore and leave_ignore name state blocks: pass the layout")
    ignore = layout.mask(cfg.return_ignore) if layout is not None else None
    leave_ignore = layout.mask(cfg.leave_ignore) if layout is not None else None
    std = Standardizer.fit(train.before)
    xa = std(train.after)
    leave = _fit_leave(train, xa, cfg, leave_ignore, _duration_baseline(train, std, layout, cfg))
    return std, leave, _fit_return(train, xa, cfg, ignore)[0]
