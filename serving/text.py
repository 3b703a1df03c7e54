"""The bundle's text encoder: an item's text -> the policy's item vector, without torch.

A bundle that can take new items carries, in ``text_encoder/``:

- ``encoder.json``: what encodes (``kind``: ``"onnx"`` for a transformer exported to
  ONNX, ``"hashing"`` for :class:`~ltvrec.encoders.text.HashingTextEncoder`), the
  identity of the encoder the catalog was encoded with, and its settings;
- ``model.onnx`` + ``tokenizer.json`` (``onnx`` only): the transformer with its pooling
  and L2 normalisation inside the graph (inputs ``input_ids``, ``attention_mask``,
  ``token_type_ids``; output ``embedding [B, D]``), and the Hugging Face fast
  tokenizer's file, read by the ``tokenizers`` package;
- ``pca.npz`` (when the catalog was projected): ``mean [D]``, ``components [d, D]``.

:class:`BundleTextEncoder` reads it with onnxruntime, ``tokenizers`` and numpy;
:func:`write_text_encoder` (needs torch) writes it at export time. Parity with the
transformers encoder is tested on the ml-100k titles (``tests/test_coldstart.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = "text_encoder"
KINDS = ("onnx", "hashing")


def text_encoder_files(spec: dict[str, Any]) -> list[str]:
    """The files (relative to the bundle) a text encoder spec needs."""
    files = [f"{FOLDER}/encoder.json"]
    if spec["kind"] == "onnx":
        files += [f"{FOLDER}/model.onnx", f"{FOLDER}/tokenizer.json"]
    if spec.get("pca"):
        files.append(f"{FOLDER}/pca.npz")
    return files


class BundleTextEncoder:
    """Texts -> item vectors ``[M, d]`` float32, from a bundle's ``text_encoder/``."""

    def __init__(self, bundle: str | Path, threads: int = 1) -> None:
        folder = Path(bundle) / FOLDER
        self.spec: dict[str, Any] = json.loads((folder / "encoder.json").read_text())
        kind = self.spec.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{folder}: unknown text encoder kind {kind!r}")
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None
        if self.spec.get("pca"):
            with np.load(folder / "pca.npz", allow_pickle=False) as z:
                self.mean = z["mean"].astype(np.float32)
                self.components = z["components"].astype(np.float32)
        self._hashing: Any = None
        self._session: Any = None
        self._tokenizer: Any = None
        if kind == "hashing":
            from ltvrec.encoders.text import HashingTextEncoder

            self._hashing = HashingTextEncoder(int(self.spec["dim"]), int(self.spec["seed"]))
        else:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tok.enable_truncation(int(self.spec["max_length"]))
            tok.no_padding()
            self._tokenizer = tok
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                str(folder / "model.onnx"), opts, providers=["CPUExecutionProvider"]
            )
        self.batch_size = int(self.spec.get("batch_size", 64))

    @property
    def dim(self) -> int:
        """The item vector's size (after the PCA)."""
        if self.components is not None:
            return int(self.components.shape[0])
        return int(self.spec["dim"])

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        """``[M, D]`` the text encoder's output, before the PCA."""
        from ltvrec.encoders.text import check_texts

        texts = check_texts(texts)
        if self._hashing is not None:
            return np.asarray(self._hashing.encode(texts).embeddings, dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")  # similar lengths share a batch
        out = np.empty((len(texts), int(self.spec["dim"])), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = int(lengths[idx].max())
            feeds = {
                name: np.zeros((len(idx), width), dtype=np.int64)
                for name in ("input_ids", "attention_mask", "token_type_ids")
            }
            for row, i in enumerate(idx):
                e = encodings[i]
                n = len(e.ids)
                feeds["input_ids"][row, :n] = e.ids
                feeds["attention_mask"][row, :n] = e.attention_mask
                feeds["token_type_ids"][row, :n] = e.type_ids
            wanted = {i.name for i in self._session.get_inputs()}
            run = {k: v for k, v in feeds.items() if k in wanted}
            out[idx] = self._session.run(["embedding"], run)[0]
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[M, d]`` float32 item vectors: the encoder, then the catalog's PCA."""
        raw = self.raw(texts)
        if self.components is None or self.mean is None:
            return raw
        return ((raw - self.mean) @ self.components.T).astype(np.float32)


def write_text_encoder(
    bundle: str | Path, encoder: Any, projection: Any = None, opset: int = 17
) -> dict[str, Any]:
    """Write ``text_encoder/`` into ``bundle`` for ``encoder`` (a
    :class:`~ltvrec.encoders.text.TransformerTextEncoder` or
    :class:`~ltvrec.encoders.text.HashingTextEncoder`) and the catalog's ``projection``
    (:class:`~ltvrec.encoders.items.PCAProjection` or None). Returns the spec written."""
    from ltvrec.encoders.text import HashingTextEncoder, TransformerTextEncoder

    folder = Path(bundle) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    identity = encoder.identity.to_dict()
    spec: dict[str, Any]
    if isinstance(encoder, HashingTextEncoder):
        spec = {"kind": "hashing", "dim": encoder.dim, "seed": encoder.seed}
    elif isinstance(encoder, TransformerTextEncoder):
        _export_transformer(encoder, folder, opset)
        spec = {
            "kind": "onnx",
            "dim": encoder.identity.dim,
            "max_length": encoder.max_length,
            "pooling": encoder.pooling,
            "normalize": encoder.normalize,
            "batch_size": encoder.batch_size,
            "opset": opset,
        }
    else:
        raise TypeError(f"cannot export a {type(encoder).__name__} text encoder")
    spec["identity"] = identity
    spec["pca"] = projection is not None
    if projection is not None:
        np.savez(
            folder / "pca.npz",
            mean=np.asarray(projection.mean, dtype=np.float32),
            components=np.asarray(projection.components, dtype=np.float32),
        )
    (folder / "encoder.json").write_text(json.dumps(spec, indent=2))
    return spec


def _export_transformer(encoder: Any, folder: Path, opset: int) -> None:
    """The transformer + pooling + normalisation as one ONNX graph, and the tokenizer."""
    import warnings

    import onnx
    import torch

    tokenizer, model = encoder._load()
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    takes_types = "token_type_ids" in tokenizer.model_input_names

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, *rest: Any) -> Any:
            kwargs = {"token_type_ids": rest[0]} if rest else {}
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, **kwargs
            ).last_hidden_state
            return encoder._pool(hidden, attention_mask)

    names = ["input_ids", "attention_mask", *(["token_type_ids"] if takes_types else [])]
    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled().eval(),
            example,
            str(folder / "model.onnx"),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    onnx.checker.check_model(str(folder / "model.onnx"))


__all__ = ["FOLDER", "BundleTextEncoder", "text_encoder_files", "write_text_encoder"]
