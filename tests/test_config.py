"""Configs: YAML + overrides, typed, every field documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ltvrec.config import (
    DataConfig,
    EncodeConfig,
    build_config,
    config_class,
    field_docs,
    load_config,
)
from ltvrec.errors import ConfigError
from ltvrec.names import CONFIGS
from ltvrec.sweep import SweepSpec


def test_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("session_gap_minutes: 45\nsplit: user\n")
    cfg = load_config(DataConfig, path, ["seed=7"])
    assert cfg == DataConfig(session_gap_minutes=45.0, split="user", seed=7)
    assert load_config(DataConfig, path, ["split=time"]).split == "time"
    # YAML 1.1 reads 1e-3 (no dot) as a string; a float field takes it as a float.
    assert load_config(DataConfig, None, ["session_gap_minutes=1e-3"]).session_gap_minutes == 1e-3


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["seed=abc"], "seed: Input should be a valid integer"),
        (["seed=1.5"], "seed: Input should be a valid integer"),
        (["session_gap_minutes=soon"], "session_gap_minutes: Input should be a valid number"),
        (["sesion_gap_minutes=3"], "did you mean 'session_gap_minutes'"),
        (["seed"], "key=value"),
        (["split=random"], "split must be"),
        (["session_gap_minutes=0"], "must be > 0"),
    ],
)
def test_bad_overrides(overrides: list[str], fragment: str) -> None:
    # One project error type (a ValueError too), one line naming the field.
    with pytest.raises(ConfigError, match=fragment) as info:
        load_config(DataConfig, None, overrides)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_config_field_has_a_docstring(name: str) -> None:
    cls = config_class(name)
    docs = field_docs(cls)
    assert set(docs) == {f.name for f in dataclasses.fields(cls)}
    assert all(len(d) > 10 for d in docs.values())


def test_every_config_takes_its_own_defaults_through_the_validator() -> None:
    for name in CONFIGS:
        cls = config_class(name)
        assert build_config(cls, {}) == cls()


def test_nested_values_are_coerced() -> None:
    from ltvrec.agents.train_ppo import TrainConfig

    cfg = load_config(TrainConfig, None, ["hidden=[32, 16]", "learning_rate=1e-3"])
    assert cfg.hidden == (32, 16) and cfg.learning_rate == 1e-3
    with pytest.raises(ConfigError, match="start must be one of"):
        load_config(TrainConfig, None, ["start=best"])


def test_every_shipped_yaml_loads() -> None:
    root = Path(__file__).parent.parent / "configs"
    shipped = sorted(root.glob("*.yaml"))
    assert {p.name for p in shipped} == {"data.yaml", "encode.yaml", "sweep-example.yaml"}
    assert load_config(DataConfig, root / "data.yaml") == DataConfig()
    assert load_config(EncodeConfig, root / "encode.yaml") == EncodeConfig()
    spec = SweepSpec.load(root / "sweep-example.yaml")
    assert spec.name == "lr-gamma" and len(spec.trials()) == 4 * 3


def test_a_sweep_with_a_bad_shared_setting_fails_at_load(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("name: x\ntrain: {learning_rate: fast}\n")
    with pytest.raises(ConfigError, match="learning_rate: Input should be a valid number"):
        SweepSpec.load(bad)
