"""The interaction-log schema and its two validated containers.

A log is long format: one row per shown item (shared/DESIGN.md section 2).

=========================  ========  ====================================================
column                     required  meaning
=========================  ========  ====================================================
``request_id``             yes       one slate shown to one user at one time
``user_id``                yes       the user the slate was shown to
``timestamp``              yes       when (UTC; datetime, ISO string or epoch seconds)
``item_id``                yes       the item shown (must exist in the catalog, if given)
``position``               yes       0-based position of the item in the slate
``click``                  yes       1 if the item was clicked/consumed, else 0
``reward``                 yes       the reward earned at this row (finite)
``session_id``             no        derived from a 30-minute inactivity gap when absent
``pscore``                 no        probability of the whole slate under the logger
``pscore_item_position``   no        probability that this item is at this position
``pscore_cascade``         no        probability of the slate's prefix up to this position
``policy``                 no        name of the policy that served the slate
``catalog_version``        no        the served bundle's catalog version (integer >= 1)
``organic_item_id``        no        an item the user consumed outside the slate at this
                                     request (empty: none); with ``organic_reward``
``organic_reward``         no        the user's reward for it (the policy earns nothing)
=========================  ========  ====================================================

Logs of consumption only (no impressions, e.g. MovieLens ratings) are one-item requests
with ``click=1``; their propensity columns are absent, which says so.

The two organic columns belong to the whole request (one value on each of its rows) and
come together. They record what a user consumed on their own when the slate got no click
(simulators with ``FitConfig.organic`` draw such consumptions): it moves the user's
state, as a click does, so a replay that skipped it would see other users than the ones
who were served. A request has at most one consumption: a click or an organic one.

Containers are validated once, when built, by :meth:`InteractionLog.from_frame` and
:meth:`ItemCatalog.from_frame`; callers never re-validate. A problem raises
:class:`LogValidationError` naming the column, the (1-based) data row and the likely cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ltvrec.errors import LtvrecError

REQUIRED_COLUMNS: tuple[str, ...] = (
    "request_id",
    "user_id",
    "timestamp",
    "item_id",
    "position",
    "click",
    "reward",
)
PSCORE_COLUMNS: tuple[str, ...] = ("pscore", "pscore_item_position", "pscore_cascade")
ORGANIC_COLUMNS: tuple[str, ...] = ("organic_item_id", "organic_reward")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "session_id",
    *PSCORE_COLUMNS,
    "policy",
    "catalog_version",
    *ORGANIC_COLUMNS,
)

DEFAULT_SESSION_GAP = pd.Timedelta(minutes=30)

_PSCORE_MEANING = {
    "pscore": "the probability of the whole slate under the logging policy",
    "pscore_item_position": "the probability that the item is shown at this position",
    "pscore_cascade": "the probability of the slate's prefix up to this position",
}


class LogValidationError(LtvrecError, ValueError):
    """A log or catalog that breaks the schema.

    Attributes:
        column: the offending column (``None`` when the problem is not one column's).
        row: the 1-based data row of the first offending value (``None`` when not row-level).
    """

    def __init__(self, message: str, *, column: str | None = None, row: int | None = None):
        where = []
        if column is not None:
            where.append(f"column '{column}'")
        if row is not None:
            where.append(f"row {row}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.column = column
        self.row = row


def _show(value: object) -> str:
    """repr() of a cell value, without numpy's ``np.int64(...)`` wrapping."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)


def _first_row(mask: np.ndarray | pd.Series) -> int:
    """1-based data row of the first True in ``mask``."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 1


def _check_id_column(frame: pd.DataFrame, name: str) -> pd.Series:
    col = frame[name]
    missing = col.isna().to_numpy()
    if missing.any():
        raise LogValidationError(
            "missing id (empty cell or NaN); every row needs one",
            column=name,
            row=_first_row(missing),
        )
    if pd.api.types.is_float_dtype(col):
        frac = (col % 1 != 0).to_numpy()
        if frac.any():
            row = _first_row(frac)
            raise LogValidationError(
                f"expected integer or string ids, got the float {_show(col.iloc[row - 1])}",
                column=name,
                row=row,
            )
        return col.astype(np.int64)
    if pd.api.types.is_bool_dtype(col):
        raise LogValidationError("expected integer or string ids, got booleans", column=name)
    if pd.api.types.is_integer_dtype(col):
        return col.astype(np.int64)
    return col.astype(str)


def parse_timestamps(values: pd.Series, column: str = "timestamp") -> pd.Series:
    """Parse datetimes, ISO strings or epoch seconds into tz-aware UTC timestamps.

    Raises:
        LogValidationError: naming the first value that does not parse.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values):
        parsed = values.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        finite = np.isfinite(values.to_numpy(dtype=float))
        if not finite.all():
            raise LogValidationError(
                "timestamp is NaN or infinite", column=column, row=_first_row(~finite)
            )
        parsed = pd.to_datetime(values, unit="s", utc=True)
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = _first_row(bad)
        raise LogValidationError(
            f"cannot parse {_show(values.iloc[row - 1])} as a time; expected an ISO 8601 string "
            "(2019-11-24 00:00:34+00:00), a datetime, or epoch seconds",
            column=column,
            row=row,
        )
    return parsed


