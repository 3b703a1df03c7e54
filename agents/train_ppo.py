"""Train a Plackett-Luce slate policy with PPO, top to bottom in the algorithm's order:
config -> env (reward scale normalised) -> policy (started at the best log-buildable
baseline) -> PPO.learn (with evaluation, diagnostics and checkpoints) -> save.

Discounting: per request with ``gamma`` (default 0.995; DESIGN.md 3.5: per-request
discounting below ~0.995 hides the long term). Evaluation reports the undiscounted
long-term value on held-out users as the headline.

Two choices, each measured in docs/agents.md:

- **Reward scale**: returns reach the hundreds while the value head starts near 0 and
  Adam moves it by about the learning rate per step, so GAE's advantages are nearly
  myopic for most of training. SB3's ``VecNormalize(norm_reward=True)`` divides rewards
  by a running standard deviation of the discounted return (Engstrom et al. 2020,
  "Implementation Matters in Deep Policy Gradients").
- **Start**: the policy's scores hold the baselines' own signals (greedy-model's
  expected reward, log popularity; :mod:`ltvrec.agents.prior`); before training, the
  start weights are chosen among a few candidates by the *sampled* policy's value in
  the training simulator (the most exploratory within one standard error of the best),
  and the residual scorer starts at 0, so PPO improves on the best log-buildable
  baseline instead of on a uniform policy over the catalog.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize

from ltvrec.agents.distributions import gumbel_top_k as th_gumbel_top_k
from ltvrec.agents.distributions import position_log_probs
from ltvrec.agents.policies import POLICY_FORMAT, PPOPolicy
from ltvrec.agents.policy import SlateActorCriticPolicy
from ltvrec.agents.prior import (
    BaselineSignals,
    candidate_mask,
    consequence_prior,
    signal_arrays,
)
from ltvrec.artifacts import write_record
from ltvrec.envs.sb3 import SB3VecEnv
from ltvrec.envs.vector import SlateVectorEnv
from ltvrec.errors import ConfigError
from ltvrec.interactions.io import atomic_path, sha256_file
from ltvrec.names import STARTS
from ltvrec.simulators.base import UserSimulator
from ltvrec.simulators.fitted import FittedSimulator
from ltvrec.simulators.policies import RandomPolicy, ScoredPolicy
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
    normalize_reward: bool = True
    """Divide rewards by a running std of the discounted return (SB3's VecNormalize)."""
    start: str = "auto"
    """Where the policy starts: 'auto' (among greedy-model, popularity-log and their
    sum at each of ``start_scales``, the most exploratory whose sampled value is within
    one standard error of the best; see :func:`choose_start`), when a simulator fitted
    from logs is at hand, else 'none'; 'greedy-model' or 'popularity-log' (the same rule
    among that baseline's scales; these two need one), or 'none' (the plain two-tower
    scorer near uniform)."""
    start_scales: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    """Inverse temperatures of the start candidates (signals have unit spread)."""
    start_consequence: tuple[float, ...] = (0.5, 1.0)
    """With 'auto', when the simulator fitted from the logs carries item consequences
    (``FitConfig.item_consequences``): further start candidates ``greedy + r x
    consequence`` at each scale, ``r`` from this list (the consequences standardised
    over items, :func:`~ltvrec.agents.prior.consequence_prior`). Empty: none."""
    start_users: int = 200
    """Users per start candidate's evaluation."""
    shortlist: int = 0
    """Candidate generation: per request, the policy draws only from the union of the
    ``shortlist`` best items by greedy-model's and by popularity-log's signal, plus
    ``shortlist_explore`` items hashed from the state (a deterministic function of the
    observation, so propensities stay exact); 0: the whole catalog. Needs a start."""
    shortlist_explore: int = 10
    """Exploration items added to each request's candidate set (with ``shortlist``)."""
    id_dropout: float = 0.0
    """Share of the catalog whose learned id bias is held at 0 (drawn once from ``seed``),
    so the item tower learns to score items from their text alone, as it must score
    items added after training (cold start, docs/coldstart.md)."""
    seed: int = 0
    """Seed of the env, the policy and PPO."""
    torch_threads: int = 2
    """torch intra-op threads."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.id_dropout < 1.0:
            raise ConfigError(f"id_dropout must be in [0, 1); got {self.id_dropout}")
        if self.start not in STARTS:
            raise ConfigError(f"start must be one of {', '.join(STARTS)}; got {self.start!r}")


# ------------------------------------------------------------------------- callbacks
TRAIN_KEYS = (
    "approx_kl",
    "clip_fraction",
    "entropy_loss",
    "explained_variance",
    "value_loss",
    "policy_gradient_loss",
)


class TrainingMonitor(BaseCallback):
    """Periodic evaluation on held-out users with the diagnostics an RL engineer reads
    (value-head fit, target scale, KL, clipping, entropy, overlap with the baselines, KL
    to the start), checkpoints, and a progress callback."""

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
        self._rollout: dict[str, float] = {}

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

    def _on_rollout_end(self) -> None:
        # GAE targets (in the normalised reward scale PPO trains on) vs the value head.
        buf = self.model.rollout_buffer  # type: ignore[attr-defined]
        self._rollout = {
            "return_mean": float(np.mean(buf.returns)),
            "return_std": float(np.std(buf.returns)),
            "value_mean": float(np.mean(buf.values)),
            "value_std": float(np.std(buf.values)),
        }

    def evaluate_now(self) -> dict[str, Any]:
        policy = self.model.policy
        assert isinstance(policy, SlateActorCriticPolicy)
        ppo = PPOPolicy(policy, deterministic=True)
        # Held-out users: seeds far from the training env's.
        v = evaluate(self.sim, ppo, self.cfg.eval_users, seed=10_000 + len(self.curve))
        s = v.summary()
        point: dict[str, Any] = {
            "steps": int(self.num_timesteps),
            "value": s["value"],
            "value_ci": s["value_ci"],
            "clicks_per_request": s["clicks_per_request"],
        }
        logged = self.model.logger.name_to_value
        point.update({k: float(logged[f"train/{k}"]) for k in TRAIN_KEYS if f"train/{k}" in logged})
        point.update(self._rollout)
        buf = self.model.rollout_buffer  # type: ignore[attr-defined]
        point.update(_policy_diagnostics(policy, buf.observations))
        self.curve.append(point)
        self.logger.record("eval/long_term_value", s["value"])
        for key in ("kl_to_start", "top_k_overlap_greedy", "top_k_overlap_popularity"):
            if key in point:
                self.logger.record(f"eval/{key}", point[key])
        return point


def _policy_diagnostics(
    policy: SlateActorCriticPolicy, observations: np.ndarray, n: int = 512
) -> dict[str, float]:
    """On up to ``n`` training states: the top-K's overlap with greedy-model's and
    popularity-log's top-K, and the KL from the start policy (joint over slates,
    estimated on one slate drawn per state: ``E_pi[log pi(a) - log pi_0(a)]``)."""
    if policy.signals is None:
        return {}
    obs = np.asarray(observations).reshape(-1, observations.shape[-1])
    obs = obs[np.linspace(0, len(obs) - 1, min(n, len(obs))).astype(int)]
    k = policy.slate_size
    with th.no_grad():
        x = th.as_tensor(obs, dtype=th.float32)
        s = policy.scores(x)
        feats = policy.signal_features(x)
        mine = th.topk(s, k, dim=1).indices.numpy()
        slates = th_gumbel_top_k(s, k, th.Generator().manual_seed(0))
        kl = position_log_probs(s, slates).sum(1) - position_log_probs(
            policy.start_scores(x), slates
        ).sum(1)
    out = {"kl_to_start": float(kl.mean())}
    for j, name in enumerate(("greedy", "popularity")):
        theirs = th.topk(policy.masked(x, feats[..., j]), k, dim=1).indices.numpy()
        overlap = (mine[:, :, None] == theirs[:, None, :]).any(axis=2).mean()
        out[f"top_k_overlap_{name}"] = float(overlap)
    return out


def save_checkpoint(model: PPO, out: Path, curve: list[dict[str, Any]]) -> Path:
    """SB3's zip (resumable training state), the reward normaliser's running statistics,
    and the learning curve so far."""
    ckpt = out / "checkpoint"
    ckpt.mkdir(parents=True, exist_ok=True)
    with atomic_path(ckpt / "model.zip") as tmp:
        model.save(str(tmp.with_suffix(".zip")))
        tmp.with_suffix(".zip").replace(tmp)
    env = model.get_env()
    if isinstance(env, VecNormalize):
        with atomic_path(ckpt / "vecnormalize.pkl") as tmp:
            env.save(str(tmp))
    with atomic_path(ckpt / "curve.json") as tmp:
        tmp.write_text(json.dumps({"steps": int(model.num_timesteps), "curve": curve}, indent=2))
    return ckpt


def obs_statistics(
    sim: UserSimulator, n_users: int = 256, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std of user states seen under random slates (the policy's standardiser),
    and those states ``[M, S]``."""
    rng = np.random.default_rng(seed)
    states: list[np.ndarray] = []

    def keep(_ids: np.ndarray, state: Any, _a: np.ndarray, _r: Any) -> None:
        if len(states) < 400:
            states.append(state.obs)

    run_users(sim, RandomPolicy(), sim.reset(n_users, rng), rng, keep)
    x = np.concatenate(states)
    return x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3), x


