"""Read and write logs and catalogs as Parquet or CSV; every write is atomic.

An atomic write goes to a temporary file in the destination's folder and is renamed
over the destination only once complete, so a crash never leaves half a file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ltvrec.interactions.schema import (
    DEFAULT_SESSION_GAP,
    InteractionLog,
    ItemCatalog,
    LogValidationError,
)

SUFFIXES = (".parquet", ".csv", ".csv.gz")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _format(path: Path) -> str:
    name = path.name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return "parquet" if suffix == ".parquet" else "csv"
    raise ValueError(f"expected a file ending in one of {SUFFIXES}, got '{path.name}'")


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a Parquet or CSV file into a DataFrame, with clear errors for the usual
    mistakes (no such file, empty file, unreadable file)."""
    path = Path(path)
    fmt = _format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise LogValidationError(f"{path} is empty (0 bytes)")
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except pd.errors.EmptyDataError as e:
        raise LogValidationError(f"{path} has no header and no rows") from e
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise LogValidationError(f"cannot read {path} as {fmt}: {e}") from e


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` atomically as Parquet or CSV (chosen by the suffix)."""
    path = Path(path)
    fmt = _format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(
                tmp, index=False, compression="gzip" if path.name.endswith(".gz") else None
            )
    return path


def read_catalog(path: str | Path) -> ItemCatalog:
    """Read and validate an item catalog (``item_id, text`` + optional features)."""
    return ItemCatalog.from_frame(read_frame(path))


def read_log(
    path: str | Path,
    catalog: ItemCatalog | None = None,
    session_gap: pd.Timedelta = DEFAULT_SESSION_GAP,
) -> InteractionLog:
    """Read and validate an interaction log; see :mod:`ltvrec.interactions.schema`."""
    return InteractionLog.from_frame(read_frame(path), catalog=catalog, session_gap=session_gap)


def write_log(log: InteractionLog, path: str | Path) -> Path:
    """Write a log atomically. CSV timestamps are ISO 8601 in UTC."""
    return write_frame(log.frame, path)


def write_catalog(catalog: ItemCatalog, path: str | Path) -> Path:
    """Write a catalog atomically."""
    return write_frame(catalog.frame, path)
