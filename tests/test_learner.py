"""The learner (issue 13): PPO starts at the best log-buildable baseline, masks what a
user cannot consume again with exact propensities, improves on its start, and every
claim rests on seed-level paired statistics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from ltvrec.agents import PPOPolicy, SlateActorCriticPolicy, TrainConfig, train
from ltvrec.agents.baselines import ModelGreedyPolicy, make_baseline
from ltvrec.agents.evaluation import (
    MAX_POLICY_OUTSIDE,
    paired_comparison,
    row_support_warnings,
    warning_lines,
)
from ltvrec.agents.prior import BaselineSignals, signal_arrays
from ltvrec.agents.train_ppo import obs_statistics
from ltvrec.simulators import (
    FitConfig,
    FittedSimulator,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    RandomPolicy,
    SimState,
    evaluate,
    fit_simulator,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.plackett_luce import enumerate_slates

WORLD = KnownWorldConfig(n_items=40, slate_size=3, horizon_days=10.0)
FAST = TrainConfig(
    steps=4096, n_envs=16, n_steps=64, batch_size=256, n_epochs=2, eval_every=0,
    eval_users=50, checkpoint_every=0, hidden=(16,), tower_dim=8, start_users=60,
    start_scales=(2.0, 8.0),
)  # fmt: skip


def _fit(world: KnownWorld, repeats: str, consequences: bool = False) -> FittedSimulator:
    log = simulate_log(world, PlackettLucePolicy(world.logging_scores(), world.slate_size), 300, 0)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    cfg = FitConfig(
        horizon_days=world.horizon_days,
        epochs=3,
        min_steps=0,  # the starts and masks these tests check, not the fit's quality
        repeats=repeats,
        item_consequences=consequences,
    )
    return fit_simulator(log, catalog, world.item_embeddings, cfg)


@pytest.fixture(scope="module")
def world() -> KnownWorld:
    return KnownWorld(WORLD)


@pytest.fixture(scope="module")
def fitted(world: KnownWorld) -> FittedSimulator:
    return _fit(world, "auto")


@pytest.fixture(scope="module")
def no_repeats(world: KnownWorld) -> FittedSimulator:
    return _fit(world, "forbid")


def _policy(
    sim: FittedSimulator,
    weights: tuple[float, float],
    shortlist: int = 0,
    explore: int = 0,
    item_bias_init: np.ndarray | None = None,
) -> SlateActorCriticPolicy:
    """A policy module started at ``weights`` of the baselines' signals, untrained."""
    _, _, probe = obs_statistics(sim, 32)
    s, n = sim.state_encoder.size, sim.n_items
    width = s + (0 if sim.allow_repeats else n)
    return SlateActorCriticPolicy(
        spaces.Box(-np.inf, np.inf, (width,), np.float32),
        spaces.MultiDiscrete(np.full(sim.slate_size, n)),
        lambda _: 1e-3,
        item_embeddings=sim.item_embeddings,
        hidden=[16],
        tower_dim=8,
        state_dim=s,
        signals=signal_arrays(sim, probe),
        signal_init=weights,
        item_bias_init=item_bias_init,
        mask_consumed=not sim.allow_repeats,
        shortlist=shortlist,
        shortlist_explore=explore,
    )


def _visited_states(sim: FittedSimulator, n: int = 64) -> SimState:
    """States after a few random requests (consumed items included, when kept)."""
    rng = np.random.default_rng(3)
    state = sim.reset(n, rng)
    for _ in range(6):
        state, _r = sim.step(state, RandomPolicy().act(sim, state, rng), rng)
    return state


