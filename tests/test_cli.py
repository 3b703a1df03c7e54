"""The command line, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_catalog_frame, tiny_log_frame

from ltvrec import __version__


def ltvrec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ltvrec", *args], capture_output=True, text=True, timeout=300
    )


def test_version_and_help() -> None:
    assert ltvrec("--version").stdout.strip() == f"ltvrec {__version__}"
    out = ltvrec("--help").stdout
    assert "data" in out and "config" in out


def test_validate_a_broken_file_prints_one_line_and_fails(tmp_path: Path) -> None:
    f = tiny_log_frame()
    f.loc[4, "pscore"] = 1.7
    f.loc[5, "pscore"] = 1.7
    f.to_csv(tmp_path / "log.csv", index=False)
    done = ltvrec("data", "validate", str(tmp_path / "log.csv"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: column 'pscore', row 5: 1.7 is outside (0, 1]")


def test_validate_checks_items_against_the_catalog(tmp_path: Path) -> None:
    tiny_log_frame().to_parquet(tmp_path / "log.parquet")
    cat = tiny_catalog_frame().iloc[:2]
    cat.to_csv(tmp_path / "items.csv", index=False)
    done = ltvrec(
        "data", "validate", str(tmp_path / "log.parquet"), "--catalog", str(tmp_path / "items.csv")
    )
    assert (
        done.returncode == 1
        and "column 'item_id', row 4: item 3 is not in the catalog" in done.stderr
    )
    tiny_catalog_frame().to_csv(tmp_path / "items.csv", index=False)
    ok = ltvrec(
        "data", "validate", str(tmp_path / "log.parquet"), "--catalog", str(tmp_path / "items.csv")
    )
    assert ok.returncode == 0 and "8 rows, 4 requests, 2 users; propensities: pscore" in ok.stdout


def test_describe_json_with_config_override(tmp_path: Path) -> None:
    tiny_log_frame().to_csv(tmp_path / "log.csv", index=False)
    base = json.loads(ltvrec("data", "describe", str(tmp_path / "log.csv"), "--json").stdout)
    assert base["sessions"] == 3 and base["requests"] == 4 and base["slates"] == 4
    assert base["click_rate"] == pytest.approx(2 / 8)
    short = ltvrec(
        "data", "describe", str(tmp_path / "log.csv"), "--json", "--set", "session_gap_minutes=10"
    )
    assert json.loads(short.stdout)["sessions"] == 4
    bad = ltvrec("data", "describe", str(tmp_path / "log.csv"), "--set", "session_gap=10")
    assert bad.returncode == 1 and "did you mean 'session_gap_minutes'" in bad.stderr


def test_describe_ml100k_table(ml100k: object) -> None:
    done = ltvrec("data", "describe", "ml-100k")
    assert done.returncode == 0
    for fragment in ("943", "1,682", "100,000", "1997-09-20", "1998-04-22"):
        assert fragment in done.stdout


def test_fetch_unknown_data_set() -> None:
    done = ltvrec("data", "fetch", "ml-1b")
    assert done.returncode == 1 and "unknown data set 'ml-1b'" in done.stderr


def test_config_show_lists_every_field_with_its_doc() -> None:
    out = ltvrec("config", "show", "data").stdout
    for name in ("session_gap_minutes", "valid_fraction", "test_fraction", "split", "seed"):
        assert name in out
    assert "Inactivity gap" in out
