"""``SlateRecEnv``: one user of any simulator as a Gymnasium environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ltvrec.envs.spaces import SlateSpace
from ltvrec.simulators.base import SimState, StepResult, UserSimulator


def observation_space(sim: UserSimulator, n_candidates: int | None) -> spaces.Space[Any]:
    """Box of the user state, or a Dict with per-step candidates (see SlateRecEnv)."""
    user = spaces.Box(-np.inf, np.inf, (sim.state_encoder.size,), np.float32)
    if n_candidates is None:
        return user
    d = sim.item_embeddings.shape[1]
    return spaces.Dict(
        {
            "user": user,
            "candidate_features": spaces.Box(-np.inf, np.inf, (n_candidates, d), np.float32),
            "mask": spaces.MultiBinary(n_candidates),
        }
    )


def policy_observation_size(sim: UserSimulator, time_feature: bool = True) -> int:
    """Width of :func:`policy_observation`: the user state, the time feature, and the
    consumed-item block when the simulator forbids repeats."""
    n_mask = 0 if sim.allow_repeats else sim.n_items
    return int(sim.state_encoder.size) + int(time_feature) + n_mask


def policy_observation(
    sim: UserSimulator, state: SimState, time_feature: bool = True
) -> np.ndarray:
    """``[B, S (+1) (+N)]`` float32: what every env (scalar, vector, SB3) shows a policy.

    The user state; with ``time_feature``, the elapsed share of the horizon (a
    finite-horizon return depends on the time left, which the user state does not hold:
    without it a value function cannot fit; Pardo et al., "Time Limits in Reinforcement
    Learning", ICML 2018; for the value head only, a policy should not score items by
    it); when the simulator forbids repeats, the user's consumed items as 0/1 (``N``
    columns, last) so that a policy can mask them.
    """
    parts = [state.obs.astype(np.float32)]
    if time_feature:
        parts.append((state.time / sim.horizon_days).astype(np.float32)[:, None])
    if state.consumed is not None:
        parts.append(state.consumed.astype(np.float32))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def draw_candidates(sim: UserSimulator, n_candidates: int, rng: np.random.Generator) -> np.ndarray:
    """The retrieval step: ``n_candidates`` distinct items, uniformly at random."""
    return rng.choice(sim.n_items, n_candidates, replace=False).astype(np.int64)


def step_info(result: StepResult, i: int = 0) -> dict[str, Any]:
    """The per-step ``info`` of one user."""
    return {
        "click": bool(result.clicked_position[i] >= 0),
        "clicked_position": int(result.clicked_position[i]),
        "clicked_item": int(result.clicked_item[i]),
        "session_end": bool(result.session_end[i]),
        # None, not NaN, within a session: NaN != NaN would break determinism checks.
        "return_gap": None if np.isnan(result.return_gap[i]) else float(result.return_gap[i]),
        "churned": bool(result.churned[i]),
        "time": float(result.time[i]),
    }


class SlateRecEnv(gym.Env[Any, np.ndarray]):
    """One user of a slate-recommendation simulator, over the user's whole horizon.

    ## Description
    Each step is one request: the agent shows a slate of K distinct items, the
    simulated user clicks one or none, the session may end, and the user may come back
    later. Between sessions the env advances time by the sampled return gap inside the
    same episode, so an episode is a user's whole horizon and its return is the user's
    long-term value.

    ## Action Space
    :class:`~ltvrec.envs.spaces.SlateSpace`: K distinct indices into the catalog (or
    into the step's candidates). A slate with duplicates or out-of-range indices raises
    ``ValueError``; wrap with :class:`~ltvrec.envs.RepairDuplicates` for libraries that
    cannot propose distinct slates.

    ## Observation Space
    ``Box(-inf, inf, (S (+1) (+N),), float32)``: :func:`policy_observation`, the
    user-state vector of :mod:`ltvrec.encoders.state` (S = 2d + 6), the elapsed share of
    the horizon (``time_feature``, default on, as in training), and the consumed items
    when the simulator forbids repeats. With ``n_candidates``, a ``Dict`` with ``user``
    (the user-state vector alone), ``candidate_features`` (``[n_candidates, d]`` item vectors,
    drawn uniformly from the catalog at every step by the retrieval step) and ``mask``
    (all ones: every candidate is valid).

    ## Rewards
    The request's reward from the simulator (1 per click in the default known world,
    or price, or a rating).

    ## Starting State
    A fresh user at time 0, at the start of the first session.

    ## Episode End
    ``terminated``: the user churned (left for good). ``truncated``: the user's next
    return falls at or past the horizon. The env never resets itself inside ``step``.

    ## Arguments
    - ``simulator``: any :class:`~ltvrec.simulators.base.UserSimulator`.
    - ``n_candidates``: per-step candidate set size (None: the whole catalog).
    - ``time_feature``: append the elapsed share of the horizon (default True, as the
      vector env and training).

    ``info`` carries ``click``, ``clicked_position``, ``clicked_item``,
    ``session_end``, ``return_gap`` (days; None within a session), ``churned``, ``time``
    (days since the user's start) and, with candidates, ``candidates`` (item indices).

    ## Version History
    - v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012  (Gymnasium's convention)

    def __init__(
        self,
        simulator: UserSimulator,
        n_candidates: int | None = None,
        time_feature: bool = True,
    ) -> None:
        if (
            n_candidates is not None
            and not simulator.slate_size <= n_candidates <= simulator.n_items
        ):
            raise ValueError(
                f"n_candidates must be in [slate_size={simulator.slate_size}, "
                f"n_items={simulator.n_items}], got {n_candidates}"
            )
        self.sim = simulator
        self.n_candidates = n_candidates
        self.time_feature = time_feature
        self.observation_space = observation_space(simulator, n_candidates)
        if n_candidates is None:
            width = policy_observation_size(simulator, time_feature)
            self.observation_space = spaces.Box(-np.inf, np.inf, (width,), np.float32)
        self.action_space = SlateSpace(n_candidates or simulator.n_items, simulator.slate_size)
        self._state: SimState | None = None
        self._candidates: np.ndarray | None = None
        self._done = False

    def _obs(self) -> Any:
        assert self._state is not None
        if self.n_candidates is None:
            return policy_observation(self.sim, self._state, self.time_feature)[0]
        user = self._state.obs[0].astype(np.float32)
        self._candidates = draw_candidates(self.sim, self.n_candidates, self.np_random)
        return {
            "user": user,
            "candidate_features": self.sim.item_embeddings[self._candidates].astype(np.float32),
            "mask": np.ones(self.n_candidates, dtype=np.int8),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self._state = self.sim.reset(1, self.np_random)
        self._done = False
        obs = self._obs()
        info = {} if self._candidates is None else {"candidates": self._candidates.copy()}
        return obs, info

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the episode has ended; call reset() before step()")
        slate = np.asarray(action).reshape(1, -1)
        if self._candidates is not None:
            if slate.min() < 0 or slate.max() >= len(self._candidates):
                n = len(self._candidates)
                raise ValueError(f"candidate index out of range [0, {n}): {slate[0].tolist()}")
            slate = self._candidates[slate]
        self._state, result = self.sim.step(self._state, slate, self.np_random)
        terminated, truncated = bool(result.churned[0]), bool(result.truncated[0])
        self._done = terminated or truncated
        info = step_info(result)
        obs = self._obs()
        if self._candidates is not None:
            info["candidates"] = self._candidates.copy()
        return obs, float(result.reward[0]), terminated, truncated, info


class RepairDuplicates(gym.ActionWrapper[Any, np.ndarray, np.ndarray]):
    """For libraries that sample slots independently (SB3's ``MultiDiscrete`` policy):
    replace each repeated item by the next index not yet in the slate (cyclically).

    The repaired slate is not what the library's policy thinks it chose, so its
    log-probabilities — and any propensity it would log — are wrong for those steps;
    ``info["repaired"]`` counts the repaired slots so that this is visible. ltvrec's
    own Plackett-Luce policy never needs this.
    """

    def __init__(self, env: gym.Env[Any, np.ndarray]) -> None:
        super().__init__(env)
        self._repaired = 0

    def action(self, action: np.ndarray) -> np.ndarray:
        a = np.asarray(action, dtype=np.int64).copy()
        n = int(self.action_space.nvec[0])  # type: ignore[attr-defined]
        seen: set[int] = set()
        self._repaired = 0
        for i, item in enumerate(a):
            x = int(item)
            while x in seen:
                x = (x + 1) % n
            if x != item:
                self._repaired += 1
            a[i] = x
            seen.add(x)
        return a

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, float(reward), terminated, truncated, {**info, "repaired": self._repaired}


def make_known_world_env(n_candidates: int | None = None, **config: Any) -> SlateRecEnv:
    """Entry point of ``ltvrec/KnownWorld-v0``: keyword arguments are KnownWorldConfig fields."""
    from ltvrec.simulators import KnownWorld, KnownWorldConfig

    return SlateRecEnv(KnownWorld(KnownWorldConfig(**config)), n_candidates)


def make_fitted_env(simulator: str | Path, n_candidates: int | None = None) -> SlateRecEnv:
    """Entry point of ``ltvrec/Fitted-v0``: ``simulator`` is a ``ltvrec sim fit`` folder."""
    from ltvrec.simulators import FittedSimulator

    return SlateRecEnv(FittedSimulator.load(simulator), n_candidates)
