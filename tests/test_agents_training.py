"""PPO with the slate policy: smoke training, stop-and-resume, save/load, evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
from conftest import ltvrec_here

from ltvrec.agents import PPOPolicy, SlateActorCriticPolicy, TrainConfig, load_policy, train
from ltvrec.agents.evaluation import evaluate_many, markdown_table
from ltvrec.simulators import KnownWorld, KnownWorldConfig, RandomPolicy

SMALL = KnownWorldConfig(n_items=60, slate_size=4, horizon_days=10.0)
TINY = TrainConfig(
    steps=2048, n_envs=16, n_steps=32, batch_size=128, n_epochs=2, eval_every=1024,
    eval_users=50, checkpoint_every=1024, hidden=(16,), tower_dim=8,
)  # fmt: skip


@pytest.fixture(scope="module")
def world() -> KnownWorld:
    return KnownWorld(SMALL)


def test_train_writes_a_policy_that_loads_and_acts(world: KnownWorld, tmp_path: Path) -> None:
    model, curve = train(world, TINY, tmp_path / "run")
    assert [p["steps"] for p in curve][:2] == [1024, 2048]
    meta = json.loads((tmp_path / "run" / "policy.json").read_text())
    assert any((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents*"))
    assert meta["steps"] >= 2048 and meta["n_items"] == 60 and meta["slate_size"] == 4
    policy, _ = load_policy(tmp_path / "run")
    obs = world.reset(32, np.random.default_rng(0)).obs
    trained = model.policy
    assert isinstance(trained, SlateActorCriticPolicy)
    with th.no_grad():
        th.testing.assert_close(policy.scores(th.as_tensor(obs)), trained.scores(th.as_tensor(obs)))
    slates = PPOPolicy(policy).act(
        world, world.reset(32, np.random.default_rng(1)), np.random.default_rng(0)
    )
    assert slates.shape == (32, 4) and all(len(set(r)) == 4 for r in slates.tolist())
    weights = tmp_path / "run" / "policy.safetensors"
    blob = weights.read_bytes()
    weights.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(ValueError, match=r"does not match the sha256 in policy\.json"):
        load_policy(tmp_path / "run")


def test_stop_and_resume_continues_the_same_run(world: KnownWorld, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(world, replace(TINY, steps=1024), out)
    model, curve = train(world, TINY, out, resume=True)
    assert model.num_timesteps == 2048  # 1,024 more, not 2,048 more
    assert [p["steps"] for p in curve] == [1024, 2048]  # the first leg's curve is kept
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(world, TINY, tmp_path / "nothing", resume=True)


def test_policy_scores_ignore_the_training_only_time_feature(
    world: KnownWorld, tmp_path: Path
) -> None:
    model, _ = train(world, TINY, tmp_path / "run")
    p = model.policy
    assert isinstance(p, SlateActorCriticPolicy)
    obs = th.as_tensor(world.reset(8, np.random.default_rng(0)).obs)
    with_time = th.cat([obs, th.rand(8, 1)], dim=1)
    with th.no_grad():
        th.testing.assert_close(p.scores(obs), p.scores(with_time))


def test_evaluation_table(world: KnownWorld) -> None:
    rows = evaluate_many(world, {"random": RandomPolicy()}, users=100, seeds=2)
    assert rows[0]["users"] == 200 and len(rows[0]["value_per_seed"]) == 2
    assert 0 < rows[0]["coverage"] <= 1 and 0 <= rows[0]["diversity"] <= 2
    assert "| random |" in markdown_table(rows)


@pytest.mark.slow
def test_cli_train_and_evaluate(tmp_path: Path) -> None:
    world_yaml = tmp_path / "world.yaml"
    world_yaml.write_text("n_items: 60\nslate_size: 4\nhorizon_days: 10.0\n")
    base = [sys.executable, "-m", "ltvrec"]
    sets: list[str] = []
    for kv in ("n_envs=16", "n_steps=32", "batch_size=128", "eval_every=0", "checkpoint_every=0"):
        sets += ["--set", kv]
    done = subprocess.run(
        [*base, "train", "--world-config", str(world_yaml), "--steps", "1024", "--out",
         str(tmp_path / "ppo"), *sets],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "held-out long-term value" in done.stdout
    done = subprocess.run(
        [*base, "evaluate", "--world-config", str(world_yaml), "--policies",
         f"ppo={tmp_path / 'ppo'},greedy-oracle,random,logging", "--users", "100",
         "--seeds", "2", "--out", str(tmp_path / "eval")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert [r["policy"] for r in rows] == ["ppo", "greedy-oracle", "random", "logging"]
    assert (
        "greedy-oracle (oracle: not buildable from logs)"
        in (tmp_path / "eval" / "evaluation.md").read_text()
    )
    bad = ltvrec_here("evaluate", "--env", "fitted")
    assert bad.returncode == 1 and "--env fitted needs --sim DIR" in bad.stderr
    # greedy-model is built from logs: on the known world it needs the fitted simulator.
    bad = ltvrec_here("evaluate", "--world-config", str(world_yaml), "--policies", "greedy-model")
    assert (
        bad.returncode == 1 and "greedy-model needs a simulator fitted from the logs" in bad.stderr
    )


def test_slate_policy_on_per_step_candidates() -> None:
    # Dict observations: the item tower reads the candidates' features every step.
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import DummyVecEnv

    from ltvrec.envs import SlateRecEnv

    world = KnownWorld(SMALL)
    venv = DummyVecEnv([lambda: SlateRecEnv(world, n_candidates=12) for _ in range(4)])
    model = PPO(
        SlateActorCriticPolicy, venv, n_steps=64, batch_size=64, n_epochs=1, seed=0,
        device="cpu", policy_kwargs={"tower_dim": 8, "hidden": [16]},
    )  # fmt: skip
    model.set_logger(Logger(folder=None, output_formats=[]))  # no SB3-* folder in /tmp
    model.learn(total_timesteps=512)
    obs = venv.reset()
    assert isinstance(obs, dict)
    actions, _ = model.predict(obs, deterministic=False)
    assert actions.shape == (4, 4) and all(len(set(a.tolist())) == 4 for a in actions)
    assert actions.max() < 12  # indices into the step's candidates


def test_every_policy_gives_exact_slate_probabilities(world: KnownWorld, tmp_path: Path) -> None:
    from ltvrec.simulators import PlackettLucePolicy, PopularityPolicy
    from ltvrec.simulators.plackett_luce import enumerate_slates

    # A 6-item world so that all 120 slates of 3 can be enumerated.
    tiny = KnownWorld(KnownWorldConfig(n_items=6, slate_size=3, horizon_days=5.0))
    model, _ = train(
        tiny, replace(TINY, steps=512, eval_every=0, checkpoint_every=0), tmp_path / "p"
    )
    assert isinstance(model.policy, SlateActorCriticPolicy)
    state = tiny.reset(1, np.random.default_rng(0))
    slates = enumerate_slates(6, 3)
    obs = np.repeat(state.obs, len(slates), axis=0)
    sampled = PPOPolicy(model.policy, deterministic=False)
    policies: dict[str, Any] = {
        "ppo-sampled": sampled,
        "ppo-top-k": PPOPolicy(model.policy, deterministic=True),
        "random": RandomPolicy(n_items=6),
        "popularity": PopularityPolicy(np.arange(6.0)),
        "logging": PlackettLucePolicy(tiny.logging_scores(), 3),
    }
    for name, policy in policies.items():
        p = policy.slate_probabilities(obs, slates)
        assert p["pscore"].sum() == pytest.approx(1.0, abs=1e-9), name
        np.testing.assert_allclose(p["pscore_cascade"][:, -1], p["pscore"])
    # The sampled PPO policy draws slates at those frequencies (one-sample check).
    rng = np.random.default_rng(0)
    big = tiny.reset(1, np.random.default_rng(0))
    from ltvrec.simulators import SimState

    many = SimState(np.repeat(big.obs, 20_000, axis=0), np.zeros(20_000), {})
    draws = sampled.act(tiny, many, rng)
    code = draws @ np.array([36, 6, 1])
    freq = np.bincount(code, minlength=216)[slates @ np.array([36, 6, 1])] / 20_000
    p = sampled.slate_probabilities(obs, slates)["pscore"]
    assert np.abs(freq - p).max() < 0.01
