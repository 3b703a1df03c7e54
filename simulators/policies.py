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
    exclude,
    gumbel_top_k,
    item_position_marginals,
    slate_log_prob,
    top_k,
)


class SimPolicy(Protocol):
    @property
    def name(self) -> str: ...

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray: ...


class SlateProbabilities(Protocol):
    """Policies that can say how likely a given slate was, from observations alone
    (what OPE and serving logs need): ``{"pscore": [B], "pscore_cascade": [B, K]}``.
    ``consumed [B, N]`` (bool) is the users' consumed items where the policy masks them."""

    def slate_probabilities(
        self, obs: np.ndarray, slates: np.ndarray, consumed: np.ndarray | None = None
    ) -> dict[str, np.ndarray]: ...


def deterministic_probabilities(chosen: np.ndarray, slates: np.ndarray) -> dict[str, np.ndarray]:
    """A deterministic policy's slate probabilities: 1 where ``slates`` match its own
    ``chosen`` slates (prefix by prefix for the cascade), else 0."""
    match = np.cumprod(chosen == slates, axis=1).astype(np.float64)
    return {"pscore": match[:, -1], "pscore_cascade": match}


def pl_probabilities(scores: np.ndarray, slates: np.ndarray) -> dict[str, np.ndarray]:
    """Plackett-Luce joint and cascade probabilities of ``slates`` under ``scores``."""
    cascade = cascade_probs(scores, slates)
    return {"pscore": cascade[:, -1], "pscore_cascade": cascade}


@dataclass(frozen=True)
class RandomPolicy:
    name: str = "random"
    n_items: int | None = None
    """Catalog size, needed only for ``slate_probabilities``."""

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        scores = exclude(np.zeros((state.n, sim.n_items)), state.consumed)
        return gumbel_top_k(scores, sim.slate_size, rng)

    def slate_probabilities(
        self, obs: np.ndarray, slates: np.ndarray, consumed: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        if self.n_items is None:
            raise ValueError("RandomPolicy(n_items=N) is needed for slate probabilities")
        if consumed is not None:
            return pl_probabilities(exclude(np.zeros(consumed.shape), consumed), slates)
        k = slates.shape[1]
        prefix = np.cumprod(1.0 / (self.n_items - np.arange(k)))
        cascade = np.broadcast_to(prefix, slates.shape).copy()
        return {"pscore": cascade[:, -1], "pscore_cascade": cascade}


@dataclass(frozen=True)
class PopularityPolicy:
    """Top-K of fixed item scores ``[N]`` (e.g. click counts in the logs)."""

    scores: np.ndarray
    name: str = "popularity"

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        return self._best(state.n, sim.slate_size, state.consumed)

    def _best(self, n: int, k: int, consumed: np.ndarray | None) -> np.ndarray:
        if consumed is not None:  # the most popular items each user has not consumed
            return top_k(exclude(self.scores[None, :], consumed), k)
        return np.repeat(top_k(self.scores[None, :], k), n, axis=0)

    def slate_probabilities(
        self, obs: np.ndarray, slates: np.ndarray, consumed: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        best = self._best(len(slates), slates.shape[1], consumed)
        return deterministic_probabilities(best, slates)


@dataclass(frozen=True)
class GreedyPolicy:
    """Top-K by the simulator's immediate click utility, best at the top."""

    name: str = "greedy"

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        return top_k(exclude(sim.item_click_logits(state), state.consumed), sim.slate_size)


@dataclass(frozen=True)
class QualityAwarePolicy:
    """Top-K by click utility + ``weight * quality`` (``quality [N]`` fixed scores)."""

    quality: np.ndarray
    weight: float = 2.0
    name: str = "quality-aware"

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        scores = sim.item_click_logits(state) + self.weight * self.quality
        return top_k(exclude(scores, state.consumed), sim.slate_size)


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

    def slate_probabilities(
        self, obs: np.ndarray, slates: np.ndarray, consumed: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Context-free: the logging policy never masks (``consumed`` is ignored)."""
        return self.propensities(slates)
