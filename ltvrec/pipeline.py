"""The end-to-end pipeline on a real data set (``ltvrec pipeline``, ``make demo``).

fetch -> validate -> encode item texts (MiniLM, cached) -> fit the simulator ->
fidelity report -> train PPO on the fitted simulator (one run per seed) -> evaluate PPO,
its start and the log-buildable baselines (``greedy-model``, ``popularity-log``,
``random``) in the fitted simulator, paired by seed -> offline policy evaluation of PPO
and baselines on a simulated log with known propensities (``OUT/ope/``) ->
``OUT/report.md`` (+ JSON, plots).

On real logs there is no ground truth: the evaluation table is the fitted simulator's
opinion, and the fidelity report beside it says how far to trust it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ltvrec.agents.baselines import make_baseline
from ltvrec.agents.evaluation import (
    comparison_line,
    evaluate_many,
    markdown_table,
    paired_comparison,
    popularity_scores,
    row_support_warnings,
    warning_lines,
)
from ltvrec.agents.policies import PPOPolicy
from ltvrec.agents.train_ppo import TrainConfig, start_policy, train
from ltvrec.config import EncodeConfig
from ltvrec.encoders import EmbeddingCache, text_encoder
from ltvrec.encoders.items import encode_catalog
from ltvrec.interactions import ItemCatalog, fetch, load
from ltvrec.interactions.io import atomic_path
from ltvrec.offline import replay
from ltvrec.ope_report import refit_ensemble, run_ope
from ltvrec.ope_report import write_report as write_ope_report
from ltvrec.simulators import FitConfig, FittedSimulator, PlackettLucePolicy, fit_simulator
from ltvrec.simulators.ensemble import ensemble_values, fit_ensemble, spread_warnings
from ltvrec.simulators.fidelity import fidelity_report, write_report
from ltvrec.simulators.fitted import fit_config_of
from ltvrec.simulators.logs import simulate_log
from ltvrec.simulators.policies import SimPolicy

logger = logging.getLogger(__name__)

BASELINES = ("greedy-model", "popularity-log", "random")
"""The log-buildable baselines of a real data set (its logging policy is unknown)."""


def run_pipeline(
    dataset: str,
    out: str | Path,
    train_config: TrainConfig | None = None,
    fit_config: FitConfig | None = None,
    eval_users: int = 500,
    seeds: int = 1,
    ope_users: int = 300,
    ope_truth_users: int = 1000,
    fidelity_users: int = 2000,
    ensemble: int = 0,
) -> dict[str, Any]:
    """Run every stage on ``dataset``; see the module docstring. Returns the report.

    Args:
        seeds: PPO training runs (seed ``i`` also draws evaluation batch ``i``, the same
            users for every policy, so values pair by seed). A "wins" claim needs >= 5.
        eval_users: simulated users per seed and policy.
        ope_users: users in the OPE section's simulated log (0: no OPE section).
        ope_truth_users: users for each OPE target's on-policy value in the simulator.
        fidelity_users: simulated users behind the fidelity report's distributions.
        ensemble: fit this many more simulators on bootstrap resamples of the users
            (:mod:`ltvrec.simulators.ensemble`) and report how far they disagree on each
            policy's value (0: no ensemble section).
    """
    out = Path(out)
    tcfg = train_config or TrainConfig(steps=200_000, eval_every=50_000, checkpoint_every=0)
    fcfg = fit_config or FitConfig()
    logger.info(f"fetching {dataset}")
    fetch(dataset)
    ds = load(dataset)
    logger.info(f"encoding {ds.catalog.n_items:,} item texts")
    ecfg = EncodeConfig()
    encoding = encode_catalog(
        ds.catalog,
        text_encoder(ecfg),
        ecfg.dim,
        EmbeddingCache(),
        provenance={"dataset": ds.name},
    )
    encoding.save(out / "encoding")
    logger.info("fitting the simulator (fidelity: on a time split)")
    fidelity, _ = fidelity_report(
        ds.log, ds.catalog, encoding.embeddings, fcfg, n_sim_users=fidelity_users
    )
    write_report(fidelity, out / "fidelity", ds.name)
    logger.info("fitting the simulator on the whole log")
    sim = fit_simulator(
        ds.log,
        ds.catalog,
        encoding.embeddings,
        fcfg,
        provenance={"dataset": ds.name, "encoder": encoding.identity.to_dict()},
    )
    sim.save(out / "simulator")
    models, curves = [], []
    for seed in range(seeds):
        logger.info(f"training PPO on the fitted simulator ({tcfg.steps:,} steps, seed {seed})")
        model, curve = train(
            sim,
            replace(tcfg, seed=seed),
            out / ("ppo" if seed == 0 else f"ppo-seed{seed}"),
            provenance={
                "dataset": ds.name,
                "env": "fitted",
                "sim": str((out / "simulator").resolve()),
            },
        )
        models.append(model)
        curves.append(curve)
    logger.info(f"evaluating on {eval_users} simulated users x {seeds} seeds")
    policies: dict[str, SimPolicy | list[SimPolicy]] = {
        "ppo": [PPOPolicy(m.policy) for m in models],  # type: ignore[arg-type]
        "ppo (start, step 0)": [start_policy(m.policy) for m in models],  # type: ignore[arg-type]
    }
    for name in BASELINES:
        policies[name] = make_baseline(name, model=sim, n_items=sim.n_items)
    rows = evaluate_many(sim, policies, eval_users, seeds, seed_offset=100)
    per_seed = {r["policy"]: r["value_per_seed"] for r in rows}
    best = max(BASELINES, key=lambda b: float(np.mean(per_seed[b])))
    comparisons = {
        f"ppo vs {b}": paired_comparison(per_seed["ppo"], per_seed[b])
        for b in (*BASELINES, "ppo (start, step 0)")
    }
    spread = None
    if ensemble:
        logger.info(f"fitting an ensemble of {ensemble} simulators on resampled users")
        members = fit_ensemble(ds.log, ds.catalog, encoding.embeddings, fcfg, k=ensemble)
        first = {name: (p[0] if isinstance(p, list) else p) for name, p in policies.items()}
        spread = ensemble_values(members, first, eval_users, seed=100)
    ope = (
        _offline_evaluation(sim, ds.catalog, models[0], out / "ope", ope_users, ope_truth_users)
        if ope_users > 0
        else None
    )
    report = {
        "dataset": ds.name,
        "simulator": {
            "slate_size": sim.slate_size,
            "horizon_days": sim.horizon_days,
            **sim.meta["fit"],
        },
        "assumptions": sim.meta["assumptions"],
        "fidelity": {k: v for k, v in fidelity.items() if k != "_plot"},
        "train_config": {
            **asdict(tcfg),
            "hidden": list(tcfg.hidden),
            "start_scales": list(tcfg.start_scales),
        },
        "seeds": seeds,
        "curve": curves[0],
        "curves": curves,
        "evaluation": rows,
        "best_baseline": best,
        "ppo_vs_best_baseline": float(np.mean(per_seed["ppo"]) / np.mean(per_seed[best]) - 1.0),
        "comparisons": comparisons,
        "ensemble": spread,
        "ope": ope,
    }
    _write(report, out)
    return report


def _offline_evaluation(
    sim: FittedSimulator,
    real_catalog: ItemCatalog,
    model: Any,
    out: Path,
    users: int,
    truth_users: int = 1000,
) -> dict[str, Any]:
    """The OPE report for PPO vs baselines. ml-100k has no propensities, so the log is
    drawn from the fitted simulator under a known stochastic logging policy (Plackett-Luce
    on popularity); the simulator's own on-policy values sit beside the estimates."""
    logger.info(f"offline evaluation on a logged sample of {users} simulated users")
    logging = PlackettLucePolicy(popularity_scores(sim), sim.slate_size, name="logging")
    log = simulate_log(sim, logging, users, seed=2024)
    # Simulated logs name items by their index: the same catalog, re-keyed.
    catalog = ItemCatalog.from_frame(real_catalog.frame.assign(item_id=np.arange(sim.n_items)))
    req = replay(log, catalog, sim.state_encoder, sim.slate_size, consumed=not sim.allow_repeats)
    policies: dict[str, Any] = {
        "ppo (sampled)": PPOPolicy(model.policy, deterministic=False, name="ppo (sampled)"),
        "logging": logging,
    }
    for name in BASELINES:
        policies[name] = make_baseline(name, model=sim, n_items=sim.n_items)
    members = refit_ensemble(log, catalog, sim, 3)
    report, results = run_ope(
        req,
        policies,
        sim,
        truth="fitted simulator",
        truth_users=truth_users,
        n_bootstrap=500,
        members=members,
        model_users=truth_users,
        provenance={
            "logs": "simulated from the fitted simulator (ml-100k has no propensities)",
            "logging_policy": "Plackett-Luce on the simulator's mean click utility "
            "(it does not mask consumed items; targets that do give such slates 0)",
            "users": users,
            "model_choice_history": fit_config_of(members[0]).choice_history,
        },
    )
    write_ope_report(report, results, out)
    return report


