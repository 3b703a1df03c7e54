"""OPE speed on 10^6 logged requests (80 actions, 3 positions, like OBD): ltvrec's IPS,
SNIPS and DR beside the Open Bandit Pipeline 0.4.1 on the same arrays, in the same run,
plus a 1,000-resample bootstrap interval. Goal: each estimator well under a second,
>= 20x OBP; the bootstrap in seconds. Every call of the table is made once untimed, then
timed in ``--rounds`` interleaved rounds (each round calls every estimator of both
libraries once), best per call: no implementation is timed colder than another. The
log's slot index (``BanditFeedback.slot``) is computed once per log and shared, its cost
printed apart.

    .venv/bin/python benchmarks/ope_speed.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from obp.ope import (
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
)

from ltvrec.ope import DR, IPS, SNIPS, BanditFeedback, Target


def seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def interleaved(fns: list[Callable[[], object]], rounds: int) -> list[float]:
    """Best time of each of ``fns`` over ``rounds`` rounds that call each once, in order,
    after one untimed call of each (page faults, caches and lazy set-up are paid before
    any timing, by every implementation alike)."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], seconds(fn, repeats=1))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    n, n_actions, len_list = args.n, 80, 3
    rng = np.random.default_rng(0)
    action = rng.integers(0, n_actions, n)
    position = rng.integers(0, len_list, n)
    pscore = np.full(n, 1.0 / n_actions)
    reward = rng.binomial(1, 0.005, n).astype(float)
    # A context-free target policy, broadcast to OBP's [n, n_actions, len_list] layout.
    target = rng.dirichlet(np.ones(n_actions), size=len_list).T
    action_dist = np.broadcast_to(target, (n, n_actions, len_list))
    q_hat = np.broadcast_to(np.full((n_actions, len_list), 0.005), (n, n_actions, len_list))
    fb = BanditFeedback.create(reward, action, position, pscore, n_actions, len_list)
    q_table = np.full((n_actions, len_list), 0.005)

    def sparse(with_q: bool = False) -> Target:
        # The caller's own work, timed with ours: gather the context-free target's
        # probability of the logged action (and the reward model's terms) per request.
        return Target.from_table(fb, target, q_table if with_q else None)

    common = dict(
        reward=reward, action=action, position=position, pscore=pscore, action_dist=action_dist
    )
    with_q = {**common, "estimated_rewards_by_reg_model": q_hat}

    rows = [
        ("IPS", lambda: IPS().estimate(fb, sparse(), n_bootstrap=0),
         lambda: IPS().estimate(fb, action_dist, n_bootstrap=0),
         lambda: InverseProbabilityWeighting().estimate_policy_value(**common)),
        ("SNIPS", lambda: SNIPS().estimate(fb, sparse(), n_bootstrap=0),
         lambda: SNIPS().estimate(fb, action_dist, n_bootstrap=0),
         lambda: SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**common)),
        ("DR", lambda: DR().estimate(fb, sparse(True), n_bootstrap=0),
         lambda: DR().estimate(fb, action_dist, q_hat, n_bootstrap=0),
         lambda: DoublyRobust().estimate_policy_value(**with_q)),
    ]  # fmt: skip
    print(f"n = {n:,} requests, {n_actions} actions, {len_list} positions")
    print(
        "| estimator | ltvrec (Target) | ltvrec (dense) | OBP 0.4.1 | OBP / Target | OBP / dense |"
    )
    print("|---|---|---|---|---|---|")
    times = interleaved([fn for row in rows for fn in row[1:]], args.rounds)
    for i, (name, *_) in enumerate(rows):
        a, d, b = times[3 * i : 3 * i + 3]
        print(
            f"| {name} | {a * 1000:.1f} ms | {d * 1000:.1f} ms | {b * 1000:.1f} ms "
            f"| {b / a:.1f}x | {b / d:.1f}x |"
        )
    quantiles = seconds(lambda: IPS().estimate(fb, sparse(), n_bootstrap=0).weight_quantiles)
    print(
        f"IPS with its exact weight quantiles read (computed on first read): "
        f"{quantiles * 1000:.1f} ms; the log's slot index (once per log, reused by every "
        f"target and estimator): {seconds(lambda: action * len_list + position) * 1000:.1f} ms"
    )
    for label, values in (
        ("binary rewards (compressed)", reward),
        ("continuous rewards (indices)", rng.random(n) + reward),
    ):
        fb_b = BanditFeedback.create(values, action, position, pscore, n_actions, len_list)
        boot = seconds(lambda: IPS().estimate(fb_b, sparse(), n_bootstrap=1000), repeats=1)  # noqa: B023
        print(f"IPS + 1,000-resample percentile bootstrap, {label}: {boot:.2f} s")


if __name__ == "__main__":
    main()
