"""The command line, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ltvrec, ltvrec_here, tiny_catalog_frame, tiny_log_frame

from ltvrec import __version__


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
    done = ltvrec_here(
        "data", "validate", str(tmp_path / "log.parquet"), "--catalog", str(tmp_path / "items.csv")
    )
    assert (
        done.returncode == 1
        and "column 'item_id', row 4: item 3 is not in the catalog" in done.stderr
    )
    tiny_catalog_frame().to_csv(tmp_path / "items.csv", index=False)
    ok = ltvrec_here(
        "data", "validate", str(tmp_path / "log.parquet"), "--catalog", str(tmp_path / "items.csv")
    )
    assert ok.returncode == 0 and "8 rows, 4 requests, 2 users; propensities: pscore" in ok.stdout


def test_describe_json_with_config_override(tmp_path: Path) -> None:
    tiny_log_frame().to_csv(tmp_path / "log.csv", index=False)
    base = json.loads(ltvrec_here("data", "describe", str(tmp_path / "log.csv"), "--json").stdout)
    assert base["sessions"] == 3 and base["requests"] == 4 and base["slates"] == 4
    assert base["click_rate"] == pytest.approx(2 / 8)
    short = ltvrec_here(
        "data", "describe", str(tmp_path / "log.csv"), "--json", "--set", "session_gap_minutes=10"
    )
    assert json.loads(short.stdout)["sessions"] == 4
    bad = ltvrec_here("data", "describe", str(tmp_path / "log.csv"), "--set", "session_gap=10")
    assert bad.returncode == 1 and "did you mean 'session_gap_minutes'" in bad.stderr


def test_describe_ml100k_table(ml100k: object) -> None:
    done = ltvrec_here("data", "describe", "ml-100k")
    assert done.returncode == 0
    for fragment in ("943", "1,682", "100,000", "1997-09-20", "1998-04-22"):
        assert fragment in done.stdout


def test_fetch_unknown_data_set() -> None:
    done = ltvrec_here("data", "fetch", "ml-1b")
    assert done.returncode == 1 and "unknown data set 'ml-1b'" in done.stderr


def test_config_show_lists_every_field_with_its_doc() -> None:
    out = ltvrec_here("config", "show", "data").stdout
    for name in ("session_gap_minutes", "valid_fraction", "test_fraction", "split", "seed"):
        assert name in out
    assert "Inactivity gap" in out


def test_help_loads_nothing_heavy() -> None:
    # `ltvrec --help` must answer at once: the CLI package imports no library at the top.
    heavy = ("torch", "pandas", "scipy", "sklearn", "stable_baselines3", "transformers")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, ltvrec.cli; print([m for m in {heavy!r} if m in sys.modules])",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "[]", done.stderr


def _run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    from ltvrec import cli

    monkeypatch.setattr(sys, "argv", ["ltvrec", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


def test_a_bug_is_reported_as_one_and_debug_shows_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ltvrec.cli
    import ltvrec.interactions

    tiny_log_frame().to_csv(tmp_path / "log.csv", index=False)

    def broken(*_: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(ltvrec.interactions, "describe_log", broken)
    monkeypatch.setattr(ltvrec.cli, "_debug", False)
    assert _run_main(monkeypatch, "data", "describe", str(tmp_path / "log.csv"), "--json") == 1
    err = capsys.readouterr().err
    assert "error: KeyError: 'a bug'" in err and "--debug" in err
    with pytest.raises(KeyError, match="a bug"):
        _run_main(monkeypatch, "--debug", "data", "describe", str(tmp_path / "log.csv"), "--json")


def test_user_errors_stay_one_line_and_quiet_hides_progress(tmp_path: Path) -> None:
    bad = ltvrec("train", "--out", str(tmp_path / "p"), "--set", "learning_rate=fast")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: TrainConfig: learning_rate: Input should be a valid number, unable to parse "
        "string as a number (got 'fast')"
    ]
    out = tmp_path / "logs"
    loud = ltvrec_here("simulate", "known-world", "--out", str(out), "--users", "3")
    quiet = ltvrec_here("-q", "simulate", "known-world", "--out", str(out), "--users", "3")
    assert loud.returncode == quiet.returncode == 0
    assert "- simulating 3 users" in loud.stderr and "simulating" not in quiet.stderr
    assert quiet.stdout == loud.stdout
