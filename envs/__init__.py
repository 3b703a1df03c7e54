"""Gymnasium environments over any simulator, a batched vector env, the SB3 adapter.

Importing this module registers ``ltvrec/KnownWorld-v0`` (keyword arguments are
``KnownWorldConfig`` fields, plus ``n_candidates``) and ``ltvrec/Fitted-v0``
(``simulator=PATH`` of a ``ltvrec sim fit`` folder), each with a vector entry point:

>>> import gymnasium as gym
>>> import ltvrec.envs
>>> env = gym.make("ltvrec/KnownWorld-v0", n_items=40, slate_size=3)
>>> obs, info = env.reset(seed=0)
>>> obs.shape, env.action_space
((71,), SlateSpace(n_items=40, slate_size=3))
>>> venv = gym.make_vec("ltvrec/KnownWorld-v0", num_envs=8, vectorization_mode="vector_entry_point")
>>> venv.reset(seed=0)[0].shape
(8, 71)
"""

import gymnasium as gym

from ltvrec.envs.sb3 import SB3VecEnv
from ltvrec.envs.slate_env import RepairDuplicates, SlateRecEnv
from ltvrec.envs.spaces import SlateSpace
from ltvrec.envs.vector import SlateVectorEnv

for _id, _entry, _vector in (
    ("ltvrec/KnownWorld-v0", "make_known_world_env", "make_known_world_vector_env"),
    ("ltvrec/Fitted-v0", "make_fitted_env", "make_fitted_vector_env"),
):
    if _id not in gym.registry:
        gym.register(
            id=_id,
            entry_point=f"ltvrec.envs.slate_env:{_entry}",
            vector_entry_point=f"ltvrec.envs.vector:{_vector}",
            disable_env_checker=False,
        )

__all__ = ["RepairDuplicates", "SB3VecEnv", "SlateRecEnv", "SlateSpace", "SlateVectorEnv"]