@pytest.mark.parametrize("sim_name", ["fitted", "no_repeats"])
def test_a_policy_started_at_a_baseline_reproduces_its_slates_at_step_0(
    sim_name: str, request: pytest.FixtureRequest
) -> None:
    sim: FittedSimulator = request.getfixturevalue(sim_name)
    state = _visited_states(sim)
    rng = np.random.default_rng(0)
    for weights, name in (((2.0, 0.0), "greedy-model"), ((0.0, 3.0), "popularity-log")):
        ppo = PPOPolicy(_policy(sim, weights), deterministic=True)
        baseline = make_baseline(name, model=sim)
        np.testing.assert_array_equal(ppo.act(sim, state, rng), baseline.act(sim, state, rng))


def test_a_start_with_item_consequences_is_greedy_plus_consequence_at_step_0(
    world: KnownWorld, fitted: FittedSimulator, tmp_path: Path
) -> None:
    import json

    from ltvrec.agents.policies import load_policy
    from ltvrec.agents.prior import consequence_prior
    from ltvrec.agents.train_ppo import start_policy, start_policy_of

    sim = _fit(world, "auto", consequences=True)
    prior = consequence_prior(sim)
    assert prior is not None and consequence_prior(fitted) is None
    c = sim.item_embeddings[:, -1]
    np.testing.assert_allclose(prior, (c - c.mean()) / c.std(), rtol=1e-5, atol=1e-6)
    # A shrunk column the log backs only in part starts policies at that share of its size.
    import copy

    part = copy.copy(sim)
    part.meta = {**sim.meta, "fit": {**sim.meta["fit"], "consequence_reliability": 0.25}}
    scaled = consequence_prior(part)
    assert scaled is not None
    np.testing.assert_allclose(scaled, 0.25 * prior, rtol=1e-6, atol=1e-7)
    # By hand: greedy-model's scores over their spread, plus r x the standardised column.
    state = _visited_states(sim)
    _, _, probe = obs_statistics(sim, 32)
    g = sim.expected_reward_logits(state.obs) / signal_arrays(sim, probe)["scale"][0]
    rng = np.random.default_rng(0)
    want = np.argsort(-(2.0 * g + 1.5 * prior[None, :]), axis=1, kind="stable")[:, :3]
    module = _policy(sim, (2.0, 0.0), item_bias_init=1.5 * prior)
    got = PPOPolicy(module, deterministic=True).act(sim, state, rng)
    np.testing.assert_array_equal(np.sort(got, axis=1), np.sort(want, axis=1))
    np.testing.assert_array_equal(got, start_policy(module).act(sim, state, rng))
    saved = module.state_dict()  # what policy.safetensors holds
    np.testing.assert_allclose(saved["item_bias_start"].numpy(), 1.5 * prior, rtol=1e-6)
    # Training lists the consequence candidates beside the others, and the saved policy
    # keeps its start: the step-0 policy rebuilt from disk is the chosen candidate.
    cfg = replace(FAST, steps=1024, start_scales=(2.0,), start_consequence=(1.0,))
    train(sim, cfg, tmp_path / "p")
    start = json.loads((tmp_path / "p" / "policy.json").read_text())["start"]
    assert [c.get("consequence_weight") for c in start["candidates"]] == [0.0, 0.0, 0.0, 2.0]
    loaded, _ = load_policy(tmp_path / "p")
    chosen = (*start["weights"], start["consequence_weight"])
    assert loaded.signals is not None
    candidate = start_policy_of(loaded.signals, chosen, prior, cfg, deterministic=True)
    np.testing.assert_array_equal(
        start_policy(loaded).act(sim, state, rng), candidate.act(sim, state, rng)
    )


class _Boosted:
    """``sim`` whose clicks on ``item`` earn twice the reward: a member that disagrees
    with ``sim`` exactly on the policies that show that item."""

    def __init__(self, sim: FittedSimulator, item: int) -> None:
        self.sim, self.item = sim, item

    def __getattr__(self, name: str) -> object:
        return getattr(self.sim, name)

    def step(self, state: SimState, slates: np.ndarray, rng: np.random.Generator) -> object:
        from dataclasses import replace as dc_replace

        after, r = self.sim.step(state, slates, rng)
        return after, dc_replace(r, reward=r.reward * (1.0 + (r.clicked_item == self.item)))


