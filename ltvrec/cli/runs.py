"""The long jobs: ``ltvrec pipeline``, ``ltvrec experiment``, ``ltvrec sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvrec.cli._common import (
    ConfigOpt,
    SetOpt,
    WorldOpt,
    say,
    split_sets,
    steps,
    take_prefixed,
)

experiment_app = typer.Typer(help="End-to-end experiments.", no_args_is_help=True)


def pipeline(
    dataset: Annotated[str, typer.Argument(help="Data set name (ml-100k).")] = "ml-100k",
    out: Annotated[Path, typer.Option(help="Folder for report.md and every artifact.")] = Path(
        "runs/demo"
    ),
    steps_: Annotated[int, typer.Option("--steps", help="PPO steps per seed.")] = 100_000,
    users: Annotated[int, typer.Option(help="Simulated users per policy and seed.")] = 500,
    seeds: Annotated[
        int, typer.Option(help="PPO seeds, each with its own evaluation users (>= 5 for claims).")
    ] = 1,
    ensemble: Annotated[
        int,
        typer.Option(
            help="Also fit K simulators on resampled users and report their disagreement "
            "on each policy's value (0: none; each member costs one more fit)."
        ),
    ] = 0,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """The whole job: fetch, encode, fit, fidelity report, train PPO, evaluate, report.

    ``--set key=value`` sets a training field; ``--set fit.key=value`` a field of the
    simulator's fit (e.g. ``fit.organic=true``)."""
    from ltvrec.agents.train_ppo import TrainConfig
    from ltvrec.config import load_config
    from ltvrec.errors import InputError
    from ltvrec.pipeline import run_pipeline
    from ltvrec.simulators import FitConfig

    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    if ensemble == 1 or ensemble < 0:
        raise InputError(f"--ensemble must be 0 (none) or >= 2 members, got {ensemble}")
    defaults = [f"steps={steps_}", f"eval_every={max(steps_ // 3, 1)}", "eval_users=200"]
    fit_sets, train_sets = take_prefixed(set_ or [], "fit.")
    tcfg = load_config(TrainConfig, config, [*defaults, "checkpoint_every=0", *train_sets])
    fcfg = load_config(FitConfig, None, fit_sets)
    with steps():
        run_pipeline(dataset, out, tcfg, fcfg, eval_users=users, seeds=seeds, ensemble=ensemble)
    say((out / "report.md").read_text())
    say(f"wrote: {out}")


