"""Coverage study on the known world: bias, RMSE and 95%-CI coverage of the trajectory
estimators (trajectory IS, PDIS, weighted PDIS, FQE, sequential DR, weighted DR)
against the true long-term value, over replicate log sets.

Targets: the logging Plackett-Luce with its scores perturbed by ``eps * N(0, 1)``
(small eps: near the logging policy). Truth: Monte Carlo over fresh users. Each
replicate: a fresh log of ``--users`` users from the logging policy, then every
estimator through ``ltvrec.offline.evaluate_policy`` (the code ``ltvrec ope`` runs);
coverage of the normal interval and of the percentile bootstrap (FQE: refitted).

    .venv/bin/python benchmarks/ope_coverage.py [--replicates 100] [--users 1000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ltvrec.offline import evaluate_policy, replay
from ltvrec.simulators import KnownWorld, PlackettLucePolicy, evaluate, simulate_log
from ltvrec.simulators.logs import known_world_catalog


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=100)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--eps", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--start", type=int, default=0, help="first replicate (to run in parts)")
    p.add_argument("--json", type=str, default=None, help="also write every replicate here")
    args = p.parse_args()
    world = KnownWorld()
    scores = world.logging_scores()
    catalog = known_world_catalog(world.items.titles, world.items.price)
    logging = PlackettLucePolicy(scores, world.slate_size)
    noise = np.random.default_rng(1).standard_normal(len(scores))
    targets = {
        eps: PlackettLucePolicy(scores + eps * noise, world.slate_size, name=f"eps={eps}")
        for eps in args.eps
    }
    truth = {eps: evaluate(world, t, 20_000, seed=7).value[0] for eps, t in targets.items()}
    # (eps, estimator) -> rows of (value, normal hit, bootstrap hit, ess)
    results: dict[tuple[float, str], list[tuple[float, bool, bool, float]]] = {}
    start = time.perf_counter()
    for r in range(args.start, args.start + args.replicates):
        log = simulate_log(world, logging, args.users, seed=1000 + r)
        req = replay(log, catalog, world.state_encoder)
        for eps, target in targets.items():
            res = evaluate_policy(
                target.name, target, world, req, samples=2, n_bootstrap=args.bootstrap, seed=r
            )
            true_v = truth[eps]
            for key, e in res.estimates.items():
                hit_n = e.normal_ci[0] <= true_v <= e.normal_ci[1]
                hit_b = e.ci[0] <= true_v <= e.ci[1]
                results.setdefault((eps, key), []).append((e.value, hit_n, hit_b, e.ess))
        seconds = time.perf_counter() - start
        print(f"replicate {r + 1 - args.start}/{args.replicates} ({seconds:.0f} s)", flush=True)
    if args.json:
        raw = {f"{eps}|{key}": rows for (eps, key), rows in results.items()}
        Path(args.json).write_text(json.dumps({"truth": truth, "rows": raw}))
    print(f"\n{args.replicates} replicate logs of {args.users} users; truth from 20,000 users")
    cols = ["target", "truth", "estimator", "bias", "RMSE", "coverage (normal)"]
    cols += ["coverage (bootstrap)", "median ESS"]
    print("| " + " | ".join(cols) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for (eps, key), rows in results.items():
        v = np.array([x[0] for x in rows])
        cn = np.mean([x[1] for x in rows])
        cb = np.mean([x[2] for x in rows])
        ess = np.median([x[3] for x in rows])
        rmse = float(np.sqrt(np.mean((v - truth[eps]) ** 2)))
        bias = v.mean() - truth[eps]
        print(
            f"| eps = {eps} | {truth[eps]:.2f} | {key} | {bias:+.2f} | {rmse:.2f} | {cn:.2f} "
            f"| {cb:.2f} | {ess:.0f} |"
        )


if __name__ == "__main__":
    main()
