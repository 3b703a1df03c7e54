"""The learner's ablations on the fitted ml-100k simulator (docs/agents.md, issue 13).

Fits the simulator once (saved under ``--out``), evaluates the log-buildable baselines,
then trains PPO with the given start and reward normalisation and prints its held-out
curve, its start's value (top-K and sampled) and its final value, all on the same users.

    .venv/bin/python benchmarks/learner_probe.py --start auto --steps 200000
    .venv/bin/python benchmarks/learner_probe.py --start none --steps 400000
    .venv/bin/python benchmarks/learner_probe.py --shortlist 100 --steps 100000
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from ltvrec.agents.baselines import make_baseline
from ltvrec.agents.policies import PPOPolicy
from ltvrec.agents.policy import SlateActorCriticPolicy
from ltvrec.agents.train_ppo import SignalPolicy, TrainConfig, train
from ltvrec.names import STARTS
from ltvrec.simulators import FitConfig, FittedSimulator, evaluate, fit_simulator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--start", choices=STARTS, default="auto")
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--no-normalize", action="store_true", help="raw rewards")
    p.add_argument(
        "--scales", type=float, nargs="+", default=None, help="start_scales (default: config's)"
    )
    p.add_argument("--users", type=int, default=300, help="evaluation users (seed 5)")
    p.add_argument("--shortlist", type=int, default=0, help="candidates per signal (0: all)")
    p.add_argument("--seed", type=int, default=0, help="PPO seed")
    p.add_argument("--out", type=Path, default=Path("runs/learner-probe"))
    args = p.parse_args()
    folder = args.out / "simulator"
    if not (folder / "simulator.json").is_file():
        from ltvrec.encoders import EmbeddingCache, text_encoder
        from ltvrec.encoders.items import encode_catalog
        from ltvrec.interactions import fetch, load

        fetch("ml-100k")
        ds = load("ml-100k")
        enc = encode_catalog(ds.catalog, text_encoder(), 32, EmbeddingCache())
        fit_simulator(ds.log, ds.catalog, enc.embeddings, FitConfig()).save(folder)
    sim = FittedSimulator.load(folder)
    for name in ("greedy-model", "popularity-log", "random"):
        v = evaluate(sim, make_baseline(name, model=sim, n_items=sim.n_items), args.users, 5)
        print(f"{name:>16}: {v.value[0]:7.1f}")
    cfg = TrainConfig(
        steps=args.steps,
        eval_every=100_000,
        eval_users=300,
        checkpoint_every=0,
        start=args.start,
        normalize_reward=not args.no_normalize,
        shortlist=args.shortlist,
        seed=args.seed,
        torch_threads=1,
    )
    if args.scales:
        cfg = replace(cfg, start_scales=tuple(args.scales))
    scales = "-".join(f"{c:g}" for c in cfg.start_scales)
    tag = f"ppo-{args.start}-{'raw' if args.no_normalize else 'norm'}-{args.steps}-{scales}"
    tag += f"-short{args.shortlist}-seed{args.seed}"
    t = time.perf_counter()
    model, curve = train(sim, cfg, args.out / tag)
    seconds = time.perf_counter() - t
    print(f"trained {args.steps:,} steps in {seconds:.0f} s ({args.steps / seconds:,.0f} steps/s)")
    for point in curve:
        diag = {k: round(point[k], 3) for k in ("explained_variance", "kl_to_start") if k in point}
        print(f"  {point['steps']:>8,}: {point['value']:7.1f}  {diag}")
    policy = model.policy
    assert isinstance(policy, SlateActorCriticPolicy)
    if policy.signals is not None:
        w0, w1 = policy.signal_weight_init.tolist()  # type: ignore[operator]
        for det in (True, False):
            start = SignalPolicy(
                policy.signals,
                (w0, w1),
                deterministic=det,
                shortlist=policy.shortlist,
                shortlist_explore=policy.shortlist_explore,
            )
            v = evaluate(sim, start, args.users, 5)
            print(f"start {(w0, w1)} {'top-K' if det else 'sampled'}: {v.value[0]:7.1f}")
    for det in (True, False):
        v = evaluate(sim, PPOPolicy(policy, deterministic=det), args.users, 5)
        print(f"ppo {'top-K' if det else 'sampled'}: {v.value[0]:7.1f}")


if __name__ == "__main__":
    main()