def _write(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for seed, curve in enumerate(report["curves"]):
        ax.plot(
            [p["steps"] for p in curve],
            [p["value"] for p in curve],
            "o-",
            color="C0",
            alpha=1.0 if seed == 0 else 0.4,
            label="PPO (held-out users)" if seed == 0 else None,
        )
    for i, r in enumerate(report["evaluation"]):
        if r["policy"] != "ppo":
            ax.axhline(r["value"], ls=":", lw=1.2, color=f"C{i + 1}", label=r["policy"])
    ax.set(xlabel="training steps", ylabel="long-term value (simulated)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png", dpi=100)
    plt.close(fig)
    f = report["fidelity"]
    choice = f["choice"]
    model_ll = next(iter(choice["model"].values()))
    pop_ll = next(iter(choice["popularity"].values()))
    lines = [
        f"# ltvrec on {report['dataset']}",
        "",
        "Every value below is the fitted simulator's estimate (there is no ground truth on "
        "real logs); the fidelity section says how far to trust it.",
        "",
        "## Policies in the fitted simulator",
        "",
        markdown_table(report["evaluation"]),
        "",
        *warning_lines(row_support_warnings(report["evaluation"])),
        f"Long-term value = sum of rewards (ratings of consumed items) per user over "
        f"{report['simulator']['horizon_days']:.0f} days; PPO trained "
        f"{report['train_config']['steps']:,} steps per seed, {report['seeds']} seed(s); "
        "`ppo (start, step 0)` is PPO's own starting point (the baselines' signals at the "
        "start weights it chose), so the gain of training is the difference to it.",
        "",
        f"Best log-buildable baseline: **{report['best_baseline']}**; PPO vs it: "
        f"{report['ppo_vs_best_baseline']:+.1%} (mean over seeds).",
        "",
        *[comparison_line(key, c) for key, c in report["comparisons"].items()],
        *(
            [
                "",
                "One seed gives no seed-level interval, so no claim: "
                "`ltvrec pipeline ml-100k --seeds 5` does (docs/agents.md has its numbers).",
            ]
            if report["seeds"] < 2
            else []
        ),
        "",
        "![learning curve](learning_curve.png)",
        "",
        *_ensemble_lines(report.get("ensemble")),
        "## Fidelity (fitted on the first 80% of time, compared on the rest)",
        "",
        f"- choice, held-out log-likelihood: model {model_ll:.3f} vs popularity {pop_ll:.3f}",
        f"- session length KS: {f['session_length']['ks']:.3f}",
        "- return gap, distance between the held-out and simulated Kaplan-Meier curves: "
        f"{f['return_gap_days']['km_cdf_distance']:.3f}",
        *[f"- **warning**: {w}" for w in f.get("warnings", [])],
        "- full report: [fidelity/fidelity.md](fidelity/fidelity.md)",
        "",
        *_ope_lines(report.get("ope")),
        "## Assumptions",
        "",
        *[f"- {a}" for a in report["assumptions"]],
        "",
    ]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines))


