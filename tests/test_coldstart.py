"""Cold start: items known by their text alone, from the policy module to the HTTP
service (the item table, text rows, catalog versions, ``ltvrec items add``,
``POST /v1/items``) and the cold-start experiment."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch as th
from conftest import ltvrec_here
from fastapi.testclient import TestClient
from gymnasium import spaces

from ltvrec.agents.baselines import ModelGreedyPolicy
from ltvrec.agents.policies import PPOPolicy, load_policy
from ltvrec.agents.policy import SlateActorCriticPolicy
from ltvrec.agents.prior import consequence_prior, signal_arrays
from ltvrec.agents.train_ppo import TrainConfig, obs_statistics, start_policy, train
from ltvrec.catalog import TextMap
from ltvrec.coldstart import OnCatalog, SignalGreedy, SubCatalog, run_cold_start
from ltvrec.encoders.items import PCAProjection
from ltvrec.encoders.text import HashingTextEncoder
from ltvrec.serving.bundle import ItemsError, catalog_versions, export_bundle
from ltvrec.serving.log import ServedLog, bundle_catalog, read_served_log
from ltvrec.serving.runtime import Runtime
from ltvrec.serving.service import create_app
from ltvrec.simulators import (
    FitConfig,
    FittedSimulator,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    RandomPolicy,
    fit_simulator,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.base import SimState

WORLD = KnownWorldConfig(n_items=40, slate_size=3, horizon_days=10.0)
FAST = TrainConfig(
    steps=1024, n_envs=16, n_steps=64, batch_size=256, n_epochs=1, eval_every=0,
    eval_users=20, checkpoint_every=0, hidden=(16,), tower_dim=8, start_users=40,
    start_scales=(2.0,), start="greedy-model",
)  # fmt: skip
NEW_TITLES = [
    "Football: A Practical Guide to Stadium and Tennis",
    "Pasta: You Won't Believe These Spices and Curry",
    "Galaxies Explained, with Evidence",
]


@pytest.fixture(scope="module")
def world() -> KnownWorld:
    return KnownWorld(WORLD)


@pytest.fixture(scope="module")
def fitted(world: KnownWorld) -> FittedSimulator:
    """Fitted without repeats: its policies mask consumed items (the harder case)."""
    log = simulate_log(world, PlackettLucePolicy(world.logging_scores(), world.slate_size), 300, 0)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    cfg = FitConfig(horizon_days=world.horizon_days, epochs=3, min_steps=0, repeats="forbid")
    return fit_simulator(log, catalog, world.item_embeddings, cfg)


@pytest.fixture(scope="module")
def fitted_c(world: KnownWorld) -> FittedSimulator:
    """The same log, fitted with item consequences: its item vectors end with a column
    estimated from the logs, which a new item's title has to predict."""
    log = simulate_log(world, PlackettLucePolicy(world.logging_scores(), world.slate_size), 300, 0)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    cfg = FitConfig(
        horizon_days=world.horizon_days,
        epochs=3,
        min_steps=0,
        repeats="forbid",
        item_consequences=True,
    )
    return fit_simulator(log, catalog, world.item_embeddings, cfg)


def _text_vectors(world: KnownWorld, titles: list[str]) -> np.ndarray:
    """New titles encoded the way the world's own item vectors were (hashing + PCA)."""
    enc, pca = _world_text_encoder(world)
    return pca.transform(enc.encode(titles).embeddings)


def _world_text_encoder(world: KnownWorld) -> tuple[HashingTextEncoder, PCAProjection]:
    cfg = world.config
    enc = HashingTextEncoder(dim=max(64, cfg.embedding_dim), seed=cfg.seed)
    pca = PCAProjection.fit(enc.encode(world.items.titles).embeddings, cfg.embedding_dim, cfg.seed)
    assert np.allclose(
        pca.transform(enc.encode(world.items.titles).embeddings), world.item_embeddings, atol=1e-5
    )
    return enc, pca


