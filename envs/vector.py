"""``SlateVectorEnv``: B users of one simulator stepped with array operations.

No Python loop over users in the simulator step: the batch goes through the same
:meth:`SessionSimulator.step` as the scalar env (shared code, no duplicated dynamics).
Each slot has its own ``numpy.random.Generator`` seeded like a scalar env
(``seed + i``), so ``SlateVectorEnv`` with B slots reproduces B ``SlateRecEnv``s
seeded alike, step for step.

Autoreset (``AutoresetMode.SAME_STEP``): when a slot's user churns or reaches the
horizon, ``step`` returns that user's last observation in ``infos["final_obs"]`` (and
``infos["final_info"]``) with ``infos["_final_obs"][i] = True``, resets the slot to a
fresh user in the same call, and returns the fresh user's first observation. The
reward, terminated and truncated flags returned are those of the finished user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ltvrec.envs.slate_env import policy_observation, policy_observation_size
from ltvrec.envs.spaces import SlateSpace
from ltvrec.simulators.base import PerUserRNG, SimState, UserSimulator


class SlateVectorEnv(VectorEnv[Any, Any, Any]):
    """B users of ``simulator`` at once (static catalog).

    Args:
        simulator: any :class:`~ltvrec.simulators.base.UserSimulator`.
        num_envs: B, the number of users stepped together.
        time_feature: append the elapsed share of the horizon to the observation
            (default True, as the scalar env and training; see
            :func:`~ltvrec.envs.slate_env.policy_observation`).

    Observations ``[B, S (+1) (+N)]`` float32:
    :func:`~ltvrec.envs.slate_env.policy_observation`, the same as the scalar env's.
    Actions ``[B, K]`` slates of distinct items.
    ``infos`` holds arrays ``click``, ``clicked_position``, ``clicked_item``,
    ``session_end``, ``return_gap``, ``churned``, ``time`` (each with its ``_key``
    mask), and at autoreset ``final_obs`` / ``final_info``.
    """

    metadata: dict[str, Any] = {  # noqa: RUF012  (Gymnasium's convention)
        "render_modes": [],
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(self, simulator: UserSimulator, num_envs: int, time_feature: bool = True) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.sim = simulator
        self.num_envs = num_envs
        self.time_feature = time_feature
        width = policy_observation_size(simulator, time_feature)
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (width,), np.float32)
        self.single_action_space = SlateSpace(simulator.n_items, simulator.slate_size)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rngs = PerUserRNG([seeding.np_random()[0] for _ in range(num_envs)])
        self._state: SimState | None = None

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Fresh users in every slot; ``seed`` int seeds slot i with ``seed + i``."""
        if seed is not None:
            seeds = (
                [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else list(seed)
            )
            if len(seeds) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
            self._rngs = PerUserRNG(
                [
                    seeding.np_random(s)[0] if s is not None else g
                    for s, g in zip(seeds, self._rngs.generators, strict=True)
                ]
            )
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        self._state = self.sim.reset(self.num_envs, self._rngs)
        return self._observe(self._state), {}

    def _observe(self, state: SimState) -> np.ndarray:
        return policy_observation(self.sim, state, self.time_feature)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        state, result = self.sim.step(self._state, np.asarray(actions), self._rngs)
        terminated, truncated = result.churned.copy(), result.truncated.copy()
        infos: dict[str, Any] = {}
        for key, value in (
            ("click", result.clicked_position >= 0),
            ("clicked_position", result.clicked_position),
            ("clicked_item", result.clicked_item),
            ("session_end", result.session_end),
            ("return_gap", result.return_gap),
            ("churned", result.churned),
            ("time", result.time),
        ):
            infos[key] = value
            infos[f"_{key}"] = np.ones(self.num_envs, dtype=bool)
        done = terminated | truncated
        obs = self._observe(state)
        if done.any():
            idx = np.flatnonzero(done)
            infos["final_obs"] = np.array(
                [obs[i] if done[i] else None for i in range(self.num_envs)], dtype=object
            )
            infos["_final_obs"] = done.copy()
            infos["final_info"] = {"episode_end": done.copy(), "_episode_end": done.copy()}
            infos["_final_info"] = done.copy()
            fresh = self.sim.reset(len(idx), self._rngs.take(idx))
            state = _splice(state, idx, fresh)
            obs = self._observe(state)
        self._state = state
        return obs, result.reward.astype(np.float64), terminated, truncated, infos


def _splice(state: SimState, idx: np.ndarray, fresh: SimState) -> SimState:
    obs, time = state.obs.copy(), state.time.copy()
    obs[idx], time[idx] = fresh.obs, fresh.time
    latent = {}
    for k, v in state.latent.items():
        w = v.copy()
        w[idx] = fresh.latent[k]
        latent[k] = w
    consumed = state.consumed
    if consumed is not None and fresh.consumed is not None:
        consumed = consumed.copy()
        consumed[idx] = fresh.consumed
    return SimState(obs, time, latent, consumed)


def make_known_world_vector_env(num_envs: int, **config: Any) -> SlateVectorEnv:
    """Vector entry point of ``ltvrec/KnownWorld-v0`` (``gymnasium.make_vec``)."""
    from ltvrec.simulators import KnownWorld, KnownWorldConfig

    if config.pop("n_candidates", None) is not None:
        raise ValueError("the vector env scores a static catalog; n_candidates is not supported")
    return SlateVectorEnv(KnownWorld(KnownWorldConfig(**config)), num_envs)


def make_fitted_vector_env(num_envs: int, simulator: str | Path) -> SlateVectorEnv:
    """Vector entry point of ``ltvrec/Fitted-v0``."""
    from ltvrec.simulators import FittedSimulator

    return SlateVectorEnv(FittedSimulator.load(simulator), num_envs)
