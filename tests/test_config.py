"""Configs: YAML + overrides, typed, every field documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ltvrec.config import DataConfig, field_docs, load_config


def test_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("session_gap_minutes: 45\nsplit: user\n")
    cfg = load_config(DataConfig, path, ["seed=7"])
    assert cfg == DataConfig(session_gap_minutes=45.0, split="user", seed=7)
    assert load_config(DataConfig, path, ["split=time"]).split == "time"
    # YAML 1.1 reads 1e-3 (no dot) as a string; a float field takes it as a float.
    assert load_config(DataConfig, None, ["session_gap_minutes=1e-3"]).session_gap_minutes == 1e-3


@pytest.mark.parametrize(
    ("overrides", "error", "fragment"),
    [
        (["seed=abc"], TypeError, "seed: expected int"),
        (["session_gap_minutes=soon"], TypeError, "session_gap_minutes: expected float"),
        (["sesion_gap_minutes=3"], ValueError, "did you mean 'session_gap_minutes'"),
        (["seed"], ValueError, "key=value"),
        (["split=random"], ValueError, "split must be"),
        (["session_gap_minutes=0"], ValueError, "must be > 0"),
    ],
)
def test_bad_overrides(overrides: list[str], error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        load_config(DataConfig, None, overrides)


def test_every_field_has_a_docstring() -> None:
    docs = field_docs(DataConfig)
    assert set(docs) == {f.name for f in dataclasses.fields(DataConfig)}
    assert all(len(d) > 10 for d in docs.values())


def test_shipped_yaml_configs_load() -> None:
    root = Path(__file__).parent.parent / "configs"
    assert load_config(DataConfig, root / "data.yaml") == DataConfig()