def _module(
    sim: FittedSimulator, shortlist: int = 0, id_dropout: float = 0.0, consequence: float = 0.0
) -> SlateActorCriticPolicy:
    """An untrained policy at greedy-model's signals (plus ``consequence`` x the item
    consequences, for a fit that has them), with a non-zero residual scorer."""
    prior = consequence_prior(sim) if consequence else None
    _, _, probe = obs_statistics(sim, 32)
    s, n = sim.state_encoder.size, sim.n_items
    policy = SlateActorCriticPolicy(
        spaces.Box(-np.inf, np.inf, (s + n,), np.float32),
        spaces.MultiDiscrete(np.full(sim.slate_size, n)),
        lambda _: 1e-3,
        item_embeddings=sim.item_embeddings,
        hidden=[16],
        tower_dim=8,
        state_dim=s,
        signals=signal_arrays(sim, probe),
        signal_init=(2.0, 0.0),
        mask_consumed=True,
        shortlist=shortlist,
        shortlist_explore=2 if shortlist else 0,
        id_dropout=id_dropout,
        item_bias_init=None if prior is None else consequence * prior,
    )
    gen = th.Generator().manual_seed(0)
    with th.no_grad():
        for p in policy.user_tower.parameters():
            p.copy_(th.randn(p.shape, generator=gen) * 0.3)
        policy.item_bias.copy_(th.randn(n, generator=gen) * 0.1)
    return policy


def _states(sim: FittedSimulator, n: int = 48) -> SimState:
    rng = np.random.default_rng(3)
    state = sim.reset(n, rng)
    for _ in range(5):
        state, _r = sim.step(state, RandomPolicy().act(sim, state, rng), rng)
    return state


@pytest.mark.parametrize("shortlist", [0, 6])
def test_scoring_the_item_table_equals_the_module_own_catalog(
    fitted: FittedSimulator, shortlist: int
) -> None:
    policy = _module(fitted, shortlist)
    st = _states(fitted)
    obs = th.as_tensor(np.c_[st.obs, st.consumed], dtype=th.float32)
    with th.no_grad():
        own = policy.scores(obs)
        table = policy.scores(obs, policy.item_table())
        apart = policy.scores(
            th.as_tensor(st.obs), consumed=th.as_tensor(st.consumed, dtype=th.float32)
        )
    assert th.equal(own, table) and th.equal(own, apart)


def test_text_rows_of_the_trained_items_rebuild_their_text_columns(
    fitted: FittedSimulator,
) -> None:
    policy = _module(fitted)
    with th.no_grad():
        table = policy.item_table().numpy()
    rows = policy.text_map().rows(fitted.item_embeddings)
    layout = policy.table_layout
    d, h = layout.item_dim, layout.key_dim
    assert rows.shape == table.shape == (fitted.n_items, layout.width)
    np.testing.assert_array_equal(rows[:, :d], table[:, :d])
    assert (rows[:, d] == 0).all()  # no id bias for an item nobody has seen
    # The choice keys and the reward term are linear in the text vector: exact.
    np.testing.assert_allclose(rows[:, d + 1 : d + 1 + h], table[:, d + 1 : d + 1 + h], atol=1e-4)
    np.testing.assert_allclose(rows[:, d + h + 2], table[:, d + h + 2], atol=1e-5)
    # The per-item utility is a ridge regression on the text: it follows the fitted one.
    assert np.corrcoef(rows[:, d + h + 1], table[:, d + h + 1])[0, 1] > 0.5
    assert (rows[:, -1] == 0).all()  # popularity: never consumed


def test_new_items_leave_the_trained_items_scores_alone(
    fitted: FittedSimulator, world: KnownWorld
) -> None:
    policy = _module(fitted)
    st = _states(fitted)
    new = _text_vectors(world, NEW_TITLES)
    base = PPOPolicy(policy, deterministic=False)
    grown = base.with_items(new)
    assert grown.table is not None and grown.table.shape[0] == fitted.n_items + len(new)
    consumed = np.c_[st.consumed, np.zeros((st.n, len(new)), bool)]
    s_old, s_new = base.scores(st.obs, st.consumed), grown.scores(st.obs, consumed)
    np.testing.assert_array_equal(s_new[:, : fitted.n_items], s_old)
    assert np.isfinite(s_new[:, fitted.n_items :]).all()
    # A new item consumed is masked like any other.
    consumed[:, -1] = True
    assert np.isneginf(grown.scores(st.obs, consumed)[:, -1]).all()