@dataclass(frozen=True)
class ItemCatalog:
    """The items a log may show: ``item_id``, ``text`` and optional features.

    Attributes:
        frame: one row per item, unique ``item_id``, non-empty ``text``; any other
            columns are item features (category, price, ...). Row order defines the
            item index ``0..n_items-1`` used by encoders, simulators and policies.
    """

    frame: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ItemCatalog:
        """Validate ``frame`` and wrap it. Raises :class:`LogValidationError`."""
        if len(frame) == 0:
            raise LogValidationError("the catalog is empty; expected at least one item")
        for name in ("item_id", "text"):
            if name not in frame.columns:
                raise LogValidationError(
                    f"missing required catalog column; got columns {list(frame.columns)}",
                    column=name,
                )
        frame = frame.reset_index(drop=True).copy()
        frame["item_id"] = _check_id_column(frame, "item_id")
        dup = frame["item_id"].duplicated().to_numpy()
        if dup.any():
            row = _first_row(dup)
            raise LogValidationError(
                f"item_id {_show(frame['item_id'].iloc[row - 1])} appears twice in the catalog",
                column="item_id",
                row=row,
            )
        text = frame["text"]
        not_str = ~text.map(lambda t: isinstance(t, str)).to_numpy(dtype=bool)
        if not_str.any():
            row = _first_row(not_str)
            raise LogValidationError(
                f"expected a string, got {_show(text.iloc[row - 1])}", column="text", row=row
            )
        empty = (text.str.strip() == "").to_numpy(dtype=bool)
        if empty.any():
            raise LogValidationError(
                "empty item text; every item needs a title or description for the encoder",
                column="text",
                row=_first_row(empty),
            )
        frame["text"] = text.astype(str)
        return cls(frame=frame)

    @property
    def n_items(self) -> int:
        return len(self.frame)

    @property
    def item_ids(self) -> pd.Series:
        return self.frame["item_id"]

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].tolist()

    def index_of(self, item_ids: pd.Series | np.ndarray) -> np.ndarray:
        """Map item ids to catalog row indices ``[n]`` (int64); -1 for unknown ids."""
        lookup = pd.Index(self.frame["item_id"])
        return np.asarray(lookup.get_indexer(pd.Index(item_ids)), dtype=np.int64)


