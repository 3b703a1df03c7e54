"""Sessions and return gaps derived from timestamps.

A session is a maximal run of one user's requests with no inactivity gap longer than
``gap`` (default 30 minutes, the usual web-analytics convention). The *return gap* of a
session is the time from its last request to the first request of the user's next
session; for a user's last session in the log it is censored at the log's end (we know
only that the user did not come back before then), never treated as churn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ltvrec.interactions.schema import InteractionLog


def assign_sessions(frame: pd.DataFrame, gap: pd.Timedelta) -> np.ndarray:
    """Session ids ``[n_rows]`` (int64, unique across users) from an inactivity gap.

    Args:
        frame: log rows with ``user_id``, ``timestamp`` (tz-aware) and ``request_id``.
        gap: a new session starts when a user's request comes more than ``gap`` after
            the previous one.

    Rows of one request always share a session. Ids are numbered by (user, start time).
    """
    if gap <= pd.Timedelta(0):
        raise ValueError(f"session gap must be positive, got {gap}")
    req = (
        frame.groupby("request_id", sort=False)
        .agg(user_id=("user_id", "first"), timestamp=("timestamp", "min"))
        .reset_index()
        .sort_values(["user_id", "timestamp", "request_id"], kind="stable")
    )
    users = req["user_id"].to_numpy()
    t = req["timestamp"].to_numpy()
    new_user = np.ones(len(req), dtype=bool)
    new_user[1:] = users[1:] != users[:-1]
    new_gap = np.zeros(len(req), dtype=bool)
    new_gap[1:] = (t[1:] - t[:-1]) > gap.to_timedelta64()
    session_of_request = np.cumsum(new_user | new_gap) - 1
    lookup = pd.Series(session_of_request, index=req["request_id"].to_numpy())
    return lookup.reindex(frame["request_id"].to_numpy()).to_numpy(dtype=np.int64)


def session_table(log: InteractionLog) -> pd.DataFrame:
    """One row per session: ``user_id, session_id, start, end, n_requests, clicks,
    reward, index`` (the session's 0-based index among its user's sessions)."""
    f = log.frame
    per_req = f.groupby("request_id", sort=False).agg(
        session_id=("session_id", "first"),
        user_id=("user_id", "first"),
        timestamp=("timestamp", "min"),
        clicks=("click", "sum"),
        reward=("reward", "sum"),
    )
    sessions = (
        per_req.groupby("session_id")
        .agg(
            user_id=("user_id", "first"),
            start=("timestamp", "min"),
            end=("timestamp", "max"),
            n_requests=("timestamp", "size"),
            clicks=("clicks", "sum"),
            reward=("reward", "sum"),
        )
        .reset_index()
        .sort_values(["user_id", "start"], kind="stable")
        .reset_index(drop=True)
    )
    sessions["index"] = sessions.groupby("user_id").cumcount()
    return sessions


def return_gaps(log: InteractionLog) -> pd.DataFrame:
    """Per session, the time until the user's next session, censoring-aware.

    Returns:
        One row per session: ``user_id, session_id, gap_seconds, censored``. When the
        user has a later session, ``gap_seconds`` is next start minus this end and
        ``censored`` is False. For the user's last session it is the log's end minus this
        session's end and ``censored`` is True (a lower bound on the true gap).
    """
    s = session_table(log)
    end_of_log = log.frame["timestamp"].max()
    next_start = s.groupby("user_id")["start"].shift(-1)
    censored = next_start.isna()
    stop = next_start.where(~censored, end_of_log)
    gap = (stop - s["end"]).dt.total_seconds()
    return pd.DataFrame(
        {
            "user_id": s["user_id"],
            "session_id": s["session_id"],
            "gap_seconds": gap.to_numpy(dtype=float),
            "censored": censored.to_numpy(dtype=bool),
        }
    )
