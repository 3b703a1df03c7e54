"""User simulators: the known world (ground truth) and the simulator fitted from logs.

Both implement one batched protocol (:class:`~ltvrec.simulators.base.UserSimulator`):
``reset(n, rng) -> SimState`` and ``step(state, slates [B, K], rng) -> (SimState,
StepResult)``, with all randomness from the generator passed in, so every env, agent
and experiment runs on either.
"""

from ltvrec.simulators.base import SessionSimulator, SimState, StepResult, UserSimulator
from ltvrec.simulators.fitted import FitConfig, FittedSimulator, fit_simulator, replay_log
from ltvrec.simulators.known_world import KnownWorld, KnownWorldConfig, make_items
from ltvrec.simulators.logs import known_world_catalog, simulate_log
from ltvrec.simulators.policies import (
    GreedyPolicy,
    PlackettLucePolicy,
    PopularityPolicy,
    QualityAwarePolicy,
    RandomPolicy,
    SimPolicy,
)
from ltvrec.simulators.rollout import PolicyValue, evaluate, mean_ci

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
    "make_items",
    "mean_ci",
    "replay_log",
    "simulate_log",
]
