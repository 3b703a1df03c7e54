"""What every command shares: the consoles, the common options, progress display.

Nothing heavy is imported here: ``ltvrec --help`` loads this module and the command
modules, and each command imports the library it calls inside its own body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
logger = logging.getLogger("ltvrec")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML file of config fields (see configs/).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config field: --set key=value (repeatable)."),
]
EnvOpt = Annotated[str, typer.Option(help="known-world (ground truth) or fitted.")]
SimOpt = Annotated[Path | None, typer.Option("--sim", help="Fitted simulator folder.")]
WorldOpt = Annotated[
    Path | None, typer.Option("--world-config", help="YAML of KnownWorldConfig fields.")
]
WorldSetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="A known-world field: --set world.key=value (repeatable)."),
]


def say(text: str) -> None:
    """Print a result to stdout as plain text (no markup)."""
    console.print(text, markup=False, highlight=False)


def split_sets(sets: list[str] | None) -> tuple[list[str], list[str]]:
    """``--set`` values split into the known world's (``world.key=value``, prefix
    dropped) and the rest."""
    world = [s.removeprefix("world.") for s in sets or [] if s.startswith("world.")]
    return world, [s for s in sets or [] if not s.startswith("world.")]


def take_prefixed(sets: list[str], prefix: str) -> tuple[list[str], list[str]]:
    """``--set`` values split into those starting with ``prefix`` (``fit.``; prefix
    dropped) and the rest."""
    ours = [s.removeprefix(prefix) for s in sets if s.startswith(prefix)]
    return ours, [s for s in sets if not s.startswith(prefix)]


def split_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [p.strip() for p in text.split(",") if p.strip()]


class _SpinnerHandler(logging.Handler):
    """Shows the latest log message as the spinner's text."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        super().__init__(logging.INFO)
        self.progress, self.task = progress, task

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.update(self.task, description=record.getMessage())


@contextmanager
def steps() -> Iterator[None]:
    """A spinner whose text is the library's latest progress message (the ``ltvrec``
    loggers); the messages themselves are printed on stderr by the log handler."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        handler = _SpinnerHandler(progress, progress.add_task("starting", total=None))
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)


@contextmanager
def progress_bar(label: str, transient: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A progress bar; yields ``update(done, total)``. Log messages print above it."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
    ) as bar:
        task = bar.add_task("", total=None)
        yield lambda done, total: bar.update(task, completed=min(done, total), total=total)


def print_curve_point(point: dict[str, Any]) -> None:
    """One line per evaluation point of a training run."""
    lo, hi = point["value_ci"]
    logger.info(
        f"{point['steps']:,} steps: long-term value {point['value']:.2f} [{lo:.2f}, {hi:.2f}]"
    )
