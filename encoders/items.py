"""Encoded items: catalog texts -> embeddings, an optional PCA projection, saved together.

The projection is fitted once on the catalog and stored with the embeddings, so the
simulator, the policy and the serving runtime all see the same ``d``-dimensional item
vectors (default ``d = 32``).

On disk (a folder, no pickle):

- ``items.safetensors``: ``embeddings [n, d]`` (projected), ``raw [n, D]`` (the text
  encoder's output) and, if projected, ``pca_mean [D]``, ``pca_components [d, D]``,
  ``pca_explained_variance_ratio [d]``;
- ``encoder.json``: the encoder identity, texts hash, item ids, dims, the sha256 of
  ``items.safetensors``, the package version and the caller's provenance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ltvrec.artifacts import read_record, write_record
from ltvrec.encoders.cache import EmbeddingCache, encode_cached
from ltvrec.encoders.text import BatchProgress, EncoderIdentity, TextEncoder
from ltvrec.errors import InputError
from ltvrec.interactions.io import atomic_path
from ltvrec.interactions.schema import ItemCatalog

if TYPE_CHECKING:
    from ltvrec.config import EncodeConfig

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PCAProjection:
    """``x -> (x - mean) @ components.T``: the top-``d`` principal directions.

    Attributes:
        mean: ``[D]`` float32, the catalog's mean embedding.
        components: ``[d, D]`` float32, orthonormal rows.
        explained_variance_ratio: ``[d]``, share of variance each direction keeps.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, dim: int, seed: int = 0) -> PCAProjection:
        """Fit with scikit-learn's exact (full SVD) PCA on ``x [n, D]``."""
        from sklearn.decomposition import PCA

        n, big_d = x.shape
        if not 1 <= dim <= min(n, big_d):
            raise ValueError(
                f"PCA dim must be in [1, min(n_items, embedding dim)] = [1, {min(n, big_d)}], "
                f"got {dim}"
            )
        pca = PCA(n_components=dim, svd_solver="full", random_state=seed).fit(x.astype(np.float64))
        # C order: sklearn may hand back Fortran-ordered arrays, and safetensors
        # writes the memory buffer as is (it would scramble them on reload).
        return cls(
            mean=np.ascontiguousarray(pca.mean_, dtype=np.float32),
            components=np.ascontiguousarray(pca.components_, dtype=np.float32),
            explained_variance_ratio=np.ascontiguousarray(
                pca.explained_variance_ratio_, dtype=np.float32
            ),
        )

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``[n, D] -> [n, d]`` float32."""
        return ((x - self.mean) @ self.components.T).astype(np.float32)


@dataclass(frozen=True)
class ItemEncoding:
    """Item vectors for a catalog, and what made them.

    Attributes:
        item_ids: ``[n]`` catalog item ids; row i of every array is item i.
        embeddings: ``[n, d]`` float32, what the rest of ltvrec consumes.
        raw: ``[n, D]`` float32, the text encoder's output.
        projection: the PCA that maps raw to embeddings (None: embeddings = raw).
        identity: the text encoder.
        texts_sha256: hash of the catalog texts.
        n_truncated: texts longer than the encoder's max length.
        provenance: free-form facts from the caller (data set, hashes, seed ...).
    """

    item_ids: np.ndarray
    embeddings: np.ndarray
    raw: np.ndarray
    projection: PCAProjection | None
    identity: EncoderIdentity
    texts_sha256: str
    n_truncated: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = field(default=False, compare=False)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def save(self, folder: str | Path) -> Path:
        """Write ``items.safetensors`` then ``encoder.json`` (atomically, that order)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        tensors = {
            "embeddings": np.ascontiguousarray(self.embeddings, dtype=np.float32),
            "raw": np.ascontiguousarray(self.raw, dtype=np.float32),
        }
        if self.projection is not None:
            tensors["pca_mean"] = self.projection.mean
            tensors["pca_components"] = self.projection.components
            tensors["pca_explained_variance_ratio"] = self.projection.explained_variance_ratio
        tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
        with atomic_path(folder / "items.safetensors") as tmp:
            save_file(tensors, str(tmp))
        meta = {
            "encoder": self.identity.to_dict(),
            "texts_sha256": self.texts_sha256,
            "n_items": len(self.item_ids),
            "dim": self.dim,
            "raw_dim": int(self.raw.shape[1]),
            "projection": "pca" if self.projection is not None else None,
            "n_truncated": self.n_truncated,
            "item_ids": [x.item() if hasattr(x, "item") else x for x in self.item_ids],
        }
        write_record(
            folder, "encoding", FORMAT_VERSION, ["items.safetensors"], meta, self.provenance
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ItemEncoding:
        """Read a saved encoding; refuse one whose files do not match their record."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        meta = read_record(
            folder, "encoding", FORMAT_VERSION, ["items.safetensors"], "items_sha256"
        )
        t = load_file(str(folder / "items.safetensors"))
        proj = None
        if meta["projection"] == "pca":
            proj = PCAProjection(
                t["pca_mean"], t["pca_components"], t["pca_explained_variance_ratio"]
            )
        return cls(
            item_ids=np.asarray(meta["item_ids"]),
            embeddings=t["embeddings"],
            raw=t["raw"],
            projection=proj,
            identity=EncoderIdentity(**meta["encoder"]),
            texts_sha256=meta["texts_sha256"],
            n_truncated=int(meta["n_truncated"]),
            provenance=meta.get("provenance", {}),
        )


def encode_catalog(
    catalog: ItemCatalog,
    encoder: TextEncoder,
    dim: int | None = 32,
    cache: EmbeddingCache | None = None,
    seed: int = 0,
    progress: BatchProgress | None = None,
    provenance: dict[str, Any] | None = None,
) -> ItemEncoding:
    """Encode a catalog's texts (through the cache) and fit a PCA to ``dim`` dims.

    Args:
        catalog: the items; row order is the item index.
        encoder: a text encoder.
        dim: projected size, or None to keep the encoder's size.
        cache: the embedding cache (default: the user's cache dir).
        seed: PCA seed (the full-SVD solver is deterministic; recorded anyway).
        progress: called with the number of texts done.
        provenance: facts to record with the encoding.
    """
    texts: Sequence[str] = catalog.texts
    encoded = encode_cached(encoder, texts, cache, progress)
    raw = encoded.embeddings
    proj = PCAProjection.fit(raw, dim, seed) if dim is not None else None
    return ItemEncoding(
        item_ids=catalog.item_ids.to_numpy(),
        embeddings=proj.transform(raw) if proj is not None else raw,
        raw=raw,
        projection=proj,
        identity=encoded.identity,
        texts_sha256=encoded.texts_sha256,
        n_truncated=encoded.n_truncated,
        provenance={**(provenance or {}), "pca_seed": seed},
        from_cache=encoded.from_cache,
    )


Progress = Callable[[int, int], None]
"""``progress(done, total)``: texts encoded so far."""


def encode_with_config(
    catalog: ItemCatalog,
    cfg: EncodeConfig,
    cache_dir: str | Path | None = None,
    provenance: dict[str, Any] | None = None,
    progress: Progress | None = None,
    ray_shards: int = 0,
    ray_address: str | None = None,
) -> tuple[ItemEncoding, EmbeddingCache]:
    """Encode ``catalog`` as ``cfg`` says (the encoder from
    :func:`~ltvrec.encoders.text.text_encoder`, through the cache under ``cache_dir``);
    ``ray_shards > 0`` encodes on that many Ray tasks (a local Ray, or ``ray_address``).
    Returns the encoding and the cache it went through."""
    from contextlib import ExitStack

    from ltvrec.config import config_to_dict
    from ltvrec.encoders.text import text_encoder

    logger.info(f"loading {cfg.model}")
    encoder: TextEncoder = text_encoder(cfg)
    cache = EmbeddingCache(Path(cache_dir) / "embeddings" if cache_dir else None)
    total = catalog.n_items
    with ExitStack() as stack:
        if ray_shards:
            from ltvrec.scale import RayTextEncoder, local_ray

            try:
                stack.enter_context(local_ray(address=ray_address))
            except RuntimeError as e:
                raise InputError(str(e)) from e
            encoder = RayTextEncoder(encoder, shards=ray_shards)
        logger.info(f"encoding {total:,} item texts")
        enc = encode_catalog(
            catalog,
            encoder,
            dim=cfg.dim,
            cache=cache,
            seed=cfg.seed,
            progress=(lambda done: progress(done, total)) if progress else None,
            provenance={
                **(provenance or {}),
                "ray_shards": ray_shards,
                "config": config_to_dict(cfg),
            },
        )
    return enc, cache


def encoding_for(
    catalog: ItemCatalog,
    encoding: str | Path | None,
    cfg: EncodeConfig,
    cache_dir: str | Path | None = None,
    provenance: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> ItemEncoding:
    """The saved encoding at ``encoding`` (checked to encode exactly ``catalog``'s
    items), or ``catalog`` encoded now as ``cfg`` says."""
    if encoding is not None:
        enc = ItemEncoding.load(encoding)
        if list(enc.item_ids) != list(catalog.item_ids):
            raise InputError(f"{encoding} encodes other items than the catalog given")
        return enc
    return encode_with_config(catalog, cfg, cache_dir, provenance, progress)[0]
