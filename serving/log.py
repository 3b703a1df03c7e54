"""The served-impression log: every served slate and every feedback event, appended in
the interaction schema, so tomorrow's OPE and simulator fit read today's serving.

Files are CSV (``served-000001.csv``, ...) with one row per shown item (``event =
served``: click 0, reward 0, the exact propensities, the policy and the catalog version
it was drawn from), per feedback event (``event = feedback``: the clicked position,
its click and reward) or per organic consumption (``event = organic``: an item the user
consumed outside the slate after the request, and its reward; no position). Each record
is written and flushed (``fsync=True`` also forces it to disk) before the request is
acknowledged, so a crash of the service loses no acknowledged request. A file is closed
and the next one started once it passes ``max_bytes``.

:func:`read_served_log` joins feedback (and organic consumptions, as the log schema's
``organic_item_id`` and ``organic_reward``) onto the served rows and returns a validated
:class:`~ltvrec.interactions.InteractionLog` and the bundle's catalog;
:func:`write_log_folder` writes them as a log folder that ``ltvrec ope`` and ``ltvrec
sim fit`` read.
"""

from __future__ import annotations

import csv
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ltvrec.interactions import InteractionLog, ItemCatalog, write_catalog, write_log

logger = logging.getLogger(__name__)

COLUMNS = (
    "event",
    "request_id",
    "user_id",
    "timestamp",
    "session_id",
    "item_id",
    "position",
    "click",
    "reward",
    "pscore",
    "pscore_item_position",
    "pscore_cascade",
    "policy",
    "catalog_version",
)


class ServedLog:
    """Append-only, size-rotated CSV log (thread-safe)."""

    def __init__(self, folder: str | Path, max_bytes: int = 64 << 20, fsync: bool = False):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._lock = threading.Lock()
        existing = sorted(self.folder.glob("served-*.csv"))
        self._index = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
        self._open()

    def _open(self) -> None:
        self.path = self.folder / f"served-{self._index:06d}.csv"
        self._file = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._sync()

    def _sync(self) -> None:
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def _write(self, rows: list[list[Any]]) -> None:
        with self._lock:
            self._writer.writerows(rows)
            self._sync()
            if self._file.tell() >= self.max_bytes:
                self._file.close()
                self._index += 1
                self._open()

    def served(
        self,
        request_id: str,
        user_id: Any,
        timestamp: float,
        session_id: Any,
        items: list[Any],
        pscore: float,
        pscore_cascade: np.ndarray,
        pscore_item_position: np.ndarray | None,
        policy: str,
        catalog_version: int = 1,
    ) -> None:
        """One row per shown item, click and reward 0 until feedback arrives;
        ``catalog_version``: the bundle's catalog the slate was drawn from."""
        ipp = pscore_item_position
        self._write(
            [
                [
                    "served", request_id, user_id, repr(float(timestamp)), session_id, item, pos,
                    0, 0.0, repr(float(pscore)),
                    "" if ipp is None else repr(float(ipp[pos])),
                    repr(float(pscore_cascade[pos])), policy, catalog_version,
                ]
                for pos, item in enumerate(items)
            ]
        )  # fmt: skip

    def feedback(
        self,
        request_id: str,
        user_id: Any,
        timestamp: float,
        events: list[tuple[int, Any, int, float]],
    ) -> None:
        """Feedback events ``(position, item_id, click, reward)`` for a served request."""
        self._write(
            [
                ["feedback", request_id, user_id, repr(float(timestamp)), "", item, pos, click,
                 repr(float(reward)), "", "", "", "", ""]
                for pos, item, click, reward in events
            ]
        )  # fmt: skip

    def organic(
        self, request_id: str, user_id: Any, timestamp: float, item_id: Any, reward: float
    ) -> None:
        """An item the user consumed outside the slate of a served request."""
        self._write(
            [["organic", request_id, user_id, repr(float(timestamp)), "", item_id, "", 1,
              repr(float(reward)), "", "", "", "", ""]]
        )  # fmt: skip

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_served_log(folder: str | Path, catalog: ItemCatalog) -> InteractionLog:
    """The served slates with their feedback joined (clicks: max, rewards: sum per
    position), validated in the interaction schema. Feedback for a request the log does
    not hold is dropped (a truncated file, another service's request). Organic
    consumptions become the request's ``organic_item_id`` and ``organic_reward``; a
    request keeps its first, and none where the slate got a click (each dropped one is
    counted in a warning)."""
    files = sorted(Path(folder).glob("served-*.csv"))
    if not files:
        raise FileNotFoundError(f"no served-*.csv files in {folder}: is it a served log?")
    frame = pd.concat(
        [pd.read_csv(f, dtype={"request_id": str, "session_id": str}) for f in files],
        ignore_index=True,
    )
    served = frame[frame["event"] == "served"].drop(columns=["event"])
    fb = frame[frame["event"] == "feedback"]
    if served.empty:
        raise ValueError(f"{folder} holds no served slates")
    agg = fb.groupby(["request_id", "position"]).agg(
        click=("click", "max"), reward=("reward", "sum")
    )
    served["position"] = served["position"].astype(int)  # organic rows leave it empty
    served = served.drop(columns=["click", "reward"]).join(agg, on=["request_id", "position"])
    served["click"] = served["click"].fillna(0).astype(int)
    served["reward"] = served["reward"].fillna(0.0)
    served["timestamp"] = pd.to_datetime(served["timestamp"], unit="s", utc=True)
    served["item_id"] = _like(served["item_id"], catalog.frame["item_id"])
    organic = frame[frame["event"] == "organic"]
    if not organic.empty:
        served = _join_organic(served, organic, catalog)
    if served["session_id"].isna().all():
        served = served.drop(columns=["session_id"])
    if served["pscore_item_position"].isna().any():
        served = served.drop(columns=["pscore_item_position"])  # not computed when served
    served = served.sort_values(["timestamp", "request_id", "position"], kind="stable")
    return InteractionLog.from_frame(served.reset_index(drop=True), catalog=catalog)


