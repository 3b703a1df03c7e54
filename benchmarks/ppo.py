"""PPO training throughput: ltvrec's batched env + Plackett-Luce slate policy vs stock
stable-baselines3 PPO (``MlpPolicy`` over ``MultiDiscrete``) on ``DummyVecEnv`` over the
same known world, same number of steps and the same PPO settings. Prints env-steps/s
and the ratio (goal >= 2x); with ``--reach-greedy``, also the wall-clock until the slate
policy's held-out long-term value reaches greedy's.

Both sides first train one untimed rollout, so that neither pays the process's one-time
imports (torch's compiler stubs on the first optimizer step, TensorBoard's writer) in
its time; each side's own fixed costs per run (ours: the observation statistics' random
rollout, the final evaluation, saving) stay in its time.

    .venv/bin/python benchmarks/ppo.py [--steps 32768] [--reach-greedy]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv

from ltvrec.agents import TrainConfig, train
from ltvrec.envs import RepairDuplicates, SlateRecEnv
from ltvrec.simulators import GreedyPolicy, KnownWorld, evaluate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=32_768)
    p.add_argument("--n-envs", type=int, default=64)
    p.add_argument("--reach-greedy", action="store_true")
    p.add_argument("--max-steps", type=int, default=2_000_000)
    args = p.parse_args()
    th.set_num_threads(2)
    world = KnownWorld()
    cfg = TrainConfig(
        steps=args.steps, n_envs=args.n_envs, eval_every=0, checkpoint_every=0, eval_users=50
    )

    rollout = cfg.n_envs * cfg.n_steps
    train(world, replace(cfg, steps=rollout), "/tmp/ltvrec-bench-ppo-warmup")
    start = time.perf_counter()
    train(world, cfg, "/tmp/ltvrec-bench-ppo")
    ours = args.steps / (time.perf_counter() - start)

    def stock_ppo() -> PPO:
        venv = DummyVecEnv(
            [lambda: RepairDuplicates(SlateRecEnv(world)) for _ in range(args.n_envs)]
        )
        model = PPO(
            "MlpPolicy", venv, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
            n_epochs=cfg.n_epochs, learning_rate=cfg.learning_rate, gamma=cfg.gamma, seed=0,
            device="cpu",
        )  # fmt: skip
        model.set_logger(Logger(folder=None, output_formats=[]))  # no SB3-* folder in /tmp
        return model

    stock_ppo().learn(total_timesteps=rollout)
    model = stock_ppo()
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    stock = args.steps / (time.perf_counter() - start)

    print(f"known world: {world.n_items} items, K={world.slate_size}")
    print(f"{args.steps:,} steps, {args.n_envs} envs")
    print(f"ltvrec (SlateVectorEnv + Plackett-Luce policy): {ours:>9,.0f} env-steps/s")
    print(f"stock SB3 PPO (MlpPolicy, MultiDiscrete, DummyVecEnv): {stock:>9,.0f} env-steps/s")
    print(f"ratio: {ours / stock:.1f}x (goal >= 2x)")

    if args.reach_greedy:
        greedy = evaluate(world, GreedyPolicy(), 2000, seed=10_000).value[0]
        reached: list[float] = []
        start = time.perf_counter()

        def progress(n: int, point: dict | None) -> None:
            if point is not None and not reached and point["value"] >= greedy:
                reached.append(time.perf_counter() - start)
                print(f"reached greedy ({greedy:.1f}) at {n:,} steps, {reached[0]:.0f} s")

        long = replace(cfg, steps=args.max_steps, eval_every=100_000, eval_users=1000)
        train(world, long, "/tmp/ltvrec-bench-ppo-long", progress=progress)
        if not reached:
            print(f"did not reach greedy ({greedy:.1f}) within {args.max_steps:,} steps")


if __name__ == "__main__":
    main()
