"""The project's vocabulary: names the command line and the library share.

This module imports nothing, so ``ltvrec --help`` can list the names without loading
torch or pandas; the library modules that implement the names import them from here.
"""

from __future__ import annotations

ENVS = ("known-world", "fitted")
"""Where a policy runs: the known world (ground truth) or a simulator fitted from logs."""

LOG_BUILDABLE = ("random", "logging", "popularity-log", "greedy-model")
"""Baselines anyone with the logs can build (:mod:`ltvrec.agents.baselines`)."""

ORACLES = ("greedy-oracle", "quality-aware-oracle")
"""Known-world baselines that read latent state: labelled "not buildable from logs"."""

ESTIMATORS = (
    "trajectory-is",
    "pdis",
    "weighted-pdis",
    "marginalized",
    "pdis-cascade",
    "weighted-pdis-cascade",
    "marginalized-cascade",
    "fqe",
    "model-based",
    "dr",
    "weighted-dr",
)
"""Off-policy estimators of a whole policy's value (:mod:`ltvrec.offline`)."""

STARTS = ("auto", "greedy-model", "popularity-log", "none")
"""Where PPO's policy starts (:class:`ltvrec.agents.train_ppo.TrainConfig`)."""

CONFIGS = {
    "data": "ltvrec.config:DataConfig",
    "encode": "ltvrec.config:EncodeConfig",
    "known-world": "ltvrec.simulators.known_world:KnownWorldConfig",
    "fit": "ltvrec.simulators.fit_config:FitConfig",
    "train": "ltvrec.agents.train_ppo:TrainConfig",
}
"""Config name (``ltvrec config show NAME``) -> ``module:class``."""