def _like(values: pd.Series, reference: pd.Series) -> pd.Series:
    """Item ids read back from CSV, cast to the catalog's id type."""
    return values.astype(reference.dtype) if reference.dtype.kind in "iu" else values.astype(str)


def _join_organic(
    served: pd.DataFrame, organic: pd.DataFrame, catalog: ItemCatalog
) -> pd.DataFrame:
    """``served`` with each request's organic consumption (its first; none where the
    slate got a click) as ``organic_item_id`` (empty: none) and ``organic_reward``."""
    clicked = served.groupby("request_id")["click"].max()
    organic = organic[organic["request_id"].isin(served["request_id"])]
    first = organic.drop_duplicates("request_id", keep="first").set_index("request_id")
    first = first[clicked.reindex(first.index).fillna(0).to_numpy() == 0]
    dropped = len(organic) - len(first)
    if dropped:
        logger.warning(
            f"{dropped} organic consumption(s) dropped: a request keeps one consumption "
            "(a click in its slate, else its first organic item)"
        )
    ids = catalog.frame["item_id"]
    item = served["request_id"].map(first["item_id"])
    if ids.dtype.kind in "iu":
        served["organic_item_id"] = item.astype("Int64")
    else:
        served["organic_item_id"] = item.where(item.isna(), item.astype(str))
    served["organic_reward"] = served["request_id"].map(first["reward"]).fillna(0.0)
    return served


def bundle_catalog(item_ids: list[Any], texts: list[str]) -> ItemCatalog:
    """The catalog a bundle serves (ids and texts, catalog order)."""
    return ItemCatalog.from_frame(pd.DataFrame({"item_id": item_ids, "text": texts}))


def write_log_folder(log: InteractionLog, catalog: ItemCatalog, out: str | Path) -> Path:
    """``out/log.parquet`` + ``out/catalog.parquet``: a folder the CLI reads."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_log(log, out / "log.parquet")
    write_catalog(catalog, out / "catalog.parquet")
    return out


def served_log_folder(log_dir: str | Path, bundle: str | Path, out: str | Path) -> tuple[int, int]:
    """``ltvrec served-log``: the service's log in ``log_dir``, joined with the catalog
    of the ``bundle`` that served it, written as a log folder to ``out``; returns the
    number of served requests and of clicks."""
    from ltvrec.serving.runtime import Runtime

    runtime = Runtime(bundle)
    catalog = bundle_catalog(runtime.item_ids, runtime.texts)
    log = read_served_log(log_dir, catalog)
    write_log_folder(log, catalog, out)
    return int(log.frame["request_id"].nunique()), int(log.frame["click"].sum())