# ------------------------------------------------------------------------- the start
@dataclass(frozen=True)
class SignalPolicy(ScoredPolicy):
    """Plackett-Luce (or top-K) over ``weights . signals(state) + item_prior``, consumed
    items excluded (and, with ``shortlist``, items outside the request's candidate set):
    a start candidate, and a trained policy's step-0 self."""

    signals: BaselineSignals
    weights: tuple[float, float]
    deterministic: bool = False
    name: str = "start"
    shortlist: int = 0
    shortlist_explore: int = 0
    item_prior: np.ndarray | None = None
    """``[N]`` a per-item term of the scores (the start's weighted item consequences)."""

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        with th.no_grad():
            x = th.as_tensor(obs, dtype=th.float32)
            f = self.signals(x)
            s = (f @ th.as_tensor(self.weights, dtype=th.float32)).double().numpy()
            if self.item_prior is not None:
                s = s + self.item_prior[None, :]
            if self.shortlist:
                ok = None if consumed is None else th.as_tensor(~consumed)
                n = min(self.shortlist, s.shape[1])
                keep = candidate_mask(f, x, ok, n, self.shortlist_explore).numpy()
                s = np.where(keep, s, -np.inf)
        return s


StartWeights = tuple[float, float, float]
"""A start's ``(w_greedy, w_popularity, w_consequence)``."""


