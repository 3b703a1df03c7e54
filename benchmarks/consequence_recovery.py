"""Do the item consequences estimated from logs (:mod:`ltvrec.simulators.consequence`)
rank the known world's items by their true quality, and stay silent where quality does
nothing (``quality_effect = 0``)?

Per world seed and log size: a log from the logging policy, replayed through the
text-only state (the known world's own hashing title vectors), the consequences
estimated with the fit's defaults (decay 0.8, ridge 1.0); prints their Spearman
correlation with the true quality over all items and within each class (clickbait or
not: what the title shows), and the estimate's time.

    .venv/bin/python benchmarks/consequence_recovery.py [--seeds 0 1 2] [--users 3000 1000]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from scipy import stats

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.simulators import (
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.components import Standardizer
from ltvrec.simulators.consequence import item_consequences
from ltvrec.simulators.replay import replay_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--users", type=int, nargs="+", default=[3000, 1000])
    args = parser.parse_args()
    for quality_effect in (1.0, 0.0):
        for seed in args.seeds:
            for users in args.users:
                cfg = replace(KnownWorldConfig(), seed=seed, quality_effect=quality_effect)
                world = KnownWorld(cfg)
                policy = PlackettLucePolicy(world.logging_scores(), world.slate_size)
                log = simulate_log(world, policy, users, seed=seed)
                catalog = known_world_catalog(world.items.titles, world.items.price)
                t0 = time.perf_counter()
                traj = replay_log(log, catalog, UserStateEncoder(world.item_embeddings, 0.8))
                x_after = Standardizer.fit(traj.after)(traj.after)
                c = item_consequences(traj, x_after, world.n_items, 0.8, 1.0)
                seconds = time.perf_counter() - t0
                q, bait = world.items.quality, world.items.clickbait
                rho = stats.spearmanr(c, q)[0]
                within = [stats.spearmanr(c[m], q[m])[0] for m in (bait, ~bait)]
                print(
                    f"quality_effect {quality_effect:g}, world seed {seed}, {users} users: "
                    f"Spearman {rho:+.3f} (within clickbait {within[0]:+.3f}, regular "
                    f"{within[1]:+.3f}); replay + estimate {seconds:.1f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