@experiment_app.command("known-world")
def experiment_known_world(
    out: Annotated[Path, typer.Option(help="Folder for report.md, report.json, plots.")] = Path(
        "runs/experiment"
    ),
    seeds: Annotated[int, typer.Option(help="Seeds (logs, fit, PPO, users).")] = 3,
    steps_: Annotated[int | None, typer.Option("--steps", help="PPO steps per run.")] = None,
    log_users: Annotated[int, typer.Option(help="Logged users per seed.")] = 3000,
    eval_users: Annotated[int, typer.Option(help="True-world users per policy and seed.")] = 2000,
    model: Annotated[
        str, typer.Option(help="Text encoder: minilm, hashing, or a folder.")
    ] = "minilm",
    train_true: Annotated[
        bool, typer.Option(help="Also train PPO on the true world (the ceiling check).")
    ] = True,
    start_members: Annotated[
        int,
        typer.Option(
            help="Fit this many simulators on resampled users; PPO-fitted's start is not "
            "one whose value they leave open (0: none)."
        ),
    ] = 0,
    train_on_members: Annotated[
        bool,
        typer.Option(
            help="PPO-fitted trains on a simulator that draws, per user, the fit or one "
            "of its --start-members members (needs --start-members)."
        ),
    ] = False,
    true_log_users: Annotated[
        int,
        typer.Option(
            help="PPO-true's start from a fit on this many true-world users (the ceiling "
            "check with a start a perfect simulator allows; 0: the logs' fit)."
        ),
    ] = 0,
    world_config: WorldOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Logs -> encode -> fit -> PPO on the fitted simulator -> evaluate in the true world.

    ``--set key=value`` sets a training field; ``--set world.key=value`` a field of the
    known world (e.g. ``world.n_items=800``, ``world.quality_effect=0``); ``--set
    fit.key=value`` a field of the simulator's fit (e.g. ``fit.item_consequences=true``)."""
    from ltvrec.agents.train_ppo import TrainConfig
    from ltvrec.config import load_config
    from ltvrec.errors import InputError
    from ltvrec.experiment import run_experiment
    from ltvrec.simulators import FitConfig
    from ltvrec.simulators.known_world import KnownWorldConfig

    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    world_sets, other_sets = split_sets(set_)
    fit_sets, train_sets = take_prefixed(other_sets, "fit.")
    flags = [f"steps={steps_}"] if steps_ is not None else []
    cfg = load_config(TrainConfig, config, [*flags, *train_sets])
    wcfg = load_config(KnownWorldConfig, world_config, world_sets)
    fcfg = load_config(FitConfig, None, fit_sets)
    with steps():
        report = run_experiment(
            seeds,
            out,
            cfg,
            wcfg,
            log_users,
            eval_users,
            model,
            train_true=train_true,
            fit_config=fcfg,
            start_members=start_members,
            train_on_members=train_on_members,
            true_log_users=true_log_users,
        )
    say((out / "report.md").read_text())
    c = report["comparisons"]["ppo-fitted vs greedy-model"]
    say(f"ppo-fitted vs greedy-model: {c['mean']:+.2f} per user, {c['verdict']}; wrote: {out}")


@experiment_app.command("cold-start")
def experiment_cold_start(
    out: Annotated[Path, typer.Option(help="Folder for report.md and report.json.")] = Path(
        "runs/cold-start"
    ),
    seeds: Annotated[int, typer.Option(help="Seeds (world, held-out items, logs, fit, PPO).")] = 5,
    steps_: Annotated[int | None, typer.Option("--steps", help="PPO steps per seed.")] = None,
    log_users: Annotated[int, typer.Option(help="Logged users per seed.")] = 3000,
    eval_users: Annotated[int, typer.Option(help="True-world users per policy and seed.")] = 2000,
    holdout: Annotated[
        float, typer.Option(help="Share of the items held out of logs, fit and training.")
    ] = 0.2,
    model: Annotated[
        str, typer.Option(help="Text encoder: minilm, hashing, or a folder.")
    ] = "minilm",
    train_true: Annotated[
        bool,
        typer.Option(help="Also train PPO in the true world (old items only) as a reference."),
    ] = True,
    world_config: WorldOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """New items by their title alone: hold items out of logs, fit and PPO training, add
    them by title afterwards, evaluate in the true world with and without them.

    Training uses ``id_dropout`` = ``--holdout`` unless ``--set id_dropout=...`` says
    otherwise; ``--set world.key=value`` sets a field of the known world, ``--set
    fit.key=value`` one of the simulator's fit (e.g. ``fit.item_consequences=true``:
    a new item's consequence is then predicted from its text)."""
    from ltvrec.agents.train_ppo import TrainConfig
    from ltvrec.coldstart import run_cold_start
    from ltvrec.config import load_config
    from ltvrec.errors import InputError
    from ltvrec.simulators import FitConfig
    from ltvrec.simulators.known_world import KnownWorldConfig

    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    if not 0.0 < holdout < 1.0:
        raise InputError(f"--holdout must be in (0, 1), got {holdout}")
    world_sets, other_sets = split_sets(set_)
    fit_sets, train_sets = take_prefixed(other_sets, "fit.")
    flags = [f"id_dropout={holdout}", *([f"steps={steps_}"] if steps_ is not None else [])]
    cfg = load_config(TrainConfig, config, [*flags, *train_sets])
    wcfg = load_config(KnownWorldConfig, world_config, world_sets)
    fcfg = load_config(FitConfig, None, fit_sets)
    with steps():
        report = run_cold_start(
            seeds, out, cfg, wcfg, log_users, eval_users, model, holdout, train_true, fcfg
        )
    say((out / "report.md").read_text())
    c = report["comparisons"].get("ppo + new vs ppo")
    if c is not None:
        say(f"ppo + new vs ppo: {c['mean']:+.2f} per user, {c['verdict']}; wrote: {out}")


def sweep(
    spec: Annotated[Path, typer.Argument(help="Sweep YAML (grid / random search, seeds).")],
    out: Annotated[Path | None, typer.Option(help="Folder (default: runs/sweeps/NAME).")] = None,
    backend: Annotated[str, typer.Option(help="ray (Ray Tune) or local (no Ray).")] = "ray",
    address: Annotated[
        str | None, typer.Option(help="An existing Ray cluster (auto, ray://...).")
    ] = None,
    max_concurrent: Annotated[int, typer.Option(help="Trials at once (Ray).")] = 2,
) -> None:
    """Train + evaluate a grid of configs x seeds; mean and 95% CI per config; resumable."""
    from ltvrec.errors import InputError
    from ltvrec.sweep import SweepSpec, run_sweep

    if not spec.is_file():
        raise InputError(f"no sweep file at {spec}")
    s = SweepSpec.load(spec)
    if address is not None and backend != "ray":
        raise InputError("--address needs --backend ray")
    folder = out or Path("runs/sweeps") / s.name
    with steps():
        try:
            summary = run_sweep(s, folder, backend, max_concurrent, address)
        except RuntimeError as e:
            raise InputError(str(e)) from e
    say((folder / "sweep.md").read_text())
    if summary["failed"]:
        say(f"{len(summary['failed'])} trial(s) failed; re-run the same command to retry them")
    say(f"wrote: {folder}")
