"""Evaluate several policies in one simulator, over seeds, as one table."""

from __future__ import annotations

from typing import Any

import numpy as np

from ltvrec.simulators.base import UserSimulator
from ltvrec.simulators.policies import (
    GreedyPolicy,
    PopularityPolicy,
    RandomPolicy,
    SimPolicy,
)
from ltvrec.simulators.rollout import PolicyValue, evaluate, mean_ci

COLUMNS = (
    ("value", "LTV (95% CI)"),
    ("discounted_value", "discounted LTV"),
    ("clicks_per_request", "clicks/request"),
    ("requests_per_session", "requests/session"),
    ("sessions_per_user", "sessions/user"),
    ("return_rate", "return rate"),
    ("churn_rate", "churn"),
    ("coverage", "coverage"),
    ("diversity", "diversity"),
)


def popularity_scores(sim: UserSimulator, n_users: int = 512, seed: int = 0) -> np.ndarray:
    """``[N]`` mean immediate click utility over fresh users' states: the one slate that
    is best for the average user under the simulator's own response model."""
    state = sim.reset(n_users, np.random.default_rng(seed))
    return np.asarray(sim.item_click_logits(state)).mean(axis=0)


def baseline(name: str, sim: UserSimulator, logging: SimPolicy | None = None) -> SimPolicy:
    """``random``, ``popularity``, ``greedy`` or ``logging`` for ``sim``."""
    if name == "random":
        return RandomPolicy()
    if name == "popularity":
        return PopularityPolicy(popularity_scores(sim))
    if name == "greedy":
        return GreedyPolicy()
    if name == "logging":
        if logging is None:
            raise ValueError("the logging policy is known only for the known world")
        return logging
    raise ValueError(f"unknown baseline '{name}'; known: random, popularity, greedy, logging")


def evaluate_many(
    sim: UserSimulator,
    policies: dict[str, SimPolicy],
    users: int,
    seeds: int,
    gamma: float = 0.995,
) -> list[dict[str, Any]]:
    """Each policy on ``seeds`` batches of ``users`` fresh users (the same users for every
    policy: seed i is shared); CIs over all users pooled."""
    rows = []
    for name, policy in policies.items():
        runs: list[PolicyValue] = [
            evaluate(sim, policy, users, seed=s, gamma=gamma) for s in range(seeds)
        ]
        summaries = [r.summary() for r in runs]
        pooled = np.concatenate([r.returns for r in runs])
        disc = np.concatenate([r.discounted for r in runs])
        v, lo, hi = mean_ci(pooled)
        dv, dlo, dhi = mean_ci(disc)
        row: dict[str, Any] = {"policy": name, "users": len(pooled), "seeds": seeds, "gamma": gamma}
        row.update(value=v, value_ci=[lo, hi], discounted_value=dv, discounted_ci=[dlo, dhi])
        row["value_per_seed"] = [s["value"] for s in summaries]
        for key, _ in COLUMNS[2:]:
            row[key] = float(np.mean([s[key] for s in summaries]))
        rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = "| policy | " + " | ".join(label for _, label in COLUMNS) + " |"
    sep = "|---" * (len(COLUMNS) + 1) + "|"
    lines = [head, sep]
    for r in rows:
        cells = [f"{r['value']:.2f} [{r['value_ci'][0]:.2f}, {r['value_ci'][1]:.2f}]"]
        cells.append(f"{r['discounted_value']:.2f}")
        for key, _ in COLUMNS[2:]:
            cells.append(f"{r[key]:.3f}")
        lines.append(f"| {r['policy']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
