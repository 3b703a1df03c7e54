"""Coverage study on the known world: bias, RMSE and 95%-CI coverage of the trajectory
estimators against the true long-term value, over replicate log sets.

Targets: the logging Plackett-Luce with its scores perturbed by ``eps * N(0, 1)``
(small eps: near the logging policy). Truth: Monte Carlo over fresh users. Each
replicate: a fresh log of ``--users`` users from the logging policy, then every
estimator with its normal interval (bootstrap off to keep the study fast).

    .venv/bin/python benchmarks/ope_coverage.py [--replicates 100] [--users 1000]
"""

from __future__ import annotations

import argparse

import numpy as np

from ltvrec.ope import PDIS, Trajectories, TrajectoryIS, WeightedPDIS
from ltvrec.simulators import KnownWorld, PlackettLucePolicy, evaluate, simulate_log
from ltvrec.simulators.plackett_luce import slate_log_prob


def trajectories(
    world: KnownWorld, log_scores: np.ndarray, target: np.ndarray, users: int, seed: int
) -> Trajectories:
    log = simulate_log(world, PlackettLucePolicy(log_scores, world.slate_size), users, seed=seed)
    f = log.frame.sort_values(["user_id", "timestamp", "request_id", "position"])
    k = world.slate_size
    slates = f["item_id"].to_numpy().reshape(-1, k)
    first = f.iloc[::k]
    tp = np.exp(slate_log_prob(np.broadcast_to(target, (len(slates), len(target))), slates))
    return Trajectories(
        first["user_id"].to_numpy(),
        first.groupby("user_id").cumcount().to_numpy(),
        f["reward"].to_numpy().reshape(-1, k).sum(axis=1),
        first["pscore"].to_numpy(),
        tp,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=100)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--eps", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    args = p.parse_args()
    world = KnownWorld()
    scores = world.logging_scores()
    print(f"{args.replicates} replicate logs of {args.users} users; normal 95% intervals")
    print("| target | truth | estimator | bias | RMSE | coverage | median ESS |")
    print("|---|---|---|---|---|---|---|")
    for eps in args.eps:
        target = scores + eps * np.random.default_rng(1).standard_normal(len(scores))
        truth = evaluate(world, PlackettLucePolicy(target, world.slate_size), 20_000, seed=7).value[
            0
        ]
        results: dict[str, list[tuple[float, bool, float]]] = {}
        for r in range(args.replicates):
            traj = trajectories(world, scores, target, args.users, seed=1000 + r)
            for est in (TrajectoryIS(), PDIS(), WeightedPDIS()):
                e = est.estimate(traj, n_bootstrap=0)
                hit = e.normal_ci[0] <= truth <= e.normal_ci[1]
                results.setdefault(type(est).__name__, []).append((e.value, hit, e.ess))
        for name, rows in results.items():
            v = np.array([x[0] for x in rows])
            cover = np.mean([x[1] for x in rows])
            ess = np.median([x[2] for x in rows])
            rmse = float(np.sqrt(np.mean((v - truth) ** 2)))
            bias = v.mean() - truth
            cells = f"{truth:.2f} | {name} | {bias:+.2f} | {rmse:.2f} | {cover:.2f} | {ess:.0f}"
            print(f"| eps={eps} | {cells} |")


if __name__ == "__main__":
    main()
