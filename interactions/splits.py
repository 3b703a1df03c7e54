"""Train/valid/test splits with no leakage.

- :func:`time_split`: by request time. Every training request happens strictly before
  every validation request, which happens strictly before every test request; the
  usual choice for evaluating a model that will face the future.
- :func:`user_split`: by user, seeded. No user appears in two parts; the choice when a
  model must generalise to new users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ltvrec.interactions.schema import InteractionLog


@dataclass(frozen=True)
class Split:
    """Three disjoint logs. ``how`` says how they were cut (for provenance)."""

    train: InteractionLog
    valid: InteractionLog
    test: InteractionLog
    how: str


def _check_fractions(valid: float, test: float) -> None:
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise ValueError(
            f"expected valid and test fractions in [0, 1) summing below 1, got {valid}, {test}"
        )


def _sub(log: InteractionLog, mask: np.ndarray) -> InteractionLog:
    # Rows of a validated log stay valid; no need to validate again.
    return InteractionLog(frame=log.frame[mask].reset_index(drop=True), session_gap=log.session_gap)


def time_split(log: InteractionLog, valid: float = 0.1, test: float = 0.1) -> Split:
    """Split by request time into the first ``1-valid-test`` share of requests, then
    ``valid``, then ``test`` (shares of requests, cut at time points).

    Requests at exactly a cut time go to the later part, so the parts never share a time.
    """
    _check_fractions(valid, test)
    t_req = log.frame.groupby("request_id")["timestamp"].transform("min")
    times = np.sort(log.frame.groupby("request_id")["timestamp"].min().to_numpy())
    n = len(times)
    cut1 = times[min(int(np.floor(n * (1 - valid - test))), n - 1)]
    cut2 = times[min(int(np.floor(n * (1 - test))), n - 1)]
    t = t_req.to_numpy()
    in_train = t < cut1 if valid + test > 0 else np.ones(len(t), dtype=bool)
    in_test = t >= cut2 if test > 0 else np.zeros(len(t), dtype=bool)
    in_valid = ~in_train & ~in_test
    how = f"time: valid={valid}, test={test}, cuts={pd.Timestamp(cut1)}, {pd.Timestamp(cut2)}"
    return Split(_sub(log, in_train), _sub(log, in_valid), _sub(log, in_test), how)


def user_split(log: InteractionLog, valid: float = 0.1, test: float = 0.1, seed: int = 0) -> Split:
    """Split users at random (seeded) into disjoint train, valid and test sets."""
    _check_fractions(valid, test)
    rng = np.random.default_rng(seed)
    users = np.asarray(pd.unique(log.frame["user_id"]))
    users = users[rng.permutation(len(users))]
    n_valid = round(len(users) * valid)
    n_test = round(len(users) * test)
    part = pd.Series(0, index=pd.Index(users))
    part.iloc[len(users) - n_valid - n_test : len(users) - n_test] = 1
    part.iloc[len(users) - n_test :] = 2
    which = part.reindex(log.frame["user_id"].to_numpy()).to_numpy()
    how = f"user: valid={valid}, test={test}, seed={seed}"
    return Split(_sub(log, which == 0), _sub(log, which == 1), _sub(log, which == 2), how)
