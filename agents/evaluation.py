"""Evaluate several policies in one simulator, over seeds, as one table; compare two
policies by seed-level paired statistics (the only basis of a "wins" claim)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ltvrec.agents.baselines import display_name
from ltvrec.simulators.base import UserSimulator
from ltvrec.simulators.policies import SimPolicy
from ltvrec.simulators.rollout import PolicyValue, evaluate, mean_ci

logger = logging.getLogger(__name__)

COLUMNS = (
    ("value", "LTV (95% CI over pooled users; per-seed values)"),
    ("discounted_value", "discounted LTV"),
    ("clicks_per_request", "clicks/request"),
    ("requests_per_session", "requests/session"),
    ("sessions_per_user", "sessions/user"),
    ("return_rate", "return rate"),
    ("churn_rate", "churn"),
    ("coverage", "coverage"),
    ("diversity", "diversity"),
)

MAX_POLICY_OUTSIDE = 0.02
"""Share of a policy's simulated states outside the log's range past which its value in
a fitted simulator is read as an extrapolation. Read off the known-world experiments
(docs/simulators.md, "Warnings"): of 76 distinct policy rows, the 12 past 2% were all
misvalued by more than 10%, against 25 of the 61 under 1%."""


def popularity_scores(sim: UserSimulator, n_users: int = 512, seed: int = 0) -> np.ndarray:
    """``[N]`` mean immediate click utility over fresh users' states under the
    simulator's own response model (the demo's logging policy's scores; not a baseline:
    ``popularity-log`` ranks by the log's counts)."""
    state = sim.reset(n_users, np.random.default_rng(seed))
    return np.asarray(sim.item_click_logits(state)).mean(axis=0)


