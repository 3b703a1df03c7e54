"""Logs from a simulator: what a logging policy served, in the interaction schema.

Users arrive spread over ``start_spread_days``; each is followed over the simulator's
horizon. Every shown item is one row, with the logging policy's exact propensities
(``pscore`` joint, ``pscore_cascade`` prefix, ``pscore_item_position`` marginal) when
the policy provides them, and the session id the service would know. A simulator with
organic consumptions gets them recorded (``organic_item_id``, ``organic_reward``), so a
replay of the log sees the users the policy served.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ltvrec.errors import InputError
from ltvrec.interactions.schema import InteractionLog, ItemCatalog
from ltvrec.simulators.base import SimState, StepResult, UserSimulator
from ltvrec.simulators.rollout import SimPolicy, run_users

if TYPE_CHECKING:
    from ltvrec.simulators.known_world import KnownWorldConfig

logger = logging.getLogger(__name__)

LOG_START = pd.Timestamp("2024-01-01", tz="UTC")


def simulate_log(
    sim: UserSimulator,
    policy: SimPolicy,
    n_users: int,
    seed: int,
    start_spread_days: float = 0.0,
    batch_size: int = 4096,
) -> InteractionLog:
    """Run ``policy`` for ``n_users`` fresh users and return the validated log.

    Item ids are item indices (``0..n_items-1``); user ids are ``0..n_users-1``.
    """
    rng = np.random.default_rng(seed)
    k = sim.slate_size
    chunks: list[dict[str, np.ndarray]] = []
    session = np.zeros(n_users, dtype=np.int64)
    offset = rng.uniform(0.0, start_spread_days, n_users)
    propensities = getattr(policy, "propensities", None)

    def record(users: np.ndarray, _s: SimState, slates: np.ndarray, r: StepResult) -> None:
        rows: dict[str, Any] = {
            "user_id": users,
            "time": r.time + offset[users],
            "session": session[users].copy(),
            "slates": slates,
            "clicked_position": r.clicked_position,
            "reward": r.reward,
            "organic_item": r.organic_item,
            "organic_reward": r.organic_reward,
        }
        if propensities is not None:
            rows.update(propensities(slates))
        chunks.append(rows)
        session[users] += r.session_end & ~r.done

    for start in range(0, n_users, batch_size):
        n = min(batch_size, n_users - start)
        ids = np.arange(start, start + n)
        run_users(sim, policy, sim.reset(n, rng), rng, record, ids=ids)

    def cat(key: str) -> np.ndarray:
        return np.concatenate([c[key] for c in chunks])

    slates = cat("slates")
    n_req = len(slates)
    pos = np.tile(np.arange(k), n_req)
    users = np.repeat(cat("user_id"), k)
    frame = pd.DataFrame(
        {
            "request_id": np.repeat(np.arange(n_req, dtype=np.int64), k),
            "user_id": users,
            "timestamp": LOG_START + pd.to_timedelta(np.repeat(cat("time"), k), unit="D"),
            "item_id": slates.reshape(-1),
            "position": pos,
            "click": (np.repeat(cat("clicked_position"), k) == pos).astype(np.int8),
            "reward": np.where(
                np.repeat(cat("clicked_position"), k) == pos, np.repeat(cat("reward"), k), 0.0
            ),
            "session_id": users * 100_000 + np.repeat(cat("session"), k),
        }
    )
    if propensities is not None:
        frame["pscore"] = np.repeat(cat("pscore"), k)
        frame["pscore_item_position"] = cat("pscore_item_position").reshape(-1)
        frame["pscore_cascade"] = cat("pscore_cascade").reshape(-1)
    if sim.organic:
        organic = pd.Series(np.repeat(cat("organic_item"), k), dtype="Int64")
        frame["organic_item_id"] = organic.mask(organic < 0)  # empty: no organic consumption
        frame["organic_reward"] = np.repeat(cat("organic_reward"), k)
    frame["policy"] = policy.name
    return InteractionLog.from_frame(frame)


def known_world_catalog(titles: list[str], price: np.ndarray) -> ItemCatalog:
    """The catalog a known world's logs refer to: item index, title, price.
    (Appeal and quality are latent and stay out.)"""
    return ItemCatalog.from_frame(
        pd.DataFrame({"item_id": np.arange(len(titles)), "text": titles, "price": price})
    )


def write_known_world_logs(
    cfg: KnownWorldConfig, users: int, seed: int, out: str | Path
) -> InteractionLog:
    """Logs of the known world's logging policy (exact propensities) written to ``out``
    as ``log.parquet``, ``catalog.parquet`` and ``provenance.json`` (the world's config,
    users, seed and the files' sha256), a data folder every command reads."""
    import json

    from ltvrec import __version__
    from ltvrec.config import config_to_dict
    from ltvrec.interactions.io import atomic_path, sha256_file, write_catalog, write_log
    from ltvrec.simulators.known_world import KnownWorld
    from ltvrec.simulators.policies import PlackettLucePolicy

    if users < 1:
        raise InputError(f"users must be >= 1, got {users}")
    out = Path(out)
    logger.info("building the known world")
    world = KnownWorld(cfg)
    policy = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    logger.info(f"simulating {users:,} users over {cfg.horizon_days:g} days")
    log = simulate_log(world, policy, users, seed)
    logger.info("writing")
    write_log(log, out / "log.parquet")
    catalog = known_world_catalog(world.items.titles, world.items.price)
    write_catalog(catalog, out / "catalog.parquet")
    provenance = {
        "name": "known-world",
        "source": {
            "simulator": "KnownWorld",
            "config": config_to_dict(cfg),
            "users": users,
            "seed": seed,
        },
        "converted_files": {f: sha256_file(out / f) for f in ("log.parquet", "catalog.parquet")},
        "ltvrec_version": __version__,
    }
    with atomic_path(out / "provenance.json") as tmp:
        tmp.write_text(json.dumps(provenance, indent=2) + "\n")
    return log
