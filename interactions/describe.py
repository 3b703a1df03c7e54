"""What a log holds, in numbers: the ``ltvrec data describe`` summary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltvrec.interactions.schema import PSCORE_COLUMNS, InteractionLog, ItemCatalog
from ltvrec.interactions.sessions import return_gaps, session_table

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    qs = np.quantile(values, QUANTILES)
    return {f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, qs, strict=True)}


def describe_log(log: InteractionLog, catalog: ItemCatalog | None = None) -> dict[str, Any]:
    """Summary statistics of a log, as a JSON-ready dict.

    Keys: ``rows, users, items, requests, slates`` (requests showing more than one item),
    ``slate_size`` (quantiles), ``sessions, sessions_per_user, session_length`` (requests
    per session, quantiles), ``return_gap_days`` (quantiles of uncensored gaps, plus the
    censored count), ``click_rate`` (per shown item), ``reward`` (mean, std, min, max,
    quantiles, and value counts when there are at most 20 distinct values),
    ``time_span`` (first, last, days), ``propensity_coverage`` (share of rows with each
    propensity column), ``consumption_only``, ``catalog_items``, ``session_gap``, and for
    logs with the organic columns ``organic_consumptions`` (requests with a consumption
    outside the slate: count, share of requests, mean reward).
    """
    f = log.frame
    sizes = f.groupby("request_id").size().to_numpy()
    sessions = session_table(log)
    per_user = sessions.groupby("user_id").size().to_numpy()
    gaps = return_gaps(log)
    observed = gaps.loc[~gaps["censored"], "gap_seconds"].to_numpy() / 86400.0
    reward = f["reward"].to_numpy()
    reward_summary: dict[str, Any] = {
        "mean": float(reward.mean()),
        "std": float(reward.std()),
        "min": float(reward.min()),
        "max": float(reward.max()),
        **_quantiles(reward),
    }
    distinct = np.unique(reward)
    if len(distinct) <= 20:
        counts = pd.Series(reward).value_counts().sort_index()
        reward_summary["counts"] = {f"{k:g}": int(v) for k, v in counts.items()}
    first, last = f["timestamp"].min(), f["timestamp"].max()
    organic: dict[str, Any] = {}
    if log.has_organic:
        per_request = f.drop_duplicates("request_id")
        took = per_request["organic_item_id"].notna().to_numpy()
        organic["organic_consumptions"] = {
            "requests": int(took.sum()),
            "share": float(took.mean()),
            "mean_reward": float(per_request["organic_reward"].to_numpy()[took].mean())
            if took.any()
            else float("nan"),
        }
    return {
        "rows": len(f),
        "users": log.n_users,
        "items": int(f["item_id"].nunique()),
        "catalog_items": catalog.n_items if catalog is not None else None,
        "requests": len(sizes),
        "slates": int((sizes > 1).sum()),
        "slate_size": _quantiles(sizes.astype(float)),
        "sessions": len(sessions),
        "session_gap": str(log.session_gap) if log.session_gap is not None else "given",
        "sessions_per_user": {"mean": float(per_user.mean()), **_quantiles(per_user)},
        "session_length": {
            "mean": float(sessions["n_requests"].mean()),
            **_quantiles(sessions["n_requests"].to_numpy(dtype=float)),
        },
        "return_gap_days": {
            "observed": len(observed),
            "censored": int(gaps["censored"].sum()),
            **_quantiles(observed),
        },
        "click_rate": float(f["click"].mean()),
        "reward": reward_summary,
        "time_span": {
            "first": first.isoformat(),
            "last": last.isoformat(),
            "days": float((last - first) / pd.Timedelta(days=1)),
        },
        "propensity_coverage": {c: float(c in f.columns) for c in PSCORE_COLUMNS},
        "consumption_only": log.consumption_only,
        **organic,
    }
