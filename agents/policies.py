"""Policies that act on observations, wrapped to the simulators' policy call.

Every policy here implements ``act(sim, state, rng) -> slates [B, K]`` and
``slate_probabilities(obs, slates)`` (exact joint and cascade probabilities), and sees only
``state.obs`` (the observable user state) — never the simulator's latent state — so it
runs unchanged in the known world and in a fitted simulator.

- :class:`PPOPolicy`: a trained :class:`~ltvrec.agents.policy.SlateActorCriticPolicy`,
  top-K (``deterministic``) or sampled, with exact slate probabilities.
- :class:`ModelGreedyPolicy`: top-K by the immediate click utility of a *fitted*
  simulator's response model, computed from the observation (the realistic greedy
  baseline: the best next-click policy one can build from the logs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces

from ltvrec.agents.policy import SlateActorCriticPolicy
from ltvrec.interactions.io import read_artifact_meta
from ltvrec.simulators.base import SimState, UserSimulator
from ltvrec.simulators.fitted import FittedSimulator
from ltvrec.simulators.plackett_luce import gumbel_top_k, top_k
from ltvrec.simulators.policies import deterministic_probabilities, pl_probabilities


@dataclass
class PPOPolicy:
    """A trained slate policy as a simulator policy."""

    policy: SlateActorCriticPolicy
    deterministic: bool = True
    name: str = "ppo"

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """``[B, N]`` float64 scores for observations ``[B, S]``."""
        with th.no_grad():
            return self.policy.scores(th.as_tensor(obs, dtype=th.float32)).double().numpy()

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        s = self.scores(state.obs)
        k = self.policy.slate_size
        return top_k(s, k) if self.deterministic else gumbel_top_k(s, k, rng)

    def slate_probabilities(self, obs: np.ndarray, slates: np.ndarray) -> dict[str, np.ndarray]:
        """Exact joint and cascade probabilities of ``slates`` (top-K: 0 or 1)."""
        s = self.scores(obs)
        if self.deterministic:
            return deterministic_probabilities(top_k(s, slates.shape[1]), slates)
        return pl_probabilities(s, slates)


@dataclass(frozen=True)
class ModelGreedyPolicy:
    """Top-K by a fitted simulator's click utility of the observed state."""

    model: FittedSimulator
    name: str = "greedy"

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        observed = SimState(state.obs, state.time, {})
        return top_k(self.model.item_click_logits(observed), sim.slate_size)

    def slate_probabilities(self, obs: np.ndarray, slates: np.ndarray) -> dict[str, np.ndarray]:
        observed = SimState(obs, np.zeros(len(obs)), {})
        chosen = top_k(self.model.item_click_logits(observed), slates.shape[1])
        return deterministic_probabilities(chosen, slates)


def load_policy(folder: str | Path) -> tuple[SlateActorCriticPolicy, dict[str, Any]]:
    """Rebuild a trained policy from ``policy.safetensors`` + ``policy.json``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_artifact_meta(
        folder,
        "policy.json",
        "policy.safetensors",
        "weights_sha256",
        "a trained policy",
        "ltvrec train ... --out DIR",
    )
    state = load_file(str(folder / "policy.safetensors"))
    n, k, s = meta["n_items"], meta["slate_size"], meta["observation_size"]
    cfg = meta["config"]
    policy = SlateActorCriticPolicy(
        spaces.Box(-np.inf, np.inf, (s,), np.float32),
        spaces.MultiDiscrete(np.full(k, n)),
        lambda _: 0.0,
        item_embeddings=state["item_embeddings"].numpy(),
        tower_dim=cfg["tower_dim"],
        hidden=list(cfg["hidden"]),
        state_dim=meta.get("state_dim", s),
    )
    policy.load_state_dict(state)
    policy.set_training_mode(False)
    return policy, meta
