"""The log schema: valid logs pass once; every kind of bad input names column and row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_catalog_frame, tiny_log_frame

from ltvrec.interactions import InteractionLog, ItemCatalog, LogValidationError, describe_log


def test_valid_log_is_typed_sorted_and_sessioned() -> None:
    log = InteractionLog.from_frame(tiny_log_frame(), ItemCatalog.from_frame(tiny_catalog_frame()))
    f = log.frame
    assert isinstance(f["timestamp"].dtype, pd.DatetimeTZDtype)
    assert f["click"].dtype == np.int8
    assert f["timestamp"].is_monotonic_increasing
    assert log.n_requests == 4 and log.n_users == 2 and log.n_rows == 8
    assert log.pscore_columns == ("pscore",)
    assert not log.consumption_only


def _with(**changes: object) -> pd.DataFrame:
    f = tiny_log_frame()
    for key, value in changes.items():
        if value is _DROP:
            f = f.drop(columns=key)
        else:
            f[key] = value  # type: ignore[call-overload]
    return f


_DROP = object()

# (description, frame, catalog?, column, row, message fragment)
INVALID = [
    ("missing column", _with(reward=_DROP), False, "reward", None, "missing required column"),
    (
        "missing user",
        _with(user_id=[10, 10, None, 10, 20, 20, 10, 10]),
        False,
        "user_id",
        3,
        "missing id",
    ),
    ("float ids", _with(item_id=[1.5, 2, 2, 3, 1, 3, 3, 1]), False, "item_id", 1, "float"),
    (
        "reward text",
        _with(reward=["0", "1", "x", "0", "1", "0", "0", "0"]),
        False,
        "reward",
        3,
        "expected a number",
    ),
    (
        "reward NaN",
        _with(reward=[0, 1, 0, np.nan, 1, 0, 0, 0]),
        False,
        "reward",
        4,
        "not a finite number",
    ),
    (
        "reward inf",
        _with(reward=[0, 1, 0, 0, np.inf, 0, 0, 0]),
        False,
        "reward",
        5,
        "not a finite number",
    ),
    (
        "bad time",
        _with(timestamp=["2024-01-01"] * 5 + ["yesterday"] + ["2024-01-02"] * 2),
        False,
        "timestamp",
        6,
        "cannot parse",
    ),
    ("click 2", _with(click=[0, 1, 2, 0, 1, 0, 0, 0]), False, "click", 3, r"integer in \[0, 1\]"),
    ("negative position", _with(position=[0, -1, 0, 1, 0, 1, 0, 1]), False, "position", 2, ">= 0"),
    (
        "pscore zero",
        _with(pscore=[0.1, 0.1, 0.0, 0.0, 0.3, 0.3, 0.4, 0.4]),
        False,
        "pscore",
        3,
        r"outside \(0, 1\]",
    ),
    (
        "pscore > 1",
        _with(pscore=[0.1, 0.1, 0.2, 0.2, 1.3, 1.3, 0.4, 0.4]),
        False,
        "pscore",
        5,
        r"outside \(0, 1\]",
    ),
    (
        "pscore varies in request",
        _with(pscore=[0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4]),
        False,
        "pscore",
        2,
        "more than one pscore",
    ),
    (
        "duplicate position",
        _with(position=[0, 0, 0, 1, 0, 1, 0, 1]),
        False,
        "position",
        2,
        "position 0 twice",
    ),
    (
        "user changes in request",
        _with(user_id=[10, 11, 10, 10, 20, 20, 10, 10]),
        False,
        "user_id",
        2,
        "more than one user_id",
    ),
    (
        "unknown item",
        _with(item_id=[1, 2, 2, 3, 1, 9, 3, 1]),
        True,
        "item_id",
        6,
        "not in the catalog",
    ),
]

# Requests 2 and 4 (rows 3-4, 7-8) have no click: the organic columns may name an item there.
_NO = None
ORGANIC_OK = [_NO, _NO, 1, 1, _NO, _NO, 2, 2]
ORGANIC_REWARD = [0, 0, 4, 4, 0, 0, 3, 3]
INVALID += [
    (
        "organic item without its reward",
        _with(organic_item_id=ORGANIC_OK),
        False,
        "organic_reward",
        None,
        "come together",
    ),
    (
        "organic item at a clicked request",
        _with(
            organic_item_id=[3, 3, 1, 1, _NO, _NO, 2, 2], organic_reward=[1, 1, 4, 4, 0, 0, 3, 3]
        ),
        False,
        "organic_item_id",
        1,
        "a click and an organic consumption",
    ),
    (
        "organic item varies in request",
        _with(organic_item_id=[_NO, _NO, 1, 3, _NO, _NO, 2, 2], organic_reward=ORGANIC_REWARD),
        False,
        "organic_item_id",
        4,
        "more than one organic_item_id",
    ),
    (
        "organic item on part of a request",
        _with(
            organic_item_id=[_NO, _NO, _NO, 1] + [_NO] * 4, organic_reward=[0, 0, 0, 4] + [0] * 4
        ),
        False,
        "organic_item_id",
        3,
        "more than one organic_item_id",
    ),
    (
        "organic reward without an item",
        _with(organic_item_id=ORGANIC_OK, organic_reward=[0, 0, 4, 4, 5, 5, 3, 3]),
        False,
        "organic_reward",
        5,
        "a reward without an organic_item_id",
    ),
    (
        "organic reward NaN",
        _with(organic_item_id=ORGANIC_OK, organic_reward=[0, 0, np.nan, np.nan, 0, 0, 3, 3]),
        False,
        "organic_reward",
        3,
        "not a finite number",
    ),
    (
        "organic item unknown",
        _with(organic_item_id=[_NO, _NO, 9, 9, _NO, _NO, 2, 2], organic_reward=ORGANIC_REWARD),
        True,
        "organic_item_id",
        3,
        "not in the catalog",
    ),
]


def test_organic_columns_are_one_consumption_per_request() -> None:
    """Valid organic columns keep integer ids (nullable), a reward of 0 where no item
    was consumed (empty cells read as 0), and say the log has them."""
    frame = _with(organic_item_id=ORGANIC_OK, organic_reward=[np.nan, np.nan, 4, 4, 0, 0, 3, 3])
    log = InteractionLog.from_frame(frame, ItemCatalog.from_frame(tiny_catalog_frame()))
    f = log.frame.drop_duplicates("request_id").set_index("request_id")
    assert log.has_organic and not InteractionLog.from_frame(tiny_log_frame()).has_organic
    assert f["organic_item_id"].dtype == "Int64"
    assert f["organic_item_id"].isna().tolist() == [True, False, True, False]
    assert f["organic_reward"].tolist() == [0.0, 4.0, 0.0, 3.0]
    summary = describe_log(log)["organic_consumptions"]
    assert summary == {"requests": 2, "share": 0.5, "mean_reward": 3.5}
    assert "organic_consumptions" not in describe_log(InteractionLog.from_frame(tiny_log_frame()))
    text = InteractionLog.from_frame(
        frame.assign(
            item_id=frame["item_id"].astype(str), organic_item_id="a", organic_reward=1.0, click=0
        )
    )
    assert set(text.frame["organic_item_id"]) == {"a"}


@pytest.mark.parametrize(
    ("frame", "with_catalog", "column", "row", "fragment"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_logs_name_column_and_row(
    frame: pd.DataFrame, with_catalog: bool, column: str, row: int | None, fragment: str
) -> None:
    catalog = ItemCatalog.from_frame(tiny_catalog_frame()) if with_catalog else None
    with pytest.raises(LogValidationError, match=fragment) as info:
        InteractionLog.from_frame(frame, catalog)
    assert info.value.column == column
    assert info.value.row == row
    assert str(info.value).startswith(f"column '{column}'")


def test_empty_log_is_rejected() -> None:
    with pytest.raises(LogValidationError, match="empty"):
        InteractionLog.from_frame(tiny_log_frame().iloc[:0])


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (pd.DataFrame({"item_id": [], "text": []}), "empty"),
        (pd.DataFrame({"item_id": [1]}), "missing required catalog column"),
        (pd.DataFrame({"item_id": [1, 1], "text": ["a", "b"]}), "appears twice"),
        (pd.DataFrame({"item_id": [1, 2], "text": ["a", "  "]}), "empty item text"),
        (pd.DataFrame({"item_id": [1, 2], "text": ["a", 3]}), "expected a string"),
    ],
)
def test_invalid_catalogs(frame: pd.DataFrame, fragment: str) -> None:
    with pytest.raises(LogValidationError, match=fragment):
        ItemCatalog.from_frame(frame)


def test_epoch_seconds_and_iso_strings_give_the_same_times() -> None:
    iso = InteractionLog.from_frame(tiny_log_frame())
    epoch = tiny_log_frame()
    seconds = (pd.to_datetime(epoch["timestamp"]) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")
    epoch["timestamp"] = seconds
    assert (InteractionLog.from_frame(epoch).frame["timestamp"] == iso.frame["timestamp"]).all()


def test_string_ids_are_kept() -> None:
    f = tiny_log_frame()
    f["user_id"] = f["user_id"].map(lambda u: f"u{u}")
    log = InteractionLog.from_frame(f)
    assert set(log.frame["user_id"]) == {"u10", "u20"}


def test_require_names_the_component_and_the_missing_column() -> None:
    log = InteractionLog.from_frame(tiny_log_frame())
    with pytest.raises(LogValidationError, match="column 'pscore_cascade': RIPS needs this"):
        log.require(("pscore_cascade",), "RIPS")
    log.require(("pscore",), "IPS")  # present: no error


def test_catalog_index_of_marks_unknown_ids() -> None:
    cat = ItemCatalog.from_frame(tiny_catalog_frame())
    np.testing.assert_array_equal(cat.index_of(np.array([3, 1, 7])), [2, 0, -1])
