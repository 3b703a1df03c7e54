"""The simulator ensemble: bootstrap resamples of users, members that differ, a spread
that shrinks as the logs grow, and the report's warning when it is wide."""

from __future__ import annotations

import numpy as np
import pytest

from ltvrec.pipeline import _ensemble_lines
from ltvrec.simulators import (
    FitConfig,
    FittedSimulator,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    RandomPolicy,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.base import PerUserRNG
from ltvrec.simulators.ensemble import (
    MemberMixture,
    PessimisticSimulator,
    bootstrap_users,
    ensemble_values,
    expected_slate_reward,
    fit_ensemble,
    spread_warnings,
)
from ltvrec.simulators.policies import SimPolicy

WORLD = KnownWorldConfig(n_items=60, slate_size=3, horizon_days=20.0)


@pytest.fixture(scope="module")
def world() -> KnownWorld:
    return KnownWorld(WORLD)


def _logging(world: KnownWorld) -> PlackettLucePolicy:
    return PlackettLucePolicy(world.logging_scores(), world.slate_size)


def test_a_bootstrap_resample_keeps_whole_users_and_their_number(world: KnownWorld) -> None:
    log = simulate_log(world, _logging(world), 40, 0)
    sample = bootstrap_users(log, np.random.default_rng(0))
    f, g = log.frame, sample.frame
    assert g["user_id"].nunique() == f["user_id"].nunique() == 40
    assert g["request_id"].nunique() * world.slate_size == len(g)  # requests stay distinct
    # Each resampled user is an original user's rows, whole, under a new id.
    originals = g["user_id"].str.rsplit("~", n=1).str[0]
    assert originals.nunique() < 40  # with replacement: some drawn twice, some never
    for uid, rows in g.groupby("user_id"):
        src = f[f["user_id"].astype(str) == str(uid).rsplit("~", 1)[0]]
        np.testing.assert_array_equal(rows["item_id"].to_numpy(), src["item_id"].to_numpy())
        np.testing.assert_array_equal(rows["click"].to_numpy(), src["click"].to_numpy())


@pytest.mark.slow
def test_members_differ_and_their_spread_shrinks_as_the_logs_grow(world: KnownWorld) -> None:
    catalog = known_world_catalog(world.items.titles, world.items.price)
    policies: dict[str, SimPolicy] = {"logging": _logging(world), "random": RandomPolicy()}
    std = {}
    for users in (100, 1200):
        log = simulate_log(world, _logging(world), users, 0)
        members = fit_ensemble(
            log, catalog, world.item_embeddings, FitConfig(horizon_days=20.0), k=4, seed=1
        )
        assert not np.allclose(members[0].choice.item_bias, members[1].choice.item_bias)
        # 3,000 simulated users per member: with 300 the members' Monte Carlo noise
        # (not shared once their trajectories diverge) is as large as their spread.
        values = ensemble_values(members, policies, 3000, seed=7)
        std[users] = {name: v["std"] for name, v in values.items()}
    for name in policies:
        assert std[1200][name] < std[100][name], std


def test_a_wide_spread_is_warned_and_shown() -> None:
    spread = {
        "ppo": {"values": [80.0, 120.0], "mean": 100.0, "std": 28.3,
                "relative_spread": 0.4, "wide": True},
        "random": {"values": [40.0, 41.0], "mean": 40.5, "std": 0.7,
                   "relative_spread": 0.025, "wide": False},
    }  # fmt: skip
    warnings = spread_warnings(spread)
    assert len(warnings) == 1 and warnings[0].startswith("ppo: ") and "40%" in warnings[0]
    text = "\n".join(_ensemble_lines(spread))
    assert "2 simulators fitted on resampled users" in text
    assert "| ppo | 100.0 | 28.3 | 80.0 | 120.0 | 40% |" in text
    assert "**warning**: ppo:" in text and "**warning**: random" not in text


@pytest.fixture(scope="module")
def small_ensemble(world: KnownWorld) -> list[FittedSimulator]:
    log = simulate_log(world, _logging(world), 200, 0)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    cfg = FitConfig(horizon_days=20.0, epochs=3, min_steps=0)  # identities, not fit quality
    return fit_ensemble(log, catalog, world.item_embeddings, cfg, k=3, seed=2)


def test_the_expected_slate_reward_is_the_mean_of_simulated_rewards(
    small_ensemble: list[FittedSimulator],
) -> None:
    sim = small_ensemble[0]
    rng = np.random.default_rng(0)
    state = sim.reset(1, rng)
    slate = np.array([[4, 9, 17]])
    expected = expected_slate_reward(sim, state, slate)[0]
    many = state.take(np.zeros(20_000, dtype=int))
    _, r = sim.step(many, np.repeat(slate, 20_000, axis=0), rng)
    se = r.reward.std() / np.sqrt(len(r.reward))
    assert abs(r.reward.mean() - expected) < 4 * se, (r.reward.mean(), expected)


def test_the_pessimistic_simulator_lowers_rewards_by_the_members_disagreement(
    small_ensemble: list[FittedSimulator],
) -> None:
    sim, members = small_ensemble[0], small_ensemble[1:]
    state = sim.reset(64, np.random.default_rng(1))
    slates = np.tile(np.arange(3), (64, 1))
    _, plain = sim.step(state, slates, np.random.default_rng(5))
    for penalty in (0.0, 2.0):
        pess = PessimisticSimulator(sim, members, penalty)
        _, r = pess.step(state, slates, np.random.default_rng(5))
        spread = np.stack([expected_slate_reward(m, state, slates) for m in members]).std(0)
        assert spread.mean() > 0  # members differ
        np.testing.assert_allclose(r.reward, plain.reward - penalty * spread)
        np.testing.assert_array_equal(r.clicked_item, plain.clicked_item)
    with pytest.raises(ValueError, match="penalty"):
        PessimisticSimulator(sim, members, -1.0)


def _generators(n: int, member_draw: int = 0) -> PerUserRNG:
    """Per-user generators; ``member_draw``: first draw one integer below it from each
    (what a mixture of that many members draws at reset)."""
    gens = [np.random.default_rng([7, i]) for i in range(n)]
    for g in gens[: n if member_draw else 0]:
        g.integers(0, member_draw, 1)
    return PerUserRNG(gens)


def test_each_user_of_a_mixture_lives_in_one_member_as_that_member_alone_would_simulate_it(
    small_ensemble: list[FittedSimulator],
) -> None:
    """A mixture draws a member per user at reset (one integer from the user's own
    generator) and keeps it: with per-user generators, the users of member k follow
    exactly the trajectories member k alone gives them from the same generators."""
    k, n, steps = len(small_ensemble), 60, 6
    mixture = MemberMixture(small_ensemble)
    slates = np.random.default_rng(3).integers(0, WORLD.n_items, (steps, n, 3))
    slates[..., 1] = (slates[..., 0] + 1) % WORLD.n_items  # distinct items per slate
    slates[..., 2] = (slates[..., 0] + 2) % WORLD.n_items
    rng = _generators(n)
    state = mixture.reset(n, rng)
    member = state.latent["member"].copy()
    assert set(member.tolist()) == set(range(k))  # every member gets users
    results = []
    for t in range(steps):
        state, r = mixture.step(state, slates[t], rng)
        results.append(r)
        np.testing.assert_array_equal(state.latent["member"], member)  # kept
    for i in range(k):
        idx = np.flatnonzero(member == i)
        alone_rng = _generators(n, member_draw=k).take(idx)
        alone = small_ensemble[i].reset(len(idx), alone_rng)
        for t in range(steps):
            alone, r = small_ensemble[i].step(alone, slates[t][idx], alone_rng)
            np.testing.assert_array_equal(r.clicked_item, results[t].clicked_item[idx])
            np.testing.assert_array_equal(r.reward, results[t].reward[idx])
        np.testing.assert_array_equal(alone.obs, state.obs[idx])
        np.testing.assert_array_equal(alone.time, state.time[idx])
    logits = mixture.choice_logits(state, slates[0])
    for i in range(k):
        idx = np.flatnonzero(member == i)
        own = small_ensemble[i].choice_logits(state.take(idx), slates[0][idx])
        np.testing.assert_array_equal(logits[idx], own)


def test_a_mixture_needs_members_of_one_recipe(small_ensemble: list[FittedSimulator]) -> None:
    import copy

    with pytest.raises(ValueError, match="at least 2 members"):
        MemberMixture(small_ensemble[:1])
    other = copy.copy(small_ensemble[1])
    other.slate_size = 5
    with pytest.raises(ValueError, match="one recipe on one catalog"):
        MemberMixture([small_ensemble[0], other])
