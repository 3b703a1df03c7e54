"""The known world: contract, determinism, titles, logs with exact propensities, and
the long-term trade-off it exists to create."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltvrec.interactions import describe_log
from ltvrec.simulators import (
    GreedyPolicy,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    QualityAwarePolicy,
    RandomPolicy,
    evaluate,
    simulate_log,
)
from ltvrec.simulators.known_world import CLICKBAIT_PHRASES, TOPIC_WORDS
from ltvrec.simulators.plackett_luce import slate_log_prob


@pytest.fixture(scope="module")
def world() -> KnownWorld:
    return KnownWorld()


def test_greedy_clicks_more_but_earns_far_less_long_term(world: KnownWorld) -> None:
    greedy = evaluate(world, GreedyPolicy(), 2000, seed=11)
    quality = evaluate(world, QualityAwarePolicy(world.items.quality, 1.0), 2000, seed=11)
    g, q = greedy.summary(), quality.summary()
    assert g["clicks_per_request"] > q["clicks_per_request"]
    # At least 20% lower long-term value, with the 95% CIs apart.
    assert g["value_ci"][1] < 0.8 * q["value_ci"][0]
    assert g["churn_rate"] > q["churn_rate"]


def test_random_policy_is_worst_of_the_three(world: KnownWorld) -> None:
    # The same users (seed) for all three; each pair's CIs apart.
    rnd = evaluate(world, RandomPolicy(), 1000, seed=2).value
    greedy = evaluate(world, GreedyPolicy(), 1000, seed=2).value
    quality = evaluate(world, QualityAwarePolicy(world.items.quality, 1.0), 1000, seed=2).value
    assert rnd[2] < greedy[1] and rnd[2] < quality[1]


def test_same_seed_same_trajectories_other_seed_other(world: KnownWorld) -> None:
    a = evaluate(world, RandomPolicy(), 200, seed=5)
    b = evaluate(world, RandomPolicy(), 200, seed=5)
    c = evaluate(world, RandomPolicy(), 200, seed=6)
    assert np.array_equal(a.returns, b.returns) and np.array_equal(a.requests, b.requests)
    assert not np.array_equal(a.returns, c.returns)


def test_items_are_deterministic_and_titles_reveal_topic_and_style() -> None:
    a, b = KnownWorld(KnownWorldConfig(seed=3)), KnownWorld(KnownWorldConfig(seed=3))
    assert a.items.titles == b.items.titles and np.array_equal(a.item_embeddings, b.item_embeddings)
    names = list(TOPIC_WORDS)
    # One word that only each clickbait phrase uses.
    sensational = ("Believe", "Shocking", "Trick", "Insane", "Hate", "Jaw-Dropping")
    assert all(any(w in p for w in sensational) for p in CLICKBAIT_PHRASES)
    for j, title in enumerate(a.items.titles):
        topic = names[int(a.items.main_topic[j])]
        assert title.startswith(topic.capitalize() + ":")
        assert any(w in title.lower() for w in TOPIC_WORDS[topic])
        assert any(w in title for w in sensational) == bool(a.items.clickbait[j])
    # Clickbait: more appeal, less quality, on average.
    cb = a.items.clickbait
    assert a.items.appeal[cb].mean() > a.items.appeal[~cb].mean() + 1
    assert a.items.quality[cb].mean() < a.items.quality[~cb].mean() - 0.5


def test_step_contract(world: KnownWorld) -> None:
    rng = np.random.default_rng(0)
    state = world.reset(64, rng)
    slates = RandomPolicy().act(world, state, rng)
    nxt, r = world.step(state, slates, rng)
    assert nxt.obs.shape == (64, world.state_encoder.size) and nxt.obs.dtype == np.float32
    clicked = r.clicked_position >= 0
    assert np.array_equal(r.clicked_item[clicked], slates[clicked, r.clicked_position[clicked]])
    assert (r.reward[~clicked] == 0).all() and (r.reward[clicked] == 1).all()
    assert not (r.churned & r.truncated).any()
    assert np.isnan(r.return_gap[~r.session_end]).all()
    # A continuing user who ended a session has moved forward in time by the gap.
    back = r.session_end & ~r.done
    np.testing.assert_allclose(nxt.time[back], r.time[back] + r.return_gap[back])


@pytest.mark.parametrize(
    ("slates", "error", "fragment"),
    [
        (np.zeros((2, 5), dtype=np.int64), ValueError, "repeats an item"),
        (np.tile(np.arange(5), (3, 1)), ValueError, r"expected slates of shape \(2, 5\)"),
        (np.tile(np.arange(495, 500) + 1, (2, 1)), ValueError, "out of range"),
        (np.tile(np.arange(5.0), (2, 1)), TypeError, "integer item indices"),
    ],
)
def test_bad_slates(world: KnownWorld, slates: np.ndarray, error: type, fragment: str) -> None:
    state = world.reset(2, np.random.default_rng(0))
    with pytest.raises(error, match=fragment):
        world.step(state, slates, np.random.default_rng(0))


def test_logs_carry_exact_propensities(world: KnownWorld) -> None:
    policy = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    log = simulate_log(world, policy, 150, seed=1)
    f = log.frame.sort_values(["request_id", "position"])
    k = world.slate_size
    slates = f["item_id"].to_numpy().reshape(-1, k)
    scores = np.tile(world.logging_scores(), (len(slates), 1))
    joint = np.exp(slate_log_prob(scores, slates))
    np.testing.assert_allclose(f["pscore"].to_numpy()[::k], joint, rtol=1e-9)
    cascade = f["pscore_cascade"].to_numpy().reshape(-1, k)
    np.testing.assert_allclose(cascade[:, -1], joint, rtol=1e-9)
    assert (np.diff(cascade, axis=1) <= 0).all()
    table = policy.item_position_table()
    np.testing.assert_allclose(table.sum(axis=0), 1.0, atol=1e-9)
    # At most one click per request, and the logged sessions match a 30-minute gap.
    assert f.groupby("request_id")["click"].sum().max() == 1
    d = describe_log(log)
    assert d["slates"] == d["requests"] and d["propensity_coverage"]["pscore"] == 1.0


def test_bad_config() -> None:
    for kwargs, fragment in [
        ({"n_topics": 13}, "n_topics"),
        ({"slate_size": 0}, "slate_size"),
        ({"reward": "likes"}, "reward"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            KnownWorldConfig(**kwargs)  # type: ignore[arg-type]


def test_price_reward() -> None:
    w = KnownWorld(KnownWorldConfig(n_items=60, reward="price"))
    rng = np.random.default_rng(0)
    state = w.reset(200, rng)
    _, r = w.step(state, RandomPolicy().act(w, state, rng), rng)
    c = r.clicked_item >= 0
    np.testing.assert_allclose(r.reward[c], w.items.price[r.clicked_item[c]])


def test_observed_latent_state_is_the_worlds_and_changes_nothing_else(tmp_path: Path) -> None:
    from ltvrec.errors import ConfigError
    from ltvrec.experiment import run_experiment

    plain = KnownWorld(KnownWorldConfig(n_items=40, slate_size=3))
    seen = KnownWorld(KnownWorldConfig(n_items=40, slate_size=3, observe_latent=True))
    s = plain.state_encoder.size
    assert seen.state_encoder.size == s + 10 + 2
    a, b = np.random.default_rng(0), np.random.default_rng(0)
    x, y = plain.reset(16, a), seen.reset(16, b)
    slates = np.tile(np.arange(3), (16, 1))
    for _ in range(30):
        x, rx = plain.step(x, slates, a)
        y, ry = seen.step(y, slates, b)
        np.testing.assert_array_equal(rx.reward, ry.reward)
        np.testing.assert_array_equal(x.obs, y.obs[:, :s])  # the observable part is unchanged
        lat = y.latent
        np.testing.assert_allclose(y.obs[:, s : s + 10], lat["interest"], rtol=1e-6)
        np.testing.assert_allclose(y.obs[:, -2], lat["satisfaction"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y.obs[:, -1], lat["fatigue"] / 10.0, rtol=1e-6)
    with pytest.raises(ConfigError, match="observe_latent"):
        run_experiment(1, tmp_path, world_config=KnownWorldConfig(observe_latent=True))
