"""Sim-to-real with and without pessimism. In the known world, per seed: logs -> a
simulator fitted on all of them and an ensemble of K on resampled users -> PPO trained
on the fitted simulator as is, and on the same simulator whose reward is lowered by
``--penalty`` x the members' disagreement on the expected reward
(:class:`~ltvrec.simulators.ensemble.PessimisticSimulator`, MOPO-style) -> both, and
greedy-model, evaluated in the TRUE world on the same users. Prints per-seed values and
the seed-level paired comparisons.

    .venv/bin/python benchmarks/pessimism.py [--seeds 5] [--k 5] [--penalty 1.0] [--steps 100000]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ltvrec.agents.baselines import make_baseline
from ltvrec.agents.evaluation import comparison_line, paired_comparison
from ltvrec.agents.policies import PPOPolicy
from ltvrec.agents.train_ppo import TrainConfig, train
from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    evaluate,
    fit_simulator,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.ensemble import PessimisticSimulator, fit_ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--penalty", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args()
    base = KnownWorldConfig()
    values: dict[str, list[float]] = {"ppo-fitted": [], "ppo-pessimistic": [], "greedy-model": []}
    fitted_opinion: dict[str, list[float]] = {"ppo-fitted": [], "ppo-pessimistic": []}
    out = Path(tempfile.mkdtemp(prefix="pessimism-"))
    for seed in range(args.seeds):
        world = KnownWorld(replace(base, seed=base.seed + seed))
        logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
        log = simulate_log(world, logging, 3000, seed=seed)
        catalog = known_world_catalog(world.items.titles, world.items.price)
        fcfg = FitConfig(horizon_days=base.horizon_days, seed=seed)
        fitted = fit_simulator(log, catalog, world.item_embeddings, fcfg)
        members = fit_ensemble(log, catalog, world.item_embeddings, fcfg, k=args.k, seed=seed)
        pessimistic = PessimisticSimulator(fitted, members, args.penalty)
        cfg = TrainConfig(steps=args.steps, eval_every=0, checkpoint_every=0, seed=seed,
                          torch_threads=1)  # fmt: skip
        users = 1_000_000 + seed
        for name, where in (("ppo-fitted", fitted), ("ppo-pessimistic", pessimistic)):
            model, _ = train(where, cfg, out / f"{seed}-{name}", model_from_logs=fitted)
            policy = PPOPolicy(model.policy, name=name)  # type: ignore[arg-type]
            values[name].append(evaluate(world, policy, args.users, seed=users).value[0])
            fitted_opinion[name].append(evaluate(fitted, policy, args.users, seed=users).value[0])
        greedy = make_baseline("greedy-model", model=fitted)
        values["greedy-model"].append(evaluate(world, greedy, args.users, seed=users).value[0])
        print(
            f"seed {seed}: "
            + ", ".join(f"{k} {v[-1]:.2f}" for k, v in values.items())
            + f"; fitted simulator's opinion: ppo-fitted {fitted_opinion['ppo-fitted'][-1]:.2f},"
            f" ppo-pessimistic {fitted_opinion['ppo-pessimistic'][-1]:.2f}",
            flush=True,
        )
    print(f"\nK = {args.k}, penalty {args.penalty}, {args.steps:,} PPO steps, {args.users} users")
    for a, b in (("ppo-pessimistic", "ppo-fitted"), ("ppo-pessimistic", "greedy-model"),
                 ("ppo-fitted", "greedy-model")):  # fmt: skip
        print(comparison_line(f"{a} vs {b} (true world)", paired_comparison(values[a], values[b])))
    for name, opinion in fitted_opinion.items():
        err = np.mean(opinion) / np.mean(values[name]) - 1.0
        print(f"{name}: fitted simulator's value {np.mean(opinion):.2f} vs true "
              f"{np.mean(values[name]):.2f} ({err:+.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
