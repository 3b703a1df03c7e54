"""The log replayed through the user-state encoder: one row per request, with the states
before and after it, what was shown and clicked, and the session ends with their return
gaps. Fitting, the fidelity report and the component studies read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.interactions.schema import InteractionLog, ItemCatalog


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
        organic_item: ``[R]`` the item consumed outside the slate, -1 if none; ``None``
            for logs without the organic columns.
        organic_reward: ``[R]`` the user's reward for it (0 if none; not in ``reward``).
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
    organic_item: np.ndarray | None = None
    organic_reward: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.user)

    @property
    def consumed_item(self) -> np.ndarray:
        """``[R]`` the item the user consumed at each request: the clicked one, else the
        organic one, -1 if neither."""
        if self.organic_item is None:
            return self.clicked_item
        return np.where(self.clicked_item >= 0, self.clicked_item, self.organic_item)

    @property
    def consumed_reward(self) -> np.ndarray:
        """``[R]`` the user's reward for :attr:`consumed_item` (what the state observes)."""
        if self.organic_reward is None:
            return self.reward
        return np.where(self.clicked_item >= 0, self.reward, self.organic_reward)

    def consumed_in_slate(self) -> np.ndarray:
        """``[R, K]`` bool: the slate's item was consumed by the same user at an earlier
        request (False where nothing was shown). Where repeats are forbidden such an item
        could not be chosen, and a choice model fitted on the log must know it."""
        item = self.consumed_item
        rows = np.flatnonzero(item >= 0)  # sorted by user, then time
        if len(rows) == 0:
            return np.zeros(self.slates.shape, dtype=bool)
        n_items = int(max(self.slates.max(), item.max())) + 1
        keys = self.user[rows].astype(np.int64) * n_items + item[rows]
        pairs, first = np.unique(keys, return_index=True)  # each pair's first consumption
        wanted = self.user[:, None].astype(np.int64) * n_items + np.maximum(self.slates, 0)
        at = np.minimum(np.searchsorted(pairs, wanted), len(pairs) - 1)
        found = (self.slates >= 0) & (pairs[at] == wanted)
        return found & (rows[first][at] < np.arange(self.n)[:, None])


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
    organic_item = np.full(n_req, -1, dtype=np.int64)
    organic_reward = np.zeros(n_req)
    if log.has_organic:
        at = np.flatnonzero(f["organic_item_id"].notna().to_numpy())
        organic_item[req_codes[at]] = catalog.index_of(f["organic_item_id"].iloc[at])
        organic_reward[req_codes[at]] = f["organic_reward"].to_numpy()[at]
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
    organic_item, organic_reward = organic_item[order], organic_reward[order]
    own_item = np.where(citem >= 0, citem, organic_item)
    own_reward = np.where(citem >= 0, reward, organic_reward)

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
        sub = encoder.observe(sub, own_item[idx], own_reward[idx])
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
        organic_item=organic_item if log.has_organic else None,
        organic_reward=organic_reward if log.has_organic else None,
    )
