"""How much of the shrunk consequence column the log backs, with and without a
long-term trade-off (``FitConfig.shrink_consequences``; docs/simulators.md, "How much
of the shrunk column the log backs").

Per world seed, default world and ``quality_effect = 0``: the experiments' log (3,000
users of the logging policy) and item vectors (MiniLM titles, PCA 32, or the world's
hashing vectors); the consequences estimated on all users and on each half of them
(the fit's two folds), each shrunk towards its own text prediction. Prints the
halves' agreement on the shrunk column (their correlation over items and the
Spearman-Brown reliability the fit now scales the column by), the text prediction's
out-of-fold R^2, and what the shrunk column correlates with: the clickbait class (what
a title shows) and the true quality.

    .venv/bin/python benchmarks/consequence_reliability.py [--seeds 0 1 2] [--users 3000] \\
        [--model minilm|hashing]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from scipy import stats

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.experiment import encode_titles
from ltvrec.simulators import (
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.components import Standardizer
from ltvrec.simulators.consequence import (
    consumption_counts,
    item_consequences,
    shrunk_to_text,
    split_half_kappa,
    split_half_reliability,
    text_prediction,
)
from ltvrec.simulators.replay import replay_log


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--users", type=int, default=3000)
    p.add_argument("--model", choices=("minilm", "hashing"), default="minilm")
    args = p.parse_args()
    for effect in (1.0, 0.0):
        for seed in args.seeds:
            cfg = replace(KnownWorldConfig(), seed=seed, quality_effect=effect)
            base = KnownWorld(cfg)
            emb = (
                encode_titles(base.items.titles, "minilm", cfg.embedding_dim)
                if args.model == "minilm"
                else base.item_embeddings
            )
            world = KnownWorld(cfg, item_embeddings=emb)
            logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
            log = simulate_log(world, logging, args.users, seed=seed)
            catalog = known_world_catalog(world.items.titles, world.items.price)
            traj = replay_log(log, catalog, UserStateEncoder(emb, 0.8))
            x = Standardizer.fit(traj.after)(traj.after)
            n = world.n_items
            # The fit's folds (cross_fitted): all users, then each half's complement.
            fold = np.random.default_rng(seed).integers(0, 2, int(traj.user.max()) + 1)
            rows = [None, *(fold[traj.user] != k for k in (0, 1))]
            raw = [item_consequences(traj, x, n, 0.8, 1.0, rows=r) for r in rows]
            counts = [consumption_counts(traj, n, r) for r in rows]
            pairs = list(zip(raw, counts, strict=True))
            t = [text_prediction(c, emb, m, 1.0, seed=seed) for c, m in pairs]
            kappa = split_half_kappa(raw[1], raw[2], counts[1], counts[2], t[0])
            shrunk = [shrunk_to_text(c, q, m, kappa) for (c, m), q in zip(pairs, t, strict=True)]
            seen = counts[0] > 0
            r2 = 1 - np.mean((raw[0][seen] - t[0][seen]) ** 2) / np.var(raw[0][seen])
            halves = float(np.corrcoef(shrunk[1], shrunk[2])[0, 1])
            bait = world.items.clickbait.astype(float)
            print(
                f"quality_effect {effect:g}, world {seed}: halves agree {halves:+.3f} -> "
                f"reliability {split_half_reliability(shrunk[1], shrunk[2]):.3f}; text "
                f"prediction out-of-fold R^2 {r2:+.3f}, halves' text predictions agree "
                f"{np.corrcoef(t[1], t[2])[0, 1]:+.3f}; shrunk column vs clickbait "
                f"{np.corrcoef(shrunk[0], bait)[0, 1]:+.2f}, Spearman vs quality "
                f"{stats.spearmanr(shrunk[0], world.items.quality)[0]:+.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