def test_id_dropout_holds_a_share_of_the_id_biases_at_zero(fitted: FittedSimulator) -> None:
    policy = _module(fitted, id_dropout=0.5)
    dropped = policy.id_mask.numpy() == 0
    assert 0.25 < dropped.mean() < 0.75
    with th.no_grad():
        bias = policy.item_table()[:, policy.table_layout.item_dim].numpy()
    assert (bias[dropped] == 0).all() and (bias[~dropped] != 0).all()
    # The dropped biases get no gradient: training cannot move them.
    st = _states(fitted)
    obs = th.as_tensor(np.c_[st.obs, st.consumed], dtype=th.float32)
    policy.scores(obs).logsumexp(1).sum().backward()
    assert policy.item_bias.grad is not None
    assert (policy.item_bias.grad.numpy()[dropped] == 0).all()
    with pytest.raises(ValueError, match="id_dropout"):
        _module(fitted, id_dropout=1.0)


def test_a_new_item_gets_its_consequence_and_start_term_from_its_text(
    fitted_c: FittedSimulator, world: KnownWorld
) -> None:
    """Item vectors with the logs' consequences: a new item's vector is its text vector
    plus the column predicted from the text (a ridge regression over the trained
    items); its id bias is the start's term of that vector, as an item under id dropout
    holds it."""
    from sklearn.linear_model import Ridge

    policy = _module(fitted_c, id_dropout=0.3, consequence=1.0)
    text_map = policy.text_map()
    t = world.item_embeddings.shape[1]
    assert (text_map.text_dim, policy.table_layout.item_dim) == (t, t + 1)
    new = _text_vectors(world, NEW_TITLES)
    vectors = text_map.vectors(new)
    np.testing.assert_array_equal(vectors[:, :t], new)
    column = fitted_c.item_embeddings[:, -1].astype(np.float64)
    ridge = Ridge(alpha=1.0).fit(world.item_embeddings.astype(np.float64), column)
    np.testing.assert_allclose(vectors[:, -1], ridge.predict(new), atol=1e-4)
    # The start's term: 1.0 x the consequence standardised over the trained items.
    rows = text_map.rows(new)
    start = (vectors[:, -1] - column.mean()) / column.std()
    np.testing.assert_allclose(rows[:, t + 1], start, atol=1e-4)
    # The rows a bundle rebuilds from the saved arrays are the same.
    again = TextMap.from_arrays(policy.table_layout, text_map.arrays())
    np.testing.assert_array_equal(again.rows(new), rows)
    # Dropped items hold the start's term of their own vector; the others learn theirs.
    dropped = policy.id_mask.numpy() == 0
    assert 0.1 < dropped.mean() < 0.5
    with th.no_grad():
        bias = policy.item_table()[:, t + 1].numpy()
    prior = consequence_prior(fitted_c)
    assert prior is not None
    np.testing.assert_allclose(bias[dropped], prior[dropped], atol=1e-6)
    assert not np.allclose(bias[~dropped], prior[~dropped], atol=1e-3)
    # The step-0 self scores every trained item with the start's term, dropped or not.
    st = _states(fitted_c)
    obs = th.as_tensor(np.c_[st.obs, st.consumed], dtype=th.float32)
    with th.no_grad():
        at_start = policy.start_scores(obs).double().numpy()
    step0 = start_policy(policy).scores(st.obs.astype(np.float32), st.consumed)
    ok = at_start > -1e8  # the consumed items, masked in the module
    assert ok.mean() > 0.8
    np.testing.assert_allclose(at_start[ok], step0[ok], atol=1e-4)
    with pytest.raises(ValueError, match="consequence column predicted"):
        text_map.rows(fitted_c.item_embeddings)  # item vectors, not text vectors


def test_signal_greedy_is_greedy_model(fitted: FittedSimulator) -> None:
    policy = _module(fitted)
    st = _states(fitted)
    with th.no_grad():
        ours = SignalGreedy(policy, policy.item_table())
    a = ours.act(fitted, st, np.random.default_rng(0))
    b = ModelGreedyPolicy(fitted).act(fitted, st, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)


