"""``ltvrec simulate`` (logs from the known world) and ``ltvrec sim`` (fit, report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvrec.cli._common import ConfigOpt, SetOpt, progress_bar, say, steps

simulate_app = typer.Typer(help="Generate logs from a simulator.", no_args_is_help=True)
sim_app = typer.Typer(help="Fit a simulator from logs; report its fidelity.", no_args_is_help=True)


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
    from ltvrec.config import load_config
    from ltvrec.simulators.known_world import KnownWorldConfig
    from ltvrec.simulators.logs import write_known_world_logs

    cfg = load_config(KnownWorldConfig, config, set_)
    with steps():
        log = write_known_world_logs(cfg, users, seed, out)
    say(f"{log.n_requests:,} requests, {log.n_rows:,} rows, {log.n_users:,} users -> {out}")


@sim_app.command("fit")
def fit(
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
    from ltvrec.config import EncodeConfig, load_config
    from ltvrec.encoders.items import encoding_for
    from ltvrec.interactions import load
    from ltvrec.simulators.fitted import FitConfig, fit_dataset

    cfg = load_config(FitConfig, config, set_)
    ds = load(data)
    with progress_bar("encoding") as update:
        ecfg = EncodeConfig(model=model) if model else EncodeConfig()
        enc = encoding_for(ds.catalog, encoding, ecfg, cache_dir, {"dataset": ds.name}, update)
    with steps():
        sim = fit_dataset(ds, enc, cfg, out)
    fitted = sim.meta["fit"]
    say(
        f"fitted on {fitted['requests']:,} requests, {fitted['users']:,} users, "
        f"{fitted['sessions']:,} sessions; slate size {sim.slate_size}, horizon "
        f"{sim.horizon_days:.1f} days -> {out}"
    )
    for a in sim.meta["assumptions"]:
        say(f"assumption: {a}")


@sim_app.command("report")
def report(
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
    from ltvrec.simulators.fidelity import report_for_saved

    with steps():
        folder = report_for_saved(sim_dir, data, out or sim_dir / "report", test_fraction, users)
    say((folder / "fidelity.md").read_text())
    say(f"wrote: {folder}")
