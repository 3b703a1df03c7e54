"""Train a Plackett-Luce slate policy with PPO, top to bottom in the algorithm's order:
config -> env -> policy -> PPO.learn (with evaluation and checkpoints) -> save.

Discounting: per request with ``gamma`` (default 0.995; DESIGN.md 3.5: per-request
discounting below ~0.995 hides the long term). Evaluation reports the undiscounted
long-term value on held-out users as the headline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from ltvrec.agents.policies import PPOPolicy
from ltvrec.agents.policy import SlateActorCriticPolicy
from ltvrec.envs.sb3 import SB3VecEnv
from ltvrec.envs.vector import SlateVectorEnv
from ltvrec.interactions.io import atomic_path, sha256_file
from ltvrec.simulators.base import UserSimulator
from ltvrec.simulators.policies import RandomPolicy
from ltvrec.simulators.rollout import evaluate, run_users


# ----------------------------------------------------------------------------- config
@dataclass(frozen=True)
class TrainConfig:
    """PPO for slates (``ltvrec train``)."""

    steps: int = 200_000
    """Total env steps (user requests) to train on."""
    n_envs: int = 64
    """Users simulated in parallel (the vector env's batch)."""
    n_steps: int = 128
    """Steps per user per rollout (rollout = n_envs * n_steps requests)."""
    batch_size: int = 1024
    """Minibatch size of the PPO update."""
    n_epochs: int = 4
    """PPO epochs per rollout."""
    learning_rate: float = 3e-4
    """Adam learning rate."""
    gamma: float = 0.995
    """Per-request discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_range: float = 0.2
    """PPO ratio clip."""
    ent_coef: float = 0.001
    """Entropy bonus (Plackett-Luce entropy estimate, see agents/distributions.py)."""
    vf_coef: float = 0.5
    """Value loss weight."""
    time_feature: bool = True
    """Give the value head the elapsed share of the horizon (the return left depends on
    it; Pardo et al. 2018). The policy's scores never read it."""
    bootstrap_horizon: bool = False
    """Bootstrap the value at the horizon (Gymnasium's truncation). False: the horizon is
    the end of the objective, nothing is earned after it."""
    tower_dim: int = 32
    """Width of the query and item projections."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layers of the user tower and value head."""
    eval_every: int = 50_000
    """Evaluate on held-out users every this many steps (0: only at the end)."""
    eval_users: int = 500
    """Fresh users per evaluation."""
    checkpoint_every: int = 50_000
    """Save a resumable checkpoint every this many steps (0: never)."""
    seed: int = 0
    """Seed of the env, the policy and PPO."""
    torch_threads: int = 2
    """torch intra-op threads."""


# ------------------------------------------------------------------------- callbacks
class TrainingMonitor(BaseCallback):
    """Periodic evaluation on held-out users, checkpoints, and a progress callback."""

    def __init__(
        self,
        sim: UserSimulator,
        cfg: TrainConfig,
        out: Path,
        progress: Callable[[int, dict[str, Any] | None], None] | None,
        start_steps: int = 0,
    ) -> None:
        super().__init__()
        self.sim, self.cfg, self.out, self.progress = sim, cfg, out, progress
        self.curve: list[dict[str, Any]] = []
        self._next_eval = start_steps + cfg.eval_every if cfg.eval_every else None
        self._next_ckpt = start_steps + cfg.checkpoint_every if cfg.checkpoint_every else None

    def _on_step(self) -> bool:
        n = self.num_timesteps
        point = None
        if self._next_eval is not None and n >= self._next_eval:
            point = self.evaluate_now()
            self._next_eval += self.cfg.eval_every
        if self._next_ckpt is not None and n >= self._next_ckpt:
            save_checkpoint(self.model, self.out, self.curve)  # type: ignore[arg-type]
            self._next_ckpt += self.cfg.checkpoint_every
        if self.progress is not None:
            self.progress(n, point)
        return True

    def evaluate_now(self) -> dict[str, Any]:
        policy = PPOPolicy(self.model.policy, deterministic=True)  # type: ignore[arg-type]
        # Held-out users: seeds far from the training env's.
        v = evaluate(self.sim, policy, self.cfg.eval_users, seed=10_000 + len(self.curve))
        s = v.summary()
        point = {"steps": int(self.num_timesteps), "value": s["value"], "value_ci": s["value_ci"]}
        point["clicks_per_request"] = s["clicks_per_request"]
        self.curve.append(point)
        self.logger.record("eval/long_term_value", s["value"])
        return point


def save_checkpoint(model: PPO, out: Path, curve: list[dict[str, Any]]) -> Path:
    """SB3's zip (resumable training state) plus the learning curve so far."""
    ckpt = out / "checkpoint"
    ckpt.mkdir(parents=True, exist_ok=True)
    with atomic_path(ckpt / "model.zip") as tmp:
        model.save(str(tmp.with_suffix(".zip")))
        tmp.with_suffix(".zip").replace(tmp)
    with atomic_path(ckpt / "curve.json") as tmp:
        tmp.write_text(json.dumps({"steps": int(model.num_timesteps), "curve": curve}, indent=2))
    return ckpt


def obs_statistics(
    sim: UserSimulator, n_users: int = 256, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of user states seen under random slates (the policy's standardiser)."""
    rng = np.random.default_rng(seed)
    states: list[np.ndarray] = []

    def keep(_ids: np.ndarray, state: Any, _a: np.ndarray, _r: Any) -> None:
        if len(states) < 400:
            states.append(state.obs)

    run_users(sim, RandomPolicy(), sim.reset(n_users, rng), rng, keep)
    x = np.concatenate(states)
    return x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)


# ---------------------------------------------------------------------------- train
def train(
    sim: UserSimulator,
    cfg: TrainConfig,
    out: str | Path,
    provenance: dict[str, Any] | None = None,
    resume: bool = False,
    progress: Callable[[int, dict[str, Any] | None], None] | None = None,
) -> tuple[PPO, list[dict[str, Any]]]:
    """Train PPO with the slate policy on ``sim``; write ``out/`` (see :func:`save_policy`).

    With ``resume``, continue from ``out/checkpoint/model.zip`` up to ``cfg.steps``.
    """
    out = Path(out)
    th.set_num_threads(cfg.torch_threads)
    # Env: a batch of simulated users, seen by SB3 as a VecEnv.
    venv = SB3VecEnv(
        SlateVectorEnv(sim, cfg.n_envs, time_feature=cfg.time_feature),
        bootstrap_horizon=cfg.bootstrap_horizon,
    )
    venv.seed(cfg.seed)
    curve: list[dict[str, Any]] = []
    ckpt = out / "checkpoint" / "model.zip"
    if resume:
        if not ckpt.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}")
        model = PPO.load(str(ckpt), env=venv, device="cpu")
        curve = json.loads((ckpt.parent / "curve.json").read_text())["curve"]
    else:
        # Policy: two-tower Plackett-Luce over the catalog, standardised inputs.
        mean, std = obs_statistics(sim, seed=cfg.seed)
        if cfg.time_feature:  # elapsed share of the horizon: uniform on [0, 1]
            mean, std = np.append(mean, 0.5), np.append(std, np.sqrt(1 / 12))
        model = PPO(
            SlateActorCriticPolicy,
            venv,
            learning_rate=cfg.learning_rate,
            n_steps=cfg.n_steps,
            batch_size=cfg.batch_size,
            n_epochs=cfg.n_epochs,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            clip_range=cfg.clip_range,
            ent_coef=cfg.ent_coef,
            vf_coef=cfg.vf_coef,
            seed=cfg.seed,
            device="cpu",
            tensorboard_log=str(out / "tensorboard") if _has_tensorboard() else None,
            policy_kwargs={
                "item_embeddings": sim.item_embeddings,
                "tower_dim": cfg.tower_dim,
                "hidden": list(cfg.hidden),
                "obs_mean": mean,
                "obs_std": std,
                "state_dim": sim.state_encoder.size,
            },
        )
    # Learn, evaluating and checkpointing on the way.
    monitor = TrainingMonitor(sim, cfg, out, progress, start_steps=int(model.num_timesteps))
    monitor.curve = curve
    remaining = cfg.steps - int(model.num_timesteps)
    start = time.perf_counter()
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=monitor, reset_num_timesteps=not resume)
    seconds = time.perf_counter() - start
    monitor.init_callback(model)
    if not curve or curve[-1]["steps"] != model.num_timesteps:
        monitor.evaluate_now()
    # Save: the resumable checkpoint and the policy artifact.
    save_checkpoint(model, out, monitor.curve)
    save_policy(model, cfg, out, monitor.curve, provenance or {}, seconds)
    return model, monitor.curve


