"""An ensemble of fitted simulators: how sure the logs make us of a policy's value.

``fit_ensemble`` fits ``k`` simulators, each on a bootstrap resample of the log's
*users* (users drawn with replacement, a drawn-twice user kept as two users), so the
members differ exactly as much as the logs leave the fit uncertain. ``ensemble_values``
evaluates policies in every member on the same fresh users and reports, per policy, the
members' values, their mean, their standard deviation and their spread relative to the
mean; :data:`MAX_RELATIVE_SPREAD` is where a report warns that the logs do not pin the
policy's value down. On real logs, where no truth exists, it is the part of "how much
should one believe a simulated value?" the data can answer: the fit's sampling noise.
It is a lower bound on the uncertainty, not an interval for the truth: measured in the
known world, the members' range holds the true value in 5 of 18 policy x seed cases,
because every member shares the model's form and its errors (docs/simulators.md).

(Lakshminarayanan et al. 2017 for bootstrap / deep ensembles as an uncertainty
estimate; Yu et al. 2020, MOPO, for using the members' disagreement as a penalty.)
"""

from __future__ import annotations

import logging
from dataclasses import fields, replace
from typing import Any

import numpy as np
import pandas as pd

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.interactions.schema import InteractionLog, ItemCatalog
from ltvrec.simulators.base import RNG, PerUserRNG, SimState, StepResult, per_user
from ltvrec.simulators.fit_config import FitConfig
from ltvrec.simulators.fitted import FittedSimulator, fit_simulator
from ltvrec.simulators.policies import SimPolicy
from ltvrec.simulators.rollout import evaluate

logger = logging.getLogger(__name__)

MAX_RELATIVE_SPREAD = 0.2
"""Warn when the members' values for a policy span more than this share of their mean."""


def bootstrap_users(log: InteractionLog, rng: np.random.Generator) -> InteractionLog:
    """``log`` with its users resampled with replacement (as many as it has). A user
    drawn ``c`` times appears as ``c`` users (ids, requests and sessions suffixed
    ``~0``, ``~1``, ...), so the resample has the original's size in users."""
    frame = log.frame
    users = pd.unique(frame["user_id"])
    drawn = rng.integers(0, len(users), len(users))
    counts = np.bincount(drawn, minlength=len(users))
    by_user = frame.groupby("user_id", sort=False).indices
    # Each drawn user's rows once per copy, users in order of first appearance.
    blocks = [(by_user[u], copy) for u, c in zip(users, counts, strict=True) for copy in range(c)]
    rows = np.concatenate([b for b, _ in blocks])
    copies = np.repeat([c for _, c in blocks], [len(b) for b, _ in blocks])
    out = frame.iloc[rows].reset_index(drop=True)
    suffix = pd.Series(np.char.add("~", copies.astype(str)), index=out.index)
    for col in ("user_id", "request_id", "session_id"):
        if col in out.columns:
            out[col] = out[col].astype(str) + suffix
    return InteractionLog.from_frame(out.sort_values("timestamp", kind="stable"))


def fit_ensemble(
    log: InteractionLog,
    catalog: ItemCatalog,
    item_embeddings: np.ndarray,
    config: FitConfig | None = None,
    k: int = 5,
    seed: int = 0,
) -> list[FittedSimulator]:
    """``k`` simulators, member ``i`` fitted on bootstrap resample ``i`` of the users
    (and with fit seed ``config.seed + i``)."""
    if k < 2:
        raise ValueError(f"an ensemble needs k >= 2 members, got {k}")
    cfg = config or FitConfig()
    rng = np.random.default_rng([seed, 31])
    members = []
    for i in range(k):
        logger.info(f"ensemble member {i + 1}/{k}: fitting on a bootstrap resample of users")
        sample = bootstrap_users(log, rng)
        members.append(
            fit_simulator(sample, catalog, item_embeddings, replace(cfg, seed=cfg.seed + i))
        )
    return members


