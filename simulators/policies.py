"""Slate policies: the one protocol, and the reference policies.

Every policy has ``name`` and ``act(sim, state, rng) -> slates [B, K]`` (:class:`SimPolicy`,
what rollouts call). Two kinds:

- :class:`ScoredPolicy`: defined by ``scores(obs, consumed) -> [B, N]`` from the
  *observable* state alone; top-K (``deterministic``) or Plackett-Luce. Sampling,
  top-K and the exact joint and cascade propensities are derived from the scores once,
  here, for every such policy (the learned ones, the log-buildable baselines, the logging
  policy): this is what OPE, the served log and the runtime rely on.
- policies that read the simulator's latent state (the oracles :class:`GreedyPolicy`,
  :class:`QualityAwarePolicy`): ``act`` only; OPE and serving refuse them
  (:func:`require_scored`).

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


class ScoredPolicy:
    """A slate policy defined by its scores of the catalog given the observable state.

    Subclasses implement :meth:`scores` and set ``name`` and ``deterministic`` (top-K
    when True, else a Plackett-Luce sample over the scores); ``masks_consumed`` (default
    True) excludes the users' consumed items where the simulator forbids repeats.
    """

    name: str
    deterministic: bool
    masks_consumed: bool = True

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        """``[B, N]`` scores for observed user states ``[B, S]`` (``-inf``: never shown);
        ``consumed [B, N]`` (bool) for policies whose scores depend on it."""
        raise NotImplementedError

    def _final(self, obs: np.ndarray, consumed: np.ndarray | None) -> np.ndarray:
        s = np.asarray(self.scores(obs, consumed), dtype=np.float64)
        return exclude(s, consumed) if self.masks_consumed else s

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        s = self._final(state.obs, state.consumed)
        k = sim.slate_size
        return top_k(s, k) if self.deterministic else gumbel_top_k(s, k, rng)

    def slate_probabilities(
        self, obs: np.ndarray, slates: np.ndarray, consumed: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Exact ``{"pscore": [B], "pscore_cascade": [B, K]}`` of ``slates`` (0 or 1 for a
        deterministic policy), from the same scores :meth:`act` draws from."""
        s = self._final(obs, consumed)
        if self.deterministic:
            return deterministic_probabilities(top_k(s, slates.shape[1]), slates)
        return pl_probabilities(s, slates)


def require_scored(policy: object, what: str) -> ScoredPolicy:
    """``policy`` if it is a :class:`ScoredPolicy`; else the error ``what`` (OPE,
    serving) gives for a policy that reads latent state."""
    if not isinstance(policy, ScoredPolicy):
        from ltvrec.errors import InputError

        name = getattr(policy, "name", type(policy).__name__)
        raise InputError(
            f"{what} needs a policy scored from observations alone; {name!r} reads the "
            "simulator's latent state (an oracle)"
        )
    return policy


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
class RandomPolicy(ScoredPolicy):
    """Uniform random slates (equal scores, sampled)."""

    name: str = "random"
    n_items: int | None = None
    """Catalog size, needed only for ``slate_probabilities``."""
    deterministic: bool = False

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        scores = exclude(np.zeros((state.n, sim.n_items)), state.consumed)
        return gumbel_top_k(scores, sim.slate_size, rng)

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        if self.n_items is None:
            raise ValueError("RandomPolicy(n_items=N) is needed for slate probabilities")
        return np.zeros((len(obs), self.n_items))

    def slate_probabilities(
        self, obs: np.ndarray, slates: np.ndarray, consumed: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        if consumed is not None:
            return super().slate_probabilities(obs, slates, consumed)
        if self.n_items is None:
            raise ValueError("RandomPolicy(n_items=N) is needed for slate probabilities")
        k = slates.shape[1]  # closed form: 1/N, 1/(N-1), ...
        prefix = np.cumprod(1.0 / (self.n_items - np.arange(k)))
        cascade = np.broadcast_to(prefix, slates.shape).copy()
        return {"pscore": cascade[:, -1], "pscore_cascade": cascade}


@dataclass(frozen=True)
class PopularityPolicy(ScoredPolicy):
    """Top-K of fixed item scores ``[N]`` (e.g. click counts in the logs); the most
    popular items each user has not consumed, where repeats are impossible."""

    item_scores: np.ndarray
    name: str = "popularity"
    deterministic: bool = True

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(obs), len(self.item_scores)))


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
class PlackettLucePolicy(ScoredPolicy):
    """Context-free Plackett-Luce over fixed scores ``[N]``, with exact propensities
    (joint, cascade and item-position). It never masks consumed items: a logging policy
    that shows them anyway is what real logs often hold."""

    item_scores: np.ndarray
    slate_size: int
    name: str = "logging"
    deterministic: bool = False
    masks_consumed: bool = False
    _marginals: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(obs), len(self.item_scores)))

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        return gumbel_top_k(
            np.broadcast_to(self.item_scores, (state.n, len(self.item_scores))),
            self.slate_size,
            rng,
        )

    def item_position_table(self) -> np.ndarray:
        """``[N, K]`` P(item at position), computed once (exact to ~1e-11)."""
        if not self._marginals:
            self._marginals.append(item_position_marginals(self.item_scores, self.slate_size))
        return self._marginals[0]

    def propensities(self, slates: np.ndarray) -> dict[str, np.ndarray]:
        """``pscore [B]``, ``pscore_cascade [B, K]``, ``pscore_item_position [B, K]``."""
        s = np.broadcast_to(self.item_scores, (len(slates), len(self.item_scores)))
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