def _has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def save_policy(
    model: PPO,
    cfg: TrainConfig,
    out: Path,
    curve: list[dict[str, Any]],
    provenance: dict[str, Any],
    seconds: float,
) -> Path:
    """``policy.safetensors`` (module state: no pickle) + ``policy.json`` (config,
    provenance, versions, learning curve)."""
    from safetensors.torch import save_file

    from ltvrec import __version__

    policy = model.policy
    assert isinstance(policy, SlateActorCriticPolicy)
    state = {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}
    with atomic_path(out / "policy.safetensors") as tmp:
        save_file(state, str(tmp))
    import stable_baselines3

    meta = {
        "config": {**asdict(cfg), "hidden": list(cfg.hidden)},
        "slate_size": int(policy.slate_size),
        "n_items": int(policy.item_embeddings.shape[0]),
        "observation_size": int(policy.obs_mean.shape[0]),
        "state_dim": int(policy.state_dim),
        "steps": int(model.num_timesteps),
        "weights_sha256": sha256_file(out / "policy.safetensors"),
        "train_seconds": seconds,
        "curve": curve,
        "provenance": provenance,
        "versions": {
            "ltvrec": __version__,
            "stable_baselines3": stable_baselines3.__version__,
            "torch": th.__version__,
        },
        "saved": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with atomic_path(out / "policy.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return out
