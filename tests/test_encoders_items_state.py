"""Item encodings with PCA, and the user-state encoder's two forms agreeing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltvrec.encoders import (
    REQUEST,
    START,
    EmbeddingCache,
    Events,
    HashingTextEncoder,
    ItemEncoding,
    PCAProjection,
    UserStateEncoder,
    encode_catalog,
    events_from_log,
)
from ltvrec.encoders.state import ENGAGEMENT_DECAYS
from ltvrec.interactions import Dataset, ItemCatalog


def test_pca_matches_sklearn_and_is_orthonormal() -> None:
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).standard_normal((200, 20)).astype(np.float32)
    proj = PCAProjection.fit(x, 5)
    np.testing.assert_allclose(proj.components @ proj.components.T, np.eye(5), atol=1e-5)
    ref = PCA(5, svd_solver="full").fit(x.astype(np.float64)).transform(x.astype(np.float64))
    np.testing.assert_allclose(np.abs(proj.transform(x)), np.abs(ref), atol=1e-4)
    with pytest.raises(ValueError, match=r"PCA dim must be in \[1, min"):
        PCAProjection.fit(x, 21)


def test_catalog_encoding_round_trip_and_tamper_check(tmp_path: Path) -> None:
    import pandas as pd

    texts = [f"item {i} about topic {i % 7} and style {i % 3}" for i in range(50)]
    catalog = ItemCatalog.from_frame(pd.DataFrame({"item_id": range(100, 150), "text": texts}))
    enc = encode_catalog(
        catalog, HashingTextEncoder(dim=24), dim=6, cache=EmbeddingCache(tmp_path / "c")
    )
    assert enc.embeddings.shape == (50, 6) and enc.raw.shape == (50, 24)
    enc.save(tmp_path / "out")
    back = ItemEncoding.load(tmp_path / "out")
    assert np.array_equal(back.embeddings, enc.embeddings)
    assert back.item_ids.tolist() == list(range(100, 150))
    assert back.identity == enc.identity and back.projection is not None
    np.testing.assert_allclose(back.projection.transform(back.raw), back.embeddings, atol=1e-6)
    data = tmp_path / "out" / "items.safetensors"
    blob = bytearray(data.read_bytes())
    blob[-1] ^= 1
    data.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="does not match the sha256"):
        ItemEncoding.load(tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="ltvrec encode"):
        ItemEncoding.load(tmp_path / "nothing")


@pytest.mark.parametrize(("decays", "size"), [((), 2 * 3 + 6), ((0.5, 0.9, 0.98), 5 * 3 + 14)])
def test_state_layout_covers_the_vector(decays: tuple[float, ...], size: int) -> None:
    enc = UserStateEncoder(np.zeros((4, 3), np.float32), engagement_decays=decays)
    cols = sorted(c for s in enc.layout.blocks.values() for c in range(s.start, s.stop))
    assert cols == list(range(enc.size)) and enc.size == size


def test_hand_computed_state() -> None:
    # Items: e0 = (1, 0), e1 = (0, 1). decay 0.5.
    enc = UserStateEncoder(np.eye(2, dtype=np.float32), decay=0.5, engagement_decays=(0.5, 1.0))
    s = enc.start_session(enc.initial(1), np.array([np.nan]))
    s = enc.observe(s, np.array([0]), np.array([2.0]))  # consume e0, reward 2
    s = enc.observe(s, np.array([-1]), np.array([0.0]))  # nothing consumed
    assert enc.block(s, "no_click_streak")[0].tolist() == [1.0]
    s = enc.start_session(s, np.array([np.e - 1.0]))  # log1p(e - 1) = 1
    s = enc.observe(s, np.array([1]), np.array([4.0]))  # consume e1, reward 4
    got = {k: enc.block(s, k)[0].tolist() for k in enc.layout.blocks}
    # interest = (0.5 * e0 + 1 * e1) / 1.5; mass 1.5; last item e1.
    np.testing.assert_allclose(got["interest"], [1 / 3, 2 / 3], rtol=1e-6)
    assert got["last_item"] == [0.0, 1.0]
    assert got["interest_mass"] == [1.5]
    assert got["session_requests"] == [1.0] and got["session_clicks"] == [1.0]
    assert got["session_mean_reward"] == [4.0]
    np.testing.assert_allclose(got["log_hours_since_session"], [1.0], rtol=1e-6)
    assert got["sessions"] == [2.0]
    # Engagement across both sessions: requests (click, reward) = (1, 2), (0, 0), (1, 4).
    assert got["requests"] == [3.0] and got["no_click_streak"] == [0.0]
    # decay 0.5, latest first: weights 1, 0.5, 0.25.
    np.testing.assert_allclose(got["click_rate@0.5"], [1.25 / 1.75], rtol=1e-6)
    np.testing.assert_allclose(got["reward_rate@0.5"], [4.5 / 1.75], rtol=1e-6)
    np.testing.assert_allclose(got["recent_items@0.5"], [0.25 / 1.75, 1 / 1.75], rtol=1e-6)
    # decay 1: plain means.
    np.testing.assert_allclose(got["click_rate@1"], [2 / 3], rtol=1e-6)
    np.testing.assert_allclose(got["reward_rate@1"], [2.0], rtol=1e-6)
    np.testing.assert_allclose(got["recent_items@1"], [1 / 3, 1 / 3], rtol=1e-6)


def _random_events(rng: np.random.Generator, n_users: int, n_items: int) -> Events:
    users, kinds, items, rewards, hours = [], [], [], [], []
    for u in range(n_users):
        for j in range(int(rng.integers(0, 40))):
            start = j == 0 or rng.random() < 0.15
            users.append(u)
            kinds.append(START if start else REQUEST)
            items.append(-1 if start or rng.random() < 0.4 else int(rng.integers(n_items)))
            rewards.append(0.0 if start else float(rng.normal()))
            hours.append(np.nan if j == 0 else float(rng.exponential(30)))
    return Events(
        np.array(users, dtype=np.int64),
        np.array(kinds, dtype=np.int8),
        np.array(items, dtype=np.int64),
        np.array(rewards),
        np.array(hours),
        n_users,
    )


def _incremental(enc: UserStateEncoder, ev: Events) -> np.ndarray:
    """Replay events one at a time through start_session / observe."""
    state = enc.initial(ev.n_users)
    for i in range(len(ev.user)):
        mask = np.zeros(ev.n_users, dtype=bool)
        mask[ev.user[i]] = True
        fill = np.full(ev.n_users, ev.hours[i])
        if ev.kind[i] == START:
            state = enc.start_session(state, fill, mask)
        else:
            item = np.full(ev.n_users, ev.item[i])
            state = enc.observe(state, item, np.full(ev.n_users, ev.reward[i]), mask)
    return state


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_and_from_scratch_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((30, 5)).astype(np.float32)
    enc = UserStateEncoder(emb, decay=0.7, engagement_decays=ENGAGEMENT_DECAYS)
    ev = _random_events(rng, 12, 30)
    np.testing.assert_allclose(_incremental(enc, ev), enc.from_events(ev), atol=1e-5)


@pytest.mark.parametrize("decays", [(), ENGAGEMENT_DECAYS])
def test_a_wider_state_holds_the_base_one(decays: tuple[float, ...]) -> None:
    # Item vectors with an appended column (a fit's item consequences): the columns
    # ``columns_for`` picks out of the wider state are the base encoder's state exactly.
    rng = np.random.default_rng(4)
    emb = rng.standard_normal((30, 5)).astype(np.float32)
    wide = np.hstack([emb, rng.standard_normal((30, 1)).astype(np.float32)])
    base = UserStateEncoder(emb, decay=0.7, engagement_decays=decays)
    grown = UserStateEncoder(wide, decay=0.7, engagement_decays=decays)
    ev = _random_events(rng, 12, 30)
    cols = grown.layout.columns_for(base.layout)
    assert len(set(cols.tolist())) == base.size < grown.size
    np.testing.assert_array_equal(grown.from_events(ev)[:, cols], base.from_events(ev))
    with pytest.raises(ValueError, match="does not contain"):
        base.layout.columns_for(grown.layout)


def test_agreement_on_a_real_log(ml100k: Dataset) -> None:
    # 40 ml-100k users' whole histories, with sessions from the 30-minute gap.
    users = np.sort(ml100k.log.frame["user_id"].unique())[:40]
    sub = ml100k.log.frame[ml100k.log.frame["user_id"].isin(users)]
    from ltvrec.interactions import InteractionLog

    log = InteractionLog(frame=sub.reset_index(drop=True))
    ev, ids = events_from_log(log, ml100k.catalog)
    assert ids.tolist() == users.tolist()
    emb = HashingTextEncoder(dim=8).encode(ml100k.catalog.texts).embeddings
    enc = UserStateEncoder(emb, decay=0.9, engagement_decays=ENGAGEMENT_DECAYS)
    scratch = enc.from_events(ev)
    np.testing.assert_allclose(_incremental(enc, ev), scratch, atol=1e-5)
    # Counts line up with the log: sessions per user and the final session's length.
    from ltvrec.interactions import session_table

    s = session_table(log)
    per_user = s.groupby("user_id").size().reindex(users).to_numpy()
    np.testing.assert_array_equal(scratch[:, enc.layout.index("sessions")], per_user)
    last_len = s.groupby("user_id")["n_requests"].last().reindex(users).to_numpy()
    np.testing.assert_array_equal(scratch[:, enc.layout.index("session_requests")], last_len)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"user": np.array([1, 0])}, "non-decreasing"),
        ({"user": np.array([0, 5])}, "expected < n_users"),
        ({"item": np.array([1])}, "Events.item has 1 rows, expected 2"),
    ],
)
def test_bad_events(kwargs: dict[str, np.ndarray], fragment: str) -> None:
    base = {
        "user": np.array([0, 1]),
        "kind": np.array([START, REQUEST], dtype=np.int8),
        "item": np.array([-1, 0]),
        "reward": np.zeros(2),
        "hours": np.full(2, np.nan),
    }
    with pytest.raises(ValueError, match=fragment):
        Events(**{**base, **kwargs}, n_users=2)


def test_bad_state_encoder_arguments() -> None:
    with pytest.raises(ValueError, match="decay must be in"):
        UserStateEncoder(np.zeros((2, 2)), decay=0.0)
    with pytest.raises(ValueError, match="engagement_decays must be distinct"):
        UserStateEncoder(np.zeros((2, 2)), engagement_decays=(0.5, 1.5))
    with pytest.raises(ValueError, match="engagement_decays must be distinct"):
        UserStateEncoder(np.zeros((2, 2)), engagement_decays=(0.5, 0.5))
    with pytest.raises(ValueError, match=r"expected item embeddings \[n_items, d\]"):
        UserStateEncoder(np.zeros(3))
