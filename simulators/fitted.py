"""A user simulator fitted from a log alone (DESIGN.md 3.2).

It never sees latent state: everything is a function of the observable user state
(:mod:`ltvrec.encoders.state`, replayed along the log) and the encoded items.

Components, each fitted on its own (:mod:`ltvrec.simulators.components`, from the log
replayed by :mod:`ltvrec.simulators.replay`; this module assembles and saves them):

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
- **leave**: logistic regression (or, with ``leave_model='mlp'``, a one-hidden-layer
  network) of "the session ends after this request" on the state after the request;
  certain after ``max_session_requests`` requests.
- **return**: a mixture-cure survival model at each session end: with probability
  ``pi(x)`` the user never returns (churn), else the gap has the hazard
  ``h0(t) exp(beta . x)`` with ``h0`` one rate (default) or piecewise constant
  (``return_bins``). Users not seen again before the log
  ends are *censored* (their likelihood term is the survival probability), never
  labelled as churned.
- **state transition**: the same user-state encoder as everywhere else.
- **item consequences** (``item_consequences``, off by default): what consuming each
  item does to the user afterwards, estimated from the log
  (:mod:`ltvrec.simulators.consequence`) and appended to the item vectors, which the
  simulator then carries (``item_embeddings`` has one more column than the text's).

Saved as ``simulator.safetensors`` + ``simulator.json`` (config, provenance, metrics,
assumptions); no pickle.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ltvrec.artifacts import HEADER, read_record, write_record
from ltvrec.encoders.state import StateLayout, UserStateEncoder
from ltvrec.errors import ConfigError
from ltvrec.interactions.io import atomic_path
from ltvrec.interactions.schema import InteractionLog, ItemCatalog, LogValidationError
from ltvrec.simulators.base import RNG, SessionSimulator, SimState
from ltvrec.simulators.components import (
    ChoiceParams,
    DurationBaseline,
    LeaveModel,
    ReturnParams,
    RewardParams,
    Standardizer,
    _duration_baseline,
    _fit_choice,
    _fit_leave,
    _fit_return,
    _fit_reward,
    _item_utilities,
    fit_leave_and_return,
    leave_log_likelihood,
    return_log_likelihood,
)
from ltvrec.simulators.consequence import cross_fitted
from ltvrec.simulators.fit_config import FitConfig
from ltvrec.simulators.replay import Trajectories, replay_log
from ltvrec.simulators.residual import ResidualInterest, replay_residuals

if TYPE_CHECKING:
    from ltvrec.encoders.items import ItemEncoding
    from ltvrec.interactions.datasets import Dataset

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
REWARD_FLOOR = 1e-3
"""Floor of the fitted mean reward inside ``log`` (greedy-model's ranking)."""


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
        residual: ResidualInterest | None = None,
        no_click_leave: float | None = None,
        organic: bool = False,
    ) -> None:
        self.no_click_leave = no_click_leave
        self.organic = organic
        self.item_embeddings = np.asarray(item_embeddings, dtype=np.float32)
        self.residual = residual
        """The residual interest the choice model reads (``choice_history='residual'``),
        kept per user as ``SimState.latent["residual"]``; None otherwise."""
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

    def _x(self, state: SimState, count: bool = False) -> np.ndarray:
        return self._inputs(state.obs, count)

    def _inputs(self, obs: np.ndarray, count: bool = False) -> np.ndarray:
        """Standardised states, clipped to the training support with ``clip_inputs``;
        ``count``: add them to the outside-support tally (done once per state: by the
        choice model for the state before a request, the leave model for the one after)."""
        x = self.standardizer(obs)
        if self.support is None:
            return x
        low, high = self.support
        if count:
            outside = ((x < low) | (x > high)).any(axis=1)
            self._counts += (int(outside.sum()), len(x))
        return np.clip(x, low, high) if self.clip_inputs else x

    @property
    def outside_share(self) -> float | None:
        """Share of simulated states (before and after each request) outside the training
        support since the last :meth:`reset_support_counts` (clipped to it with
        ``clip_inputs``); None for a simulator saved without its support."""
        if self.support is None:
            return None
        return float(self._counts[0] / max(self._counts[1], 1))

    def reset_support_counts(self) -> None:
        self._counts[:] = 0

    def init_latent(self, n: int, rng: RNG) -> dict[str, np.ndarray]:
        return {} if self.residual is None else {"residual": self.residual.initial(n)}

    def after_choice(
        self, state: SimState, slates: np.ndarray, position: np.ndarray
    ) -> dict[str, np.ndarray]:
        if self.residual is None:
            return state.latent
        x = self.standardizer(state.obs)  # as in the replay the model was fitted on
        r = self._residual(state)
        new = self.residual.update(r, x, slates, position, self.item_embeddings)
        return {**state.latent, "residual": new}

    def _residual(self, state: SimState) -> np.ndarray:
        """The users' residual interest; a state built without it (from observations
        alone) reads as a user with none yet."""
        assert self.residual is not None
        r = state.latent.get("residual")
        return self.residual.initial(state.n) if r is None else r

    def replay_latent(self, traj: Trajectories) -> dict[str, np.ndarray]:
        """The latent state before each replayed request (rows of ``traj``), for
        scoring logged requests with :meth:`choice_logits`."""
        if self.residual is None:
            return {}
        x = self.standardizer(traj.before)
        res = self.residual
        return {"residual": replay_residuals(traj, x, res.base, self.item_embeddings, res.decay)}

    def item_click_logits(self, state: SimState) -> np.ndarray:
        c = self.choice
        if self.residual is None:
            return _item_utilities(c, self._x(state)) + c.position_bias[0]
        qv = self._x(state) @ c.wq + c.bq + self.residual.query(self._residual(state))
        return qv @ c.item_keys.T + c.item_bias + c.position_bias[0]

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

    def expected_reward(self, state: SimState, slates: np.ndarray) -> np.ndarray:
        """``[B]`` the expected immediate reward of showing ``slates [B, K]`` in
        ``state``: the choice probabilities (consumed items excluded where repeats are
        forbidden) times the mean reward of each shown item,
        ``sum_k P(click k) * clip(mean_k, low, high)``."""
        logits = self.choice_logits(state, slates)
        if state.consumed is not None:
            rows = np.arange(state.n)[:, None]
            logits[:, 1:] = np.where(state.consumed[rows, slates], -np.inf, logits[:, 1:])
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        r = self.reward_params
        x = self._x(state)
        d = x.shape[1]
        mean = (x @ r.coef[:d])[:, None] + self.item_embeddings[slates] @ r.coef[d:] + r.intercept
        return (p[:, 1:] * np.clip(mean, r.low, r.high)).sum(axis=1)

    def choice_logits(self, state: SimState, slates: np.ndarray) -> np.ndarray:
        c = self.choice
        x = self._x(state, count=True)
        qv = x @ c.wq + c.bq  # [B, h]
        if self.residual is not None:
            qv = qv + self.residual.query(self._residual(state))
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
        p = _sigmoid(self.leave_params.logit(self._x(state, count=True)))
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
            **({} if self.leave_params.duration is None else _duration_arrays(self.leave_params)),
            "return_churn_coef": p.churn_coef,
            "return_rate_coef": p.rate_coef,
            "return_intercepts": np.array([p.churn_intercept, p.rate_intercept]),
            "return_ranges": np.array([*p.log_rate_range, p.min_gap_days]),
            "return_hazard_edges": p.hazard_edges.astype(np.float64),
            "return_log_hazard": p.log_hazard.astype(np.float64),
            **({} if self.item_counts is None else {"item_counts": self.item_counts}),
            **({} if self.residual is None else self.residual.arrays()),
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
            "no_click_leave": self.no_click_leave,
            "organic": self.organic,
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
                _duration_from(t),
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
            residual=ResidualInterest.from_arrays(t),
            no_click_leave=meta.get("no_click_leave"),
            organic=bool(meta.get("organic", False)),
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
    if cfg.no_click_leave is not None and not consumption_only:
        raise ConfigError(
            "no_click_leave is for consumption-only logs; this log records requests without "
            "a click, and its leave model is fitted on them"
        )
    if cfg.organic and not (consumption_only or log.has_organic):
        raise ConfigError(
            "organic is for logs that record every consumption: consumption-only logs, or "
            "logs with the organic columns; this log records requests without a click and "
            "no consumption outside them"
        )
    if log.has_organic and not cfg.organic:
        raise ConfigError(
            "this log records consumptions outside the slates (organic_item_id), which move "
            "the users' states; a simulator fitted on it must draw them too: set organic=true"
        )
    if cfg.choice_history == "auto":
        cfg = replace(cfg, choice_history="consumed" if consumption_only else "residual")
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
    consequence_info: dict[str, Any] = {}
    if cfg.item_consequences:
        # Estimated on the text-only state, the consequences become a column of the item
        # vectors; the training states carry them cross-fitted (see cross_fitted).
        emb, traj, consequence, reliability = cross_fitted(log, catalog, emb, traj, cfg)
        consequence_info = {
            "items_with_consequence": int((consequence != 0).sum()),
            "consequence_reliability": reliability,
        }
    std = Standardizer.fit(traj.before)
    xb, xa = std(traj.before), std(traj.after)
    layout = StateLayout(emb.shape[1], cfg.engagement_decays)  # emb may have grown a column
    history = np.zeros(layout.size, dtype=bool)
    for name, cols in layout.blocks.items():
        history[cols] = name in ("interest", "last_item") or name.startswith("recent_items@")
    ignore = layout.mask(cfg.choice_ignore)
    repeat_share = _repeat_share(traj)
    allow_repeats = cfg.repeats == "allow" or (cfg.repeats == "auto" and repeat_share > 0)
    # The simulator takes consumed items out of the choice set; so does the fit.
    unavailable = None if allow_repeats or consumption_only else traj.consumed_in_slate()
    residual = None
    if cfg.choice_history == "residual":
        if consumption_only:
            raise LogValidationError(
                "choice_history='residual' measures clicks against what was shown; this "
                "consumption-only log has no unclicked impressions (use 'consumed')",
                column="click",
            )
        base, _ = _fit_choice(
            traj, xb, emb, cfg, False, k_sim, history, ignore=ignore, unavailable=unavailable
        )
        res = replay_residuals(traj, xb, base, emb, cfg.residual_decay)
        res_std = Standardizer.fit(res)
        choice, choice_info = _fit_choice(
            traj,
            xb,
            emb,
            cfg,
            False,
            k_sim,
            history,
            extra=res_std(res),
            ignore=ignore,
            unavailable=unavailable,
        )
        weights = choice_info.pop("extra_wq")
        # The residual's mean goes into the query bias: its own term is 0 at no residual.
        choice = replace(choice, bq=choice.bq - (res_std.mean / res_std.std) @ weights)
        residual = ResidualInterest(base, weights, res_std.std, cfg.residual_decay)
    else:
        choice, choice_info = _fit_choice(
            traj,
            xb,
            emb,
            cfg,
            consumption_only,
            k_sim,
            history,
            ignore=ignore,
            unavailable=unavailable,
        )
    reward = _fit_reward(traj, xb, emb, cfg)
    duration = _duration_baseline(traj, std, layout, cfg)
    leave = _fit_leave(traj, xa, cfg, layout.mask(cfg.leave_ignore), duration)
    ret, ret_info = _fit_return(traj, xa, cfg, layout.mask(cfg.return_ignore))
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
    if cfg.organic:
        assumptions.append(
            "every request is a consumption: a user who takes nothing from the slate "
            "consumes an item found elsewhere (the choice model over the rest of the "
            "catalog), which moves their state and earns the policy nothing"
        )
    if cfg.no_click_leave is not None:
        assumptions.append(
            f"a request without a consumption ends the session with probability "
            f"{cfg.no_click_leave:g} (the log holds consumptions only, so its leave model "
            "is a hazard per consumption, applied after consumptions)"
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
            **consequence_info,
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
            traj.consumed_item[traj.consumed_item >= 0], minlength=catalog.n_items
        ).astype(np.float64),
        allow_repeats=allow_repeats,
        engagement_decays=cfg.engagement_decays,
        support=_support(xb, xa),
        clip_inputs=cfg.clip_inputs,
        residual=residual,
        no_click_leave=cfg.no_click_leave,
        organic=cfg.organic,
    )


