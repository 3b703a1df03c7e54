"""``ltvrec ope``: off-policy evaluation of whole policies on a log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvrec.cli._common import (
    EnvOpt,
    SimOpt,
    WorldOpt,
    WorldSetOpt,
    say,
    split_list,
    split_sets,
    steps,
)
from ltvrec.names import ESTIMATORS


def ope(
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
        str, typer.Option(help="Comma list of: " + ", ".join(ESTIMATORS))
    ] = ",".join(ESTIMATORS),
    truth_users: Annotated[
        int, typer.Option(help="Users for the simulator's on-policy value (0: skip).")
    ] = 2000,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples (0: normal CI).")] = 1000,
    samples: Annotated[int, typer.Option(help="Target slates per state for FQE.")] = 4,
    ppo_mode: Annotated[str, typer.Option(help="sample or greedy for NAME=DIR.")] = "sample",
    members: Annotated[
        int,
        typer.Option(
            help="Simulators refitted on resampled users for the model-based estimate (0: skip it)."
        ),
    ] = 3,
    members_history: Annotated[
        str | None,
        typer.Option(
            help="What the refitted simulators' choice model reads: auto (the residual "
            "interest when the log records impressions), consumed, none, residual "
            "(default: a fitted simulator's own setting; auto for the known world)."
        ),
    ] = None,
    set_: WorldSetOpt = None,
) -> None:
    """Offline policy evaluation of whole policies on a log: IS, PDIS, FQE, DR, reports."""
    from ltvrec.ope_report import ope_on_logs

    with steps():
        ope_on_logs(
            logs,
            policy,
            env,
            out,
            sim,
            world_config,
            tuple(split_list(estimators)),
            truth_users,
            bootstrap,
            samples,
            ppo_mode,
            split_sets(set_)[0],
            members,
            members_history,
        )
    say((out / "ope.md").read_text())
    say(f"wrote: {out}/ope.html")