def test_on_catalog_never_shows_an_item_it_does_not_know() -> None:
    inner = PlackettLucePolicy(np.zeros(4), 2)
    ids = np.array([5, 1, 7, 2])
    policy = OnCatalog(inner, ids, 9)
    s = policy.scores(np.zeros((3, 2)), np.zeros((3, 9), bool))
    assert np.isneginf(np.delete(s, ids, axis=1)).all() and np.isfinite(s[:, ids]).all()


def test_a_sub_catalog_offers_only_its_items_in_their_own_indices(world: KnownWorld) -> None:
    ids = np.array([3, 7, 11, 20, 31, 39])
    sub = SubCatalog(world, ids)
    rng = np.random.default_rng(0)
    state = sub.reset(200, rng)
    slates = np.tile(np.arange(3), (200, 1))
    clicks = []
    for _ in range(5):
        state, r = sub.step(state, slates[: state.n], rng)
        clicks.append(r.clicked_item[r.clicked_item >= 0])
        state = state.take(~r.done)
    clicked = np.concatenate(clicks)
    assert len(clicked) and set(clicked.tolist()) <= {0, 1, 2}  # sub indices, not world ids
    np.testing.assert_array_equal(
        sub.item_click_logits(state), world.item_click_logits(state)[:, ids]
    )
    assert np.array_equal(sub.item_embeddings, world.item_embeddings[ids])


# ------------------------------------------------------------------ the bundle
def _bundle(
    fitted: FittedSimulator, world: KnownWorld, root: Path, shortlist: int
) -> tuple[Path, Path]:
    cfg = replace(FAST, shortlist=shortlist, shortlist_explore=2)
    train(fitted, cfg, root / "policy", model_from_logs=fitted)
    enc, pca = _world_text_encoder(world)
    export_bundle(
        root / "policy", fitted.state_encoder, list(range(fitted.n_items)), root / "bundle",
        texts=world.items.titles, text_encoder=enc, projection=pca,
    )  # fmt: skip
    return root / "policy", root / "bundle"


