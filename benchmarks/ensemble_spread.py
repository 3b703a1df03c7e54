"""Does the ensemble's spread say where the fitted simulator is wrong? In the known world
(where the truth is known), per seed: logs -> one simulator fitted on all of them (the
one every report uses) and an ensemble of K fitted on resampled users -> each policy's
value in the truth, in the fitted simulator and in every member, on the same users.

Prints per policy (mean over seeds): the true value, the fitted simulator's relative
error, the members' relative spread, and in how many seeds the truth lies inside the
members' range; and the rank correlation, over policies and seeds, between the
absolute relative error and the spread.

    .venv/bin/python benchmarks/ensemble_spread.py [--seeds 3] [--k 5] [--users 1000]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from scipy import stats

from ltvrec.agents.baselines import make_baseline
from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    QualityAwarePolicy,
    evaluate,
    fit_simulator,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.ensemble import ensemble_values, fit_ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--log-users", type=int, default=3000)
    args = parser.parse_args()
    base = KnownWorldConfig()
    rows: dict[str, list[dict[str, float]]] = {}
    for seed in range(args.seeds):
        world = KnownWorld(replace(base, seed=base.seed + seed))
        logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
        log = simulate_log(world, logging, args.log_users, seed=seed)
        catalog = known_world_catalog(world.items.titles, world.items.price)
        cfg = FitConfig(horizon_days=base.horizon_days, seed=seed)
        fitted = fit_simulator(log, catalog, world.item_embeddings, cfg)
        members = fit_ensemble(log, catalog, world.item_embeddings, cfg, k=args.k, seed=seed)
        policies = {
            name: make_baseline(name, model=fitted, world=world, logging=logging, n_items=500)
            for name in ("random", "logging", "popularity-log", "greedy-model",
                         "quality-aware-oracle")
        }  # fmt: skip
        policies["quality-aware (2.0)"] = QualityAwarePolicy(world.items.quality, 2.0)
        users_seed = 1_000_000 + seed
        spread = ensemble_values(members, policies, args.users, users_seed)
        for name, policy in policies.items():
            true = evaluate(world, policy, args.users, seed=users_seed).value[0]
            sim = evaluate(fitted, policy, args.users, seed=users_seed).value[0]
            v = spread[name]
            rows.setdefault(name, []).append(
                {
                    "true": true,
                    "error": sim / true - 1.0,
                    "spread": v["relative_spread"],
                    "covers": float(min(v["values"]) <= true <= max(v["values"])),
                }
            )
        print(f"seed {seed} done")
    print(f"\n{args.seeds} seeds, K = {args.k}, {args.log_users} logged users, {args.users} users")
    print(
        "| policy | true value | fitted: relative error | members: relative spread | "
        "truth inside the members' range |"
    )
    print("|---|---|---|---|---|")
    errors, spreads = [], []
    for name, rs in rows.items():
        errors += [abs(r["error"]) for r in rs]
        spreads += [r["spread"] for r in rs]
        mean_true = float(np.mean([r["true"] for r in rs]))
        mean_err = float(np.mean([r["error"] for r in rs]))
        mean_spread = float(np.mean([r["spread"] for r in rs]))
        covers = int(sum(r["covers"] for r in rs))
        print(
            f"| {name} | {mean_true:.2f} | {mean_err:+.1%} | {mean_spread:.1%} | "
            f"{covers}/{len(rs)} |"
        )
    rho = stats.spearmanr(errors, spreads).statistic
    print(f"\nSpearman(|relative error|, relative spread) over policies x seeds: {rho:.2f}")


if __name__ == "__main__":
    main()
