"""Sessions, return gaps (with censoring) and leakage-free splits."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_log_frame

from ltvrec.interactions import (
    Dataset,
    InteractionLog,
    return_gaps,
    session_table,
    time_split,
    user_split,
)


def test_sessions_follow_the_inactivity_gap() -> None:
    # User 10: requests at 10:00, 10:20 (20 min later: same session), next day 10:20
    # (new session). User 20: one request at 11:00.
    log = InteractionLog.from_frame(tiny_log_frame())
    s = session_table(log)
    assert s.groupby("user_id")["n_requests"].apply(list).to_dict() == {10: [2, 1], 20: [1]}
    # With a 10-minute gap the 20-minute pause splits user 10's first session.
    short = InteractionLog.from_frame(tiny_log_frame(), session_gap=pd.Timedelta(minutes=10))
    assert len(session_table(short)) == 4


def test_return_gaps_are_censored_at_the_end_of_the_log() -> None:
    log = InteractionLog.from_frame(tiny_log_frame())
    g = return_gaps(log)
    rows = list(g[["user_id", "gap_seconds", "censored"]].itertuples(index=False, name=None))
    assert rows == [
        # User 10's first session ends 10:20, the next starts 10:20 the next day.
        (10, 86400.0, False),
        # User 10's last session ends at the log's end: censored at 0 s.
        (10, 0.0, True),
        # User 20's only session ends 2024-01-01 11:00; the log ends 2024-01-02 10:20.
        (20, (23 * 60 + 20) * 60.0, True),
    ]


def test_given_session_ids_are_kept() -> None:
    f = tiny_log_frame()
    f["session_id"] = [5, 5, 6, 6, 7, 7, 8, 8]
    log = InteractionLog.from_frame(f)
    assert log.session_gap is None
    assert sorted(log.frame["session_id"].unique()) == [5, 6, 7, 8]


@pytest.mark.parametrize(("valid", "test"), [(0.1, 0.1), (0.2, 0.0), (0.0, 0.0), (0.3, 0.3)])
def test_time_split_has_no_leakage(ml100k: Dataset, valid: float, test: float) -> None:
    sp = time_split(ml100k.log, valid=valid, test=test)
    parts = [sp.train.frame, sp.valid.frame, sp.test.frame]
    assert sum(len(p) for p in parts) == ml100k.log.n_rows
    nonempty = [p for p in parts if len(p)]
    for earlier, later in itertools.pairwise(nonempty):
        assert earlier["timestamp"].max() < later["timestamp"].min()
    n = ml100k.log.n_requests
    assert abs(sp.train.n_rows / n - (1 - valid - test)) < 0.01
    if test == 0:
        assert len(sp.test.frame) == 0


def test_user_split_is_disjoint_and_seeded(ml100k: Dataset) -> None:
    a = user_split(ml100k.log, valid=0.1, test=0.2, seed=3)
    b = user_split(ml100k.log, valid=0.1, test=0.2, seed=3)
    users = [set(p.frame["user_id"]) for p in (a.train, a.valid, a.test)]
    assert not (users[0] & users[1]) and not (users[0] & users[2]) and not (users[1] & users[2])
    assert sum(map(len, users)) == 943
    assert len(users[2]) == round(943 * 0.2) and len(users[1]) == round(943 * 0.1)
    assert a.test.frame.equals(b.test.frame)
    c = user_split(ml100k.log, valid=0.1, test=0.2, seed=4)
    assert set(c.test.frame["user_id"]) != users[2]


@pytest.mark.parametrize(("valid", "test"), [(-0.1, 0.1), (0.5, 0.5), (1.0, 0.0)])
def test_bad_split_fractions(valid: float, test: float) -> None:
    log = InteractionLog.from_frame(tiny_log_frame())
    with pytest.raises(ValueError, match="fractions"):
        time_split(log, valid, test)


def test_session_lengths_sum_to_requests(ml100k: Dataset) -> None:
    s = session_table(ml100k.log)
    assert s["n_requests"].sum() == ml100k.log.n_requests
    # Sessions of one user never overlap and are ordered.
    nxt = s.groupby("user_id")["start"].shift(-1)
    ok = nxt.isna() | (nxt - s["end"] > pd.Timedelta(minutes=30))
    assert bool(np.all(ok))
