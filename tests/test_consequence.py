"""Item consequences estimated from logs (simulators/consequence.py): the exposure matrix
against a direct loop, the estimate against the known world's item quality, and a
world where quality does nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from ltvrec.encoders import EmbeddingCache, encode_catalog
from ltvrec.encoders.state import UserStateEncoder
from ltvrec.encoders.text import HashingTextEncoder
from ltvrec.errors import ConfigError
from ltvrec.ope_report import refit_ensemble
from ltvrec.serving.bundle import BundleError, export_trained
from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    fit_simulator,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.components import Standardizer, fit_leave_and_return
from ltvrec.simulators.consequence import (
    consumption_exposure,
    cross_fitted,
    item_consequences,
    shrunk_to_text,
    split_half_kappa,
    split_half_reliability,
    text_prediction,
    with_consequences,
)
from ltvrec.simulators.fitted import fit_config_of, fitted_from_vectors
from ltvrec.simulators.replay import replay_log


def test_exposure_equals_a_direct_loop() -> None:
    rng = np.random.default_rng(0)
    user = np.sort(rng.integers(0, 7, 300))
    item = np.where(rng.random(300) < 0.4, rng.integers(0, 11, 300), -1)
    traj = SimpleNamespace(n=300, user=user, consumed_item=item)
    decay = 0.6
    expected = np.zeros((300, 11))
    for t in range(300):
        for s in range(t + 1):
            w = decay ** (t - s)
            if user[s] == user[t] and item[s] >= 0 and w >= 0.01:
                expected[t, item[s]] += w
    got = consumption_exposure(traj, 11, decay).toarray()  # type: ignore[arg-type]
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_exposure_rejects_a_decay_outside_the_open_interval(decay: float) -> None:
    traj = SimpleNamespace(n=1, user=np.zeros(1, int), consumed_item=np.zeros(1, int))
    with pytest.raises(ValueError, match="expected a decay in"):
        consumption_exposure(traj, 1, decay)  # type: ignore[arg-type]


def test_with_consequences_appends_one_scaled_column() -> None:
    emb = np.random.default_rng(1).normal(0, 0.2, (50, 4)).astype(np.float32)
    c = np.linspace(-3, 5, 50)
    out = with_consequences(emb, c)
    assert out.shape == (50, 5)
    np.testing.assert_array_equal(out[:, :4], emb)
    assert abs(out[:, 4].mean()) < 1e-6
    assert out[:, 4].std() == pytest.approx(np.median(emb.std(axis=0)), rel=1e-5)
    np.testing.assert_allclose(np.corrcoef(out[:, 4], c)[0, 1], 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="one consequence per item"):
        with_consequences(emb, c[:-1])
    # A column the log backs only in part keeps its direction at that share of the size.
    part = with_consequences(emb, c, reliability=0.25)[:, 4]
    np.testing.assert_allclose(part, 0.25 * out[:, 4], rtol=1e-5, atol=1e-7)
    assert not with_consequences(emb, c, reliability=0.0)[:, 4].any()
    with pytest.raises(ValueError, match="reliability in"):
        with_consequences(emb, c, reliability=1.5)


def test_split_half_reliability_is_spearman_brown_of_the_halves() -> None:
    """Two halves = truth + independent noise of equal variance: the halves correlate at
    var(truth) / (var(truth) + var(noise)), and the whole log's reliability is
    Spearman-Brown's 2 r / (1 + r)."""
    rng = np.random.default_rng(4)
    truth = rng.normal(size=20_000)
    a, b = truth + rng.normal(size=20_000), truth + rng.normal(size=20_000)
    assert split_half_reliability(a, b) == pytest.approx(2 * 0.5 / 1.5, abs=0.02)
    assert split_half_reliability(a, a) == pytest.approx(1.0)
    assert split_half_reliability(a, -a) == 0.0  # halves that disagree back nothing
    assert split_half_reliability(a, np.zeros_like(a)) == 0.0
    with pytest.raises(ValueError, match="same items"):
        split_half_reliability(a, b[:-1])


def _log(cfg: KnownWorldConfig, users: int) -> tuple[KnownWorld, object]:
    world = KnownWorld(cfg)
    policy = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    return world, simulate_log(world, policy, users, seed=cfg.seed)


def _consequences(world: KnownWorld, log: object) -> np.ndarray:
    catalog = known_world_catalog(world.items.titles, world.items.price)
    traj = replay_log(log, catalog, UserStateEncoder(world.item_embeddings))  # type: ignore[arg-type]
    x_after = Standardizer.fit(traj.after)(traj.after)
    return item_consequences(traj, x_after, world.n_items, 0.8, 1.0)


