"""Adapter: a :class:`~ltvrec.envs.vector.SlateVectorEnv` as a stable-baselines3 VecEnv.

SB3's ``VecEnv`` is not Gymnasium's ``VectorEnv``: it auto-resets inside ``step_wait``,
reports one ``done`` per env, and expects each finished env's last observation in
``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"] = True`` when
the episode was cut by the horizon rather than ended by churn, so that PPO bootstraps
the value of a truncated state and not of a churned one.

``bootstrap_horizon=False`` (the default, as in training) reports the horizon as a
true end instead: right when the objective is the long-term value *within* the horizon
(ltvrec's training objective), where nothing is earned after it; ``True`` gives SB3's
usual time-limit bootstrap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from ltvrec.envs.vector import SlateVectorEnv


class SB3VecEnv(VecEnv):
    """stable-baselines3 view of a batched slate env (no per-user Python env objects).

    >>> from ltvrec.simulators import KnownWorld, KnownWorldConfig
    >>> venv = SB3VecEnv(SlateVectorEnv(KnownWorld(KnownWorldConfig(n_items=50)), 4))
    >>> venv.seed(0)
    [0, 1, 2, 3]
    >>> venv.reset().shape
    (4, 71)
    """

    def __init__(self, env: SlateVectorEnv, bootstrap_horizon: bool = False) -> None:
        self.env = env
        self.bootstrap_horizon = bootstrap_horizon
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else None
        obs, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64)

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async() must come before step_wait()"
        obs, rewards, terminated, truncated, infos = self.env.step(self._actions)
        dones = terminated | truncated
        out: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            info: dict[str, Any] = {
                "click": bool(infos["click"][i]),
                "session_end": bool(infos["session_end"][i]),
            }
            if dones[i]:
                info["terminal_observation"] = infos["final_obs"][i]
                info["TimeLimit.truncated"] = bool(
                    self.bootstrap_horizon and truncated[i] and not terminated[i]
                )
            out.append(info)
        return obs, rewards.astype(np.float32), dones, out

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        # Gymnasium's convention (slot i gets seed + i), applied at the next reset.
        seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        self._seeds = seeds
        return seeds

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.env, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        return [
            getattr(self.env, method_name)(*method_args, **method_kwargs)
            for _ in self._indices(indices)
        ]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: VecEnvIndices) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices
