"""Readers and writers: round trips, atomic writes, clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import tiny_catalog_frame, tiny_log_frame

from ltvrec.interactions import (
    InteractionLog,
    ItemCatalog,
    LogValidationError,
    read_catalog,
    read_log,
    write_catalog,
    write_log,
)
from ltvrec.interactions.io import atomic_path


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".csv.gz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    cat = ItemCatalog.from_frame(tiny_catalog_frame())
    log = InteractionLog.from_frame(tiny_log_frame(), cat)
    write_catalog(cat, tmp_path / f"catalog{suffix}")
    write_log(log, tmp_path / f"log{suffix}")
    cat2 = read_catalog(tmp_path / f"catalog{suffix}")
    log2 = read_log(tmp_path / f"log{suffix}", cat2)
    pd.testing.assert_frame_equal(log.frame, log2.frame, check_dtype=False)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "log.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half writ")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "empty"),
        ("request_id,user_id,timestamp,item_id,position,click,reward\n", "the log is empty"),
        ("request_id,user_id\n1,2\n", "missing required column"),
    ],
)
def test_bad_files(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "log.csv"
    path.write_text(content)
    with pytest.raises(LogValidationError, match=fragment):
        read_log(path)


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected a file ending in"):
        read_log(tmp_path / "log.json")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_log(tmp_path / "nope.parquet")