def test_start_candidates_the_members_leave_open_are_not_chosen(
    fitted: FittedSimulator,
) -> None:
    from ltvrec.agents.train_ppo import choose_start

    _, _, probe = obs_statistics(fitted, 32)
    signals = BaselineSignals(signal_arrays(fitted, probe))
    cfg = replace(FAST, start_scales=(1.0, 8.0), start_users=40)
    top = int(np.argmax(fitted.item_counts))  # type: ignore[arg-type]
    members = [fitted, _Boosted(fitted, top)]
    chosen, tried = choose_start(fitted, signals, cfg, members=members)  # type: ignore[arg-type]
    plain, _ = choose_start(fitted, signals, cfg)
    excluded = [c for c in tried if c["excluded_wide_spread"]]
    # The popularity start at scale 8 shows the most consumed item to nearly everyone.
    assert excluded and len(excluded) < len(tried)
    for c in tried:
        wide = max(c["members_relative_spread"], c["members_top_k_relative_spread"]) > 0.2
        assert c["excluded_wide_spread"] == wide
        assert not (c["excluded_wide_spread"] and c["within_1se"])
    row = next(c for c in tried if c["weights"] == list(chosen[:2]))
    assert not row["excluded_wide_spread"]
    # Members that agree exclude nothing: the same start as without them.
    same, tried_same = choose_start(fitted, signals, cfg, members=[fitted, fitted])
    assert same == plain and not any(c["excluded_wide_spread"] for c in tried_same)


def test_the_torch_signals_equal_the_numpy_greedy_model(fitted: FittedSimulator) -> None:
    state = _visited_states(fitted)
    _, _, probe = obs_statistics(fitted, 32)
    arrays = signal_arrays(fitted, probe)
    with th.no_grad():
        feats = BaselineSignals(arrays)(th.as_tensor(state.obs, dtype=th.float32)).double()
    want = fitted.expected_reward_logits(state.obs) / arrays["scale"][0]
    np.testing.assert_allclose(feats[..., 0].numpy(), want, rtol=1e-4, atol=1e-4)
    pop = np.log1p(fitted.item_counts) / arrays["scale"][1]  # type: ignore[arg-type]
    np.testing.assert_allclose(feats[0, :, 1].numpy(), pop, rtol=1e-5)


def test_masked_items_never_appear_and_probabilities_still_sum_to_one() -> None:
    # 6 items, slates of 2: all 30 slates enumerated.
    world = KnownWorld(KnownWorldConfig(n_items=6, slate_size=2, horizon_days=5.0))
    sim = _fit(world, "forbid")
    policy = _policy(sim, (1.0, 1.0))
    slates = enumerate_slates(6, 2)
    state = sim.reset(1, np.random.default_rng(0))
    consumed = np.zeros((len(slates), 6), dtype=bool)
    consumed[:, [1, 4]] = True
    obs = np.repeat(state.obs, len(slates), axis=0)
    shows_consumed = np.isin(slates, [1, 4]).any(axis=1)
    for name, p in (
        ("ppo-sampled", PPOPolicy(policy, deterministic=False)),
        ("ppo-top-k", PPOPolicy(policy, deterministic=True)),
        ("random", RandomPolicy(n_items=6)),
        ("greedy-model", ModelGreedyPolicy(sim)),
        ("popularity-log", make_baseline("popularity-log", model=sim)),
    ):
        probs = p.slate_probabilities(obs, slates, consumed)  # type: ignore[attr-defined]
        assert probs["pscore"].sum() == pytest.approx(1.0, abs=1e-9), name
        assert probs["pscore"][shows_consumed].max() == 0.0, name
        many = SimState(
            np.repeat(state.obs, 500, axis=0), np.zeros(500), {}, consumed[:1].repeat(500, 0)
        )
        drawn = p.act(sim, many, np.random.default_rng(1))
        assert not np.isin(drawn, [1, 4]).any(), name
    with pytest.raises(ValueError, match="pass the users' consumed items"):
        PPOPolicy(policy).slate_probabilities(obs, slates)


