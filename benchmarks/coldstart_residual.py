"""What the trained policies of a cold-start run learned about quality: per seed and
policy, the spread over items of the learned residual score (item tower + id bias)
against the spread of the weighted baseline signals, and the Spearman correlation of
the residual with true quality on the trained (old) items and on the new ones. Then the
new items' whole scores (residual plus signals) against their true quality and against
their long-term *worth* ``appeal + quality`` (the item part of the quality-aware
oracle's score), beside the same correlations for the oracle's own scores: what a
policy that maximises long-term value ranks new items by. Last, whether a new item can
reach a slate at all: the best old and the best new item's score per user (mean over
users), and, with item consequences, the spread of the old items' column (estimated
from the logs) against the new items' (predicted from their text).

Reads the policies ``ltvrec experiment cold-start`` saved (default world config; the
same seeds, hold-out and MiniLM encodings are rebuilt), scores 500 fresh users' first
states. For a run with ``fit.item_consequences``, the users' states are made of the item
vectors the experiment showed them (the old items' from the policy, the new items'
predicted from their text), as in the experiment.

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
from ltvrec.simulators import KnownWorld, KnownWorldConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    base = KnownWorldConfig()
    whole: list[str] = []
    tops: list[str] = []
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
        for name in ("ppo", "ppo-true"):
            folder = args.run / f"seed{seed}" / name
            if not folder.is_dir():
                continue
            policy, meta = load_policy(folder)
            assert policy.signals is not None, "a cold-start policy starts from the signals"
            seen = world
            if policy.item_embeddings.shape[1] != emb.shape[1]:  # item consequences
                vectors = np.zeros((world.n_items, policy.item_embeddings.shape[1]))
                vectors[old] = policy.item_embeddings.numpy()
                vectors[new] = policy.text_map().vectors(emb[new])
                seen = KnownWorld(world.config, item_embeddings=vectors)
            first = seen.reset(500, np.random.default_rng(0)).obs
            obs = th.as_tensor(first, dtype=th.float32)
            with th.no_grad():
                rows = th.as_tensor(policy.text_map().rows(emb[new]))
                prepared = policy.prepare_items(th.cat([policy.item_table(), rows]))
                h = policy.tower_dim
                state = obs[:, : policy.state_dim]
                q = policy.user_tower(policy._standardise(state))
                per_user = (q @ prepared[:, :h].T + prepared[:, h]).numpy()
                residual = per_user.mean(0)
                w = policy.signal_weight.numpy()
                signals = policy.signals(state, prepared[:, h + 1 :]).numpy() @ w
                signal = signals.mean(0)
            whole_scores = per_user + signals
            d = policy.table_layout.item_dim
            spread = (
                f"{policy.item_embeddings[:, -1].std():.3f} | {rows[:, d - 1].std():.3f}"
                if d != emb.shape[1]
                else "| "
            )
            tops.append(
                f"| {seed} | {name} | {meta['start'].get('consequence_weight', 0):g} | "
                f"{spread} | {whole_scores[:, : len(old)].max(1).mean():+.1f} | "
                f"{whole_scores[:, len(old) :].max(1).mean():+.1f} |"
            )
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
    print("\nCan a new item reach a slate? (scores per user, mean over the same states)\n")
    print(
        "| seed | policy | start's consequence weight | consequence sd, old items | "
        "new items (predicted) | best old item's score | best new item's |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(tops))


if __name__ == "__main__":
    main()
