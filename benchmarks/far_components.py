"""Where the fitted simulator's value for the far OPE targets goes wrong: each target of
``benchmarks/ope_coverage.py --targets far`` evaluated in simulators fitted on replicate
logs of that study (log seed ``1000 + r``, the whole log, no resampling) and in the true
world, component by component (clicks per request, requests per session, sessions per
user, churn), beside the value.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/far_components.py \\
        --ppo runs/kw-default/seed0/ppo-true [--replicates 0 1 2] [--choice-history residual]
"""

from __future__ import annotations

import argparse

from ope_coverage import far_targets

from ltvrec.simulators import FitConfig, KnownWorld, PlackettLucePolicy, evaluate, fit_simulator
from ltvrec.simulators.logs import known_world_catalog, simulate_log

COLUMNS = ("value", "clicks_per_request", "requests_per_session", "sessions_per_user",
           "churn_rate")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ppo", type=str, default=None)
    p.add_argument("--replicates", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--eval-users", type=int, default=5000)
    p.add_argument("--choice-history", type=str, default="residual")
    p.add_argument("--model", type=str, default="minilm")
    args = p.parse_args()
    from ltvrec.experiment import encode_titles

    world = KnownWorld()
    emb = encode_titles(world.items.titles, args.model, world.config.embedding_dim)
    world = KnownWorld(world.config, item_embeddings=emb)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    targets = far_targets(world, args.ppo, [1.0, 0.5])
    truth = {k: evaluate(world, t, args.eval_users, seed=7).summary() for k, t in targets.items()}
    print("| target | simulator | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for name, row in truth.items():
        print(f"| {name} | truth | " + " | ".join(f"{row[c]:.3f}" for c in COLUMNS) + " |")
    for r in args.replicates:
        log = simulate_log(world, logging, args.users, seed=1000 + r)
        cfg = FitConfig(
            horizon_days=world.config.horizon_days, seed=r, choice_history=args.choice_history
        )
        sim = fit_simulator(log, catalog, world.item_embeddings, cfg)
        for name, target in targets.items():
            row = evaluate(sim, target, args.eval_users, seed=7).summary()
            t = truth[name]
            cells = " | ".join(f"{row[c]:.3f} ({row[c] / t[c] - 1:+.0%})" for c in COLUMNS)
            print(f"| {name} | log {r} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