def test_the_shortlist_is_the_union_of_the_signals_tops_plus_hashed_exploration() -> None:
    # 8 items, slates of 2: every slate enumerated; shortlist 2 per signal + 1 explored.
    world = KnownWorld(KnownWorldConfig(n_items=8, slate_size=2, horizon_days=5.0))
    sim = _fit(world, "forbid")
    policy = _policy(sim, (1.0, 1.0), shortlist=2, explore=1)
    state = _visited_states(sim, 16)
    consumed = np.asarray(state.consumed)
    obs = np.concatenate([state.obs, consumed], axis=1).astype(np.float32)
    with th.no_grad():
        feats = policy.signal_features(th.as_tensor(obs)).numpy()
        scores = policy.scores(th.as_tensor(obs)).numpy()
    kept = scores > -1e8
    for i in range(len(obs)):
        free = np.flatnonzero(~consumed[i])
        tops = {int(j) for k in (0, 1) for j in free[np.argsort(-feats[i, free, k])[:2]]}
        got = set(np.flatnonzero(kept[i]))
        # By hand: both signals' top 2 among the unconsumed, and exactly one more.
        assert tops <= got and len(got - tops) == min(1, len(free) - len(tops)), i
        assert not got & set(np.flatnonzero(consumed[i]))
    # A deterministic function of the observation: the same state, the same set.
    with th.no_grad():
        again = policy.scores(th.as_tensor(obs.copy())).numpy() > -1e8
    np.testing.assert_array_equal(again, kept)
    # Propensities stay exact given the set: they sum to 1 over all slates, and no slate
    # outside the set has any probability.
    slates = enumerate_slates(8, 2)
    ppo = PPOPolicy(policy, deterministic=False)
    for i in range(3):
        probs = ppo.slate_probabilities(
            np.repeat(state.obs[i : i + 1], len(slates), 0),
            slates,
            np.repeat(consumed[i : i + 1], len(slates), 0),
        )["pscore"]
        assert probs.sum() == pytest.approx(1.0, abs=1e-9)
        outside = ~np.isin(slates, np.flatnonzero(kept[i])).all(axis=1)
        assert probs[outside].max() == 0.0


def test_no_repeats_learned_from_a_log_without_them(no_repeats: FittedSimulator) -> None:
    # A consumed item is never consumed again in the simulator.
    sim = no_repeats
    rng = np.random.default_rng(0)
    state = sim.reset(200, rng)
    seen = np.zeros((200, sim.n_items), dtype=bool)
    # Always show the same slate: without the rule, users would click it again and again.
    slate = np.tile(np.arange(sim.slate_size), (200, 1))
    alive = np.arange(200)
    for _ in range(30):
        state, r = sim.step(state, slate[: state.n], rng)
        c = r.clicked_item >= 0
        assert not seen[alive[c], r.clicked_item[c]].any()
        seen[alive[c], r.clicked_item[c]] = True
        keep = ~r.done
        state, alive = state.take(keep), alive[keep]
    assert seen.sum(axis=1).max() <= sim.slate_size


@pytest.mark.slow
def test_ppo_improves_far_beyond_its_start_and_random(world: KnownWorld, tmp_path: Path) -> None:
    # From scratch (a near-uniform start) on the true small world: the value of the
    # trained top-K policy vs the untrained one and random, on the same 600 users.
    cfg = replace(FAST, steps=30_000, start="none", learning_rate=1e-3)
    model, _ = train(world, replace(cfg, steps=64 * 16), tmp_path / "start")
    start = evaluate(world, PPOPolicy(model.policy), 600, seed=5)  # type: ignore[arg-type]
    model, _ = train(world, cfg, tmp_path / "trained")
    trained = evaluate(world, PPOPolicy(model.policy), 600, seed=5)  # type: ignore[arg-type]
    rand = evaluate(world, RandomPolicy(), 600, seed=5)
    for other in (start, rand):
        diff = trained.returns - other.returns  # paired by user (same seeds)
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        assert diff.mean() > 5 * se, (trained.value, other.value)


