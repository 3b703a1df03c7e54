"""The sim-to-real experiment on the known world (DESIGN.md 3.5, the mission's test).

Per seed: logs from the known world's logging policy -> item titles encoded by the
text encoder (MiniLM by default) -> a simulator fitted to the logs -> PPO trained on the
fitted simulator -> every policy evaluated in the TRUE world on the same fresh users:

- ``ppo-fitted``: PPO trained on the fitted simulator (the product's claim);
- ``ppo-true``: PPO trained on the true world (reference: what a perfect simulator gives);
- ``greedy``: top-K by the fitted response model's click utility (the best next-click
  policy one can build from the logs);
- ``popularity``: the K items clicked most in the logs;
- ``random`` and ``logging``.

The *sim-to-real gap* is ppo-true minus ppo-fitted, both measured in the true world;
the fitted simulator's own estimate of ppo-fitted is reported beside its true value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ltvrec.agents.evaluation import markdown_table
from ltvrec.agents.policies import ModelGreedyPolicy, PPOPolicy
from ltvrec.agents.train_ppo import TrainConfig, train
from ltvrec.interactions.io import atomic_path
from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    PopularityPolicy,
    RandomPolicy,
    evaluate,
    fit_simulator,
    known_world_catalog,
    mean_ci,
    simulate_log,
)
from ltvrec.simulators.policies import SimPolicy
from ltvrec.simulators.rollout import PolicyValue

Say = Callable[[str], None]


def encode_titles(titles: list[str], model: str, dim: int, seed: int = 0) -> np.ndarray:
    """Titles -> text encoder (through the embedding cache) -> PCA to ``dim``."""
    from ltvrec.encoders import (
        EmbeddingCache,
        HashingTextEncoder,
        PCAProjection,
        TransformerTextEncoder,
    )
    from ltvrec.encoders.cache import encode_cached

    encoder: Any = (
        HashingTextEncoder(seed=seed)
        if model == "hashing"
        else TransformerTextEncoder(None if model == "minilm" else model)
    )
    raw = encode_cached(encoder, titles, EmbeddingCache()).embeddings
    return PCAProjection.fit(raw, dim, seed).transform(raw)


def _row(name: str, runs: list[PolicyValue]) -> dict[str, Any]:
    pooled = np.concatenate([r.returns for r in runs])
    v, lo, hi = mean_ci(pooled)
    disc = mean_ci(np.concatenate([r.discounted for r in runs]))
    summaries = [r.summary() for r in runs]
    row: dict[str, Any] = {
        "policy": name,
        "users": len(pooled),
        "value": v,
        "value_ci": [lo, hi],
        "discounted_value": disc[0],
        "discounted_ci": [disc[1], disc[2]],
        "value_per_seed": [s["value"] for s in summaries],
    }
    for key in (
        "clicks_per_request",
        "requests_per_session",
        "sessions_per_user",
        "return_rate",
        "churn_rate",
        "coverage",
        "diversity",
    ):
        row[key] = float(np.mean([s[key] for s in summaries]))
    return row


def run_experiment(
    seeds: int,
    out: str | Path,
    train_config: TrainConfig | None = None,
    world_config: KnownWorldConfig | None = None,
    log_users: int = 3000,
    eval_users: int = 2000,
    model: str = "minilm",
    say: Say | None = None,
) -> dict[str, Any]:
    """Run the experiment for seeds 0..seeds-1; write ``report.md``, ``report.json`` and
    ``learning_curves.png`` into ``out``; return the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = say or (lambda _m: None)
    tcfg = train_config or TrainConfig()
    wcfg = world_config or KnownWorldConfig()
    titles = KnownWorld(wcfg).items.titles
    say(f"encoding {len(titles)} titles with {model}")
    emb = encode_titles(titles, model, wcfg.embedding_dim)
    world = KnownWorld(wcfg, item_embeddings=emb)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    runs: dict[str, list[PolicyValue]] = {}
    curves: dict[str, list[Any]] = {}
    in_sim: list[float] = []
    for seed in range(seeds):
        say(f"seed {seed}: logging {log_users} users")
        log = simulate_log(world, logging, log_users, seed=seed)
        say(f"seed {seed}: fitting the simulator on {log.n_requests:,} requests")
        fitted = fit_simulator(
            log, catalog, emb, FitConfig(horizon_days=wcfg.horizon_days, seed=seed)
        )
        cfg = replace(tcfg, seed=seed)
        say(f"seed {seed}: PPO on the fitted simulator ({cfg.steps:,} steps)")
        ppo_fit, curve_fit = train(fitted, cfg, out / f"seed{seed}" / "ppo-fitted")
        say(f"seed {seed}: PPO on the true world ({cfg.steps:,} steps)")
        ppo_true, curve_true = train(world, cfg, out / f"seed{seed}" / "ppo-true")
        curves[f"ppo-fitted/{seed}"] = curve_fit
        curves[f"ppo-true/{seed}"] = curve_true
        f = log.frame
        clicks = np.bincount(f.loc[f["click"] == 1, "item_id"].to_numpy(), minlength=world.n_items)
        policies: dict[str, SimPolicy] = {
            "ppo-fitted": PPOPolicy(ppo_fit.policy, name="ppo-fitted"),  # type: ignore[arg-type]
            "ppo-true": PPOPolicy(ppo_true.policy, name="ppo-true"),  # type: ignore[arg-type]
            "greedy": ModelGreedyPolicy(fitted),
            "popularity": PopularityPolicy(clicks.astype(float)),
            "random": RandomPolicy(),
            "logging": logging,
        }
        say(f"seed {seed}: evaluating {len(policies)} policies on {eval_users} true-world users")
        eval_seed = 1_000_000 + seed  # fresh users, shared by every policy
        for name, policy in policies.items():
            runs.setdefault(name, []).append(evaluate(world, policy, eval_users, seed=eval_seed))
        in_sim.append(evaluate(fitted, policies["ppo-fitted"], eval_users, seed=eval_seed).value[0])
    rows = [_row(name, r) for name, r in runs.items()]
    by = {r["policy"]: r for r in rows}
    fitted_v, true_v, greedy_v = by["ppo-fitted"], by["ppo-true"], by["greedy"]
    report = {
        "seeds": seeds,
        "log_users": log_users,
        "eval_users_per_seed": eval_users,
        "text_model": model,
        "train_config": {**asdict(tcfg), "hidden": list(tcfg.hidden)},
        "world_config": asdict(wcfg),
        "table": rows,
        "ppo_fitted_vs_greedy": fitted_v["value"] / greedy_v["value"] - 1.0,
        "cis_separate": fitted_v["value_ci"][0] > greedy_v["value_ci"][1],
        "beats_logging": fitted_v["value_ci"][0] > by["logging"]["value_ci"][1],
        "sim_to_real_gap": true_v["value"] - fitted_v["value"],
        "ppo_fitted_value_in_fitted_sim": float(np.mean(in_sim)),
        "curves": curves,
    }
    _write(report, out)
    return report