def paired_comparison(
    a: list[float] | np.ndarray,
    b: list[float] | np.ndarray,
    level: float = 0.95,
    times: float = 1.0,
) -> dict[str, Any]:
    """Seed-level paired statistics of policy A against ``times`` x B.

    ``a[i]`` and ``b[i]`` are the two policies' values on seed ``i`` (same logs, fit,
    users). Returns the per-seed differences ``a[i] - times * b[i]``, their mean, the
    Student-t interval of the mean over seeds (``n - 1`` degrees of freedom), the
    relative difference of the means, and a verdict: ``"wins"`` when the interval lies
    above 0, ``"loses"`` when below, ``"not established"`` otherwise (always so with one
    seed). With ``times=0.9``, "wins" says A earns at least 0.9x B, seed by seed.

    >>> r = paired_comparison([3.0, 4.0, 5.0], [1.0, 2.0, 2.0])
    >>> r["differences"], round(r["mean"], 3), r["verdict"]
    ([2.0, 2.0, 3.0], 2.333, 'wins')
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(
            f"expected two equal-length lists of per-seed values, got {a.shape}, {b.shape}"
        )
    if not np.isfinite(times) or times <= 0:
        raise ValueError(f"times must be a positive number, got {times}")
    d = a - times * b
    n = len(d)
    mean = float(d.mean())
    if n > 1:
        half = float(stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / np.sqrt(n))
        lo, hi = mean - half, mean + half
    else:
        lo, hi = float("nan"), float("nan")
    verdict = "wins" if lo > 0 else "loses" if hi < 0 else "not established"
    return {
        "seeds": n,
        "differences": d.tolist(),
        "mean": mean,
        "ci": [lo, hi],
        "level": level,
        "relative": mean / float(times * b.mean()) if b.mean() != 0 else float("nan"),
        "times": times,
        "verdict": verdict,
    }


def comparison_line(label: str, c: dict[str, Any]) -> str:
    """One Markdown line for a :func:`paired_comparison` labelled ``"A vs B"``."""
    diffs = ", ".join(f"{x:+.1f}" for x in c["differences"])
    ci = "n/a (1 seed)" if c["seeds"] < 2 else f"[{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}]"
    return (
        f"- {label}: mean paired difference {c['mean']:+.2f} "
        f"({c['relative']:+.1%}), {c['level']:.0%} t-interval over {c['seeds']} seeds {ci}: "
        f"**{c['verdict']}**. Per seed: {diffs}."
    )


def summarize_runs(name: str, runs: list[PolicyValue]) -> dict[str, Any]:
    """One table row from a policy's runs, one per seed: per-seed values (the basis of
    every comparison), and the pooled-user CI as a secondary column."""
    summaries = [r.summary() for r in runs]
    v, lo, hi = mean_ci(np.concatenate([r.returns for r in runs]))
    dv, dlo, dhi = mean_ci(np.concatenate([r.discounted for r in runs]))
    row: dict[str, Any] = {
        "policy": name,
        "users": int(sum(len(r.returns) for r in runs)),
        "seeds": len(runs),
        "gamma": runs[0].gamma,
        "value": v,
        "value_ci": [lo, hi],
        "discounted_value": dv,
        "discounted_ci": [dlo, dhi],
        "value_per_seed": [s["value"] for s in summaries],
    }
    for key, _ in COLUMNS[2:]:
        row[key] = float(np.mean([s[key] for s in summaries]))
    row["outside_support"] = float(np.mean([s["outside_support"] for s in summaries]))
    return row


def evaluate_many(
    sim: UserSimulator,
    policies: dict[str, SimPolicy | list[SimPolicy]],
    users: int,
    seeds: int,
    gamma: float = 0.995,
    seed_offset: int = 0,
) -> list[dict[str, Any]]:
    """Each policy on ``seeds`` batches of ``users`` fresh users (seed ``i`` is the same
    users for every policy, so values pair by seed). A list gives one policy per seed
    (e.g. PPO trained with seed ``i``)."""
    rows = []
    for name, policy in policies.items():
        per_seed = policy if isinstance(policy, list) else [policy] * seeds
        if len(per_seed) != seeds:
            raise ValueError(
                f"{name}: expected {seeds} policies (one per seed), got {len(per_seed)}"
            )
        runs = [
            evaluate(sim, p, users, seed=seed_offset + s, gamma=gamma)
            for s, p in enumerate(per_seed)
        ]
        rows.append(summarize_runs(name, runs))
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The policies' table; in a fitted simulator that kept its training states' range,
    a last column with the share of states outside it (where a policy leaves the logs)."""
    columns = list(COLUMNS)
    if any(np.isfinite(r.get("outside_support", np.nan)) for r in rows):
        columns.append(("outside_support", "states outside the log's range"))
    head = "| policy | " + " | ".join(label for _, label in columns) + " |"
    sep = "|---" * (len(columns) + 1) + "|"
    lines = [head, sep]
    for r in rows:
        cells = [f"{r['value']:.2f} [{r['value_ci'][0]:.2f}, {r['value_ci'][1]:.2f}]"]
        if "value_per_seed" in r and len(r["value_per_seed"]) > 1:
            cells[0] += " (seeds: " + ", ".join(f"{v:.1f}" for v in r["value_per_seed"]) + ")"
        cells.append(f"{r['discounted_value']:.2f}")
        for key, _ in columns[2:]:
            cells.append(f"{r.get(key, float('nan')):.3f}")
        lines.append(f"| {display_name(r['policy'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def support_warnings(shares: dict[str, float]) -> list[str]:
    """One sentence per policy whose share of simulated states outside the log's range
    (``shares``: policy name -> share; NaN where the simulator keeps no range, as the
    known world) exceeds :data:`MAX_POLICY_OUTSIDE`."""
    return [
        f"{display_name(name)} takes {share:.1%} of its simulated states outside the log's "
        f"range (> {MAX_POLICY_OUTSIDE:.0%}): the fitted simulator values it by "
        "extrapolation, and in the known-world experiments every policy past this share "
        "was misvalued by more than 10%"
        for name, share in shares.items()
        if np.isfinite(share) and share > MAX_POLICY_OUTSIDE
    ]


def row_support_warnings(rows: list[dict[str, Any]]) -> list[str]:
    """:func:`support_warnings` of a table's rows (:func:`summarize_runs`)."""
    return support_warnings({r["policy"]: r.get("outside_support", np.nan) for r in rows})


def warning_lines(warnings: list[str]) -> list[str]:
    """Markdown bullets of ``warnings`` and a blank line after them; nothing if none."""
    return [*[f"- **warning**: {w}" for w in warnings], ""] if warnings else []


def evaluate_specs(
    specs: list[str],
    env: str | None = None,
    sim: Path | None = None,
    world_config: Path | None = None,
    model_sim: Path | None = None,
    users: int = 1000,
    seeds: int = 3,
    gamma: float = 0.995,
    world_sets: list[str] | None = None,
) -> list[dict[str, Any]]:
    """``ltvrec evaluate``: the policies ``specs`` (``NAME=DIR`` or a baseline's name,
    :func:`~ltvrec.agents.baselines.policy_from_spec`) in the simulator of ``env``, one
    row each (:func:`evaluate_many`). ``model_sim``: the simulator fitted from the logs
    that ``greedy-model`` and ``popularity-log`` are built from (default: ``sim`` when
    ``env`` is ``fitted``); ``world_sets``: ``key=value`` fields of the known world.
    ``env`` None: where the first trained policy among ``specs`` was trained (its
    ``policy.json`` records the env and simulator), else the known world."""
    from ltvrec.agents.baselines import policy_from_spec
    from ltvrec.agents.policies import trained_on
    from ltvrec.simulators.fitted import FittedSimulator
    from ltvrec.simulators.load import load_simulator

    if env is None:
        trained = [s.partition("=")[2] for s in specs if "=" in s]
        env, found = trained_on(trained[0]) if trained else ("known-world", None)
        sim = sim if sim is not None else found
    simulator, logging_policy = load_simulator(env, sim, world_config, world_sets)
    fitted = FittedSimulator.load(model_sim) if model_sim else None
    if fitted is None and isinstance(simulator, FittedSimulator):
        fitted = simulator
    chosen: dict[str, SimPolicy | list[SimPolicy]] = dict(
        policy_from_spec(s, simulator, fitted, logging_policy) for s in specs
    )
    logger.info(f"evaluating {len(chosen)} policies on {users:,} users x {seeds} seeds")
    return evaluate_many(simulator, chosen, users, seeds, gamma)