@dataclass(frozen=True)
class InteractionLog:
    """A validated interaction log (see the module docstring for the schema).

    Attributes:
        frame: the rows, sorted by (timestamp, request_id, position); ``timestamp`` is
            tz-aware UTC; ids are int64 or str; ``click`` is int8; ``reward`` float64;
            ``session_id`` (int64) is always present, derived when it was absent.
        session_gap: the inactivity gap used to derive sessions (``None`` if given).
    """

    frame: pd.DataFrame
    session_gap: pd.Timedelta | None = field(default=DEFAULT_SESSION_GAP)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        catalog: ItemCatalog | None = None,
        session_gap: pd.Timedelta = DEFAULT_SESSION_GAP,
    ) -> InteractionLog:
        """Validate ``frame`` (and its items against ``catalog``) and wrap it.

        Raises:
            LogValidationError: naming the column, the 1-based data row and the likely
                cause of the first problem found.
        """
        if len(frame) == 0:
            raise LogValidationError("the log is empty; expected at least one row")
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise LogValidationError(
                f"missing required column(s) {missing}; got {list(frame.columns)}. "
                "Consumption-only logs still need every column: one-item requests with "
                "position 0 and click 1",
                column=missing[0],
            )
        out = frame.reset_index(drop=True).copy()
        for name in ("request_id", "user_id", "item_id"):
            out[name] = _check_id_column(out, name)
        out["timestamp"] = parse_timestamps(out["timestamp"])
        out["position"] = _check_integer(out["position"], "position", low=0)
        out["click"] = _check_integer(out["click"], "click", low=0, high=1).astype(np.int8)
        out["reward"] = _check_finite(out["reward"], "reward")
        for name in PSCORE_COLUMNS:
            if name in out.columns:
                out[name] = _check_pscore(out[name], name)
        if "session_id" in out.columns:
            out["session_id"] = _check_id_column(out, "session_id")
        if "policy" in out.columns:
            out["policy"] = out["policy"].astype(str)
        if "catalog_version" in out.columns:
            out["catalog_version"] = _check_integer(
                out["catalog_version"], "catalog_version", low=1
            )

        dup = out.duplicated(subset=["request_id", "position"]).to_numpy()
        if dup.any():
            row = _first_row(dup)
            raise LogValidationError(
                f"request {_show(out['request_id'].iloc[row - 1])} has position "
                f"{out['position'].iloc[row - 1]} twice; a slate shows one item per position "
                "(were two logs concatenated without distinct request ids?)",
                column="position",
                row=row,
            )
        _check_constant_within_request(out, "user_id")
        if "pscore" in out.columns:
            _check_constant_within_request(out, "pscore")
        if any(c in out.columns for c in ORGANIC_COLUMNS):
            _check_organic(out)
        if catalog is not None:
            for name in ("item_id", "organic_item_id"):
                if name not in out.columns:
                    continue
                ids = out[name]
                unknown = ids.notna().to_numpy() & (catalog.index_of(ids.fillna(-1)) < 0)
                if unknown.any():
                    row = _first_row(unknown)
                    raise LogValidationError(
                        f"item {_show(ids.iloc[row - 1])} is not in the catalog "
                        f"({catalog.n_items} items); is the catalog from the same data set?",
                        column=name,
                        row=row,
                    )

        out = out.sort_values(["timestamp", "request_id", "position"], kind="stable")
        out = out.reset_index(drop=True)
        gap: pd.Timedelta | None = None
        if "session_id" not in out.columns:
            from ltvrec.interactions.sessions import assign_sessions

            out["session_id"] = assign_sessions(out, session_gap)
            gap = session_gap
        return cls(frame=out, session_gap=gap)

    # Small, cheap views; the frame is the source of truth.
    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def n_requests(self) -> int:
        return int(self.frame["request_id"].nunique())

    @property
    def n_users(self) -> int:
        return int(self.frame["user_id"].nunique())

    @property
    def pscore_columns(self) -> tuple[str, ...]:
        """The propensity columns this log carries (empty: no propensities)."""
        return tuple(c for c in PSCORE_COLUMNS if c in self.frame.columns)

    @property
    def has_organic(self) -> bool:
        """True if the log records consumptions outside the slates (``organic_item_id``)."""
        return "organic_item_id" in self.frame.columns

    @property
    def consumption_only(self) -> bool:
        """True if every request shows one item that was consumed (no impressions)."""
        sizes = self.frame.groupby("request_id", sort=False).size()
        return bool((sizes == 1).all() and (self.frame["click"] == 1).all())

    def require(self, columns: tuple[str, ...], component: str) -> None:
        """Raise if a component needs columns this log lacks.

        >>> import pandas as pd
        >>> log = InteractionLog.from_frame(pd.DataFrame({"request_id": [1], "user_id": [1],
        ...     "timestamp": [0], "item_id": [5], "position": [0], "click": [1],
        ...     "reward": [1.0]}))
        >>> log.require(("pscore",), "IPS")
        Traceback (most recent call last):
        ...
        ltvrec.interactions.schema.LogValidationError: column 'pscore': IPS needs ...
        """
        for name in columns:
            if name not in self.frame.columns:
                raise LogValidationError(
                    f"{component} needs this column, which the log lacks"
                    + (
                        f" ({_PSCORE_MEANING[name]}); logs without impressions or "
                        "propensities cannot feed it"
                        if name in _PSCORE_MEANING
                        else ""
                    ),
                    column=name,
                )