def test_training_from_a_fitted_simulator_records_its_start(
    fitted: FittedSimulator, tmp_path: Path
) -> None:
    import json

    _, curve = train(fitted, replace(FAST, steps=2048, eval_every=1024), tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "policy.json").read_text())
    start = meta["start"]
    assert len(start["candidates"]) == 3 * len(FAST.start_scales)
    # The rule: the most exploratory (smallest weights) among the candidates within one
    # standard error of the best; the best is always among them.
    best = max(start["candidates"], key=lambda c: c["sampled_value"])
    close = [c for c in start["candidates"] if c["within_1se"]]
    assert best in close
    assert sum(start["weights"]) == min(sum(c["weights"]) for c in close)
    assert start["weights"] in [c["weights"] for c in close]
    point = curve[-1]
    for key in ("explained_variance", "approx_kl", "clip_fraction", "kl_to_start",
                "top_k_overlap_greedy", "return_std", "value_mean"):  # fmt: skip
        assert np.isfinite(point[key]), key
    assert point["kl_to_start"] >= -0.05  # a KL (estimated on one slate per state)


def test_paired_comparison_by_hand() -> None:
    # d = (2, 2, 3): mean 7/3, sd sqrt(1/3), t(0.975, 2) = 4.3027
    r = paired_comparison([3.0, 4.0, 5.0], [1.0, 2.0, 2.0])
    half = 4.302652729911275 * np.sqrt(1 / 3) / np.sqrt(3)
    assert r["ci"] == pytest.approx([7 / 3 - half, 7 / 3 + half])
    assert r["verdict"] == "wins"
    # A loss is reported as plainly as a win (the old check tested one direction only).
    assert paired_comparison([28.2, 27.9, 28.5], [35.5, 35.0, 36.1])["verdict"] == "loses"
    assert paired_comparison([1.0, 3.0], [2.0, 2.0])["verdict"] == "not established"
    one = paired_comparison([5.0], [1.0])
    assert one["verdict"] == "not established" and np.isnan(one["ci"][0])
    with pytest.raises(ValueError, match="equal-length"):
        paired_comparison([1.0, 2.0], [1.0])


def test_paired_comparison_against_a_multiple() -> None:
    # A at 95-96% of B on every seed: below B, above 0.9 x B.
    a, b = [9.5, 9.6, 9.55], [10.0, 10.0, 10.0]
    assert paired_comparison(a, b)["verdict"] == "loses"
    r = paired_comparison(a, b, times=0.9)
    assert r["differences"] == pytest.approx([0.5, 0.6, 0.55]) and r["verdict"] == "wins"
    assert r["relative"] == pytest.approx(9.55 / 9.0 - 1) and r["times"] == 0.9
    assert paired_comparison(a, b, times=1.2)["verdict"] == "loses"
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="times must be a positive number"):
            paired_comparison(a, b, times=bad)


def test_policies_that_leave_the_logs_range_are_warned_about() -> None:
    rows: list[dict[str, Any]] = [
        {"policy": "ppo", "outside_support": MAX_POLICY_OUTSIDE + 0.001},
        {"policy": "greedy-model", "outside_support": MAX_POLICY_OUTSIDE},
        {"policy": "random", "outside_support": 0.0},
        {"policy": "truth", "outside_support": float("nan")},  # no range kept
        {"policy": "logging"},
    ]
    warnings = row_support_warnings(rows)
    assert len(warnings) == 1 and warnings[0].startswith("ppo takes 2.1% of its simulated")
    assert warning_lines(warnings) == [f"- **warning**: {warnings[0]}", ""]
    assert warning_lines([]) == []