def start_candidates(cfg: TrainConfig, consequence: bool = False) -> list[StartWeights]:
    """The start weights that ``cfg.start`` allows (``consequence``: the fitted
    simulator carries item consequences)."""
    out: list[StartWeights] = []
    for c in cfg.start_scales:
        if cfg.start in ("auto", "greedy-model"):
            out.append((c, 0.0, 0.0))
        if cfg.start in ("auto", "popularity-log"):
            out.append((0.0, c, 0.0))
        if cfg.start == "auto":
            out.append((c, c, 0.0))
            if consequence:
                out += [(c, 0.0, r * c) for r in cfg.start_consequence]
    return out


def start_policy_of(
    signals: BaselineSignals,
    w: StartWeights,
    prior: np.ndarray | None,
    cfg: TrainConfig,
    deterministic: bool = False,
    name: str = "start",
) -> SignalPolicy:
    """The start candidate ``w`` as a policy (``prior``: the standardised item
    consequences, needed when ``w_consequence`` is not 0)."""
    if w[2] and prior is None:
        raise ValueError("a start with a consequence weight needs the item consequences")
    return SignalPolicy(
        signals,
        (w[0], w[1]),
        deterministic=deterministic,
        name=name,
        shortlist=cfg.shortlist,
        shortlist_explore=cfg.shortlist_explore,
        item_prior=None if not w[2] or prior is None else w[2] * prior.astype(np.float64),
    )


def start_policy(policy: SlateActorCriticPolicy, name: str = "ppo (start, step 0)") -> SignalPolicy:
    """The trained policy's step-0 self: its baseline signals at their start weights."""
    if policy.signals is None:
        raise ValueError("this policy was trained without a start (start='none')")
    init = policy.signal_weight_init
    assert isinstance(init, th.Tensor)
    weights = (float(init[0]), float(init[1]))
    start_bias = getattr(policy, "item_bias_start", None)  # a start with consequences
    return SignalPolicy(
        policy.signals,
        weights,
        deterministic=True,
        name=name,
        shortlist=policy.shortlist,
        shortlist_explore=policy.shortlist_explore,
        item_prior=None if start_bias is None else start_bias.double().numpy(),
    )


