"""How a choice model refitted on an impression log drawn from a fitted simulator reads
slates the log seldom shows: its held-out log-likelihood on a second drawn log (consumed
items out of the choice set where the simulator forbids repeats) and its mean click
probability for random slates at the held-out logged states, beside the simulator's own,
by the refit's gradient steps. The logs are the pipeline's OPE logs: Plackett-Luce on
popularity, ``--users`` users to fit on (seed 2024) and 300 held out (seed 7).

    .venv/bin/python benchmarks/choice_refit.py runs/ml100k-duration-5seeds/simulator \\
        --steps 1000 3000 6000

docs/simulators.md ("Where the choice model starts") quotes its output.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from ltvrec.agents.evaluation import popularity_scores
from ltvrec.interactions import ItemCatalog, load
from ltvrec.simulators import FittedSimulator, PlackettLucePolicy, fit_simulator, simulate_log
from ltvrec.simulators.base import SimState
from ltvrec.simulators.fitted import fit_config_of, fitted_from_vectors
from ltvrec.simulators.replay import Trajectories, replay_log


def scores(sim: FittedSimulator, traj: Trajectories, random_slates: np.ndarray) -> tuple:
    state = SimState(traj.before, traj.time, sim.replay_latent(traj))
    z = sim.choice_logits(state, np.maximum(traj.slates, 0))
    out = traj.slates < 0
    if not sim.allow_repeats:
        out |= traj.consumed_in_slate()
    z[:, 1:][out] = -np.inf
    logp = z - np.logaddexp.reduce(z, axis=1, keepdims=True)
    ll = logp[np.arange(traj.n), traj.clicked_position + 1].mean()
    z = sim.choice_logits(state, random_slates)
    p_click = 1.0 - np.exp(z[:, 0] - np.logaddexp.reduce(z, axis=1))
    return float(ll), float(p_click.mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("simulator")
    p.add_argument("--users", type=int, default=300)
    p.add_argument("--steps", type=int, nargs="+", default=[1000])
    args = p.parse_args()
    sim = FittedSimulator.load(args.simulator)
    logging = PlackettLucePolicy(popularity_scores(sim), sim.slate_size, name="logging")
    train = simulate_log(sim, logging, args.users, seed=2024)
    test = simulate_log(sim, logging, 300, seed=7)
    catalog = load(sim.meta["provenance"]["dataset"]).catalog
    catalog = ItemCatalog.from_frame(catalog.frame.assign(item_id=np.arange(sim.n_items)))
    traj = replay_log(test, catalog, sim.state_encoder)
    rng = np.random.default_rng(0)
    random_slates = np.argsort(rng.random((traj.n, sim.n_items)), axis=1)[:, : sim.slate_size]
    print("| model | choice steps | held-out log-lik | random slates' P(click) | fit s |")
    print("|---|---|---|---|---|")
    ll, pc = scores(sim, traj, random_slates)
    print(f"| the simulator that drew the logs | | {ll:.4f} | {pc:.4f} | |")
    for steps in args.steps:
        cfg = replace(fit_config_of(sim), seed=0, min_steps=steps)
        start = time.perf_counter()
        refit = fit_simulator(train, catalog, fitted_from_vectors(sim), cfg)
        took = time.perf_counter() - start
        ll, pc = scores(refit, traj, random_slates)
        n = refit.meta["fit"]["choice_steps"]
        print(f"| refit | {n} | {ll:.4f} | {pc:.4f} | {took:.0f} |", flush=True)


if __name__ == "__main__":
    main()
