"""Speed of one batched step of the fitted simulator.

B = 1,024 users, N = 1,682 items (ml-100k's catalog size), d = 32 item dims, K = 10:
a greedy policy scores every item for every user and takes the top K, then the
simulator steps (choice, reward, state update, leave, return). Printed beside a bare
numpy kernel that does only the same scoring matmul + top-K. Goal: >= 20,000
user-steps/s for the whole step on 2 cores.

    .venv/bin/python benchmarks/simulator.py [--users 1024] [--repeats 30]
        [--support none|count|clip]

``--support``: give the simulator a training-state range (+-3 per standardised feature)
and count the inputs outside it (``count``, what every fitted simulator now does) or
also clip them (``clip``, ``FitConfig.clip_inputs``). ``--residual``: the choice model
reads the residual interest (``FitConfig.choice_history='residual'``), which every step
updates from the base model's probabilities of the shown slate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import random_simulator

from ltvrec.simulators import GreedyPolicy
from ltvrec.simulators.residual import ResidualInterest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=1024)
    p.add_argument("--items", type=int, default=1682)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--support", choices=("none", "count", "clip"), default="none")
    p.add_argument("--residual", action="store_true")
    args = p.parse_args()
    sim = random_simulator(args.items, args.dim, args.k, hidden=32)
    if args.residual:
        w = 0.1 * np.random.default_rng(1).standard_normal((args.dim, sim.choice.wq.shape[1]))
        ones = np.ones(args.dim)
        sim.residual = ResidualInterest(sim.choice, w, ones, 0.9)
    if args.support != "none":
        size = sim.state_encoder.size
        sim.support = (np.full(size, -3.0), np.full(size, 3.0))
        sim.clip_inputs = args.support == "clip"
    rng = np.random.default_rng(0)
    state = sim.reset(args.users, rng)
    policy = GreedyPolicy()
    for _ in range(3):
        state, _ = sim.step(state, policy.act(sim, state, rng), rng)

    start = time.perf_counter()
    for _ in range(args.repeats):
        state, _ = sim.step(state, policy.act(sim, state, rng), rng)
    ours = args.users * args.repeats / (time.perf_counter() - start)

    # Bare kernel: the same scoring (standardise, query, dot every item, bias) + top-K.
    c, std = sim.choice, sim.standardizer
    x = state.obs
    start = time.perf_counter()
    for _ in range(args.repeats):
        q = ((x - std.mean) / std.std) @ c.wq + c.bq
        scores = q @ c.item_keys.T + c.item_bias
        part = np.argpartition(-scores, args.k - 1, axis=1)[:, : args.k]
        np.take_along_axis(scores, part, axis=1).argsort(axis=1)
    bare = args.users * args.repeats / (time.perf_counter() - start)

    print(f"B={args.users} N={args.items} d={args.dim} K={args.k}")
    print(f"fitted simulator, greedy act + step: {ours:>10,.0f} user-steps/s (goal >= 20,000)")
    print(f"bare numpy scoring + top-K only:     {bare:>10,.0f} user-steps/s")
    print(f"ratio simulator / bare kernel: {ours / bare:.2f}x")


if __name__ == "__main__":
    main()