def _ensemble_lines(spread: dict[str, Any] | None) -> list[str]:
    if not spread:
        return []
    k = len(next(iter(spread.values()))["values"])
    lines = [
        f"## How sure the logs make us: {k} simulators fitted on resampled users",
        "",
        "Each policy (seed 0) in every member of the ensemble, the same users; a wide "
        "spread means the logs do not pin the policy's value down.",
        "",
        "| policy | members' mean | std | min | max | relative spread |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in spread.items():
        lines.append(
            f"| {name} | {v['mean']:.1f} | {v['std']:.1f} | {min(v['values']):.1f} | "
            f"{max(v['values']):.1f} | {v['relative_spread']:.0%} |"
        )
    lines += ["", *[f"- **warning**: {w}" for w in spread_warnings(spread)], ""]
    return lines


def _ope_lines(ope: dict[str, Any] | None) -> list[str]:
    if ope is None:
        return []
    lines = [
        "## Offline policy evaluation (a simulated log with known propensities)",
        "",
        "The log is drawn from the fitted simulator, so its own on-policy value is the truth "
        'here; "(miss)" marks an interval that excludes it. "Read" is the report\'s '
        "recommended estimate; \"model's opinion\" marks a policy the log's importance "
        'weights cannot vouch for (its reason is in the OPE report), "a guess" one whose '
        "refitted simulators also disagree on how its users behave.",
        "",
        "| policy | read | weighted DR | FQE | model-based | simulator's own value |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in ope["policies"].items():
        cells = []
        for key in ("weighted-dr", "fqe", "model-based"):
            e = row["estimates"].get(key)
            miss = "" if not e or e.get("covers_truth", True) else " (miss)"
            cells.append(
                f"{e['value']:.1f} [{e['ci'][0]:.1f}, {e['ci'][1]:.1f}]{miss}" if e else "-"
            )
        rec = row.get("recommended") or {}
        read = rec.get("estimator") or "none: the log cannot answer"
        if rec.get("estimator") == "model-based":
            read = "model-based (model's opinion)"
            if rec.get("guess"):
                read = "model-based (a guess: its simulators disagree on the users)"
        t = row["truth"]
        lines.append(f"| {name} | {read} | {' | '.join(cells)} | {t['value']:.1f} |")
    n_warn = sum(len(r["warnings"]) for r in ope["policies"].values())
    lines += [
        "",
        f"{n_warn} warnings (low effective sample size, deterministic targets, model fit) "
        "and plots: [ope/ope.html](ope/ope.html)",
        "",
    ]
    return lines


__all__ = ["run_pipeline"]
