"""Helpers shared by the benchmarks (not part of the package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ltvrec.simulators.components import (
    ChoiceParams,
    LeaveModel,
    ReturnParams,
    RewardParams,
    Standardizer,
)
from ltvrec.simulators.fitted import FittedSimulator


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
        leave=LeaveModel(f32(s), -1.5),
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


def log_and_vectors(data: str, users: int = 3000) -> tuple[Any, Any, np.ndarray]:
    """``(log, catalog, item vectors)`` of ``data``: a fetched data set with the default
    encoder's vectors (MiniLM through the cache, as the demo), or ``known-world``: its
    logging policy's log of ``users`` users and the world's own title vectors."""
    if data == "known-world":
        from ltvrec.simulators import KnownWorld, PlackettLucePolicy, simulate_log
        from ltvrec.simulators.logs import known_world_catalog

        world = KnownWorld()
        policy = PlackettLucePolicy(world.logging_scores(), world.slate_size)
        log = simulate_log(world, policy, users, seed=0)
        catalog = known_world_catalog(world.items.titles, world.items.price)
        return log, catalog, world.item_embeddings
    from ltvrec.config import EncodeConfig
    from ltvrec.encoders.items import encode_with_config
    from ltvrec.interactions.datasets import load

    ds = load(data)
    encoding, _ = encode_with_config(ds.catalog, EncodeConfig())
    return ds.log, ds.catalog, encoding.embeddings


def user_split(log: Any, split: int, test_share: float) -> tuple[Any, Any]:
    """``(train, test)`` logs: ``test_share`` of the users, drawn with seed ``split``."""
    from ltvrec.interactions import InteractionLog

    frame = log.frame
    users = np.sort(frame["user_id"].unique())
    rng = np.random.default_rng(split)
    test_users = rng.choice(users, int(len(users) * test_share), replace=False)
    is_test = frame["user_id"].isin(test_users).to_numpy()
    return (
        InteractionLog(frame=frame[~is_test].reset_index(drop=True)),
        InteractionLog(frame=frame[is_test].reset_index(drop=True)),
    )


def paired_line(label: str, a: list[float], b: list[float], higher_is_better: bool = True) -> str:
    """``label: mean [95% t-interval] over splits: verdict (per split ...)``, 4 decimals.
    The verdict reads "higher" / "lower" (established either way) or "not established":
    for a quantity where lower is better (an ECE), say so with ``higher_is_better=False``
    and "higher" is reported as "worse"."""
    from ltvrec.agents.evaluation import paired_comparison

    c = paired_comparison(a, b)
    diffs = ", ".join(f"{d:+.4f}" for d in c["differences"])
    verdict = {"wins": "higher", "loses": "lower"}.get(c["verdict"], c["verdict"])
    if verdict != "not established":
        better = (verdict == "higher") == higher_is_better
        verdict += " (better)" if better else " (worse)"
    return (
        f"{label}: {c['mean']:+.4f} [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}] over "
        f"{c['seeds']} splits: {verdict} (per split {diffs}); baseline {np.mean(b):.4f}"
    )


@dataclass(frozen=True)
class LoggedWorld:
    """A known world with MiniLM title vectors and a log from its logging policy."""

    config: Any  # KnownWorldConfig
    world: Any  # KnownWorld, shown through the title vectors
    logging: Any  # its PlackettLucePolicy
    catalog: Any  # ItemCatalog
    log: Any  # InteractionLog
    vectors: np.ndarray


def minilm_world(base: Any, seed: int, users: int = 3000) -> LoggedWorld:
    """World seed ``seed`` of config ``base`` (items drawn with ``base.seed + seed``, as
    the sim-to-real experiment does), titles encoded with MiniLM, and ``users`` users
    logged by its logging policy with seed ``seed``."""
    from dataclasses import replace

    from ltvrec.experiment import encode_titles
    from ltvrec.simulators import KnownWorld, PlackettLucePolicy, simulate_log
    from ltvrec.simulators.logs import known_world_catalog

    cfg = replace(base, seed=base.seed + seed)
    emb = encode_titles(KnownWorld(cfg).items.titles, "minilm", cfg.embedding_dim)
    world = KnownWorld(cfg, item_embeddings=emb)
    logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    log = simulate_log(world, logging, users, seed=seed)
    return LoggedWorld(cfg, world, logging, catalog, log, emb)
