"""What the trained policies of a cold-start run learned about quality: per seed and
policy, the spread over items of the learned residual score (item tower + id bias)
against the spread of the weighted baseline signals, and the Spearman correlation of
the residual with true quality on the trained (old) items and on the new ones. Then the
new items' whole scores (residual plus signals) against their true quality and against
their long-term *worth* ``appeal + quality`` (the item part of the quality-aware
oracle's score), beside the same correlations for the oracle's own scores: what a
policy that maximises long-term value ranks new items by.

Reads the policies ``ltvrec experiment cold-start`` saved (default world config; the
same seeds, hold-out and MiniLM encodings are rebuilt), scores 500 fresh users' first
states.

    .venv/bin/python benchmarks/coldstart_residual.py runs/cold-start-true [--seeds 5]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch as th
from scipy import stats

from ltvrec.agents.policies import load_policy
from ltvrec.coldstart import HOLDOUT, held_out_split, text_capacity
from ltvrec.simulators import KnownWorldConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    base = KnownWorldConfig()
    whole: list[str] = []
    print(
        "| seed | policy | signal weights | residual sd | weighted signal sd | "
        "rho(residual, quality) old items | new items |"
    )
    print("|---|---|---|---|---|---|---|")
    for seed in range(args.seeds):
        world, old, new = held_out_split(
            replace(base, seed=base.seed + seed), HOLDOUT, "minilm", seed
        )
        items, emb = world.items, world.item_embeddings
        obs = th.as_tensor(world.reset(500, np.random.default_rng(0)).obs, dtype=th.float32)
        for name in ("ppo", "ppo-true"):
            folder = args.run / f"seed{seed}" / name
            if not folder.is_dir():
                continue
            policy, _ = load_policy(folder)
            assert policy.signals is not None, "a cold-start policy starts from the signals"
            with th.no_grad():
                rows = th.as_tensor(policy.text_map().rows(emb[new]))
                prepared = policy.prepare_items(th.cat([policy.item_table(), rows]))
                h = policy.tower_dim
                state = obs[:, : policy.state_dim]
                q = policy.user_tower(policy._standardise(state))
                residual = (q @ prepared[:, :h].T + prepared[:, h]).numpy().mean(0)
                w = policy.signal_weight.numpy()
                signal = policy.signals(state, prepared[:, h + 1 :]).numpy().mean(0) @ w
            score_new = (residual + signal)[len(old) :]
            worth = items.appeal[new] + items.quality[new]
            rho_q = stats.spearmanr(score_new, items.quality[new]).statistic
            rho_w = stats.spearmanr(score_new, worth).statistic
            whole.append(f"| {seed} | {name} | {rho_q:+.2f} | {rho_w:+.2f} |")
            r_old, r_new = residual[: len(old)], residual[len(old) :]
            rho_old = stats.spearmanr(r_old, items.quality[old]).statistic
            rho_new = stats.spearmanr(r_new, items.quality[new]).statistic
            print(
                f"| {seed} | {name} | ({w[0]:.2f}, {w[1]:.2f}) | {residual.std():.2f} | "
                f"{signal.std():.2f} | {rho_old:+.2f} | {rho_new:+.2f} |"
            )
        state0 = world.reset(500, np.random.default_rng(0))
        oracle = world.item_click_logits(state0).mean(0)[new] + items.quality[new]
        worth = items.appeal[new] + items.quality[new]
        whole.append(
            f"| {seed} | quality-aware-oracle (oracle) | "
            f"{stats.spearmanr(oracle, items.quality[new]).statistic:+.2f} | "
            f"{stats.spearmanr(oracle, worth).statistic:+.2f} |"
        )
        text = text_capacity(emb, items.appeal + items.quality, old, new)
        whole.append(f"| {seed} | ridge: text to TRUE appeal + quality (oracle) | | {text:+.2f} |")
    print("\nNew items' whole scores (mean over the same 500 first states):\n")
    print("| seed | policy | rho(score, quality) | rho(score, appeal + quality) |")
    print("|---|---|---|---|")
    print("\n".join(whole))


if __name__ == "__main__":
    main()