def _duration_arrays(leave: LeaveModel) -> dict[str, np.ndarray]:
    d = leave.duration
    assert d is not None
    return {
        "leave_duration_cols": np.array([d.session_col, d.sessions_col], np.float64),
        "leave_duration_edges": d.edges.astype(np.float64),
        "leave_duration_first_below": np.array([d.first_below]),
        "leave_duration_coef": d.coef.astype(np.float64),
    }


def _duration_from(t: dict[str, np.ndarray]) -> DurationBaseline | None:
    """The leave model's duration baseline as saved (None when it has none)."""
    if "leave_duration_coef" not in t:
        return None
    cols = t["leave_duration_cols"].astype(int)
    return DurationBaseline(
        int(cols[0]),
        int(cols[1]),
        t["leave_duration_edges"],
        float(t["leave_duration_first_below"][0]),
        t["leave_duration_coef"],
    )


def _support(*xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (min, max) over the standardised training states."""
    x = np.concatenate(xs)
    return x.min(axis=0), x.max(axis=0)


def _repeat_share(traj: Trajectories) -> float:
    """Share of the log's consumptions (clicks, organic ones included) of an item the
    same user consumed before."""
    item = traj.consumed_item
    c = item >= 0
    if not c.any():
        return 0.0
    pairs = traj.user[c].astype(np.int64) * (int(item.max()) + 1) + item[c]
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


def fitted_from_vectors(sim: FittedSimulator) -> np.ndarray:
    """The item vectors ``sim`` was fitted from: its own, less the consequence column
    its fit appended (``item_consequences``). Refitting the same recipe starts here."""
    if fit_config_of(sim).item_consequences:
        return sim.item_embeddings[:, :-1]
    return sim.item_embeddings


def fit_config_of(sim: FittedSimulator) -> FitConfig:
    """The :class:`FitConfig` a saved simulator was fitted with (fields this version
    does not know are dropped; missing ones take their defaults)."""
    from dataclasses import fields

    known = {f.name for f in fields(FitConfig)}
    saved = {k: v for k, v in sim.meta.get("config", {}).items() if k in known}
    # The state it was fitted on (older simulators had no engagement blocks).
    saved["engagement_decays"] = sim.state_encoder.engagement_decays
    return FitConfig(**saved)
