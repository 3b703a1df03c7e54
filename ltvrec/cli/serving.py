"""``ltvrec export``, ``ltvrec serve`` and ``ltvrec served-log``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvrec.cli._common import SimOpt, WorldOpt, err_console, say, steps


def export(
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
    from ltvrec.serving.bundle import export_trained

    with steps():
        export_trained(policy, out, env, sim, world_config, session_gap_minutes)
    say(f"wrote: {out}")


def serve(
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


def served_log(
    log_dir: Annotated[Path, typer.Argument(help="The service's served-log folder.")],
    bundle: Annotated[Path, typer.Option(help="The bundle that served it.")],
    out: Annotated[Path, typer.Option(help="Log folder to write (log + catalog).")],
) -> None:
    """Join served slates and feedback into a log folder for `ltvrec ope` / `sim fit`."""
    from ltvrec.serving.log import served_log_folder

    n, clicks = served_log_folder(log_dir, bundle, out)
    say(f"{n:,} served requests, {clicks:,} clicks -> {out}")
