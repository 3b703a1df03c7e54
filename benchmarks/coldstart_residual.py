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
from the logs) against the new items' (predicted from their text). Last, what keeps a
new item out: the old items scored as if they were new (every column of their table
rows written from their text alone, as a new item's is), and how much the old items'
own estimates know beyond their text, against the truth (Spearman over the old items
of the item part of the choice utility with true appeal, and of the consequence column
with true quality: the estimates from the logs, then the text's prediction).

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
from typing import Any

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
    beyond: list[str] = []
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
            beyond.append(_beyond_text(seed, name, policy, state, emb[old], items, old, rows))
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
    print(
        "\nWhat keeps a new item out: the old items scored as if new, and what their own "
        "estimates know beyond the text (Spearman over the old items, against the truth)\n"
    )
    print(
        "| seed | policy | best old item | old items scored as new | best new item | "
        "item utility ~ appeal: estimated | from text | consequence ~ quality: estimated "
        "| from text |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(beyond))


def _best_score(policy: Any, state: th.Tensor, table: th.Tensor) -> float:
    """Mean over users of the best item's whole score (residual plus weighted signals)."""
    with th.no_grad():
        prepared = policy.prepare_items(table)
        h = policy.tower_dim
        q = policy.user_tower(policy._standardise(state))
        signals = policy.signals(state, prepared[:, h + 1 :]) @ policy.signal_weight
        return float((q @ prepared[:, :h].T + prepared[:, h] + signals).max(1).values.mean())


def _beyond_text(
    seed: int,
    name: str,
    policy: Any,
    state: th.Tensor,
    old_text: np.ndarray,
    items: Any,
    old: np.ndarray,
    new_rows: th.Tensor,
) -> str:
    """One row of the last table (see the module docstring)."""
    actual = policy.item_table().detach()
    as_new = th.as_tensor(policy.text_map().rows(old_text))
    lay = policy.table_layout
    d, h = lay.item_dim, lay.key_dim
    bq = policy.signals.bq.numpy()

    def item_utility(table: np.ndarray) -> np.ndarray:  # the user-independent part
        return table[:, d + 1 : d + 1 + h] @ bq + table[:, d + 1 + h]

    rho = [
        stats.spearmanr(item_utility(t.numpy()), items.appeal[old]).statistic
        for t in (actual, as_new)
    ]
    if d != old_text.shape[1]:  # the last item column is the consequence
        rho += [
            stats.spearmanr(t.numpy()[:, d - 1], items.quality[old]).statistic
            for t in (actual, as_new)
        ]
    cells = " | ".join(f"{r:+.2f}" for r in rho) + (" | |" if len(rho) == 2 else "")
    return (
        f"| {seed} | {name} | {_best_score(policy, state, actual):+.1f} | "
        f"{_best_score(policy, state, as_new):+.1f} | {_best_score(policy, state, new_rows):+.1f} "
        f"| {cells} |"
    )


if __name__ == "__main__":
    main()
