"""Scale-out on Ray: a local Ray instance that connects to nothing beyond loopback (or
an existing cluster), and a text encoder that shards a catalog across Ray workers.

Ray is optional (the ``scale`` extra); without it these raise a message that says how
to install it. See docs/scale.md.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ltvrec.encoders.text import (
    BatchProgress,
    EncodedTexts,
    EncoderIdentity,
    TextEncoder,
    check_texts,
    texts_hash,
)

SCALE_HINT = "install the scale extra: pip install 'ltvrec[scale]' (Ray 2.60)"


@contextmanager
def local_ray(num_cpus: int | None = None, address: str | None = None) -> Iterator[Any]:
    """A Ray instance that connects to nothing beyond loopback (or ``address``).

    Started naively, Ray probes a cloud metadata address from its usage-stats module and
    finds the node IP by ``connect()``-ing a UDP socket to a public DNS address. Here:
    ``HOME`` is a temporary folder holding ``ray_bootstrap_config.yaml`` with ``provider:
    {type: local}``, usage stats are off, the dashboard is not started, the node IP is
    127.0.0.1, and ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray's own node-IP lookup
    return the loopback address instead of probing. Checked under ``strace -f -e
    trace=connect``: only 127.0.0.1 and unix sockets (docs/scale.md).
    """
    if address is not None:
        ray = _import_ray()
        ray.init(address=address, configure_logging=False)
        try:
            yield ray
        finally:
            ray.shutdown()
        return
    home = tempfile.mkdtemp(prefix="ltvrec-ray-home-")
    Path(home, "ray_bootstrap_config.yaml").write_text("provider: {type: local}\n")
    env = {
        "HOME": home,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # before importing Ray: it reads some of these at import
    try:
        ray = _import_ray()
        from ray._private import ray_constants

        cluster = ray_constants.ENABLE_RAY_CLUSTER
        ray_constants.ENABLE_RAY_CLUSTER = False  # if Ray was imported before, too
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            configure_logging=False,
            log_to_driver=False,
        )
        try:
            yield ray
        finally:
            ray.shutdown()
            ray_constants.ENABLE_RAY_CLUSTER = cluster
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RuntimeError(f"--backend ray needs Ray: {SCALE_HINT}") from e
    return ray


class RayTextEncoder:
    """Encode texts on Ray workers: the texts are cut into ``shards`` contiguous pieces,
    each encoded by a task running ``encoder`` (shipped to the worker as the object
    itself: its settings, not loaded weights, for the lazy-loading encoders), and the
    pieces are joined in input order. Its identity is ``encoder``'s, so the result goes
    into the same cache entry as the single-machine path would.

    Needs a running Ray (:func:`local_ray` or a cluster) when :meth:`encode` is called.
    """

    def __init__(self, encoder: TextEncoder, shards: int = 2) -> None:
        if shards < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self.encoder = encoder
        self.shards = shards

    @property
    def identity(self) -> EncoderIdentity:
        return self.encoder.identity

    def encode(self, texts: Sequence[str], progress: BatchProgress | None = None) -> EncodedTexts:
        ray = _import_ray()
        texts = check_texts(texts)
        bounds = np.linspace(0, len(texts), min(self.shards, len(texts)) + 1).astype(int)
        task = ray.remote(_encode_shard)
        pieces = list(itertools.pairwise(bounds.tolist()))
        refs = [task.remote(self.encoder, texts[lo:hi]) for lo, hi in pieces]
        parts: list[EncodedTexts] = []
        for ref, (_, hi) in zip(refs, pieces, strict=True):
            parts.append(ray.get(ref))
            if progress is not None:
                progress(hi)
        return EncodedTexts(
            embeddings=np.concatenate([p.embeddings for p in parts]),
            identity=parts[0].identity,
            texts_sha256=texts_hash(texts),
            n_truncated=sum(p.n_truncated for p in parts),
        )


def _encode_shard(encoder: TextEncoder, texts: list[str]) -> EncodedTexts:
    return encoder.encode(texts)