def _check_integer(
    col: pd.Series, name: str, low: int | None = None, high: int | None = None
) -> pd.Series:
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(np.int64)
    if not pd.api.types.is_numeric_dtype(col):
        as_num = pd.to_numeric(col, errors="coerce")
        bad = as_num.isna().to_numpy()
        if bad.any():
            row = _first_row(bad)
            raise LogValidationError(
                f"expected an integer, got {_show(col.iloc[row - 1])}", column=name, row=row
            )
        col = as_num
    values = col.to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values % 1 != 0)
    if low is not None:
        bad |= values < low
    if high is not None:
        bad |= values > high
    if bad.any():
        row = _first_row(bad)
        rng = (
            f" in [{low}, {high}]" if high is not None else f" >= {low}" if low is not None else ""
        )
        raise LogValidationError(
            f"expected an integer{rng}, got {_show(col.iloc[row - 1])}", column=name, row=row
        )
    return col.astype(np.int64)


def _check_finite(col: pd.Series, name: str) -> pd.Series:
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        as_num = pd.to_numeric(col, errors="coerce")
        bad = as_num.isna().to_numpy() & col.notna().to_numpy()
        if bad.any():
            row = _first_row(bad)
            raise LogValidationError(
                f"expected a number, got {_show(col.iloc[row - 1])}", column=name, row=row
            )
        col = as_num
    values = col.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = _first_row(bad)
        raise LogValidationError(
            f"{values[row - 1]} is not a finite number; rewards must be finite "
            "(an empty cell reads as NaN)",
            column=name,
            row=row,
        )
    return pd.Series(values, index=col.index, name=name)


def _check_pscore(col: pd.Series, name: str) -> pd.Series:
    values = _check_finite(col, name).to_numpy()
    bad = (values <= 0) | (values > 1)
    if bad.any():
        row = _first_row(bad)
        raise LogValidationError(
            f"{values[row - 1]} is outside (0, 1]; {name} is {_PSCORE_MEANING[name]}"
            " (a score or a log-probability instead?)",
            column=name,
            row=row,
        )
    return pd.Series(values, index=col.index, name=name)


def _check_organic(frame: pd.DataFrame) -> None:
    """Validate the organic columns in place: both present, one value per request, an
    id (or nothing) and a finite reward where there is an id (0 where there is none), no
    organic consumption at a request with a click."""
    missing = [c for c in ORGANIC_COLUMNS if c not in frame.columns]
    if missing:
        raise LogValidationError(
            "organic_item_id and organic_reward come together: the item a user consumed "
            "outside the slate and the user's reward for it",
            column=missing[0],
        )
    item = frame["organic_item_id"]
    has = item.notna().to_numpy()
    if has.any():
        ids = _check_id_column(frame.loc[has], "organic_item_id")
        if pd.api.types.is_integer_dtype(ids):
            item = pd.Series(pd.array([pd.NA] * len(frame), dtype="Int64"), index=frame.index)
        else:
            item = pd.Series(None, index=frame.index, dtype=object)
        item.loc[has] = ids.to_numpy()
    frame["organic_item_id"] = item
    reward = frame["organic_reward"].copy()
    reward.loc[~has] = reward.loc[~has].fillna(0.0)
    frame["organic_reward"] = _check_finite(reward, "organic_reward")
    stray = ~has & (frame["organic_reward"].to_numpy() != 0.0)
    if stray.any():
        raise LogValidationError(
            "a reward without an organic_item_id; the reward is for the item consumed "
            "outside the slate",
            column="organic_reward",
            row=_first_row(stray),
        )
    for name in ORGANIC_COLUMNS:
        _check_constant_within_request(frame, name)
    clicked = frame.groupby("request_id", sort=False)["click"].transform("max").to_numpy() == 1
    both = has & clicked
    if both.any():
        row = _first_row(both)
        raise LogValidationError(
            f"request {_show(frame['request_id'].iloc[row - 1])} has a click and an organic "
            "consumption; a request has at most one consumption",
            column="organic_item_id",
            row=row,
        )


def _check_constant_within_request(frame: pd.DataFrame, name: str) -> None:
    first = frame.groupby("request_id", sort=False)[name].transform("first")
    if name == "pscore":
        differs = ~np.isclose(first.to_numpy(), frame[name].to_numpy(), rtol=1e-9, atol=0.0)
    else:  # an empty cell (organic_item_id) differs from a value, not from another empty one
        empty = frame[name].isna().to_numpy()
        same = (first == frame[name]).fillna(False).to_numpy(dtype=bool)
        differs = ~(same | (empty & first.isna().to_numpy()))
    if differs.any():
        row = _first_row(differs)
        raise LogValidationError(
            f"request {_show(frame['request_id'].iloc[row - 1])} has more than one {name}; "
            f"{name} belongs to the whole request",
            column=name,
            row=row,
        )
