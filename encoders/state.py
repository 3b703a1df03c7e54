"""The user-state encoder: a user's history -> one float32 state vector.

Pure numpy and batched (serving uses it without torch). Two forms that must agree:

- incremental, used by simulators and envs: :meth:`UserStateEncoder.start_session`
  and :meth:`UserStateEncoder.observe` map a state batch ``[B, S]`` and one event per
  user to the next state batch;
- from scratch, used by OPE and serving: :meth:`UserStateEncoder.from_events` maps
  whole event histories (many users at once) to ``[B, S]`` in closed form.

A history is a sequence of events. A *session start* carries the hours since the
user's previous session ended (NaN for the first session). A *request* carries the
consumed (clicked) item's index, or -1 if nothing was consumed, and its reward.

State layout (named blocks, in order; ``d`` = item embedding size):

===========================  ====  ==================================================
block                        size  value
===========================  ====  ==================================================
``interest``                 d     decayed mean of consumed item embeddings:
                                   ``sum_j decay^(m-1-j) e_j / sum_j decay^(m-1-j)``
``last_item``                d     embedding of the last consumed item (0 if none)
``interest_mass``            1     ``sum_j decay^(m-1-j)`` (0 before any consumption)
``session_requests``         1     requests so far in the current session
``session_clicks``           1     consumptions so far in the current session
``session_mean_reward``      1     mean reward per request in the current session
``log_hours_since_session``  1     ``log1p(hours)`` between the previous session's end
                                   and the current session's start (0 for the first)
``sessions``                 1     sessions started so far
===========================  ====  ==================================================

Engagement memory, per request and across sessions (one pair of rates per decay ``r``
in ``engagement_decays``; none when it is empty, the default):

===========================  ====  ==================================================
``requests``                 1     requests so far, all sessions
``no_click_streak``          1     requests since the last consumption (all requests
                                   if none)
``click_rate@r``             1     ``sum_k r^k c_k / sum_k r^k`` over requests, ``k =
                                   0`` the latest, ``c`` = 1 if something was consumed
                                   (0 before any request)
``reward_rate@r``            1     the same mean of the requests' rewards
``recent_items@r``           d     the same mean of ``c_k e_k`` (the consumed item's
                                   vector, 0 for a request without one): what the
                                   user has lately been given and taken, per request
===========================  ====  ==================================================

A session start resets the session blocks and nothing else: the rates and the streak
carry a user's engagement from one session to the next, so a model of leaving or
returning can read how engaged the user has been lately (the interest block only
moves on consumption, and says nothing of requests that went unanswered).

The same layout is recorded in every artifact through :meth:`StateLayout.to_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ltvrec.interactions.schema import InteractionLog, ItemCatalog

START, REQUEST = 0, 1

SCALAR_BLOCKS = (
    "interest_mass",
    "session_requests",
    "session_clicks",
    "session_mean_reward",
    "log_hours_since_session",
    "sessions",
)
ENGAGEMENT_DECAYS = (0.5, 0.9, 0.98)
"""The engagement decays measured in benchmarks/state_memory.py and docs/encoders.md:
half-lives of 1, 6.6 and 34 requests (a few requests, a session, several sessions).
Not the default: measured, they did not earn their place (see docs/encoders.md)."""


def engagement_blocks(decays: tuple[float, ...]) -> tuple[str, ...]:
    """Names of the engagement blocks for ``decays`` (empty for none)."""
    if not decays:
        return ()
    rates = tuple(f"{kind}_rate@{r:g}" for kind in ("click", "reward") for r in decays)
    return ("requests", "no_click_streak", *rates)


@dataclass(frozen=True)
class StateLayout:
    """Where each named block lives in the state vector."""

    item_dim: int
    engagement_decays: tuple[float, ...] = ()

    @property
    def scalar_blocks(self) -> tuple[str, ...]:
        return (*SCALAR_BLOCKS, *engagement_blocks(self.engagement_decays))

    @property
    def blocks(self) -> dict[str, slice]:
        d = self.item_dim
        out = {"interest": slice(0, d), "last_item": slice(d, 2 * d)}
        for i, name in enumerate(self.scalar_blocks):
            out[name] = slice(2 * d + i, 2 * d + i + 1)
        at = 2 * d + len(self.scalar_blocks)
        for j, r in enumerate(self.engagement_decays):
            out[f"recent_items@{r:g}"] = slice(at + j * d, at + (j + 1) * d)
        return out

    @property
    def size(self) -> int:
        return (2 + len(self.engagement_decays)) * self.item_dim + len(self.scalar_blocks)

    def index(self, name: str) -> int:
        """Column of a one-wide block."""
        return self.blocks[name].start

    def mask(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """``[S]`` bool, True on the columns of the named blocks."""
        from ltvrec.errors import ConfigError

        blocks = self.blocks
        unknown = [n for n in names if n not in blocks]
        if unknown:
            raise ConfigError(
                f"unknown state block(s) {', '.join(unknown)}; the blocks are {', '.join(blocks)}"
            )
        out = np.zeros(self.size, dtype=bool)
        for n in names:
            out[blocks[n]] = True
        return out

    def to_dict(self) -> dict[str, list[int]]:
        return {k: [s.start, s.stop] for k, s in self.blocks.items()}

    def columns_for(self, base: StateLayout) -> np.ndarray:
        """``[base.size]`` int: the columns of a state in this layout that form the state
        in ``base``, whose item vectors are the first ``base.item_dim`` columns of this
        layout's (a fit with item consequences appends a column). Every block is a
        mean, sum or count over item vectors or events, so its first columns are the
        base's block itself: a policy built on ``base`` can act in such a simulator.

        Raises:
            ValueError: ``base`` has wider item vectors or other engagement rates.
        """
        if base.item_dim > self.item_dim or base.engagement_decays != self.engagement_decays:
            raise ValueError(
                f"a state of item width {self.item_dim} and rates {self.engagement_decays} "
                f"does not contain one of width {base.item_dim} and rates "
                f"{base.engagement_decays}"
            )
        mine = self.blocks
        cols = [
            np.arange(mine[n].start, mine[n].start + s.stop - s.start)
            for n, s in base.blocks.items()
        ]
        return np.concatenate(cols)


@dataclass(frozen=True)
class Events:
    """Histories of many users as flat arrays, ordered by user, then time.

    Attributes:
        user: ``[E]`` int, the user's row ``0..n_users-1`` in the output batch;
            non-decreasing.
        kind: ``[E]`` int8, ``START`` (0) or ``REQUEST`` (1).
        item: ``[E]`` int, consumed item index for a request, -1 if none (and for starts).
        reward: ``[E]`` float, a request's reward (0 for starts).
        hours: ``[E]`` float, for a start the hours since the previous session ended
            (NaN for the first session); ignored for requests.
        n_users: the batch size B.
    """

    user: np.ndarray
    kind: np.ndarray
    item: np.ndarray
    reward: np.ndarray
    hours: np.ndarray
    n_users: int

    def __post_init__(self) -> None:
        n = len(self.user)
        for name in ("kind", "item", "reward", "hours"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Events.{name} has {len(getattr(self, name))} rows, expected {n}")
        if n and (np.any(np.diff(self.user) < 0) or self.user[0] < 0):
            raise ValueError("Events.user must be non-decreasing and >= 0 (sort by user, time)")
        if n and self.user[-1] >= self.n_users:
            raise ValueError(f"Events.user has {self.user[-1]}, expected < n_users={self.n_users}")


class UserStateEncoder:
    """Batched user-state encoder over fixed item embeddings.

    Args:
        item_embeddings: ``[n_items, d]`` item vectors (e.g. ``ItemEncoding.embeddings``).
        decay: weight multiplier per later consumption in the interest mean, in (0, 1].
        engagement_decays: per-request decays of the engagement blocks, each in (0, 1]
            (e.g. :data:`ENGAGEMENT_DECAYS`); ``()``, the default, has none.

    >>> enc = UserStateEncoder(np.eye(3, dtype=np.float32), decay=0.5)
    >>> s = enc.start_session(enc.initial(1), np.array([np.nan]))
    >>> s = enc.observe(s, np.array([0]), np.array([1.0]))
    >>> s = enc.observe(s, np.array([2]), np.array([0.0]))
    >>> enc.block(s, "interest").astype(float).round(3).tolist()  # (0.5 * e0 + e2) / 1.5
    [[0.333, 0.0, 0.667]]
    """

    def __init__(
        self,
        item_embeddings: np.ndarray,
        decay: float = 0.8,
        engagement_decays: tuple[float, ...] = (),
    ) -> None:
        emb = np.asarray(item_embeddings)
        if emb.ndim != 2 or emb.shape[0] == 0:
            raise ValueError(f"expected item embeddings [n_items, d], got shape {emb.shape}")
        if not 0 < decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        rates = tuple(float(r) for r in engagement_decays)
        if any(not 0 < r <= 1 for r in rates) or len(set(rates)) != len(rates):
            raise ValueError(f"engagement_decays must be distinct, each in (0, 1]; got {rates}")
        self.item_embeddings = emb.astype(np.float32)
        self.decay = float(decay)
        self.engagement_decays = rates
        self.layout = StateLayout(emb.shape[1], rates)
        self._b = self.layout.blocks
        self._decays = np.asarray(rates)
        self._engagement_at = self._b["requests"].start if rates else self.size

    @property
    def size(self) -> int:
        return self.layout.size

    def initial(self, n: int) -> np.ndarray:
        """``[n, S]`` zeros: no history."""
        return np.zeros((n, self.size), dtype=np.float32)

    def block(self, state: np.ndarray, name: str) -> np.ndarray:
        """A named block of a state batch, ``[B, width]`` (a view)."""
        return state[:, self._b[name]]

    def start_session(
        self, state: np.ndarray, hours_since_last: np.ndarray, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """Start a new session for the users in ``mask`` (all if None).

        Args:
            state: ``[B, S]``.
            hours_since_last: ``[B]`` hours since each user's previous session ended,
                NaN for a first session.
            mask: ``[B]`` bool, which users start a session.
        """
        out = state.copy()
        m = np.ones(len(state), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        hours = np.asarray(hours_since_last, dtype=np.float64)
        log_h = np.where(np.isnan(hours), 0.0, np.log1p(np.maximum(hours, 0.0)))
        ix = self.layout.index
        for name in ("session_requests", "session_clicks", "session_mean_reward"):
            out[m, ix(name)] = 0.0
        out[m, ix("log_hours_since_session")] = log_h[m]
        out[m, ix("sessions")] += 1.0
        return out

    def observe(
        self,
        state: np.ndarray,
        item: np.ndarray,
        reward: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Account for one request per user in ``mask`` (all if None).

        Args:
            state: ``[B, S]``.
            item: ``[B]`` consumed item index, -1 if nothing was consumed.
            reward: ``[B]`` the request's reward.
            mask: ``[B]`` bool, which users made a request.
        """
        out = state.copy()
        m = np.ones(len(state), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        item = np.asarray(item)
        ix = self.layout.index
        n_req = state[:, ix("session_requests")].astype(np.float64) + 1.0
        mean = state[:, ix("session_mean_reward")].astype(np.float64)
        new_mean = mean + (np.asarray(reward, dtype=np.float64) - mean) / n_req
        out[m, ix("session_requests")] = n_req[m]
        out[m, ix("session_mean_reward")] = new_mean[m]
        c = m & (item >= 0)
        if c.any():
            e = self.item_embeddings[item[c]].astype(np.float64)
            mass = state[c, ix("interest_mass")].astype(np.float64) * self.decay
            interest = state[c, self._b["interest"]].astype(np.float64)
            new_mass = mass + 1.0
            out[c, self._b["interest"]] = (mass[:, None] * interest + e) / new_mass[:, None]
            out[c, ix("interest_mass")] = new_mass
            out[c, self._b["last_item"]] = e
            out[c, ix("session_clicks")] += 1.0
        if self.engagement_decays:
            self._observe_engagement(state, out, m, item, np.asarray(reward, np.float64))
        return out

    def _observe_engagement(
        self,
        state: np.ndarray,
        out: np.ndarray,
        m: np.ndarray,
        item: np.ndarray,
        reward: np.ndarray,
    ) -> None:
        # The engagement blocks are one contiguous tail: requests, streak, R click
        # rates, R reward rates, R recent-item means (d each); all decays at once.
        r = self._decays
        k, d, e0 = len(r), self.layout.item_dim, self._engagement_at
        rows: np.ndarray | slice = slice(None) if m.all() else np.flatnonzero(m)
        old = state[rows, e0:].astype(np.float64)
        clicked = (item >= 0)[rows]
        n = old[:, 0]
        mass = _geometric_mass(r, n[:, None])  # [b, R]: weights before this request
        inv = 1.0 / (r * mass + 1.0)
        keep = r * mass * inv
        new = np.empty_like(old)
        new[:, 0] = n + 1.0
        new[:, 1] = np.where(clicked, 0.0, old[:, 1] + 1.0)
        new[:, 2 : 2 + k] = old[:, 2 : 2 + k] * keep + clicked[:, None] * inv
        new[:, 2 + k : 2 + 2 * k] = old[:, 2 + k : 2 + 2 * k] * keep + reward[rows, None] * inv
        taken = np.where(clicked[:, None], self.item_embeddings[np.maximum(item[rows], 0)], 0.0)
        items = old[:, 2 + 2 * k :].reshape(-1, k, d) * keep[:, :, None]
        new[:, 2 + 2 * k :] = (items + taken[:, None, :] * inv[:, :, None]).reshape(-1, k * d)
        out[rows, e0:] = new

    def from_events(self, events: Events) -> np.ndarray:
        """States ``[B, S]`` after each user's whole history, computed in closed form."""
        b, ix = self._b, self.layout.index
        out = np.zeros((events.n_users, self.size), dtype=np.float64)
        user = np.asarray(events.user, dtype=np.int64)
        kind = np.asarray(events.kind)
        n = events.n_users
        pos = np.arange(len(user))

        # Current session = events after the user's last START.
        is_start = kind == START
        last_start = np.full(n, -1, dtype=np.int64)
        np.maximum.at(last_start, user[is_start], pos[is_start])
        in_session = pos > last_start[user]
        req = kind == REQUEST
        cur = req & in_session
        n_req = np.bincount(user[cur], minlength=n).astype(np.float64)
        reward_sum = np.bincount(user[cur], weights=events.reward[cur], minlength=n)
        consumed = req & (events.item >= 0)
        out[:, ix("session_requests")] = n_req
        out[:, ix("session_clicks")] = np.bincount(user[cur & consumed], minlength=n)
        out[:, ix("session_mean_reward")] = np.divide(
            reward_sum, n_req, out=np.zeros(n), where=n_req > 0
        )
        out[:, ix("sessions")] = np.bincount(user[is_start], minlength=n)
        has_start = last_start >= 0
        hours = np.asarray(events.hours, dtype=np.float64)[last_start[has_start]]
        out[has_start, ix("log_hours_since_session")] = np.where(
            np.isnan(hours), 0.0, np.log1p(np.maximum(hours, 0.0))
        )

        # Interest: weight decay^(k) for the k-th most recent consumption (k = 0 last).
        cu = user[consumed]
        if len(cu):
            items = events.item[consumed]
            count = np.bincount(cu, minlength=n)
            first_idx = np.concatenate([[0], np.cumsum(count)[:-1]])
            rank = np.arange(len(cu)) - first_idx[cu]
            k = count[cu] - 1 - rank
            w = self.decay**k
            e = self.item_embeddings[items].astype(np.float64)
            mass = np.bincount(cu, weights=w, minlength=n)
            num = np.zeros((n, self.layout.item_dim))
            np.add.at(num, cu, w[:, None] * e)
            seen = mass > 0
            out[seen, b["interest"]] = num[seen] / mass[seen, None]
            out[:, ix("interest_mass")] = mass
            last = np.flatnonzero(k == 0)
            out[cu[last], b["last_item"]] = e[last]
        if self.engagement_decays:
            self._engagement_from_events(events, out)
        return out.astype(np.float32)

    def _engagement_from_events(self, events: Events, out: np.ndarray) -> None:
        ix, n = self.layout.index, events.n_users
        req = np.asarray(events.kind) == REQUEST
        ru = np.asarray(events.user, dtype=np.int64)[req]
        items = np.asarray(events.item)[req]
        clicked = (items >= 0).astype(np.float64)
        reward = np.asarray(events.reward, dtype=np.float64)[req]
        count = np.bincount(ru, minlength=n)
        out[:, ix("requests")] = count
        if not len(ru):
            return
        first_idx = np.concatenate([[0], np.cumsum(count)[:-1]])
        rank = np.arange(len(ru)) - first_idx[ru]  # 0 = the user's first request
        age = count[ru] - 1 - rank  # 0 = the latest
        last_click = np.full(n, -1, dtype=np.int64)
        np.maximum.at(last_click, ru[clicked > 0], rank[clicked > 0])
        out[:, ix("no_click_streak")] = count - 1 - last_click
        for r in self.engagement_decays:
            w = r**age
            mass = np.bincount(ru, weights=w, minlength=n)
            seen = mass > 0
            for kind, x in (("click", clicked), ("reward", reward)):
                total = np.bincount(ru, weights=w * x, minlength=n)
                out[seen, ix(f"{kind}_rate@{r:g}")] = total[seen] / mass[seen]
            c = clicked > 0
            num = np.zeros((n, self.layout.item_dim))
            np.add.at(num, ru[c], w[c, None] * self.item_embeddings[items[c]].astype(np.float64))
            out[seen, self._b[f"recent_items@{r:g}"]] = num[seen] / mass[seen, None]


def _geometric_mass(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``sum_{k < n} r^k`` (``n`` where ``r = 1``), broadcast over ``r`` and ``n``."""
    one = r == 1.0
    if not one.any():
        return (1.0 - r**n) / (1.0 - r)
    return np.where(one, n, (1.0 - r**n) / np.where(one, 1.0, 1.0 - r))


def events_from_log(log: InteractionLog, catalog: ItemCatalog) -> tuple[Events, np.ndarray]:
    """Turn a validated log into per-user event histories.

    Each session contributes a START (with the hours since the user's previous session
    ended) followed by its requests in time order; a request's consumed item is its
    first clicked item (the choice models pick at most one) and its reward is the sum
    over its rows.

    Returns:
        (events, user_ids): ``user_ids[i]`` is the log's user at batch row i.
    """
    f = log.frame
    req = (
        f.assign(
            _clicked=np.where(f["click"].to_numpy() == 1, catalog.index_of(f["item_id"]), -1),
        )
        .sort_values(["request_id", "position"], kind="stable")
        .groupby("request_id", sort=False)
        .agg(
            user_id=("user_id", "first"),
            session_id=("session_id", "first"),
            timestamp=("timestamp", "min"),
            reward=("reward", "sum"),
            item=("_clicked", lambda s: next((int(v) for v in s if v >= 0), -1)),
        )
        .reset_index()
        .sort_values(["user_id", "timestamp", "request_id"], kind="stable")
        .reset_index(drop=True)
    )
    user_codes, user_ids = pd.factorize(req["user_id"], sort=True)
    req["u"] = user_codes
    new_session = np.ones(len(req), dtype=bool)
    new_session[1:] = (req["session_id"].to_numpy()[1:] != req["session_id"].to_numpy()[:-1]) | (
        user_codes[1:] != user_codes[:-1]
    )
    # Hours since the user's previous session ended (its last request's time).
    t = req["timestamp"]
    prev_end = t.shift(1)
    same_user = np.r_[False, user_codes[1:] == user_codes[:-1]]
    hours = ((t - prev_end).dt.total_seconds() / 3600.0).to_numpy()
    hours = np.where(same_user, hours, np.nan)

    n_starts = int(new_session.sum())
    n_ev = len(req) + n_starts
    # Each START goes right before its session's first request.
    req_pos = np.arange(len(req)) + np.cumsum(new_session)
    start_pos = req_pos[new_session] - 1
    user = np.empty(n_ev, dtype=np.int64)
    kind = np.empty(n_ev, dtype=np.int8)
    item = np.full(n_ev, -1, dtype=np.int64)
    reward = np.zeros(n_ev)
    ev_hours = np.full(n_ev, np.nan)
    user[req_pos], kind[req_pos] = user_codes, REQUEST
    item[req_pos] = req["item"].to_numpy()
    reward[req_pos] = req["reward"].to_numpy()
    user[start_pos], kind[start_pos] = user_codes[new_session], START
    ev_hours[start_pos] = hours[new_session]
    events = Events(user, kind, item, reward, ev_hours, n_users=len(user_ids))
    return events, np.asarray(user_ids)