@pytest.fixture(scope="module")
def bundle(
    fitted: FittedSimulator, world: KnownWorld, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """A trained policy (greedy start, a shortlist, consumed items masked) and its bundle
    with the world's text encoder."""
    return _bundle(fitted, world, tmp_path_factory.mktemp("coldstart"), shortlist=6)


@pytest.fixture(scope="module")
def plain(
    fitted: FittedSimulator, world: KnownWorld, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The same without a shortlist: every item, new ones included, can be drawn."""
    return _bundle(fitted, world, tmp_path_factory.mktemp("plain"), shortlist=0)


@pytest.fixture(scope="module")
def consequences(
    fitted_c: FittedSimulator, world: KnownWorld, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """A policy trained on the simulator fitted with item consequences, and its bundle:
    the text encoder writes text vectors, the policy's items are one column wider."""
    return _bundle(fitted_c, world, tmp_path_factory.mktemp("consequences"), shortlist=0)


def _copy(src: Path, to: Path) -> Path:
    import shutil

    return Path(shutil.copytree(src, to))


@pytest.mark.parametrize("which", ["bundle", "plain", "consequences"])
def test_runtime_scores_new_items_as_the_torch_policy_does(
    which: str, request: pytest.FixtureRequest, world: KnownWorld, tmp_path: Path
) -> None:
    bundle: tuple[Path, Path] = request.getfixturevalue(which)
    fitted: FittedSimulator = request.getfixturevalue(
        "fitted_c" if which == "consequences" else "fitted"
    )
    rt = Runtime(_copy(bundle[1], tmp_path / "b"))
    assert rt.catalog.version == 1 and rt.can_add_items
    items = [{"item_id": 100 + i, "text": t} for i, t in enumerate(NEW_TITLES)]
    cat = rt.add_items(items)
    assert (cat.version, cat.n_items) == (2, fitted.n_items + 3)
    assert catalog_versions(rt.folder) == [1, 2]  # the old version is kept
    policy, _ = load_policy(bundle[0])
    grown = PPOPolicy(policy).with_items(_text_vectors(world, NEW_TITLES))
    np.testing.assert_allclose(cat.table, grown.table.numpy(), atol=1e-6)  # type: ignore[union-attr]
    st = _states(fitted)
    consumed = np.c_[st.consumed, np.zeros((st.n, 3), bool)]
    consumed[::4, -2] = True  # a new item consumed by some users
    ours = rt.scores(st.obs, consumed.astype(np.float32))
    theirs = grown.scores(st.obs, consumed)
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(theirs))
    ok = np.isfinite(ours)
    np.testing.assert_allclose(ours[ok], theirs[ok], atol=1e-5)
    # A fresh runtime reads the newest version; an older one on request.
    assert Runtime(rt.folder).catalog.version == 2
    assert Runtime(rt.folder, catalog_version=1).n_items == fitted.n_items


def test_items_add_writes_a_new_version_and_bad_rows_change_nothing(
    bundle: tuple[Path, Path], tmp_path: Path
) -> None:
    b = _copy(bundle[1], tmp_path / "b")
    good = tmp_path / "new.csv"
    pd.DataFrame({"item_id": [500, "story-2"], "text": NEW_TITLES[:2]}).to_csv(good, index=False)
    r = ltvrec_here("items", "add", str(b), str(good))
    assert r.returncode == 0, r.stderr
    assert "catalog version 2: 2 item(s) added" in r.stdout
    record = json.loads((b / "catalog" / "000002" / "catalog.json").read_text())
    assert record["parent"] == 1 and record["added"] == [500, "story-2"]
    assert set(record["sha256"]) == {"items.json", "item_table.npy"}
    bad = tmp_path / "bad.csv"
    pd.DataFrame(
        {"item_id": [600, 600, 3, 601], "text": ["a fine title", "again", "exists", "  "]}
    ).to_csv(bad, index=False)
    r = ltvrec_here("items", "add", str(b), str(bad))
    assert r.returncode != 0
    for problem in (
        "item 600 is given twice",
        "item 3 is already in the catalog",
        "item 601): empty text",
    ):
        assert problem in r.stderr, r.stderr
    assert catalog_versions(b) == [1, 2]
    no_column = tmp_path / "nocol.csv"
    pd.DataFrame({"item_id": [700]}).to_csv(no_column, index=False)
    r = ltvrec_here("items", "add", str(b), str(no_column))
    assert r.returncode != 0 and "lacks column(s) text" in r.stderr


def test_a_bundle_without_a_text_encoder_says_it_cannot_take_items(
    bundle: tuple[Path, Path], fitted: FittedSimulator, tmp_path: Path
) -> None:
    export_bundle(bundle[0], fitted.state_encoder, list(range(fitted.n_items)), tmp_path / "b")
    rt = Runtime(tmp_path / "b")
    assert not rt.can_add_items
    with pytest.raises(ItemsError, match="carries no text encoder"):
        rt.add_items([{"item_id": 99, "text": "a title"}])


def test_a_policy_that_cannot_predict_consequences_serves_but_takes_no_items(
    fitted_c: FittedSimulator, world: KnownWorld, tmp_path: Path
) -> None:
    """Item vectors with consequences, a policy without the baselines' signals (no text
    map for the column): the bundle serves the trained catalog and says why it takes no
    new items."""
    train(fitted_c, replace(FAST, start="none"), tmp_path / "policy")
    enc, pca = _world_text_encoder(world)
    export_bundle(
        tmp_path / "policy", fitted_c.state_encoder, list(range(fitted_c.n_items)),
        tmp_path / "b", texts=world.items.titles, text_encoder=enc, projection=pca,
    )  # fmt: skip
    rt = Runtime(tmp_path / "b")
    assert not rt.can_add_items
    with pytest.raises(ItemsError, match="carry the logs' item consequences"):
        rt.add_items([{"item_id": 99, "text": "a title"}])


def test_the_service_takes_new_items_only_with_its_token(
    plain: tuple[Path, Path], fitted: FittedSimulator, tmp_path: Path
) -> None:
    b = _copy(plain[1], tmp_path / "b")
    off = TestClient(create_app(Runtime(b)))
    assert off.post("/v1/items", json={"items": [{"item_id": 9, "text": "x"}]}).status_code in (
        404,
        405,
    )
    assert off.get("/v1/model").json()["accepts_items"] is False
    rt = Runtime(b)
    c = TestClient(create_app(rt, ServedLog(tmp_path / "log"), items_token="s3cret"))
    body = {
        "items": [
            {"item_id": "new-1", "text": NEW_TITLES[0]},
            {"item_id": "new-2", "text": NEW_TITLES[1]},
        ]
    }
    assert c.post("/v1/items", json=body).status_code == 401
    assert (
        c.post("/v1/items", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    )
    auth = {"Authorization": "Bearer s3cret"}
    bad = {"items": [{"item_id": "new-1", "text": " "}, {"item_id": 0, "text": "taken"}]}
    r = c.post("/v1/items", json=bad, headers=auth)
    assert (
        r.status_code == 422
        and "empty text" in r.json()["detail"]
        and "already" in r.json()["detail"]
    )
    assert c.get("/v1/model").json()["catalog_version"] == 1 and catalog_versions(b) == [1]
    r = c.post("/v1/items", json=body, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "catalog_version": 2,
        "n_items": fitted.n_items + 2,
        "added": ["new-1", "new-2"],
    }
    model = c.get("/v1/model").json()
    assert (model["catalog_version"], model["n_items"], model["accepts_items"]) == (
        2,
        fitted.n_items + 2,
        True,
    )
    # Served from the very next request: a slate from the new items alone.
    rec = c.post(
        "/v1/recommend", json={"user_id": 1, "k": 2, "candidates": ["new-1", "new-2"], "seed": 0}
    )
    assert rec.status_code == 200, rec.text
    assert sorted(rec.json()["items"]) == ["new-1", "new-2"] and rec.json()["catalog_version"] == 2
    rows = pd.concat(pd.read_csv(f) for f in sorted((tmp_path / "log").glob("served-*.csv")))
    assert (rows.loc[rows["event"] == "served", "catalog_version"] == 2).all()
    # The joined log keeps it, validated, for OPE and refits.
    log = read_served_log(tmp_path / "log", bundle_catalog(rt.item_ids, rt.texts))
    assert log.frame["catalog_version"].tolist() == [2, 2]


@pytest.mark.slow
def test_the_cold_start_experiment_reports_new_items_per_policy(tmp_path: Path) -> None:
    cfg = replace(FAST, steps=2048, start="auto", start_scales=(2.0,), id_dropout=0.2)
    report = run_cold_start(
        2, tmp_path, cfg, replace(WORLD, n_items=60), log_users=150, eval_users=100,
        model="hashing", holdout=0.2,
    )  # fmt: skip
    rows = {r["policy"]: r for r in report["table"]}
    assert report["n_new_per_seed"] == [12, 12]
    for name in ("ppo", "greedy-model", "popularity-log", "logging"):
        assert rows[name]["new_click_share"] == 0.0  # they cannot show a new item
    for name in ("greedy-model + new", "quality-aware-oracle"):
        assert rows[name]["new_click_share"] > 0.0
    # Whether one short PPO run ranks a new item in its top 3 of 60 depends on its
    # training (with the choice model trained to min_steps, ppo-true + new showed none
    # on these seeds); the plumbing is shown if either PPO variant reaches new items.
    assert max(rows[n]["new_click_share"] for n in ("ppo + new", "ppo-true + new")) > 0.0
    assert rows["ppo-true"]["new_click_share"] == 0.0
    for key in (
        "ppo + new vs ppo",
        "ppo-true + new vs ppo-true",
        "greedy-model + new vs greedy-model",
    ):
        c = report["comparisons"][key]
        assert len(c["differences"]) == 2 and np.isfinite(c["mean"])
    rho = report["spearman"]["ppo + new"]["spearman_quality"]
    assert len(rho["per_seed"]) == 2 and all(-1 <= r <= 1 for r in rho["per_seed"])
    text = (tmp_path / "report.md").read_text()
    assert "quality-aware-oracle (oracle: reads the truth)" in text and "Spearman" in text
