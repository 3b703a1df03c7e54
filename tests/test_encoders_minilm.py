"""Integration: the real all-MiniLM-L6-v2 (installed by `make test`, loaded offline)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltvrec.encoders import DEFAULT_MODEL, ItemEncoding, TransformerTextEncoder
from ltvrec.encoders.text import DEFAULT_MODEL_SHA256, default_model_dir
from ltvrec.interactions import Dataset

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def minilm() -> TransformerTextEncoder:
    return TransformerTextEncoder(batch_size=128)


def test_identity_records_the_verified_weights(minilm: TransformerTextEncoder) -> None:
    ident = minilm.identity
    assert ident.model_id == DEFAULT_MODEL and ident.weights_sha256 == DEFAULT_MODEL_SHA256
    assert (ident.dim, ident.max_length, ident.pooling, ident.normalize) == (384, 256, "mean", True)


def test_semantic_sanity(minilm: TransformerTextEncoder) -> None:
    e = minilm.encode(["a dog", "a puppy", "a spreadsheet"]).embeddings
    assert e[0] @ e[1] > e[0] @ e[2] + 0.3


@pytest.mark.slow
def test_parity_with_sentence_transformers_on_all_ml100k_titles(
    minilm: TransformerTextEncoder, ml100k: Dataset
) -> None:
    from sentence_transformers import SentenceTransformer

    from ltvrec.encoders import EmbeddingCache, encode_cached

    texts = ml100k.catalog.texts
    # Through the user's embedding cache: what the pipeline reads later in the session
    # (a hit there instead of a second encoding of the same titles).
    ours = encode_cached(minilm, texts, EmbeddingCache())
    st = SentenceTransformer(str(default_model_dir()), device="cpu")
    ref = st.encode(texts, batch_size=64, convert_to_numpy=True)
    assert ours.embeddings.shape == (1682, 384) and ours.n_truncated == 0
    assert np.abs(ours.embeddings - ref).max() <= 1e-5


def test_cli_encode_writes_the_cache_then_hits_it(
    tmp_path: Path, ml100k_small: Path, minilm: TransformerTextEncoder
) -> None:
    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ltvrec", "encode", "--dataset", str(ml100k_small), "--out",
             str(tmp_path / "enc"), "--cache-dir", str(tmp_path / "cache"), "--dim", "16"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = run()
    assert "encoded 60 items with sentence-transformers/all-MiniLM-L6-v2" in first
    assert "items/s" in first and "dim 384 -> 16" in first
    assert len(list((tmp_path / "cache" / "embeddings").glob("*.safetensors"))) == 1
    assert "from the cache" in run()
    enc = ItemEncoding.load(tmp_path / "enc")
    assert enc.embeddings.shape == (60, 16)
    # The command's vectors are the library encoder's, for the same titles.
    titles = list(pd.read_parquet(ml100k_small / "catalog.parquet")["text"])
    np.testing.assert_allclose(enc.raw, minilm.encode(titles).embeddings, atol=1e-6)
    meta = json.loads((tmp_path / "enc" / "encoder.json").read_text())
    assert meta["provenance"]["dataset"] == ml100k_small.name
    assert meta["encoder"]["weights_sha256"] == DEFAULT_MODEL_SHA256


@pytest.mark.slow
def test_the_bundles_onnx_encoder_equals_transformers_on_all_ml100k_titles(
    minilm: TransformerTextEncoder, ml100k: Dataset, tmp_path: Path
) -> None:
    # The torch-free text encoder a bundle carries (ONNX graph + the tokenizers package)
    # against the transformers encoder, on every ml-100k title.
    from ltvrec.encoders import EmbeddingCache, encode_cached
    from ltvrec.encoders.items import PCAProjection
    from ltvrec.serving.text import BundleTextEncoder, write_text_encoder

    texts = ml100k.catalog.texts
    ref = encode_cached(minilm, texts, EmbeddingCache()).embeddings
    pca = PCAProjection.fit(ref, 32)
    spec = write_text_encoder(tmp_path, minilm, pca)
    assert spec["kind"] == "onnx" and spec["identity"]["weights_sha256"] == DEFAULT_MODEL_SHA256
    enc = BundleTextEncoder(tmp_path)
    raw = enc.raw(texts)
    assert raw.shape == (1682, 384)
    assert np.abs(raw - ref).max() <= 1e-5
    np.testing.assert_allclose(enc.encode(texts[:50]), pca.transform(ref[:50]), atol=1e-5)
