"""Reference slate policies that act on a simulator's state.

A policy here is anything with ``name`` and ``act(sim, state, rng) -> slates [B, K]``.
These are the baselines and oracles of DESIGN.md 3.5; learned policies (agents/) act
on observations and are wrapped to the same call.

- ``RandomPolicy``: uniform random slates.
- ``PopularityPolicy``: the same top-K for everyone, from fixed item scores.
- ``GreedyPolicy``: top-K by the simulator's own immediate click utility
  (``item_click_logits``): the best next-click policy under that response model.
- ``QualityAwarePolicy``: top-K by click utility plus ``weight * quality`` for fixed
  item quality scores; in the known world it trades clicks now for satisfaction.
- ``PlackettLucePolicy``: a stochastic, context-free logging policy with exact
  propensities (joint, cascade, item-position).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ltvrec.simulators.base import SimState, UserSimulator
from ltvrec.simulators.plackett_luce import (
    cascade_probs,
    gumbel_top_k,
    item_position_marginals,
    slate_log_prob,
    top_k,
)


class SimPolicy(Protocol):
    @property
    def name(self) -> str: ...

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True)
class RandomPolicy:
    name: str = "random"

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        return gumbel_top_k(np.zeros((state.n, sim.n_items)), sim.slate_size, rng)


@dataclass(frozen=True)
class PopularityPolicy:
    """Top-K of fixed item scores ``[N]`` (e.g. click counts in the logs)."""

    scores: np.ndarray
    name: str = "popularity"

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        best = top_k(self.scores[None, :], sim.slate_size)
        return np.repeat(best, state.n, axis=0)


@dataclass(frozen=True)
class GreedyPolicy:
    """Top-K by the simulator's immediate click utility, best at the top."""

    name: str = "greedy"

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        return top_k(sim.item_click_logits(state), sim.slate_size)


@dataclass(frozen=True)
class QualityAwarePolicy:
    """Top-K by click utility + ``weight * quality`` (``quality [N]`` fixed scores)."""

    quality: np.ndarray
    weight: float = 2.0
    name: str = "quality-aware"

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        return top_k(sim.item_click_logits(state) + self.weight * self.quality, sim.slate_size)


@dataclass(frozen=True)
class PlackettLucePolicy:
    """Context-free Plackett-Luce over fixed scores ``[N]``, with exact propensities."""

    scores: np.ndarray
    slate_size: int
    name: str = "logging"
    _marginals: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        return gumbel_top_k(
            np.broadcast_to(self.scores, (state.n, len(self.scores))), self.slate_size, rng
        )

    def item_position_table(self) -> np.ndarray:
        """``[N, K]`` P(item at position), computed once (exact to ~1e-11)."""
        if not self._marginals:
            self._marginals.append(item_position_marginals(self.scores, self.slate_size))
        return self._marginals[0]

    def propensities(self, slates: np.ndarray) -> dict[str, np.ndarray]:
        """``pscore [B]``, ``pscore_cascade [B, K]``, ``pscore_item_position [B, K]``."""
        s = np.broadcast_to(self.scores, (len(slates), len(self.scores)))
        table = self.item_position_table()
        return {
            "pscore": np.exp(slate_log_prob(s, slates)),
            "pscore_cascade": cascade_probs(s, slates),
            "pscore_item_position": table[slates, np.arange(slates.shape[1])[None, :]],
        }
