"""How much of a click model's error on popular slates can the spread of tastes explain?

A choice model that does not know a user's topic interests predicts, in effect, for a
representative user; the truth's click rate is the mean over users' interests. The two
differ by Jensen's inequality, and by different amounts on different slates: a model
calibrated on the logging policy's slates carries the logging slates' gap to every other
slate. Per world, the known world's own click model on a user's first request (no
history, satisfaction 0), over ``--users`` interest vectors drawn from the prior:

- the ``K`` items of highest appeal (what popularity-log shows first: the logging policy
  ranks by appeal plus noise, so the most logged items are the most appealing);
- ``--slates`` slates drawn from the logging policy's Plackett-Luce.

For each, the mean click probability over users and the click probability of the
representative user (uniform interests, so every item's affinity term is 0). If the
popular slate's gap is smaller than the logging slates', a model calibrated on the logs
over-predicts popular slates by about the difference (and vice versa).

    .venv/bin/python benchmarks/taste_spread.py --worlds 0 1 2 3 4
"""

from __future__ import annotations

import argparse

import numpy as np

from ltvrec.simulators.known_world import KnownWorld, KnownWorldConfig


def click_probability(world: KnownWorld, slate: np.ndarray, interest: np.ndarray) -> np.ndarray:
    """``[U]`` P(some item of ``slate`` is clicked) on a first request, per interest row."""
    cfg, items = world.config, world.items
    affinity = cfg.n_topics * interest @ items.topics[slate].T
    position = -cfg.position_bias * np.arange(len(slate))
    u = cfg.interest_weight * (affinity - 1.0) + items.appeal[slate] + position
    e = np.exp(u - cfg.no_click_utility).sum(axis=1)
    return e / (1.0 + e)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worlds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--slates", type=int, default=500)
    args = p.parse_args()
    print("| world | popular slate: mean / representative / gap | logging slates: mean / "
          "representative / gap | the gaps' difference |")  # fmt: skip
    print("|---|---|---|---|")
    for seed in args.worlds:
        world = KnownWorld(KnownWorldConfig(seed=seed))
        cfg = world.config
        rng = np.random.default_rng(seed)
        interest = rng.dirichlet(np.full(cfg.n_topics, cfg.interest_concentration), args.users)
        uniform = np.full((1, cfg.n_topics), 1.0 / cfg.n_topics)
        top = np.argsort(-world.items.appeal)[: cfg.slate_size]
        pop = click_probability(world, top, interest).mean()
        pop_rep = click_probability(world, top, uniform)[0]
        scores = world.logging_scores()
        slates = [
            np.argsort(-(scores + rng.gumbel(size=scores.shape)))[: cfg.slate_size]
            for _ in range(args.slates)
        ]
        few = interest[: max(1, args.users // 10)]
        log = np.mean([click_probability(world, s, few).mean() for s in slates])
        log_rep = np.mean([click_probability(world, s, uniform)[0] for s in slates])
        print(
            f"| {seed} | {pop:.3f} / {pop_rep:.3f} / {pop - pop_rep:+.3f} | {log:.3f} / "
            f"{log_rep:.3f} / {log - log_rep:+.3f} | {(pop - pop_rep) - (log - log_rep):+.3f} |"
        )


if __name__ == "__main__":
    main()
