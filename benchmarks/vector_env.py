"""Vector-env throughput: user-steps/s for B users, side by side with references.

B = 1,024 users, N = 1,682 items, d = 32, K = 10. Every contender runs the same
policy scoring (matmul over all items + top-K) on the observations, then steps:

- ``SlateVectorEnv``: the native batched vector env (one simulator step for all users);
- bare kernel: the same scoring + top-K + an interest-state update in raw numpy, with
  no choice model, no leaving, no bookkeeping (an upper bound);
- ``gymnasium.vector.SyncVectorEnv`` over B scalar ``SlateRecEnv`` (a Python loop).

Then the env step alone (precomputed valid slates, no scoring) for the vector env and
SyncVectorEnv: the overhead the env itself adds.

Goals: >= 0.5x the bare kernel and >= 20x SyncVectorEnv.

    .venv/bin/python benchmarks/vector_env.py [--users 1024] [--steps 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import greedy_scores, random_simulator
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from ltvrec.envs import SlateRecEnv, SlateVectorEnv
from ltvrec.simulators.plackett_luce import top_k


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=1024)
    p.add_argument("--items", type=int, default=1682)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--sync-steps", type=int, default=3)
    args = p.parse_args()
    b, k = args.users, args.k
    sim = random_simulator(args.items, args.dim, k)

    venv = SlateVectorEnv(sim, b)
    obs, _ = venv.reset(seed=0)
    start = time.perf_counter()
    for _ in range(args.steps):
        obs, *_ = venv.step(top_k(greedy_scores(sim, obs), k))
    ours = b * args.steps / (time.perf_counter() - start)

    emb, decay = sim.item_embeddings, 0.8
    state = np.zeros((b, 2 * args.dim + 6), dtype=np.float32)
    start = time.perf_counter()
    for _ in range(args.steps):
        slate = top_k(greedy_scores(sim, state), k)
        chosen = emb[slate[:, 0]]
        state[:, : args.dim] = decay * state[:, : args.dim] + (1 - decay) * chosen
        state[:, args.dim : 2 * args.dim] = chosen
    bare = b * args.steps / (time.perf_counter() - start)

    sync = SyncVectorEnv(
        [lambda: SlateRecEnv(sim) for _ in range(b)], autoreset_mode=AutoresetMode.SAME_STEP
    )
    obs, _ = sync.reset(seed=0)
    start = time.perf_counter()
    for _ in range(args.sync_steps):
        obs, *_ = sync.step(top_k(greedy_scores(sim, obs), k))
    reference = b * args.sync_steps / (time.perf_counter() - start)

    # The env step alone, on fixed valid slates.
    slates = top_k(np.random.default_rng(0).random((b, args.items)), k)
    venv.reset(seed=1)
    start = time.perf_counter()
    for _ in range(args.steps):
        venv.step(slates)
    ours_env = b * args.steps / (time.perf_counter() - start)
    sync.reset(seed=1)
    start = time.perf_counter()
    for _ in range(args.sync_steps):
        sync.step(slates)
    sync_env = b * args.sync_steps / (time.perf_counter() - start)

    print(f"B={b} N={args.items} d={args.dim} K={k}")
    print(f"SlateVectorEnv (greedy scoring + step): {ours:>10,.0f} user-steps/s")
    print(f"bare numpy scoring + top-K + update:    {bare:>10,.0f} user-steps/s")
    print(f"SyncVectorEnv over SlateRecEnv:         {reference:>10,.0f} user-steps/s")
    print(f"ratio vector env / bare kernel:  {ours / bare:.2f}x (goal >= 0.5x)")
    print(f"ratio vector env / SyncVectorEnv: {ours / reference:.1f}x (goal >= 20x)")
    print("env step alone (fixed slates, no policy scoring):")
    print(f"SlateVectorEnv: {ours_env:>10,.0f} user-steps/s")
    print(f"SyncVectorEnv:  {sync_env:>10,.0f} user-steps/s")
    print(f"ratio: {ours_env / sync_env:.1f}x")


if __name__ == "__main__":
    main()
