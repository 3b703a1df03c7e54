"""Training speed with candidate generation (``TrainConfig.shortlist``) against the
full catalog, on the fitted ml-100k simulator that benchmarks/learner_probe.py saves
(1,682 items): env-steps/s of PPO for each shortlist size, same settings and seed, in
the same run.

    .venv/bin/python benchmarks/shortlist_speed.py [--steps 32768] [--sizes 0 100 200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch as th

from ltvrec.agents.train_ppo import TrainConfig, train
from ltvrec.simulators import FittedSimulator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=32_768)
    p.add_argument("--sizes", type=int, nargs="+", default=[0, 100, 200])
    p.add_argument("--sim", type=Path, default=Path("runs/learner-probe/simulator"))
    args = p.parse_args()
    th.set_num_threads(1)
    sim = FittedSimulator.load(args.sim)
    print(f"{sim.n_items} items, K={sim.slate_size}, {args.steps:,} steps, 1 torch thread")
    for n in args.sizes:
        cfg = TrainConfig(
            steps=args.steps, eval_every=0, checkpoint_every=0, eval_users=20,
            start="greedy-model", start_scales=(8.0,), start_users=20, shortlist=n,
            torch_threads=1,
        )  # fmt: skip
        t = time.perf_counter()
        train(sim, cfg, f"/tmp/ltvrec-bench-shortlist-{n}")
        seconds = time.perf_counter() - t
        label = "full catalog" if n == 0 else f"shortlist {n} (+10 explored)"
        print(f"{label:>28}: {args.steps / seconds:8,.0f} env-steps/s ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
