"""Envs: the Gymnasium and SB3 contracts, determinism, vector = scalar, no bias, and an
RL library nobody here wrote running on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import ltvrec.envs  # noqa: F401  (registers the ids)
from ltvrec.envs import RepairDuplicates, SB3VecEnv, SlateRecEnv, SlateSpace, SlateVectorEnv
from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    RandomPolicy,
    evaluate,
    fit_simulator,
    known_world_catalog,
    simulate_log,
)

SMALL: dict[str, Any] = {"n_items": 60, "slate_size": 4, "horizon_days": 10.0}


@pytest.fixture(scope="module")
def fitted_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = KnownWorld(KnownWorldConfig(**SMALL))
    log = simulate_log(world, PlackettLucePolicy(world.logging_scores(), 4), 200, seed=0)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    sim = fit_simulator(log, catalog, world.item_embeddings, FitConfig(epochs=1))
    folder = tmp_path_factory.mktemp("fitted")
    sim.save(folder)
    return folder


def _make(kind: str, fitted_dir: Path, **extra: Any) -> gym.Env:
    if kind == "known":
        return gym.make("ltvrec/KnownWorld-v0", **SMALL, **extra)
    return gym.make("ltvrec/Fitted-v0", simulator=str(fitted_dir), **extra)


@pytest.mark.parametrize("kind", ["known", "fitted"])
@pytest.mark.parametrize("n_candidates", [None, 10])
def test_gymnasium_and_sb3_checkers_pass(
    kind: str, n_candidates: int | None, fitted_dir: Path
) -> None:
    env = _make(kind, fitted_dir, n_candidates=n_candidates)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=True)


def _rollout(env: gym.Env, seed: int, steps: int = 300) -> list[tuple]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = []
    for _ in range(steps):
        a = env.action_space.sample()
        obs, r, term, trunc, info = env.step(a)
        out.append((obs.tobytes(), r, term, trunc, info["clicked_item"]))
        if term or trunc:
            obs, _ = env.reset()
    return out


def test_same_seed_same_trajectory(fitted_dir: Path) -> None:
    for kind in ("known", "fitted"):
        assert _rollout(_make(kind, fitted_dir), 3) == _rollout(_make(kind, fitted_dir), 3)
        assert _rollout(_make(kind, fitted_dir), 3) != _rollout(_make(kind, fitted_dir), 4)


def test_vector_env_reproduces_scalar_envs_seeded_alike() -> None:
    world = KnownWorld(KnownWorldConfig(**SMALL))
    b, steps = 6, 120
    venv = SlateVectorEnv(world, b)
    scalars = [SlateRecEnv(world) for _ in range(b)]
    vobs, _ = venv.reset(seed=10)
    sobs = [env.reset(seed=10 + i)[0] for i, env in enumerate(scalars)]
    np.testing.assert_array_equal(vobs, np.stack(sobs))
    rng = np.random.default_rng(0)
    for _ in range(steps):
        actions = np.stack(
            [rng.choice(world.n_items, world.slate_size, replace=False) for _ in range(b)]
        )
        vobs, vr, vterm, vtrunc, vinfo = venv.step(actions)
        for i, env in enumerate(scalars):
            obs, r, term, trunc, _ = env.step(actions[i])
            assert (r, term, trunc) == (vr[i], vterm[i], vtrunc[i])
            if term or trunc:
                np.testing.assert_array_equal(vinfo["final_obs"][i], obs)
                obs, _ = env.reset()
            np.testing.assert_array_equal(vobs[i], obs)


def test_random_policy_return_matches_the_simulators_own_estimate() -> None:
    world = KnownWorld(KnownWorldConfig(**SMALL))
    truth = evaluate(world, RandomPolicy(), 3000, seed=1)
    venv = SlateVectorEnv(world, 256)
    venv.reset(seed=2)
    venv.single_action_space.seed(2)
    returns: list[float] = []
    acc = np.zeros(256)
    while len(returns) < 3000:
        actions = np.stack([venv.single_action_space.sample() for _ in range(256)])
        _, r, term, trunc, _ = venv.step(actions)
        acc += r
        for i in np.flatnonzero(term | trunc):
            returns.append(acc[i])
            acc[i] = 0.0
    env_mean = np.mean(returns)
    se = np.sqrt(np.var(returns) / len(returns) + truth.returns.var() / len(truth.returns))
    assert abs(env_mean - truth.value[0]) < 3 * se  # the env adds no bias


def test_sb3_adapter_marks_truncation_and_terminal_observation() -> None:
    world = KnownWorld(KnownWorldConfig(**SMALL))
    # Default (as training): the horizon is a true end. With bootstrap_horizon=True the
    # adapter tells SB3 which ends were cuts by the horizon, so PPO bootstraps them.
    assert not SB3VecEnv(SlateVectorEnv(world, 2)).bootstrap_horizon
    venv = SB3VecEnv(SlateVectorEnv(world, 32), bootstrap_horizon=True)
    venv.seed(0)
    venv.reset()
    seen = {"churn": 0, "horizon": 0}
    rng = np.random.default_rng(0)
    for _ in range(400):
        actions = np.stack([rng.choice(world.n_items, 4, replace=False) for _ in range(32)])
        venv.step_async(actions)
        _, _, dones, infos = venv.step_wait()
        for i in np.flatnonzero(dones):
            assert infos[i]["terminal_observation"].shape == venv.observation_space.shape
            seen["horizon" if infos[i]["TimeLimit.truncated"] else "churn"] += 1
    assert seen["churn"] > 0 and seen["horizon"] > 0


def test_duplicate_slates_are_rejected_unless_repaired() -> None:
    env = gym.make("ltvrec/KnownWorld-v0", **SMALL).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="repeats an item"):
        env.step(np.array([3, 3, 4, 5]))
    with pytest.raises(ValueError, match="out of range"):
        env.step(np.array([0, 1, 2, 600]))
    wrapped = RepairDuplicates(gym.make("ltvrec/KnownWorld-v0", **SMALL).unwrapped)
    wrapped.reset(seed=0)
    *_, info = wrapped.step(np.array([3, 3, 3, 59]))
    assert info["repaired"] == 2  # [3, 4, 5, 59]


@pytest.mark.slow
@pytest.mark.parametrize("n_candidates", [None, 10])
def test_stock_sb3_ppo_trains_on_the_env(n_candidates: int | None) -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger

    env = RepairDuplicates(gym.make("ltvrec/KnownWorld-v0", **SMALL, n_candidates=n_candidates))
    policy = "MlpPolicy" if n_candidates is None else "MultiInputPolicy"
    model = PPO(policy, env, n_steps=256, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.set_logger(Logger(folder=None, output_formats=[]))  # no SB3-* folder in /tmp
    model.learn(total_timesteps=2048)
    assert model.num_timesteps == 2048  # 8 rollouts of 256: every step reached the env


def test_slate_space() -> None:
    space = SlateSpace(5, 5, seed=0)
    for _ in range(20):
        a = space.sample()
        assert sorted(a.tolist()) == [0, 1, 2, 3, 4] and space.contains(a)
    assert not space.contains(np.array([0, 1, 2, 3, 3]))
    with pytest.raises(ValueError, match="slate_size <= n_items"):
        SlateSpace(3, 4)
    with pytest.raises(RuntimeError, match="call reset"):
        SlateRecEnv(KnownWorld(KnownWorldConfig(**SMALL))).step(np.arange(4))
