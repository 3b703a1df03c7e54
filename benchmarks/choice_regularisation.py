"""Does a more regularised choice model stop the fitted simulator from overvaluing
greedy-model? Per world seed (default known world, its own hashing title vectors,
3,000 logged users): one fit per variant of the choice model's settings; each
policy's true value and the fitted simulator's relative error on the same 1,000 users
(greedy-model is rebuilt from each fit).

    .venv/bin/python benchmarks/choice_regularisation.py 0 '{}' '{"weight_decay": 0.1}' \\
        '{"weight_decay": 1.0}' '{"hidden": 8}' '{"min_steps": 300, "epochs": 3}'
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

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
from ltvrec.simulators.policies import SimPolicy

NAMES = ("random", "logging", "popularity-log", "greedy-model", "quality-aware-oracle", "qa2")


def main() -> None:
    seed = int(sys.argv[1])
    variants = [json.loads(a) for a in sys.argv[2:]] or [{}]
    base = KnownWorldConfig()
    world = KnownWorld(replace(base, seed=base.seed + seed))
    logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    log = simulate_log(world, logging, 3000, seed=seed)
    truth: dict[str, float] = {}
    for v in variants:
        cfg = FitConfig(horizon_days=base.horizon_days, seed=seed, **v)
        fitted = fit_simulator(log, catalog, world.item_embeddings, cfg)
        out = []
        for name in NAMES:
            policy: SimPolicy = (
                QualityAwarePolicy(world.items.quality, 2.0, name="qa2")
                if name == "qa2"
                else make_baseline(name, model=fitted, world=world, logging=logging, n_items=500)
            )
            key = name if name != "greedy-model" else f"{name} {json.dumps(v)}"
            if key not in truth:
                truth[key] = evaluate(world, policy, 1000, seed=99).value[0]
            f = evaluate(fitted, policy, 1000, seed=99).value[0]
            out.append(f"{name} {truth[key]:.1f}->{f / truth[key] - 1:+.0%}")
        print(v, " | ".join(out), flush=True)


if __name__ == "__main__":
    main()