def test_consequences_follow_the_true_quality() -> None:
    """Default known world, 3,000 logged users, the fit's settings: the consequences
    rank items by their true quality (measured 0.43-0.50 over world seeds 0-2;
    docs/simulators.md)."""
    world, log = _log(KnownWorldConfig(), 3000)
    assert stats.spearmanr(_consequences(world, log), world.items.quality)[0] > 0.3


def test_no_consequence_is_found_where_quality_does_nothing() -> None:
    """With ``quality_effect = 0`` nothing an item does outlasts the click: the estimate
    must not rank items by quality (measured |rho| <= 0.12 over seeds 0-2 with 1,000
    and 3,000 users; -0.03 on this seed-3 world)."""
    world, log = _log(replace(KnownWorldConfig(), quality_effect=0.0, seed=3), 1000)
    assert abs(stats.spearmanr(_consequences(world, log), world.items.quality)[0]) < 0.2


def test_refits_start_from_the_text_vectors_not_the_appended_ones(tmp_path: Path) -> None:
    """A fit with item consequences keeps the text columns and appends one. The OPE
    report's ensemble and ``ltvrec sim report`` refit a saved simulator's recipe: from
    the vectors it was fitted from (one column less), so each refit appends its own
    consequence once. Exporting with the item encoding compares it with the vectors
    the fit was given (the bundle predicts a new item's column from its text:
    tests/test_coldstart.py)."""
    world, log = _log(KnownWorldConfig(n_items=60, horizon_days=10.0), 300)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    # The plumbing is under test, not the fit: one epoch of the choice model.
    cfg = FitConfig(horizon_days=10.0, item_consequences=True, min_steps=0, epochs=1)
    sim = fit_simulator(log, catalog, world.item_embeddings, cfg)  # type: ignore[arg-type]
    d = world.item_embeddings.shape[1]
    assert sim.item_embeddings.shape == (world.n_items, d + 1)
    assert sim.meta["fit"]["items_with_consequence"] > 0.9 * world.n_items
    np.testing.assert_array_equal(fitted_from_vectors(sim), world.item_embeddings)
    # The held-out comparison (benchmarks/consequence_likelihood.py) fits the leave and
    # return models alone, with the default settings.
    enc = UserStateEncoder(sim.item_embeddings)
    _, leave, _ = fit_leave_and_return(replay_log(log, catalog, enc))  # type: ignore[arg-type]
    assert leave.coef.shape == (enc.size,)
    members = refit_ensemble(log, catalog, sim, 2)
    assert all(m.item_embeddings.shape == sim.item_embeddings.shape for m in members)
    # The members follow the simulator's recipe, choice model included.
    assert {fit_config_of(m).choice_history for m in members} == {"consumed"}
    sim.save(tmp_path / "sim")
    # The world's own vectors are a hashing encoder + PCA of the titles: that encoding
    # is the one the fit was given, so the export goes on to read the policy (none here).
    cfg_w = world.config
    for name, dim in (("given", cfg_w.embedding_dim), ("other", cfg_w.embedding_dim - 1)):
        encoder = HashingTextEncoder(dim=max(64, cfg_w.embedding_dim), seed=cfg_w.seed)
        cache = EmbeddingCache(tmp_path / "cache")
        encoding = encode_catalog(catalog, encoder, dim=dim, cache=cache, seed=cfg_w.seed)
        encoding.save(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="policy"):
        export_trained(
            tmp_path / "none", tmp_path / "b", env="fitted", sim=tmp_path / "sim",
            items=tmp_path / "given",
        )  # fmt: skip
    with pytest.raises(BundleError, match="is not the one the simulator's item vectors"):
        export_trained(
            tmp_path / "none", tmp_path / "b", env="fitted", sim=tmp_path / "sim",
            items=tmp_path / "other",
        )  # fmt: skip


