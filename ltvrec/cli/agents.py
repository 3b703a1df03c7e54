"""``ltvrec train`` and ``ltvrec evaluate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ltvrec.cli._common import (
    ConfigOpt,
    EnvOpt,
    SetOpt,
    SimOpt,
    WorldOpt,
    WorldSetOpt,
    print_curve_point,
    progress_bar,
    say,
    split_list,
    split_sets,
    steps,
)


def train(
    out: Annotated[Path, typer.Option(help="Folder for the policy, checkpoints, curve.")],
    env: EnvOpt = "known-world",
    sim: SimOpt = None,
    world_config: WorldOpt = None,
    steps_: Annotated[int | None, typer.Option("--steps", help="Total env steps.")] = None,
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
    """Train a Plackett-Luce slate policy with PPO on a simulator.

    ``--set key=value`` sets a training field; ``--set world.key=value`` a field of the
    known world."""
    from ltvrec.agents.train_ppo import TrainConfig, train
    from ltvrec.config import load_config
    from ltvrec.simulators.fitted import FittedSimulator
    from ltvrec.simulators.load import load_simulator

    flags = [f"{k}={v}" for k, v in (("steps", steps_), ("seed", seed)) if v is not None]
    world_sets, train_sets = split_sets(set_)
    cfg = load_config(TrainConfig, config, [*flags, *train_sets])
    simulator, _ = load_simulator(env, sim, world_config, world_sets)
    from_logs = FittedSimulator.load(model_sim) if model_sim else None
    with progress_bar("training", transient=False) as update:

        def progress(n: int, point: dict[str, Any] | None) -> None:
            if point is not None:
                print_curve_point(point)
            update(n, cfg.steps)

        _, curve = train(
            simulator,
            cfg,
            out,
            model_from_logs=from_logs,
            provenance={"env": env, "sim": str(sim.resolve()) if sim else None},
            resume=resume,
            progress=progress,
        )
    end = curve[-1]
    lo, hi = end["value_ci"]
    say(
        f"trained {end['steps']:,} steps; held-out long-term value {end['value']:.2f} "
        f"[{lo:.2f}, {hi:.2f}] -> {out}"
    )


def evaluate(
    policies: Annotated[
        str,
        typer.Option(
            help="Comma list: NAME=DIR (a trained policy) or a baseline: random, logging, "
            "popularity-log, greedy-model (these two need --model-sim on the known world), "
            "greedy-oracle, quality-aware-oracle (known world only)."
        ),
    ] = "greedy-model,popularity-log,random,logging",
    env: Annotated[
        str | None,
        typer.Option(
            help="known-world or fitted (default: where the first NAME=DIR policy was "
            "trained, else known-world)."
        ),
    ] = None,
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
    set_: WorldSetOpt = None,
) -> None:
    """Long-term value (discounted and not, 95% CI) and behaviour of several policies."""
    from ltvrec.agents.evaluation import evaluate_specs, markdown_table, row_support_warnings

    with steps():
        rows = evaluate_specs(
            split_list(policies),
            env,
            sim,
            world_config,
            model_sim,
            users,
            seeds,
            gamma,
            split_sets(set_)[0],
        )
    table = "\n".join(
        [markdown_table(rows), *[f"\nwarning: {w}" for w in row_support_warnings(rows)]]
    )
    say(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.md").write_text(f"# Evaluation\n\n{table}\n")
        (out / "evaluation.json").write_text(json.dumps(rows, indent=2) + "\n")
        say(f"wrote: {out}")
