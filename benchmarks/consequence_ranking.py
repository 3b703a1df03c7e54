"""Does the log-buildable ranking ``greedy + w x consequence`` beat greedy-model in the
truth, on worlds it was not chosen on? (issue 14's consequence column, read as a policy)

Per world seed: the known world (MiniLM titles), 3,000 users logged by its logging
policy, one simulator fitted with ``choice_history='residual'`` and
``item_consequences=true``; ``greedy-model`` and ``greedy + w x consequence`` (greedy-
model's scores over their spread plus ``w`` times the standardised consequence column,
:class:`choice_history.GreedyPlusConsequence`) evaluated in the TRUE world on the same
1,000 users. Prints per-seed values and the seed-level paired comparison. ``w = 0.5``
was picked from 0.5 / 1 / 2 on world seeds 0-2 (``benchmarks/choice_history.py``), so
only other seeds test it; ``--set quality_effect=0`` runs the world with no trade-off,
where it must not win.

    .venv/bin/python benchmarks/consequence_ranking.py --seeds 5 6 7 8 9 [--weight 0.5]
        [--set quality_effect=0]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from _common import minilm_world
from choice_history import GreedyPlusConsequence

from ltvrec.agents.baselines import make_baseline
from ltvrec.agents.evaluation import comparison_line, paired_comparison
from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    KnownWorldConfig,
    evaluate,
    fit_simulator,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7, 8, 9])
    parser.add_argument("--weight", type=float, default=0.5)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    base = KnownWorldConfig()
    for item in args.overrides:
        key, _, value = item.partition("=")
        base = replace(base, **{key: type(getattr(base, key))(value)})
    greedy, ranked = [], []
    for seed in args.seeds:
        lw = minilm_world(base, seed)
        cfg, catalog, log, emb = lw.config, lw.catalog, lw.log, lw.vectors
        fit = FitConfig(
            horizon_days=cfg.horizon_days,
            seed=seed,
            item_consequences=True,
            choice_history="residual",
        )
        fitted = fit_simulator(log, catalog, emb, fit)
        truth = KnownWorld(cfg, item_embeddings=fitted.item_embeddings)
        g = evaluate(truth, make_baseline("greedy-model", fitted), args.users, seed=99).value[0]
        r = evaluate(truth, GreedyPlusConsequence(fitted, args.weight), args.users, seed=99)
        greedy.append(g)
        ranked.append(r.value[0])
        print(
            f"world seed {seed}: greedy-model {g:.2f}, greedy+{args.weight:g}*consequence "
            f"{r.value[0]:.2f}",
            flush=True,
        )
    label = f"greedy+{args.weight:g}*consequence vs greedy-model"
    print(comparison_line(label, paired_comparison(ranked, greedy)))


if __name__ == "__main__":
    main()
