"""The item consequences as the fit estimates them, raw and shrunk towards their text's
prediction (``fit.shrink_consequences``), against the known world's true quality.

Per world seed: 3,000 logged users of the logging policy, the MiniLM title vectors,
the fit's cross-fitted estimate (:func:`~ltvrec.simulators.consequence.cross_fitted`,
defaults) without and with shrinkage; prints their Spearman and Pearson correlation
with the true quality, the mean true quality of the 10 items each ranks highest, and
their spread. In the world without a trade-off (``--quality-effect 0``) the column
should say nothing either way.

    .venv/bin/python benchmarks/consequence_shrinkage.py [--seeds 0 1 2] [--quality-effect 1]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from scipy import stats

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.experiment import encode_titles
from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.consequence import cross_fitted
from ltvrec.simulators.replay import replay_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--quality-effect", type=float, default=1.0)
    args = parser.parse_args()
    print(
        "| world seed | estimate | Spearman with quality | Pearson | "
        "true quality of its top 10 (best 10) | sd |"
    )
    print("|---|---|---|---|---|---|")
    for seed in args.seeds:
        cfg = replace(KnownWorldConfig(), seed=seed, quality_effect=args.quality_effect)
        emb = encode_titles(KnownWorld(cfg).items.titles, "minilm", cfg.embedding_dim)
        world = KnownWorld(cfg, item_embeddings=emb)
        logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
        log = simulate_log(world, logging, args.users, seed=seed)
        catalog = known_world_catalog(world.items.titles, world.items.price)
        traj = replay_log(log, catalog, UserStateEncoder(emb))
        q = world.items.quality
        best = np.sort(q)[-10:].mean()
        for shrink in (False, True):
            fit = FitConfig(item_consequences=True, shrink_consequences=shrink, seed=seed)
            _, _, c, _ = cross_fitted(log, catalog, emb, traj, fit)
            top = q[np.argsort(-c)[:10]].mean()
            print(
                f"| {seed} | {'shrunk' if shrink else 'raw'} | "
                f"{stats.spearmanr(c, q).statistic:+.3f} | {np.corrcoef(c, q)[0, 1]:+.3f} | "
                f"{top:.2f} ({best:.2f}) | {c.std():.3f} |"
            )


if __name__ == "__main__":
    main()
