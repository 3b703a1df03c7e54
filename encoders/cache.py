"""On-disk embedding cache: a second encode of the same texts does no model work.

Key: sha256 of (model id, weights sha256, pooling, max length, normalisation, dim,
texts sha256). Each entry is one safetensors file (no pickle) holding the embeddings;
its metadata repeats the key's fields and the sha256 of the embedding bytes. On read
the metadata and the bytes are checked: a corrupted, truncated or mismatched entry is
reported, removed and recomputed, never silently used. Writes are atomic.

The cache lives in ``$LTVREC_CACHE/embeddings`` or ``<user cache>/ltvrec/embeddings``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import platformdirs

from ltvrec.encoders.text import BatchProgress, EncodedTexts, TextEncoder, check_texts, texts_hash
from ltvrec.interactions.io import atomic_path

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$LTVREC_CACHE/embeddings`` or the user's cache dir + ``ltvrec/embeddings``."""
    root = os.environ.get("LTVREC_CACHE")
    base = Path(root) if root else Path(platformdirs.user_cache_dir("ltvrec"))
    return base / "embeddings"


def cache_key(encoder: TextEncoder, texts_sha256: str) -> str:
    payload = {**encoder.identity.to_dict(), "texts_sha256": texts_sha256}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class EmbeddingCache:
    """Embeddings by (encoder identity, texts); see the module docstring."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.safetensors"

    def get(self, encoder: TextEncoder, texts_sha256: str) -> EncodedTexts | None:
        """The cached encoding, or None on a miss or an invalid entry (then removed)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        key = cache_key(encoder, texts_sha256)
        path = self.path(key)
        if not path.is_file():
            return None
        ident = encoder.identity
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
            arr = load_file(str(path))["embeddings"]
            problem = None
            if meta.get("identity") != json.dumps(ident.to_dict(), sort_keys=True):
                problem = "it was made by another encoder"
            elif meta.get("texts_sha256") != texts_sha256:
                problem = "it holds other texts"
            elif arr.dtype != np.float32 or arr.ndim != 2 or arr.shape[1] != ident.dim:
                problem = f"its shape {arr.shape} / dtype {arr.dtype} do not fit dim {ident.dim}"
            elif hashlib.sha256(arr.tobytes()).hexdigest() != meta.get("sha256"):
                problem = "its bytes do not match their recorded sha256"
        except (SafetensorError, OSError, KeyError, ValueError) as e:
            problem = f"it cannot be read ({e})"
        if problem is not None:
            log.warning("embedding cache entry %s is invalid: %s; recomputing", path, problem)
            path.unlink(missing_ok=True)
            return None
        return EncodedTexts(
            embeddings=arr,
            identity=ident,
            texts_sha256=texts_sha256,
            n_truncated=int(meta.get("n_truncated", 0)),
            from_cache=True,
        )

    def put(self, encoder: TextEncoder, encoded: EncodedTexts) -> Path:
        """Store an encoding atomically; returns its path."""
        from safetensors.numpy import save_file

        arr = np.ascontiguousarray(encoded.embeddings, dtype=np.float32)
        meta = {
            "identity": json.dumps(encoder.identity.to_dict(), sort_keys=True),
            "texts_sha256": encoded.texts_sha256,
            "sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
            "n_truncated": str(encoded.n_truncated),
        }
        path = self.path(cache_key(encoder, encoded.texts_sha256))
        with atomic_path(path) as tmp:
            save_file({"embeddings": arr}, str(tmp), metadata=meta)
        return path


def encode_cached(
    encoder: TextEncoder,
    texts: Sequence[str],
    cache: EmbeddingCache | None = None,
    progress: BatchProgress | None = None,
) -> EncodedTexts:
    """Encode ``texts`` with ``encoder``, reading and filling ``cache``.

    >>> from ltvrec.encoders.text import HashingTextEncoder
    >>> import tempfile, pathlib
    >>> c = EmbeddingCache(pathlib.Path(tempfile.mkdtemp()))
    >>> first = encode_cached(HashingTextEncoder(dim=4), ["a b", "c"], c)
    >>> again = encode_cached(HashingTextEncoder(dim=4), ["a b", "c"], c)
    >>> first.from_cache, again.from_cache, bool((first.embeddings == again.embeddings).all())
    (False, True, True)
    """
    texts = check_texts(texts)
    cache = cache if cache is not None else EmbeddingCache()
    digest = texts_hash(texts)
    hit = cache.get(encoder, digest)
    if hit is not None:
        if progress is not None:
            progress(len(texts))
        return hit
    encoded = encoder.encode(texts, progress=progress)
    cache.put(encoder, encoded)
    return replace(encoded, from_cache=False)
