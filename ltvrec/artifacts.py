"""One format for every saved artifact: encoding, fitted simulator, policy, bundle.

An artifact is a folder: data files (safetensors, ONNX, JSON) and one JSON record
that starts with the same header for every kind::

    artifact        "encoding" | "simulator" | "policy" | "bundle"
    format_version  the kind's format (a reader refuses one it does not know)
    ltvrec_version  and ``versions``: python, numpy, torch (when loaded), ...
    saved           UTC time
    sha256          {file name: sha256} of every data file
    provenance      what it was built from (data set and its files' hashes, encoder,
                    the simulator a policy was trained on, ...)

and one idiom to read it: :func:`read_record` checks that the record and every data
file are there, that the kind and format are known, and that every file matches its
hash, before the loader touches a byte of data. Records written before this header
existed (one ``<name>_sha256`` key for one data file) are still read.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ltvrec.errors import ArtifactError, ArtifactNotFoundError
from ltvrec.interactions.io import atomic_path, sha256_file

KINDS = {
    "encoding": ("encoder.json", "an item encoding", "ltvrec encode --dataset NAME --out DIR"),
    "simulator": ("simulator.json", "a fitted simulator", "ltvrec sim fit --data ... --out DIR"),
    "policy": ("policy.json", "a trained policy", "ltvrec train ... --out DIR"),
    "bundle": ("manifest.json", "a bundle", "ltvrec export --policy DIR --out BUNDLE"),
    "catalog": (
        "catalog.json",
        "a bundle's catalog version",
        "ltvrec export --policy DIR --out BUNDLE (then ltvrec items add BUNDLE items.csv)",
    ),
}
"""kind -> (record file, what it is, the command that makes one)."""

HEADER = ("artifact", "format_version", "ltvrec_version", "versions", "saved", "sha256")
"""The header's fields (``provenance`` aside): a loaded record minus these is the kind's
own content."""


def versions() -> dict[str, str]:
    """Versions of what an artifact's numbers depend on (torch only when loaded)."""
    import numpy as np

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "stable_baselines3", "onnx", "onnxruntime", "transformers"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            out[name] = str(module.__version__)
    return out


def write_record(
    folder: str | Path,
    kind: str,
    format_version: int,
    files: list[str],
    record: dict[str, Any],
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``folder/<record file>`` atomically: the common header (with the sha256 of
    each of ``files``, which must already be written) followed by ``record``'s fields.
    Returns what was written."""
    from ltvrec import __version__

    folder = Path(folder)
    name = KINDS[kind][0]
    full = {
        "artifact": kind,
        "format_version": format_version,
        "ltvrec_version": __version__,
        "versions": versions(),
        "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        "sha256": {f: sha256_file(folder / f) for f in files},
        "provenance": provenance if provenance is not None else record.get("provenance", {}),
        **{k: v for k, v in record.items() if k != "provenance"},
    }
    with atomic_path(folder / name) as tmp:
        tmp.write_text(json.dumps(full, indent=2, default=str) + "\n")
    return full


def read_record(
    folder: str | Path,
    kind: str,
    format_version: int,
    files: list[str],
    legacy_hash_key: str | None = None,
) -> dict[str, Any]:
    """The record of the ``kind`` artifact in ``folder``, after checking it.

    Raises:
        ArtifactNotFoundError: the record or a data file is missing (the message names
            the command that makes one).
        ArtifactError: another kind, an unknown format version, or a data file that
            does not match its hash (altered since it was saved).
    """
    folder = Path(folder)
    name, what, how = KINDS[kind]
    if not (folder / name).is_file():
        raise ArtifactNotFoundError(f"{folder} is not {what} (no {name}); make one with: {how}")
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise ArtifactNotFoundError(
            f"{folder} is incomplete: {', '.join(missing)} missing; make it again with: {how}"
        )
    try:
        record: dict[str, Any] = json.loads((folder / name).read_text())
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{folder / name} is not valid JSON ({e}); {what} is damaged") from e
    if record.get("artifact", kind) != kind:
        raise ArtifactError(f"{folder} is {record['artifact']!r}, not {what}")
    if record.get("format_version", format_version) != format_version:
        raise ArtifactError(
            f"{folder}: format_version {record.get('format_version')}, this ltvrec reads "
            f"{format_version}; make it again with: {how}"
        )
    hashes = dict(record.get("sha256", {}))
    if not hashes and legacy_hash_key and legacy_hash_key in record and len(files) == 1:
        hashes = {files[0]: record[legacy_hash_key]}
    for f in files:
        if hashes.get(f) != sha256_file(folder / f):
            raise ArtifactError(f"{folder / f} does not match the sha256 in {name}; it was altered")
    return record
