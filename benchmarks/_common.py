"""Helpers shared by the benchmarks (not part of the package)."""

from __future__ import annotations

import numpy as np

from ltvrec.simulators.fitted import (
    ChoiceParams,
    FittedSimulator,
    ReturnParams,
    RewardParams,
    Standardizer,
)


def random_simulator(
    n_items: int, d: int, k: int, hidden: int = 32, seed: int = 0, horizon_days: float = 1e9
) -> FittedSimulator:
    """A fitted simulator of the given shape with random parameters (speed does not depend
    on the values). The default horizon keeps every user in the batch."""
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((n_items, d)).astype(np.float32)
    s = 2 * d + 6

    def f32(*shape: int) -> np.ndarray:
        return (0.1 * rng.standard_normal(shape)).astype(np.float32)

    return FittedSimulator(
        item_embeddings=emb,
        item_ids=np.arange(n_items),
        standardizer=Standardizer(np.zeros(s, np.float32), np.ones(s, np.float32)),
        choice=ChoiceParams(
            f32(s, hidden), f32(hidden), f32(n_items, hidden), f32(n_items), f32(k), f32(s), 1.0
        ),
        reward=RewardParams(f32(s + d), 1.0, 0.0, np.zeros(0), 1.0, 1.0),
        leave=(f32(s), -1.5),
        ret=ReturnParams(f32(s), -3.0, f32(s), -0.5, (-3.0, 2.0), 0.02),
        slate_size=k,
        horizon_days=horizon_days,
        state_decay=0.8,
        max_session_requests=10_000,
        meta={},
    )


def greedy_scores(sim: FittedSimulator, obs: np.ndarray) -> np.ndarray:
    """A policy's scoring: standardise, query, dot every item, add the bias."""
    c, std = sim.choice, sim.standardizer
    return (((obs - std.mean) / std.std) @ c.wq + c.bq) @ c.item_keys.T + c.item_bias