def _write(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, curve in report["curves"].items():
        if curve:
            style = "-" if key.startswith("ppo-fitted") else "--"
            ax.plot([p["steps"] for p in curve], [p["value"] for p in curve], style, label=key)
    g = next(r for r in report["table"] if r["policy"] == "greedy")["value"]
    ax.axhline(g, color="k", lw=1, ls=":", label="greedy (fitted model)")
    ax.set(xlabel="training steps", ylabel="long-term value (held-out users, training world)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=100)
    plt.close(fig)
    rel = report["ppo_fitted_vs_greedy"]
    lines = [
        "# Sim-to-real experiment: the known world",
        "",
        f"{report['seeds']} seeds; per seed {report['log_users']} logged users, PPO "
        f"{report['train_config']['steps']:,} steps, {report['eval_users_per_seed']} fresh "
        f"true-world users per policy; item text encoder: {report['text_model']}.",
        "",
        "Every number is measured in the TRUE known world. LTV = clicks per user over the "
        f"{report['world_config']['horizon_days']:g}-day horizon (95% CI over all users).",
        "",
        markdown_table(report["table"]),
        "",
        f"- PPO trained on the fitted simulator vs greedy: {rel:+.1%} "
        f"(CIs {'apart' if report['cis_separate'] else 'overlap'}); "
        f"vs logging: {'better' if report['beats_logging'] else 'not better'}.",
        f"- Sim-to-real gap (ppo-true - ppo-fitted, true world): {report['sim_to_real_gap']:.2f}.",
        f"- The fitted simulator's own estimate of ppo-fitted: "
        f"{report['ppo_fitted_value_in_fitted_sim']:.2f} (true: "
        f"{next(r for r in report['table'] if r['policy'] == 'ppo-fitted')['value']:.2f}).",
        "",
        "Per-seed values:",
        "",
    ]
    lines += [
        f"- {r['policy']}: " + ", ".join(f"{v:.1f}" for v in r["value_per_seed"])
        for r in report["table"]
    ]
    lines += ["", "![learning curves](learning_curves.png)", ""]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines))
