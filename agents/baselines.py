"""One registry of baseline policies, one name each, used by every command and report.

Log-buildable (anyone with the logs can build them):

- ``random``: uniform random slates;
- ``logging``: the policy that wrote the logs (known only where it was simulated);
- ``popularity-log``: the same K most consumed items of the log for everyone;
- ``greedy-model``: top-K by expected immediate reward under the models fitted from the
  logs (click probability times the fitted reward given a click; with a revenue reward
  it is not a click maximiser), from the observable state.

Oracles, for the known world only, labelled "not buildable from logs" in every table:

- ``greedy-oracle``: top-K by the world's true click utility (reads latent interest);
- ``quality-aware-oracle``: true click utility plus ``1.0 x`` the items' true quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ltvrec.errors import InputError
from ltvrec.interactions import InteractionLog, ItemCatalog
from ltvrec.names import LOG_BUILDABLE, ORACLES
from ltvrec.simulators.base import UserSimulator
from ltvrec.simulators.fitted import FittedSimulator
from ltvrec.simulators.known_world import KnownWorld
from ltvrec.simulators.policies import (
    GreedyPolicy,
    PopularityPolicy,
    QualityAwarePolicy,
    RandomPolicy,
    ScoredPolicy,
    SimPolicy,
)

ORACLE_NOTE = "oracle: not buildable from logs"


@dataclass(frozen=True)
class ModelGreedyPolicy(ScoredPolicy):
    """``greedy-model``: top-K by the fitted models' expected immediate reward of the
    observed state (:meth:`FittedSimulator.expected_reward_logits`)."""

    model: FittedSimulator
    name: str = "greedy-model"
    deterministic: bool = True

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        return self.model.expected_reward_logits(obs)


def log_item_counts(log: InteractionLog, catalog: ItemCatalog) -> np.ndarray:
    """``[N]`` clicks (consumptions) of each catalog item in ``log``, in catalog order."""
    f = log.frame
    clicked = f.loc[f["click"] == 1, "item_id"]
    index = pd.Index(catalog.item_ids)
    pos = index.get_indexer(clicked)
    return np.bincount(pos[pos >= 0], minlength=len(index)).astype(np.float64)


def popularity_log(
    model: FittedSimulator | None, counts: np.ndarray | None = None
) -> PopularityPolicy:
    """``popularity-log`` from ``counts`` (:func:`log_item_counts`), or from the
    consumption counts the fitted model kept of its log."""
    if counts is not None:
        return PopularityPolicy(np.asarray(counts, dtype=np.float64), name="popularity-log")
    if model is None or model.item_counts is None:
        raise InputError(
            "popularity-log needs the log's item counts, which this simulator was saved "
            "without (fitted by an older ltvrec); refit it with `ltvrec sim fit`"
        )
    return PopularityPolicy(model.item_counts, name="popularity-log")


def make_baseline(
    name: str,
    model: FittedSimulator | None = None,
    world: UserSimulator | None = None,
    logging: SimPolicy | None = None,
    n_items: int | None = None,
    counts: np.ndarray | None = None,
) -> SimPolicy:
    """The baseline called ``name`` (module docstring).

    Args:
        model: the simulator fitted from the logs (``greedy-model``, and
            ``popularity-log`` unless ``counts`` are given).
        counts: ``[N]`` the log's consumptions per item, for ``popularity-log``.
        world: the known world (the oracles).
        logging: the logging policy, where known.
        n_items: catalog size, for ``random``'s slate probabilities.
    """
    if name == "random":
        return RandomPolicy(n_items=n_items)
    if name == "logging":
        if logging is None:
            raise InputError("the logging policy is known only where the log was simulated")
        return logging
    if name == "popularity-log" and counts is not None:
        return popularity_log(None, counts)
    if name in ("popularity-log", "greedy-model"):
        if model is None:
            raise InputError(f"{name} needs a simulator fitted from the logs (--sim DIR)")
        return popularity_log(model) if name == "popularity-log" else ModelGreedyPolicy(model)
    if name in ORACLES:
        if not isinstance(world, KnownWorld):
            raise InputError(f"{name} reads the known world's latent state; it exists only there")
        if name == "greedy-oracle":
            return GreedyPolicy(name="greedy-oracle")
        return QualityAwarePolicy(world.items.quality, 1.0, name="quality-aware-oracle")
    raise InputError(f"unknown baseline {name!r}; known: {', '.join(LOG_BUILDABLE + ORACLES)}")


def policy_from_spec(
    spec: str,
    simulator: UserSimulator,
    model: FittedSimulator | None = None,
    logging: SimPolicy | None = None,
    counts: np.ndarray | None = None,
    deterministic: bool = True,
    offline: bool = False,
) -> tuple[str, SimPolicy]:
    """``(name, policy)`` for a command-line spec: ``NAME=DIR`` (a policy trained with
    ``ltvrec train``; ``deterministic`` picks its top-K instead of sampling) or a
    baseline's name (:func:`make_baseline`). ``offline``: for off-policy evaluation,
    which needs slate probabilities from observables, so the oracles are refused."""
    from ltvrec.agents.policies import PPOPolicy, load_policy

    name, sep, path = spec.partition("=")
    if sep:
        policy, _ = load_policy(path)
        if policy.item_embeddings.shape[0] != simulator.n_items:
            raise InputError(f"{path} was trained on another catalog than this simulator's")
        return name, PPOPolicy(policy, deterministic=deterministic, name=name)
    if offline and name not in LOG_BUILDABLE:
        raise InputError(
            f"cannot evaluate '{spec}' offline: give NAME=DIR (a trained policy) or one of "
            f"{', '.join(LOG_BUILDABLE)} (oracles read latent state; OPE needs observables)"
        )
    return name, make_baseline(name, model, simulator, logging, simulator.n_items, counts)


def display_name(name: str) -> str:
    """``name`` as tables print it: oracles carry their label."""
    return f"{name} ({ORACLE_NOTE})" if name in ORACLES else name


__all__ = [
    "LOG_BUILDABLE",
    "ORACLES",
    "ORACLE_NOTE",
    "ModelGreedyPolicy",
    "display_name",
    "log_item_counts",
    "make_baseline",
    "policy_from_spec",
    "popularity_log",
]