def ensemble_values(
    members: list[FittedSimulator],
    policies: dict[str, SimPolicy],
    n_users: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Per policy: every member's value (undiscounted, per user) on the same ``n_users``
    fresh users, their mean, standard deviation and relative spread ``(max - min) /
    |mean|``, and ``wide`` when that spread exceeds :data:`MAX_RELATIVE_SPREAD`."""
    out: dict[str, dict[str, Any]] = {}
    for name, policy in policies.items():
        values = [evaluate(m, policy, n_users, seed=seed).value[0] for m in members]
        a = np.asarray(values)
        mean = float(a.mean())
        spread = float((a.max() - a.min()) / max(abs(mean), 1e-12))
        out[name] = {
            "values": a.tolist(),
            "mean": mean,
            "std": float(a.std(ddof=1)),
            "relative_spread": spread,
            "wide": spread > MAX_RELATIVE_SPREAD,
        }
    return out


def expected_slate_reward(
    model: FittedSimulator, state: SimState, slates: np.ndarray
) -> np.ndarray:
    """``[B]`` a fitted simulator's expected immediate reward of showing ``slates`` in
    ``state`` (:meth:`FittedSimulator.expected_reward`)."""
    return model.expected_reward(state, slates)


class _Wrapper:
    """A simulator built on fitted ones: it shows their catalog, slate, horizon and
    state layout (what envs and policies read from any
    :class:`~ltvrec.simulators.base.UserSimulator`)."""

    n_items: int
    slate_size: int
    horizon_days: float
    item_embeddings: np.ndarray
    state_encoder: UserStateEncoder
    allow_repeats: bool
    organic: bool

    def _share_layout(self, sim: FittedSimulator) -> None:
        self.n_items = sim.n_items
        self.slate_size = sim.slate_size
        self.horizon_days = sim.horizon_days
        self.item_embeddings = sim.item_embeddings
        self.state_encoder = sim.state_encoder
        self.allow_repeats = sim.allow_repeats
        self.organic = sim.organic


class PessimisticSimulator(_Wrapper):
    """``sim`` whose reward is lowered by ``penalty`` times the ensemble members'
    disagreement on the request's expected reward (their standard deviation): the
    MOPO idea (Yu et al. 2020) with the immediate reward as the disagreement measured
    (the members' next-state disagreement is not included). Everything else — states,
    choices, sessions — is ``sim``'s own; train on it, evaluate elsewhere."""

    def __init__(self, sim: FittedSimulator, members: list[FittedSimulator], penalty: float):
        if penalty < 0:
            raise ValueError(f"penalty must be >= 0, got {penalty}")
        if len(members) < 2:
            raise ValueError("the disagreement needs at least 2 members")
        self.sim, self.members, self.penalty = sim, members, float(penalty)
        self._share_layout(sim)
        self.last_disagreement = float("nan")
        """Mean disagreement over the users of the last step (diagnostics)."""

    def reset(self, n: int, rng: RNG) -> SimState:
        return self.sim.reset(n, rng)

    def step(self, state: SimState, slates: np.ndarray, rng: RNG) -> tuple[SimState, StepResult]:
        expected = np.stack([expected_slate_reward(m, state, slates) for m in self.members])
        disagreement = expected.std(axis=0)
        self.last_disagreement = float(disagreement.mean())
        after, result = self.sim.step(state, slates, rng)
        return after, replace(result, reward=result.reward - self.penalty * disagreement)

    def choice_logits(self, state: SimState, slates: np.ndarray) -> np.ndarray:
        return self.sim.choice_logits(state, slates)

    def item_click_logits(self, state: SimState) -> np.ndarray:
        return self.sim.item_click_logits(state)


def _split(rng: RNG, idx: np.ndarray) -> RNG:
    return rng.take(idx) if isinstance(rng, PerUserRNG) else rng


class MemberMixture(_Wrapper):
    """A simulator that draws, for each new user (each episode), one of ``members``
    (uniformly) and simulates that user with it to the end: a policy trained here must
    do well in every fit the logs allow, not exploit one fit's errors (the ensemble as
    domain randomisation, as in model-ensemble policy optimisation, Kurutach et al.
    2018). Each user's member is ``latent["member"]``.

    The members must share the state and catalog layout (the same fit recipe on the
    same catalog); the first member's item vectors and state encoder are the mixture's
    (with item consequences each member's column is its own estimate, which shapes
    the states of its users)."""

    def __init__(self, members: list[FittedSimulator]):
        if len(members) < 2:
            raise ValueError(f"a mixture needs at least 2 members, got {len(members)}")
        first = members[0]
        for m in members[1:]:
            same = (
                m.n_items == first.n_items
                and m.slate_size == first.slate_size
                and m.state_encoder.size == first.state_encoder.size
                and m.allow_repeats == first.allow_repeats
                and m.horizon_days == first.horizon_days
                and m.organic == first.organic
                and m.no_click_leave == first.no_click_leave
            )
            if not same:
                raise ValueError(
                    "the members differ in catalog, slate size, state, repeats, horizon or "
                    "session clock: "
                    "fit them with one recipe on one catalog"
                )
        self.members = list(members)
        self._share_layout(first)

    def _by_member(self, member: np.ndarray) -> list[tuple[int, np.ndarray]]:
        return [(k, np.flatnonzero(member == k)) for k in range(len(self.members))]

    @staticmethod
    def _merge(parts: list[tuple[np.ndarray, Any]], n: int) -> Any:
        """The per-member pieces (``(indices, SimState or StepResult)``) in user order."""
        order = np.concatenate([idx for idx, _ in parts])
        inverse = np.empty(n, dtype=int)
        inverse[order] = np.arange(n)
        pieces = [piece for _, piece in parts]
        if isinstance(pieces[0], SimState):
            return SimState.concat(pieces).take(inverse)
        names = [f.name for f in fields(StepResult)]
        joined = {k: np.concatenate([getattr(p, k) for p in pieces]) for k in names}
        return StepResult(**joined).take(inverse)

    def reset(self, n: int, rng: RNG) -> SimState:
        k = len(self.members)
        member = per_user(rng, n, lambda g, m: g.integers(0, k, m))
        parts = []
        for i, idx in self._by_member(member):
            if len(idx):
                part = self.members[i].reset(len(idx), _split(rng, idx))
                parts.append((idx, self._tagged(part, i)))
        return self._merge(parts, n)

    @staticmethod
    def _tagged(state: SimState, member: int) -> SimState:
        latent = {**state.latent, "member": np.full(state.n, member, dtype=np.int64)}
        return replace(state, latent=latent)

    def _each(self, state: SimState) -> list[tuple[int, np.ndarray, SimState]]:
        """Per member with users in ``state``: its index, its users' indices, and their
        state as the member knows it (without the mixture's tag)."""
        out = []
        for i, idx in self._by_member(state.latent["member"]):
            if len(idx):
                own = state.take(idx)
                latent = {k: v for k, v in own.latent.items() if k != "member"}
                out.append((i, idx, replace(own, latent=latent)))
        return out

    def step(self, state: SimState, slates: np.ndarray, rng: RNG) -> tuple[SimState, StepResult]:
        states, results = [], []
        for i, idx, own in self._each(state):
            after, result = self.members[i].step(own, slates[idx], _split(rng, idx))
            states.append((idx, self._tagged(after, i)))
            results.append((idx, result))
        return self._merge(states, state.n), self._merge(results, state.n)

    def _rows(self, state: SimState, parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        first = parts[0][1]
        out = np.empty((state.n, *first.shape[1:]), dtype=first.dtype)
        for idx, part in parts:
            out[idx] = part
        return out

    def choice_logits(self, state: SimState, slates: np.ndarray) -> np.ndarray:
        each = self._each(state)
        return self._rows(
            state, [(idx, self.members[i].choice_logits(own, slates[idx])) for i, idx, own in each]
        )

    def item_click_logits(self, state: SimState) -> np.ndarray:
        each = self._each(state)
        return self._rows(
            state, [(idx, self.members[i].item_click_logits(own)) for i, idx, own in each]
        )


def spread_warnings(values: dict[str, dict[str, Any]]) -> list[str]:
    """One warning per policy whose ensemble spread is wide."""
    return [
        f"{name}: the ensemble's members disagree on its value by {v['relative_spread']:.0%} "
        f"of the mean ({min(v['values']):.1f} to {max(v['values']):.1f}): the logs do not pin "
        "it down (and the spread is a lower bound on the uncertainty: it cannot see errors "
        "every member shares)"
        for name, v in values.items()
        if v["wide"]
    ]


__all__ = [
    "MAX_RELATIVE_SPREAD",
    "MemberMixture",
    "PessimisticSimulator",
    "bootstrap_users",
    "ensemble_values",
    "expected_slate_reward",
    "fit_ensemble",
    "spread_warnings",
]
