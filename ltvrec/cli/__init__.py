"""The ``ltvrec`` command line: a thin face over the library.

One module per command group; each command parses its options and calls one library
function. Commands import the library inside their bodies, so ``ltvrec --help`` and
``--version`` load neither torch nor pandas.

Errors: an :class:`~ltvrec.errors.LtvrecError` (bad input, a missing or altered file)
or a missing file prints one line, ``error: ...``, and exits with status 1; usage
mistakes exit with status 2. Anything else is a bug: one line saying so, or its full
traceback with ``--debug`` (or ``LTVREC_DEBUG=1``).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from ltvrec import __version__
from ltvrec.cli import agents, config, data, encode, ope, runs, serving, sim
from ltvrec.cli._common import console, err_console

app = typer.Typer(
    help="Optimise the long-term value of recommendations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(config.app, name="config")
app.add_typer(sim.simulate_app, name="simulate")
app.add_typer(sim.sim_app, name="sim")
app.add_typer(runs.experiment_app, name="experiment")
app.add_typer(serving.items_app, name="items")
app.command("encode")(encode.encode)
app.command("train")(agents.train)
app.command("evaluate")(agents.evaluate)
app.command("ope")(ope.ope)
app.command("export")(serving.export)
app.command("serve")(serving.serve)
app.command("served-log")(serving.served_log)
app.command("sweep")(runs.sweep)
app.command("pipeline")(runs.pipeline)

_debug = os.environ.get("LTVREC_DEBUG", "") not in ("", "0")


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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print debug messages.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print results and errors only.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of unexpected errors.")
    ] = False,
) -> None:
    """ltvrec: log-fitted user simulators, PPO slate policies, off-policy evaluation."""
    global _debug
    _debug = _debug or debug
    _configure_logging(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def _configure_logging(level: int) -> None:
    """The ``ltvrec`` loggers print ``- message`` lines to stderr: through rich on a
    terminal (above any progress bar), plainly otherwise (files, pipes)."""
    handler: logging.Handler
    if err_console.is_terminal:
        from rich.highlighter import NullHighlighter
        from rich.logging import RichHandler

        handler = RichHandler(
            console=err_console,
            show_time=False,
            show_path=level <= logging.DEBUG,
            show_level=level <= logging.DEBUG,
            markup=False,
            highlighter=NullHighlighter(),
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    verbose = level <= logging.DEBUG and not err_console.is_terminal
    handler.setFormatter(
        logging.Formatter("- %(levelname)s %(name)s: %(message)s" if verbose else "- %(message)s")
    )
    root = logging.getLogger("ltvrec")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main() -> None:
    """Entry point: run the app; user errors print one line and exit 1."""
    from ltvrec.errors import LtvrecError

    root = logging.getLogger("ltvrec")
    saved = (root.handlers[:], root.level, root.propagate)
    try:
        app()
    except (LtvrecError, FileNotFoundError) as e:
        if _debug:
            raise
        err_console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted", markup=False, highlight=False)
        sys.exit(130)
    except Exception as e:
        if _debug:
            raise
        err_console.print(
            f"error: {type(e).__name__}: {e}\n"
            "(an unexpected error, probably a bug in ltvrec: run again with --debug, or "
            "LTVREC_DEBUG=1, for the traceback)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
    finally:  # leave logging as found (main() also runs inside tests)
        root.handlers[:], root.propagate = saved[0], saved[2]
        root.setLevel(saved[1])
