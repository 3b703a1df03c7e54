"""Is PPO training bit-reproducible? Two same-seed runs on the fitted ml-100k simulator
(saved by benchmarks/learner_probe.py), then the largest weight difference.

    .venv/bin/python benchmarks/determinism.py [--threads 2] [--steps 16384]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ltvrec.agents.policy import SlateActorCriticPolicy
from ltvrec.agents.train_ppo import TrainConfig, train
from ltvrec.simulators import FittedSimulator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=16_384)
    p.add_argument("--sim", type=Path, default=Path("runs/learner-probe/simulator"))
    args = p.parse_args()
    sim = FittedSimulator.load(args.sim)
    weights = []
    for run in range(2):
        cfg = TrainConfig(
            steps=args.steps, eval_every=0, checkpoint_every=0, eval_users=20,
            start="greedy-model", start_scales=(8.0,), start_users=20,
            torch_threads=args.threads,
        )  # fmt: skip
        model, _ = train(sim, cfg, f"/tmp/ltvrec-determinism-{run}")
        policy = model.policy
        assert isinstance(policy, SlateActorCriticPolicy)
        weights.append({k: v.detach().clone().float() for k, v in policy.state_dict().items()})
    diff = max(float((weights[0][k] - weights[1][k]).abs().max()) for k in weights[0])
    print(f"{args.threads} thread(s), {args.steps:,} steps: max weight difference {diff:.3g}")


if __name__ == "__main__":
    main()
