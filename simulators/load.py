"""Open the simulator a command names: the known world or a fitted simulator folder."""

from __future__ import annotations

from pathlib import Path

from ltvrec.errors import InputError
from ltvrec.names import ENVS
from ltvrec.simulators.base import UserSimulator
from ltvrec.simulators.policies import PlackettLucePolicy, SimPolicy


def load_simulator(
    env: str,
    sim: str | Path | None = None,
    world_config: str | Path | None = None,
    world_sets: list[str] | None = None,
) -> tuple[UserSimulator, SimPolicy | None]:
    """``(simulator, its logging policy or None)``.

    Args:
        env: ``known-world`` (ground truth; its logging policy is known) or ``fitted``
            (a folder from ``ltvrec sim fit``; the logging policy of real logs is not).
        sim: the fitted simulator's folder (``fitted`` only).
        world_config: a YAML file of :class:`KnownWorldConfig` fields (``known-world``).
        world_sets: ``key=value`` overrides of those fields (``known-world``).
    """
    from ltvrec.config import load_config
    from ltvrec.simulators.fitted import FittedSimulator
    from ltvrec.simulators.known_world import KnownWorld, KnownWorldConfig

    if env != "known-world" and (world_config is not None or world_sets):
        raise InputError("a world config (--world-config, --set world.x) needs --env known-world")
    if env == "known-world":
        world = KnownWorld(load_config(KnownWorldConfig, world_config, world_sets))
        return world, PlackettLucePolicy(world.logging_scores(), world.slate_size)
    if env == "fitted":
        if sim is None:
            raise InputError("--env fitted needs --sim DIR (from `ltvrec sim fit`)")
        return FittedSimulator.load(sim), None
    raise InputError(f"env must be one of {', '.join(ENVS)}; got {env!r}")
