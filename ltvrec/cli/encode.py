"""``ltvrec encode``: item texts through a language model, cached, projected."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ltvrec.cli._common import ConfigOpt, SetOpt, progress_bar, say


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
    from ltvrec.config import EncodeConfig, load_config
    from ltvrec.encoders.items import encode_with_config
    from ltvrec.errors import InputError
    from ltvrec.interactions import load

    flags = {"model": model, "dim": dim, "batch_size": batch_size, "num_threads": threads}
    overrides = [
        f"{k}={'null' if k == 'dim' and v == 0 else v}" for k, v in flags.items() if v is not None
    ]
    cfg = load_config(EncodeConfig, config, [*overrides, *(set_ or [])])
    if address is not None and not ray:
        raise InputError("--address needs --ray")
    ds = load(dataset)
    provenance = {
        "dataset": ds.name,
        "dataset_converted_files": ds.provenance.get("converted_files", {}),
    }
    start = time.perf_counter()
    with progress_bar("encoding") as update:
        enc, cache = encode_with_config(
            ds.catalog, cfg, cache_dir, provenance, update, shards if ray else 0, address
        )
    seconds = time.perf_counter() - start
    enc.save(out)
    n = ds.catalog.n_items
    how = "from the cache" if enc.from_cache else f"{n / seconds:,.0f} items/s"
    say(
        f"encoded {n:,} items with {enc.identity.model_id} ({how}, {seconds:.2f} s); "
        f"dim {enc.raw.shape[1]} -> {enc.dim}; truncated texts: {enc.n_truncated}"
    )
    say(f"cache: {cache.root}")
    say(f"wrote: {out}")