def choose_start(
    sim: UserSimulator,
    signals: BaselineSignals,
    cfg: TrainConfig,
    prior: np.ndarray | None = None,
    members: list[FittedSimulator] | None = None,
) -> tuple[StartWeights, list[dict[str, Any]]]:
    """The start: among the candidates whose *sampled* policy (what PPO trains) earns
    within one standard error of the best candidate's value in ``sim`` (paired by user:
    every candidate meets the same ``cfg.start_users`` users), the most exploratory one
    (the smallest weights, so the highest entropy). The one-standard-error rule
    (Breiman et al. 1984) applied to PPO's start: a sharper start that is not measurably
    better leaves PPO less to learn from. ``prior``: the standardised item consequences
    (:func:`~ltvrec.agents.prior.consequence_prior`), which add the candidates ``greedy
    + r x consequence``; the consequence weight counts in the weights' sum, so such a
    candidate is chosen only when none with a smaller sum is within one standard error of
    the best.

    ``members``: simulators fitted on bootstrap resamples of the same log
    (:func:`~ltvrec.simulators.ensemble.fit_ensemble`). Each candidate is evaluated in
    every member too, sampled (as PPO trains it) and top-K (as the trained policy is
    evaluated and served; a soft candidate has the top-K of a sharp one in the same
    direction), and a candidate whose members' values spread by more than
    :data:`~ltvrec.simulators.ensemble.MAX_RELATIVE_SPREAD` of their mean either way
    (the logs do not pin its value down) is not chosen (unless every candidate is
    so)."""
    from ltvrec.simulators.ensemble import ensemble_values

    seed = 20_000 + cfg.seed
    policies = {
        w: start_policy_of(signals, w, prior, cfg)
        for w in start_candidates(cfg, consequence=prior is not None)
    }
    runs = {w: evaluate(sim, p, cfg.start_users, seed=seed) for w, p in policies.items()}
    spread: dict[StartWeights, dict[str, Any]] = {}
    if members:
        # Each candidate as trained (sampled) and as evaluated and served (its top-K,
        # which depends only on the weights' direction: one per direction).
        topk: dict[tuple[float, ...], dict[str, Any]] = {}
        for w, p in policies.items():
            sampled = ensemble_values(members, {"start": p}, cfg.start_users, seed)["start"]
            d = tuple(np.round(np.asarray(w) / max(w), 6))
            if d not in topk:
                top = replace(p, deterministic=True)
                topk[d] = ensemble_values(members, {"top": top}, cfg.start_users, seed)["top"]
            spread[w] = {**sampled, "top_k": topk[d], "wide": sampled["wide"] or topk[d]["wide"]}
    eligible = [w for w in runs if not spread or not spread[w]["wide"]] or list(runs)
    best = max(eligible, key=lambda w: runs[w].value[0])
    tried: list[dict[str, Any]] = []
    close: list[StartWeights] = []
    for w, run in runs.items():
        gap = runs[best].returns - run.returns
        se = float(gap.std(ddof=1) / np.sqrt(len(gap))) if len(gap) > 1 else 0.0
        within = bool(gap.mean() <= se) and w in eligible
        row: dict[str, Any] = {
            "weights": list(w[:2]),
            "sampled_value": run.value[0],
            "within_1se": within,
        }
        if prior is not None:
            row["consequence_weight"] = w[2]
        if spread:
            row["members"] = spread[w]["values"]
            row["members_relative_spread"] = spread[w]["relative_spread"]
            row["members_top_k"] = spread[w]["top_k"]["values"]
            row["members_top_k_relative_spread"] = spread[w]["top_k"]["relative_spread"]
            row["excluded_wide_spread"] = w not in eligible
        tried.append(row)
        if within:
            close.append(w)
    chosen = min(close, key=lambda w: (sum(w), -runs[w].value[0]))
    return chosen, tried


