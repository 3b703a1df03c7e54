"""``ltvrec export``, ``ltvrec serve`` and ``ltvrec served-log``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltvrec.cli._common import SimOpt, WorldOpt, err_console, say, steps

ITEMS_TOKEN_ENV = "LTVREC_ITEMS_TOKEN"


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
    items: Annotated[
        Path | None,
        typer.Option(
            help="The item encoding the simulator was fitted with (ltvrec encode's folder); "
            "its text encoder goes into the bundle so it can take new items by text."
        ),
    ] = None,
) -> None:
    """Export a trained policy as a serving bundle (ONNX + state encoder, no pickle)."""
    from ltvrec.serving.bundle import export_trained

    with steps():
        export_trained(policy, out, env, sim, world_config, session_gap_minutes, items)
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
    allow_items: Annotated[
        bool,
        typer.Option(
            help=f"Enable POST /v1/items (new items by text), for clients that send the "
            f"token in ${ITEMS_TOKEN_ENV}."
        ),
    ] = False,
) -> None:
    """Serve a bundle over HTTP (POST /v1/recommend, /v1/feedback; GET /v1/model, /healthz;
    with --allow-items, POST /v1/items)."""
    import os

    import uvicorn

    from ltvrec.errors import InputError
    from ltvrec.serving.log import ServedLog
    from ltvrec.serving.runtime import Runtime
    from ltvrec.serving.service import create_app

    token = None
    if allow_items:
        token = os.environ.get(ITEMS_TOKEN_ENV, "").strip()
        if not token:
            raise InputError(f"--allow-items needs a secret token in ${ITEMS_TOKEN_ENV}")
    runtime = Runtime(bundle, threads=threads)
    if allow_items and not runtime.can_add_items:
        raise InputError(
            f"{bundle} carries no text encoder, so it cannot take new items; export it "
            "with --items DIR (the item encoding its simulator was fitted with)"
        )
    log = ServedLog(log_dir, fsync=fsync)
    app = create_app(
        runtime, log, max_history=max_history, item_position=item_position, items_token=token
    )
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


items_app = typer.Typer(help="A bundle's catalog: add items by their text.", no_args_is_help=True)


@items_app.command("add")
def items_add(
    bundle: Annotated[Path, typer.Argument(help="A bundle folder (ltvrec export).")],
    items_csv: Annotated[
        Path, typer.Argument(help="CSV with columns item_id and text (one new item per row).")
    ],
) -> None:
    """Add items by their text: writes the bundle's next catalog version (atomic,
    checksummed; earlier versions are kept). Bad rows change nothing."""
    import pandas as pd

    from ltvrec.errors import InputError
    from ltvrec.serving.runtime import Runtime

    if not items_csv.is_file():
        raise InputError(f"no file at {items_csv}")
    frame = pd.read_csv(items_csv, dtype={"item_id": object, "text": object}, keep_default_na=False)
    missing = [c for c in ("item_id", "text") if c not in frame.columns]
    if missing:
        raise InputError(f"{items_csv} lacks column(s) {', '.join(missing)}")
    runtime = Runtime(bundle)
    ids = [_id(v) for v in frame["item_id"]]
    rows = [{"item_id": i, "text": t} for i, t in zip(ids, frame["text"], strict=True)]
    with steps():
        cat = runtime.add_items(rows)
    say(f"catalog version {cat.version}: {len(rows)} item(s) added ({cat.n_items:,} in all)")


def _id(value: object) -> object:
    """A CSV id as the bundle's ids are: an int when it reads as one, else the string."""
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else text
