"""Where the quality-aware oracle's value comes from, in the known world (the ceiling
check of docs/agents.md): the oracle beside policies that know less, evaluated on the
same 1,000 true-world users per world.

- fixed slates ranked by an item score alone (no personalisation): appeal; appeal plus
  the quality of the item's class (clickbait or not: what a title shows); appeal +
  quality; appeal + 2 x quality;
- the users' TRUE interests with item topics as a linear function of the title vectors
  (what a two-tower policy whose item keys are linear in the text can represent), plus
  each item's true appeal + quality as its bias.

    .venv/bin/python benchmarks/oracle_decomposition.py [--worlds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from ltvrec.simulators import KnownWorld, KnownWorldConfig
from ltvrec.simulators.base import SimState, UserSimulator
from ltvrec.simulators.policies import (
    PopularityPolicy,
    QualityAwarePolicy,
    SimPolicy,
    exclude,
    top_k,
)
from ltvrec.simulators.rollout import evaluate


@dataclass(frozen=True)
class InterestOracle:
    """Top-K by the true topic affinity over ``topics [N, T]`` plus a fixed item bias."""

    topics: np.ndarray
    bias: np.ndarray
    name: str = "interest oracle"

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        assert isinstance(sim, KnownWorld)
        cfg = sim.config
        affinity = cfg.n_topics * state.latent["interest"] @ self.topics.T - 1.0
        scores = cfg.interest_weight * affinity + self.bias[None, :]
        return top_k(exclude(scores, state.consumed), sim.slate_size)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worlds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--users", type=int, default=1000)
    args = p.parse_args()
    rows: dict[str, list[float]] = {}
    for seed in args.worlds:
        world = KnownWorld(KnownWorldConfig(seed=seed))
        it, cfg = world.items, world.config
        klass = np.where(it.clickbait, cfg.clickbait_quality, cfg.regular_quality)
        x = np.c_[world.item_embeddings, np.ones(world.n_items)]
        topics_from_text = x @ np.linalg.lstsq(x, it.topics, rcond=None)[0]
        worth = it.appeal + it.quality
        policies: dict[str, SimPolicy] = {
            "quality-aware-oracle (oracle)": QualityAwarePolicy(it.quality, 1.0),
            "true interests, topics linear in the text, true item worth": InterestOracle(
                topics_from_text, worth
            ),
            "fixed slate by appeal + quality": PopularityPolicy(worth),
            "fixed slate by appeal + 2 x quality": PopularityPolicy(it.appeal + 2 * it.quality),
            "fixed slate by appeal + the class's quality": PopularityPolicy(it.appeal + klass),
            "fixed slate by appeal": PopularityPolicy(it.appeal),
        }
        for name, policy in policies.items():
            value = evaluate(world, policy, args.users, seed=123).value[0]
            rows.setdefault(name, []).append(float(value))
    print("| policy (true world) | " + " | ".join(f"world {s}" for s in args.worlds) + " |")
    print("|---|" + "---|" * len(args.worlds))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in values) + " |")


if __name__ == "__main__":
    main()