def test_training_states_carry_the_consequences_estimated_without_their_user() -> None:
    world, log = _log(KnownWorldConfig(n_items=60, horizon_days=10.0), 400)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    emb = world.item_embeddings
    text = replay_log(log, catalog, UserStateEncoder(emb))  # type: ignore[arg-type]
    cfg = FitConfig(horizon_days=10.0, seed=3)
    vectors, traj, full, reliability = cross_fitted(log, catalog, emb, text, cfg)  # type: ignore[arg-type]
    assert reliability == 1.0  # raw consequences: the column at full size, as always
    np.testing.assert_array_equal(vectors, with_consequences(emb, full))
    # The folds as cross_fitted draws them, and each fold's out-of-fold estimate.
    fold = np.random.default_rng(3).integers(0, 2, int(text.user.max()) + 1)[text.user]
    x_after = Standardizer.fit(text.after)(text.after)
    last = UserStateEncoder(vectors).layout.blocks["last_item"].stop - 1
    clicked = text.clicked_item >= 0
    for k in (0, 1):
        other = item_consequences(text, x_after, 60, 0.8, 1.0, rows=fold != k)
        column = with_consequences(emb, other, like=full)[:, -1]
        rows = clicked & (fold == k)
        np.testing.assert_allclose(traj.after[rows, last], column[text.clicked_item[rows]])
        assert not np.allclose(column, vectors[:, -1])  # the folds' estimates differ
    np.testing.assert_array_equal(traj.session_end, text.session_end)


def test_split_halves_recover_the_reliability_and_shrinking_lowers_the_error() -> None:
    """Normal means with noise variance s^2 / n around a truth that strays tau^2 from a
    linear text prediction: the halves' agreement gives kappa = s^2 / tau^2, and the
    shrunk estimates are closer to the truth than the raw ones, most for rare items."""
    rng = np.random.default_rng(0)
    n_items, d, tau, s = 3000, 8, 0.3, 2.0
    text = rng.normal(size=(n_items, d))
    truth = text @ rng.normal(scale=0.2, size=d) + rng.normal(scale=tau, size=n_items)
    counts = rng.integers(1, 120, n_items).astype(float)
    n_a = np.floor(counts / 2)
    n_b = counts - n_a
    keep = (n_a > 0) & (n_b > 0)
    a = truth + rng.normal(size=n_items) * s / np.sqrt(np.maximum(n_a, 1))
    b = truth + rng.normal(size=n_items) * s / np.sqrt(np.maximum(n_b, 1))
    full = (a * n_a + b * n_b) / counts  # the estimate from every consumption
    t = text_prediction(full, text, counts)
    kappa = split_half_kappa(a, b, np.where(keep, n_a, 0), np.where(keep, n_b, 0), t)
    assert kappa == pytest.approx(s**2 / tau**2, rel=0.3)
    shrunk = shrunk_to_text(full, t, counts, kappa)
    rare = counts < 20
    for rows in (np.ones(n_items, bool), rare):
        raw_err = np.mean((full[rows] - truth[rows]) ** 2)
        assert np.mean((shrunk[rows] - truth[rows]) ** 2) < 0.8 * raw_err
    # An item nobody consumed gets its text's prediction; halves that never agree, too.
    np.testing.assert_allclose(shrunk_to_text(full, t, np.zeros(n_items), kappa), t)
    noise = split_half_kappa(
        rng.normal(size=n_items), rng.normal(size=n_items), counts, counts, 0 * t
    )
    assert np.mean(counts / (counts + noise)) < 0.1  # estimates that are all noise: ~t


def test_the_shrunk_column_is_as_loud_as_the_log_backs_it() -> None:
    """Shrunk towards the text, the column's spread is the text columns' times the
    halves' agreement: most of full size where quality has consequences, about none
    where it has none (1,000 logged users, world seed 3, the world's hashing vectors:
    0.475 and 0.000 measured; seeds 0-3 gave 0.42-0.66 and 0.00-0.21)."""
    spread = {}
    for effect in (1.0, 0.0):
        world, log = _log(replace(KnownWorldConfig(), quality_effect=effect, seed=3), 1000)
        catalog = known_world_catalog(world.items.titles, world.items.price)
        emb = world.item_embeddings
        text = replay_log(log, catalog, UserStateEncoder(emb))  # type: ignore[arg-type]
        cfg = FitConfig(item_consequences=True, shrink_consequences=True, seed=3)
        vectors, _, _, reliability = cross_fitted(log, catalog, emb, text, cfg)  # type: ignore[arg-type]
        unit = float(np.median(emb.std(axis=0)))
        assert vectors[:, -1].std() == pytest.approx(reliability * unit, rel=1e-4, abs=1e-7)
        spread[effect] = reliability
    assert spread[1.0] > 0.3 and spread[0.0] < 0.15


def test_shrinking_needs_the_consequences() -> None:
    with pytest.raises(ConfigError, match="set both"):
        FitConfig(shrink_consequences=True)
