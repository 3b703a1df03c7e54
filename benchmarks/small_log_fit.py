"""The fitted simulator's value of the logging policy against the truth, by log size and
choice-model training steps (known world): does a small log under-train the choice
model? Each row: a log of ``--users`` users (log seed ``s``), a simulator fitted on it
with ``epochs`` / ``min_steps``, the logging policy simulated for 4,000 users (seed 7).

    .venv/bin/python benchmarks/small_log_fit.py --users 1000 --seeds 3 4 --epochs 10 --min-steps 0
    .venv/bin/python benchmarks/small_log_fit.py --users 1000 --seeds 3 4   # the default floor
"""

from __future__ import annotations

import argparse

from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    PlackettLucePolicy,
    evaluate,
    fit_simulator,
    simulate_log,
)
from ltvrec.simulators.logs import known_world_catalog


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 4])
    p.add_argument("--epochs", type=int, default=FitConfig.epochs)
    p.add_argument("--min-steps", type=int, default=FitConfig.min_steps)
    args = p.parse_args()
    world = KnownWorld()
    catalog = known_world_catalog(world.items.titles, world.items.price)
    logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    truth = evaluate(world, logging, 4000, seed=7).summary()
    print(f"truth: value {truth['value']:.2f}, click rate {truth['clicks_per_request']:.3f}")
    print("| log users | log seed | choice-model steps | fitted value | fitted click rate |")
    print("|---|---|---|---|---|")
    for seed in args.seeds:
        log = simulate_log(world, logging, args.users, seed=seed)
        cfg = FitConfig(
            horizon_days=world.config.horizon_days, epochs=args.epochs, min_steps=args.min_steps
        )
        fitted = fit_simulator(log, catalog, world.item_embeddings, cfg)
        v = evaluate(fitted, logging, 4000, seed=7).summary()
        steps = fitted.meta["fit"]["choice_steps"]
        print(
            f"| {args.users:,} | {seed} | {steps:,} | {v['value']:.2f} "
            f"| {v['clicks_per_request']:.3f} |"
        )


if __name__ == "__main__":
    main()
