"""The embedding cache: hits do no model work; corrupt or mismatched entries are rebuilt."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ltvrec.encoders import EmbeddingCache, EncodedTexts, HashingTextEncoder, encode_cached
from ltvrec.encoders.cache import cache_key
from ltvrec.encoders.text import BatchProgress, EncoderIdentity, texts_hash


class CountingEncoder:
    """A hashing encoder that counts its encode() calls."""

    def __init__(self, dim: int = 8) -> None:
        self.inner = HashingTextEncoder(dim=dim)
        self.calls = 0

    @property
    def identity(self) -> EncoderIdentity:
        return self.inner.identity

    def encode(self, texts: Sequence[str], progress: BatchProgress | None = None) -> EncodedTexts:
        self.calls += 1
        return self.inner.encode(texts, progress)


TEXTS = ["red shoes", "blue hat", "green scarf"]


def test_hit_miss_and_keying(tmp_path: Path) -> None:
    cache, enc = EmbeddingCache(tmp_path), CountingEncoder()
    first = encode_cached(enc, TEXTS, cache)
    second = encode_cached(enc, TEXTS, cache)
    assert enc.calls == 1 and not first.from_cache and second.from_cache
    assert np.array_equal(first.embeddings, second.embeddings)
    encode_cached(enc, [*TEXTS, "one more"], cache)  # other texts: a miss
    encode_cached(enc, list(reversed(TEXTS)), cache)  # order matters: a miss
    assert enc.calls == 3
    other_model = CountingEncoder(dim=4)
    encode_cached(other_model, TEXTS, cache)  # other encoder: a miss
    assert other_model.calls == 1


def _entry(cache: EmbeddingCache, enc: CountingEncoder) -> Path:
    return cache.path(cache_key(enc, texts_hash(TEXTS)))


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_corrupted_entry_is_detected_and_rebuilt(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache, enc = EmbeddingCache(tmp_path), CountingEncoder()
    good = encode_cached(enc, TEXTS, cache).embeddings
    path = _entry(cache, enc)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "flip":
        data[-3] ^= 0xFF  # inside the embedding bytes
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(b"not a safetensors file")
    again = encode_cached(enc, TEXTS, cache)
    assert enc.calls == 2 and not again.from_cache
    assert np.array_equal(again.embeddings, good)
    assert "invalid" in caplog.text
    assert encode_cached(enc, TEXTS, cache).from_cache  # rebuilt entry is used again


def test_an_entry_with_the_wrong_dim_is_not_used(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    cache, enc = EmbeddingCache(tmp_path), CountingEncoder(dim=8)
    encode_cached(enc, TEXTS, cache)
    path = _entry(cache, enc)
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    save_file({"embeddings": np.zeros((3, 5), np.float32)}, str(path), metadata=meta)
    out = encode_cached(enc, TEXTS, cache)
    assert enc.calls == 2 and out.embeddings.shape == (3, 8)
