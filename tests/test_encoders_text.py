"""Text encoders on a tiny random-weight BERT (never downloaded), the hashing encoder,
and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ltvrec.encoders import HashingTextEncoder, ModelNotFoundError, TransformerTextEncoder
from ltvrec.encoders import text as text_mod

WORDS = "a the dog puppy cat red blue shoes hat movie comedy drama long story of and".split()


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT with random weights and a 21-token vocabulary, saved locally."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizer(vocab_file=str(vocab), do_lower_case=True).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5 + len(WORDS),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=24,
        max_position_embeddings=64,
    )
    BertModel(config).eval().save_pretrained(folder)
    return folder


def test_mean_pooling_equals_a_hand_computation(tiny_bert: Path) -> None:
    enc = TransformerTextEncoder(tiny_bert, normalize=False)
    texts = ["a red dog", "the long story of a cat and a dog"]
    got = enc.encode(texts).embeddings
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert)
    for i, t in enumerate(texts):
        ids = tok(t, return_tensors="pt")
        with torch.no_grad():
            h = model(**ids).last_hidden_state[0].numpy()  # [T, H], no padding here
        np.testing.assert_allclose(got[i], h.mean(axis=0), atol=1e-6)


def test_a_text_alone_equals_the_same_text_in_a_padded_batch(tiny_bert: Path) -> None:
    enc = TransformerTextEncoder(tiny_bert, batch_size=3)
    texts = ["a dog", "the long story of a red cat and a blue dog", "hat", "drama comedy movie"]
    batch = enc.encode(texts).embeddings
    for i, t in enumerate(texts):
        np.testing.assert_allclose(enc.encode([t]).embeddings[0], batch[i], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-6)


def test_cls_pooling_and_determinism(tiny_bert: Path) -> None:
    a = TransformerTextEncoder(tiny_bert, pooling="cls").encode(["a dog", "a cat"])
    b = TransformerTextEncoder(tiny_bert, pooling="cls").encode(["a dog", "a cat"])
    assert np.array_equal(a.embeddings, b.embeddings)
    assert a.identity.pooling == "cls" and a.identity == b.identity
    mean = TransformerTextEncoder(tiny_bert).encode(["a dog", "a cat"])
    assert not np.allclose(a.embeddings, mean.embeddings)


def test_long_texts_are_truncated_and_counted(tiny_bert: Path) -> None:
    enc = TransformerTextEncoder(tiny_bert, max_length=6)
    long = "the long story of a red cat and a blue dog"
    out = enc.encode([long, "a dog"])
    assert out.n_truncated == 1
    # Truncation keeps [CLS] + the first 4 words + [SEP].
    np.testing.assert_allclose(
        out.embeddings[0], enc.encode(["the long story of"]).embeddings[0], atol=1e-6
    )
    # The model's position table caps max_length.
    assert TransformerTextEncoder(tiny_bert, max_length=10_000).identity.max_length == 64


@pytest.mark.parametrize(
    ("texts", "error", "fragment"),
    [
        ([], ValueError, "at least one text"),
        (["ok", 3], TypeError, "text 1: expected a string, got int"),
        ("a dog", TypeError, "single string"),
    ],
)
def test_bad_texts(tiny_bert: Path, texts: object, error: type[Exception], fragment: str) -> None:
    for enc in (TransformerTextEncoder(tiny_bert), HashingTextEncoder(dim=4)):
        with pytest.raises(error, match=fragment):
            enc.encode(texts)  # type: ignore[arg-type]


def test_missing_models_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE is set"):
        TransformerTextEncoder("nobody/no-such-model-xyz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"has no config\.json"):
        TransformerTextEncoder(tmp_path / "empty")


def test_default_weights_with_the_wrong_hash_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_mod, "DEFAULT_MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelNotFoundError, match="expected 0000"):
        TransformerTextEncoder()


def test_bad_encoder_arguments(tiny_bert: Path) -> None:
    with pytest.raises(ValueError, match="pooling must be"):
        TransformerTextEncoder(tiny_bert, pooling="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_length >= 2"):
        TransformerTextEncoder(tiny_bert, max_length=1)


def test_hashing_encoder_is_stable_and_reads_shared_words() -> None:
    a = HashingTextEncoder(dim=64, seed=1)
    e = a.encode(["red shoes", "red hat", "blue dog", "Red, SHOES!"]).embeddings
    # Same seed, new instance: identical; the mean of token vectors, normalised.
    again = HashingTextEncoder(dim=64, seed=1).encode(["red shoes"]).embeddings[0]
    assert np.array_equal(e[0], again)
    manual = (a._token_vector("red") + a._token_vector("shoes")) / 2
    np.testing.assert_allclose(e[0], manual / np.linalg.norm(manual), atol=1e-6)
    assert np.array_equal(e[0], e[3])  # case and punctuation do not matter
    assert e[0] @ e[1] > e[0] @ e[2]  # one shared word beats none
    other = HashingTextEncoder(dim=64, seed=2).encode(["red shoes"]).embeddings[0]
    assert not np.allclose(e[0], other)
    assert a.identity.is_language_model is False
