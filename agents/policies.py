"""Policies that act on observations, wrapped to the simulators' policy call.

Every policy here implements ``act(sim, state, rng) -> slates [B, K]`` and
``slate_probabilities(obs, slates)`` (exact joint and cascade probabilities), and sees only
``state.obs`` (the observable user state) — never the simulator's latent state — so it
runs unchanged in the known world and in a fitted simulator.

- :class:`PPOPolicy`: a trained :class:`~ltvrec.agents.policy.SlateActorCriticPolicy`,
  top-K (``deterministic``) or sampled, with exact slate probabilities.
- the baselines (``greedy-model`` and the rest) live in :mod:`ltvrec.agents.baselines`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces

from ltvrec.agents.distributions import NEG
from ltvrec.agents.policy import SlateActorCriticPolicy
from ltvrec.agents.prior import BaselineSignals
from ltvrec.artifacts import read_record
from ltvrec.simulators.policies import ScoredPolicy


@dataclass
class PPOPolicy(ScoredPolicy):
    """A trained slate policy as a simulator policy: its module's scores, top-K
    (``deterministic``) or Plackett-Luce; propensities derived by :class:`ScoredPolicy`."""

    policy: SlateActorCriticPolicy
    deterministic: bool = True
    name: str = "ppo"
    table: th.Tensor | None = None
    """The item table scored (default: the catalog trained on); a larger one scores items
    added after training too (:meth:`with_items`)."""

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        """``[B, N]`` float64 scores for user states ``[B, S]``; a policy that masks
        consumed items needs ``consumed [B, N]`` and scores them ``-inf``."""
        x = th.as_tensor(obs, dtype=th.float32)
        mask = None
        if self.policy.mask_consumed:
            if consumed is None:
                raise ValueError(
                    "this policy masks consumed items (trained where repeats are "
                    "impossible); pass the users' consumed items [B, N]"
                )
            mask = th.as_tensor(consumed, dtype=th.float32)
        with th.no_grad():
            s = self.policy.scores(x, self.table, consumed=mask).double().numpy()
        return np.where(s <= NEG / 2, -np.inf, s)

    def with_items(self, text_vectors: np.ndarray, name: str | None = None) -> PPOPolicy:
        """This policy over its catalog plus items known by their text vectors alone
        ``[M, d]`` (appended after the trained items, in order)."""
        with th.no_grad():
            base = self.table if self.table is not None else self.policy.item_table()
            rows = th.as_tensor(self.policy.text_map().rows(text_vectors))
            table = th.cat([base, rows], dim=0)
        return PPOPolicy(self.policy, self.deterministic, name or self.name, table)


POLICY_FORMAT = 1
"""Format version of a trained policy's folder (``policy.json`` + ``policy.safetensors``)."""


def load_policy(folder: str | Path) -> tuple[SlateActorCriticPolicy, dict[str, Any]]:
    """Rebuild a trained policy from ``policy.safetensors`` + ``policy.json``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_record(folder, "policy", POLICY_FORMAT, ["policy.safetensors"], "weights_sha256")
    state = load_file(str(folder / "policy.safetensors"))
    n, k, s = meta["n_items"], meta["slate_size"], meta["observation_size"]
    cfg = meta["config"]
    policy = SlateActorCriticPolicy(
        spaces.Box(-np.inf, np.inf, (s + (n if meta.get("mask_consumed") else 0),), np.float32),
        spaces.MultiDiscrete(np.full(k, n)),
        lambda _: 0.0,
        item_embeddings=state["item_embeddings"].numpy(),
        tower_dim=cfg["tower_dim"],
        hidden=list(cfg["hidden"]),
        state_dim=meta.get("state_dim", s),
        signals=BaselineSignals.arrays_from_state(state, "signals.") if meta.get("start") else None,
        item_bias_init=state["item_bias_start"].numpy() if "item_bias_start" in state else None,
        mask_consumed=bool(meta.get("mask_consumed", False)),
        shortlist=int(cfg.get("shortlist", 0)) if meta.get("start") else 0,
        shortlist_explore=int(cfg.get("shortlist_explore", 0)),
        id_dropout=float(cfg.get("id_dropout", 0.0)),
    )
    if "id_mask" not in state:  # saved before id-bias dropout: every id bias counts
        state["id_mask"] = th.ones(n)
    policy.load_state_dict(state)
    policy.set_training_mode(False)
    return policy, meta


def trained_on(policy_dir: str | Path) -> tuple[str, Path | None]:
    """``(env, simulator folder or None)`` a trained policy records in its provenance;
    ``('known-world', None)`` when it records none."""
    meta_file = Path(policy_dir) / "policy.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    provenance = meta.get("provenance", {})
    sim = provenance.get("sim")
    return provenance.get("env") or "known-world", Path(sim) if sim else None