# ---------------------------------------------------------------------------- train
def train(
    sim: UserSimulator,
    cfg: TrainConfig,
    out: str | Path,
    provenance: dict[str, Any] | None = None,
    resume: bool = False,
    progress: Callable[[int, dict[str, Any] | None], None] | None = None,
    model_from_logs: FittedSimulator | None = None,
    start_members: list[FittedSimulator] | None = None,
) -> tuple[PPO, list[dict[str, Any]]]:
    """Train PPO with the slate policy on ``sim``; write ``out/`` (see :func:`save_policy`).

    Args:
        start_members: simulators fitted on bootstrap resamples of the log: start
            candidates whose value they do not pin down are not chosen (:func:`choose_start`).
        model_from_logs: the simulator fitted from the logs whose response model and item
            counts give the baselines' signals (default: ``sim`` itself when it is a
            fitted simulator). Without one, ``start='auto'`` starts from scratch.
        resume: continue from ``out/checkpoint/model.zip`` up to ``cfg.steps``.
    """
    out = Path(out)
    th.set_num_threads(cfg.torch_threads)
    fitted = model_from_logs or (sim if isinstance(sim, FittedSimulator) else None)
    if cfg.start not in ("none", "auto") and fitted is None:
        raise ValueError(
            f"start={cfg.start!r} needs a simulator fitted from logs for the baselines' "
            "signals; pass model_from_logs, or use start='none'"
        )
    # Env: a batch of simulated users, seen by SB3 as a VecEnv; episode statistics of
    # the raw rewards (rollout/ep_rew_mean), then rewards scaled.
    venv: VecEnv = SB3VecEnv(
        SlateVectorEnv(sim, cfg.n_envs, time_feature=cfg.time_feature),
        bootstrap_horizon=cfg.bootstrap_horizon,
    )
    venv.seed(cfg.seed)
    venv = VecMonitor(venv)
    ckpt = out / "checkpoint" / "model.zip"
    if cfg.normalize_reward:
        stats = ckpt.parent / "vecnormalize.pkl"
        if resume and stats.is_file():
            venv = VecNormalize.load(str(stats), venv)
        else:
            venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=cfg.gamma)
    curve: list[dict[str, Any]] = []
    start_info: dict[str, Any] | None = None
    if resume:
        if not ckpt.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}")
        model = PPO.load(str(ckpt), env=venv, device="cpu")
        curve = json.loads((ckpt.parent / "curve.json").read_text())["curve"]
    else:
        # Policy: two-tower Plackett-Luce over the catalog, standardised inputs, started
        # at the best log-buildable baseline.
        mean, std, probe = obs_statistics(sim, seed=cfg.seed)
        if cfg.time_feature:  # elapsed share of the horizon: uniform on [0, 1]
            mean, std = np.append(mean, 0.5), np.append(std, np.sqrt(1 / 12))
        signal_kwargs: dict[str, Any] = {}
        if fitted is not None and cfg.start != "none":
            arrays = signal_arrays(fitted, probe)
            prior = consequence_prior(fitted) if cfg.start_consequence else None
            weights, tried = choose_start(sim, BaselineSignals(arrays), cfg, prior, start_members)
            signal_kwargs = {"signals": arrays, "signal_init": weights[:2]}
            start_info = {"weights": list(weights[:2]), "candidates": tried}
            if prior is not None:
                start_info["consequence_weight"] = weights[2]
                if weights[2]:
                    signal_kwargs["item_bias_init"] = weights[2] * prior
        shortlist_kwargs: dict[str, Any] = {}
        if cfg.shortlist:
            if not signal_kwargs:
                raise ConfigError(
                    "shortlist needs the baselines' signals: a start other than 'none'"
                )
            shortlist_kwargs = {
                "shortlist": cfg.shortlist,
                "shortlist_explore": cfg.shortlist_explore,
            }
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
                "mask_consumed": not sim.allow_repeats,
                "id_dropout": cfg.id_dropout,
                "id_dropout_seed": cfg.seed,
                **signal_kwargs,
                **shortlist_kwargs,
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
    if start_info is None and resume:
        previous = out / "policy.json"
        if previous.is_file():
            start_info = json.loads(previous.read_text()).get("start")
    save_policy(model, cfg, out, monitor.curve, provenance or {}, seconds, start_info)
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
    start: dict[str, Any] | None = None,
) -> Path:
    """``policy.safetensors`` (module state: no pickle) + ``policy.json`` (config,
    provenance, versions, learning curve)."""
    from safetensors.torch import save_file

    policy = model.policy
    assert isinstance(policy, SlateActorCriticPolicy)
    state = {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}
    with atomic_path(out / "policy.safetensors") as tmp:
        save_file(state, str(tmp))

    meta = {
        "config": {
            **asdict(cfg),
            "hidden": list(cfg.hidden),
            "start_scales": list(cfg.start_scales),
        },
        "start": start,
        "slate_size": int(policy.slate_size),
        "n_items": int(policy.item_embeddings.shape[0]),
        "observation_size": int(policy.obs_mean.shape[0]),
        "state_dim": int(policy.state_dim),
        "mask_consumed": bool(policy.mask_consumed),
        "steps": int(model.num_timesteps),
        # Kept beside the header's sha256 map: bundles and the service name the policy
        # by it.
        "weights_sha256": sha256_file(out / "policy.safetensors"),
        "train_seconds": seconds,
        "curve": curve,
    }
    write_record(out, "policy", POLICY_FORMAT, ["policy.safetensors"], meta, provenance)
    return out
