"""User simulators: the known world (ground truth) and the simulator fitted from logs.

Both implement one batched protocol (:class:`~ltvrec.simulators.base.UserSimulator`):
``reset(n, rng) -> SimState`` and ``step(state, slates [B, K], rng) -> (SimState,
StepResult)``, with all randomness from the generator passed in, so every env, agent
and experiment runs on either.

Names resolve lazily (PEP 562): importing one submodule (e.g. the numpy-only parts the
serving runtime uses) does not import the others (torch, transformers).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ltvrec.simulators.base import SessionSimulator, SimState, StepResult, UserSimulator
    from ltvrec.simulators.fitted import FitConfig, FittedSimulator, fit_simulator
    from ltvrec.simulators.known_world import KnownWorld, KnownWorldConfig, make_items
    from ltvrec.simulators.load import load_simulator
    from ltvrec.simulators.logs import known_world_catalog, simulate_log, write_known_world_logs
    from ltvrec.simulators.policies import (
        GreedyPolicy,
        PlackettLucePolicy,
        PopularityPolicy,
        QualityAwarePolicy,
        RandomPolicy,
        SimPolicy,
    )
    from ltvrec.simulators.replay import replay_log
    from ltvrec.simulators.rollout import PolicyValue, evaluate, mean_ci

_LAZY = {
    "SessionSimulator": "ltvrec.simulators.base",
    "SimState": "ltvrec.simulators.base",
    "StepResult": "ltvrec.simulators.base",
    "UserSimulator": "ltvrec.simulators.base",
    "FitConfig": "ltvrec.simulators.fitted",
    "FittedSimulator": "ltvrec.simulators.fitted",
    "fit_simulator": "ltvrec.simulators.fitted",
    "replay_log": "ltvrec.simulators.replay",
    "KnownWorld": "ltvrec.simulators.known_world",
    "KnownWorldConfig": "ltvrec.simulators.known_world",
    "make_items": "ltvrec.simulators.known_world",
    "known_world_catalog": "ltvrec.simulators.logs",
    "simulate_log": "ltvrec.simulators.logs",
    "write_known_world_logs": "ltvrec.simulators.logs",
    "load_simulator": "ltvrec.simulators.load",
    "GreedyPolicy": "ltvrec.simulators.policies",
    "PlackettLucePolicy": "ltvrec.simulators.policies",
    "PopularityPolicy": "ltvrec.simulators.policies",
    "QualityAwarePolicy": "ltvrec.simulators.policies",
    "RandomPolicy": "ltvrec.simulators.policies",
    "SimPolicy": "ltvrec.simulators.policies",
    "PolicyValue": "ltvrec.simulators.rollout",
    "evaluate": "ltvrec.simulators.rollout",
    "mean_ci": "ltvrec.simulators.rollout",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FitConfig",
    "FittedSimulator",
    "GreedyPolicy",
    "KnownWorld",
    "KnownWorldConfig",
    "PlackettLucePolicy",
    "PolicyValue",
    "PopularityPolicy",
    "QualityAwarePolicy",
    "RandomPolicy",
    "SessionSimulator",
    "SimPolicy",
    "SimState",
    "StepResult",
    "UserSimulator",
    "evaluate",
    "fit_simulator",
    "known_world_catalog",
    "load_simulator",
    "make_items",
    "mean_ci",
    "replay_log",
    "simulate_log",
    "write_known_world_logs",
]
