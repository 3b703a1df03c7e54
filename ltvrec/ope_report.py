"""The offline policy evaluation report (``ltvrec ope``): JSON, Markdown and one
self-contained HTML file (plots embedded as data URIs: it opens offline).

Per policy and estimator: the value with its interval, the effective sample size, the
on-policy value when a simulator knows it (the known world's truth, or the fitted
simulator's own Monte Carlo value, labelled as such), the weight distribution, the FQE
model's held-out fit, and plain-language warnings.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ltvrec.errors import InputError
from ltvrec.interactions.io import atomic_path
from ltvrec.offline import (
    ESTIMATORS,
    IS_FAMILY,
    LoggedRequests,
    PolicyResult,
    evaluate_policy,
    model_based,
)
from ltvrec.ope import FQEConfig
from ltvrec.simulators.base import UserSimulator
from ltvrec.simulators.fit_config import CHOICE_HISTORY
from ltvrec.simulators.fitted import FittedSimulator
from ltvrec.simulators.policies import ScoredPolicy, require_scored
from ltvrec.simulators.rollout import evaluate

logger = logging.getLogger(__name__)

LOW_ESS = 0.1  # warn below this share of users
HEAVY_WEIGHT = 0.05  # warn when one user carries more than this share of the weight
WEAK_REWARD_R2 = 0.05
WEAK_BELLMAN_R2 = 0.5
MEMBERS_SESSIONS_APART = 2.0
"""The model-based estimate's members disagree on how a policy's users behave when their
mean sessions per user differ by more than this factor (whatever their values say)."""


def members_disagree(estimate: dict[str, Any]) -> str | None:
    """A sentence when the model-based estimate's members (an estimate as a dict) give
    the policy's users sessions per user more than :data:`MEMBERS_SESSIONS_APART` times
    apart: the log does not pin down how its users behave, even where the members'
    values agree. None otherwise, or without the members' sessions."""
    sessions = estimate.get("params", {}).get("members_sessions_per_user")
    if (
        not sessions
        or min(sessions) <= 0
        or max(sessions) / min(sessions) <= MEMBERS_SESSIONS_APART
    ):
        return None
    return (
        f"the refitted simulators disagree on how its users behave ({min(sessions):.1f} to "
        f"{max(sessions):.1f} sessions per user): the log does not pin them down, and the "
        "model-based value is a guess"
    )


def warnings_for(result: PolicyResult, n_users: int, has_pscore: bool) -> list[str]:
    """Plain warnings about one policy's estimates."""
    out = []
    if not has_pscore:
        out.append(
            "The log has no propensities: importance-sampling estimators (trajectory IS, "
            "PDIS, weighted PDIS, DR) were skipped. Only FQE is reported; it is model-based "
            "and inherits the model's bias."
        )
    ess = min((e.ess for k, e in result.estimates.items() if k in IS_FAMILY), default=None)
    if ess is not None and ess < LOW_ESS * n_users:
        out.append(
            f"Low effective sample size: the importance weights rest on {ess:.0f} of "
            f"{n_users:,} users. IS-family values and intervals are unreliable; prefer DR / "
            "weighted DR and check them against FQE."
        )
    w = result.final_weights
    if w is not None and w.sum() > 0 and w.max() / w.sum() > HEAVY_WEIGHT:
        out.append(
            f"Extreme weights: one user carries {w.max() / w.sum():.0%} of the total "
            f"importance weight (largest weight {w.max():.3g})."
        )
    if result.zero_support > 0.5:
        out.append(
            f"The policy gives probability 0 to {result.zero_support:.0%} of the logged "
            "slates (a deterministic policy, or one far from logging): importance sampling "
            "sees almost none of its choices."
        )
    q = result.fqe_quality
    if q is not None:
        if q["reward_r2"] < WEAK_REWARD_R2:
            out.append(
                f"The reward model explains little of the per-request reward (held-out R^2 "
                f"{q['reward_r2']:.3f}): rewards are noisy at this level; FQE relies on the "
                "long-horizon fit below."
            )
        if q["bellman_r2"] < WEAK_BELLMAN_R2:
            out.append(
                f"FQE fits its Bellman targets poorly (held-out R^2 {q['bellman_r2']:.2f}): "
                "FQE and the DR model term are unreliable."
            )
    e = result.estimates
    unstable = [
        name
        for name, est in e.items()
        if est.method.startswith("bootstrap") and not est.ci[0] <= est.value <= est.ci[1]
    ]
    if unstable:
        out.append(
            f"Unstable fit: the point estimate of {', '.join(unstable)} lies outside its own "
            "bootstrap interval (the full-data fit and the resampled ones disagree, e.g. a "
            "near-singular FQE system); read neither the value nor the interval."
        )
    if "model-based" in e:
        apart = members_disagree(e["model-based"].to_dict())
        if apart:
            out.append(f"Model-based: {apart}.")
    if "fqe" in e and "weighted-dr" in e:
        a, b = e["fqe"].ci, e["weighted-dr"].ci
        if a[1] < b[0] or b[1] < a[0]:
            out.append(
                "Estimators disagree: the FQE and weighted-DR intervals do not overlap; at "
                "least one model or weight assumption is wrong."
            )
    return out


def recommend(row: dict[str, Any], n_users: int) -> dict[str, str | None]:
    """Which estimator to read for one policy, and why: ``{"estimator": key or None,
    "reason": sentence}`` from a report row (``estimates`` as dicts, ``zero_support``,
    ``fqe_quality``). The rule, fixed before the coverage study measured it:

    1. importance weights that rest on at least :data:`LOW_ESS` of the users, with at
       most half the logged slates outside the target's support: weighted DR (weights
       and the model as a control variate; it covered 0.93-0.96 near the logging
       policy in docs/ope.md);
    2. otherwise the log's weights cannot vouch for the policy: the model-based
       estimate (simulators refitted on the log; no support needed; its interval holds
       the fit's sampling noise, not the model's misspecification);
    3. otherwise FQE when its Bellman fit is not poor;
    4. otherwise nothing: the log cannot answer for this policy.

    A model-based pick whose members disagree on how the policy's users behave
    (:func:`members_disagree`) says so (``guess``: the sentence; added after the
    coverage study, which did not measure it).
    """
    e = row["estimates"]
    ess = min((v["ess"] for k, v in e.items() if k in IS_FAMILY), default=0.0)
    support = 1.0 - row.get("zero_support", 1.0)
    if "weighted-dr" in e and ess >= LOW_ESS * n_users and support >= 0.5:
        return {
            "estimator": "weighted-dr",
            "reason": f"the importance weights rest on {ess:.0f} of {n_users:,} users and "
            f"{support:.0%} of the logged slates are in the policy's support",
        }
    why = (
        f"the log's importance weights cannot vouch for this policy (they rest on {ess:.0f} "
        f"of {n_users:,} users; {1 - support:.0%} of the logged slates have probability 0)"
    )
    if "model-based" in e:
        reason = (
            f"{why}; the model-based estimate needs no support, and its interval holds the "
            "fit's sampling noise but not the model's own error: a model's opinion, not "
            "vouched for by the log"
        )
        fqe = e.get("fqe")
        mb = e["model-based"]["ci"]
        if fqe is not None and (fqe["ci"][1] < mb[0] or mb[1] < fqe["ci"][0]):
            reason += "; FQE disagrees with it (intervals do not overlap): treat both as guesses"
        apart = members_disagree(e["model-based"])
        if apart:
            reason += f"; {apart}"
        return {"estimator": "model-based", "reason": reason, "guess": apart}
    q = row.get("fqe_quality")
    if "fqe" in e and q is not None and q["bellman_r2"] >= WEAK_BELLMAN_R2:
        return {
            "estimator": "fqe",
            "reason": f"{why}; FQE fits its Bellman targets (held-out R^2 "
            f"{q['bellman_r2']:.2f}), but it extrapolates where the log has no support",
        }
    return {"estimator": None, "reason": f"the log cannot answer for this policy: {why}"}


def run_ope(
    req: LoggedRequests,
    policies: dict[str, ScoredPolicy],
    sim: UserSimulator,
    estimators: tuple[str, ...] = ESTIMATORS,
    truth: str | None = None,
    truth_users: int = 2000,
    n_bootstrap: int = 1000,
    samples: int = 4,
    fqe: FQEConfig | None = None,
    provenance: dict[str, Any] | None = None,
    members: list[FittedSimulator] | None = None,
    model_users: int = 1000,
) -> tuple[dict[str, Any], dict[str, PolicyResult]]:
    """Estimate every policy; ``truth`` ("known world" / "fitted simulator") labels the
    simulator's on-policy value computed beside the estimates (None: not computed).
    ``members``: simulators fitted on bootstrap resamples of the log's users, for the
    model-based estimate (``model_users`` fresh users in each)."""
    report: dict[str, Any] = {
        "log": {
            "users": req.n_users,
            "requests": len(req.user),
            "slate_size": int(req.slates.shape[1]),
            "propensities": req.pscore is not None,
            "on_policy_value_per_user": float(req.reward.sum() / req.n_users),
        },
        "provenance": provenance or {},
        "estimators": list(estimators),
        "truth_source": truth,
        "policies": {},
    }
    results: dict[str, PolicyResult] = {}
    for name, policy in policies.items():
        logger.info(f"estimating {name}")
        res = evaluate_policy(name, policy, sim, req, estimators, fqe, samples, n_bootstrap)
        if members and "model-based" in estimators:
            logger.info(f"{name}: model-based estimate in {len(members)} refitted simulators")
            res.estimates["model-based"] = model_based(
                policy, members, model_users, seed=4242, layout=sim.state_encoder.layout
            )
        results[name] = res
        row: dict[str, Any] = {
            "estimates": {k: e.to_dict() for k, e in res.estimates.items()},
            "zero_support": res.zero_support,
            "fqe_quality": res.fqe_quality,
            "warnings": warnings_for(res, req.n_users, req.pscore is not None),
        }
        if truth is not None:
            logger.info(f"{name}: on-policy value in the {truth} ({truth_users:,} users)")
            v, lo, hi = evaluate(sim, policy, truth_users, seed=12_345, gamma=1.0).value
            row["truth"] = {"value": v, "ci": [lo, hi], "users": truth_users, "source": truth}
            for e in row["estimates"].values():
                e["covers_truth"] = bool(e["ci"][0] <= v <= e["ci"][1])
        row["recommended"] = recommend(row, req.n_users)
        report["policies"][name] = row
    return report, results


def ope_on_logs(
    logs: str,
    specs: list[str],
    env: str,
    out: Path,
    sim: Path | None = None,
    world_config: Path | None = None,
    estimators: tuple[str, ...] = ESTIMATORS,
    truth_users: int = 2000,
    n_bootstrap: int = 1000,
    samples: int = 4,
    ppo_mode: str = "sample",
    world_sets: list[str] | None = None,
    members: int = 3,
    members_history: str | None = None,
) -> dict[str, Any]:
    """``ltvrec ope``: the policies ``specs`` (``NAME=DIR`` or a log-buildable
    baseline's name) estimated on the log folder or data set ``logs``, whose states the
    simulator of ``env`` encodes (``world_sets``: ``key=value`` fields of the known
    world); the report is written to ``out`` and returned.

    Every spec and estimator is checked before the log is read, so bad input costs one
    line and no work; ``popularity-log`` is built from the log's own counts. The
    model-based estimate fits ``members`` simulators on bootstrap resamples of the log's
    users (0: skip it), with :func:`refit_ensemble`'s recipe (``members_history``
    overrides its ``FitConfig.choice_history``).
    """
    from ltvrec.agents.baselines import log_item_counts, policy_from_spec
    from ltvrec.interactions import load
    from ltvrec.offline import replay
    from ltvrec.simulators.fitted import fit_config_of
    from ltvrec.simulators.load import load_simulator

    unknown = sorted(set(estimators) - set(ESTIMATORS))
    if unknown:
        raise InputError(f"unknown estimators {unknown}; known: {', '.join(ESTIMATORS)}")
    if ppo_mode not in ("sample", "greedy"):
        raise InputError(f"ppo_mode must be 'sample' or 'greedy', got {ppo_mode!r}")
    if members == 1 or members < 0:
        raise InputError(f"members must be 0 (no model-based estimate) or >= 2, got {members}")
    if members_history is not None and members_history not in CHOICE_HISTORY:
        raise InputError(
            f"members_history must be one of {', '.join(CHOICE_HISTORY)}, got {members_history!r}"
        )
    simulator, logging_policy = load_simulator(env, sim, world_config, world_sets)
    fitted = simulator if isinstance(simulator, FittedSimulator) else None

    def build(spec: str, counts: np.ndarray | None) -> tuple[str, ScoredPolicy]:
        name, policy = policy_from_spec(
            spec, simulator, fitted, logging_policy, counts, ppo_mode == "greedy", offline=True
        )
        return name, require_scored(policy, "off-policy evaluation")

    checked = {p: None if p == "popularity-log" else build(p, None) for p in specs}
    logger.info(f"reading and replaying {logs}")
    ds = load(logs)
    counts = log_item_counts(ds.log, ds.catalog)
    named = dict(entry or build(spec, counts) for spec, entry in checked.items())
    req = replay(
        ds.log,
        ds.catalog,
        simulator.state_encoder,
        simulator.slate_size,
        consumed=not simulator.allow_repeats,
    )
    truth = "known world" if env == "known-world" else "fitted simulator"
    ensemble = None
    if members and "model-based" in estimators:
        ensemble = refit_ensemble(
            ds.log, ds.catalog, simulator, members, choice_history=members_history
        )
    report, results = run_ope(
        req,
        named,
        simulator,
        estimators,
        truth=truth if truth_users > 0 else None,
        truth_users=truth_users,
        n_bootstrap=n_bootstrap,
        samples=samples,
        provenance={
            "logs": logs,
            "env": env,
            "sim": str(sim) if sim else None,
            "policies": specs,
            # What the model-based estimate's simulators read ('auto' resolved on the log).
            "model_choice_history": fit_config_of(ensemble[0]).choice_history if ensemble else None,
        },
        members=ensemble,
        model_users=min(max(truth_users, 500), 1000),
    )
    write_report(report, results, out)
    return report


def refit_ensemble(
    log: Any,
    catalog: Any,
    simulator: UserSimulator,
    members: int,
    seed: int = 0,
    choice_history: str | None = None,
) -> list[FittedSimulator]:
    """Simulators fitted on bootstrap resamples of the log's users, on the item vectors
    and horizon of ``simulator``: the model-based estimate's ensemble. A fitted
    simulator's own fit settings are its members' recipe; for another simulator (the
    known world) they are the defaults with ``choice_history='auto'`` (the residual
    interest when the log records impressions, which shrinks the model-based estimate's
    optimism about policies far from logging, docs/ope.md). ``choice_history`` given
    overrides either. A log with impressions drops the recipe's consumption-only session
    clock (``no_click_leave``), and draws organic consumptions exactly when it records
    them (``organic_item_id``: logs drawn from an ``organic`` simulator)."""
    from dataclasses import replace

    from ltvrec.simulators.ensemble import fit_ensemble
    from ltvrec.simulators.fit_config import FitConfig
    from ltvrec.simulators.fitted import fit_config_of, fitted_from_vectors

    vectors = simulator.item_embeddings
    if isinstance(simulator, FittedSimulator):
        cfg = replace(fit_config_of(simulator), seed=seed)
        vectors = fitted_from_vectors(simulator)
    else:
        cfg = FitConfig(horizon_days=simulator.horizon_days, seed=seed, choice_history="auto")
    if choice_history is not None:
        cfg = replace(cfg, choice_history=choice_history)
    if not log.consumption_only:  # a consumption-only log's session clock has no use here
        cfg = replace(cfg, organic=log.has_organic, no_click_leave=None)
    logger.info(f"model-based estimate: fitting {members} simulators on resampled users")
    return fit_ensemble(log, catalog, vectors, cfg, members, seed)


# ------------------------------------------------------------------------------ writing


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(report: dict[str, Any], results: dict[str, PolicyResult]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    names = list(report["policies"])
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        row = report["policies"][name]
        keys = list(row["estimates"])
        vals = [row["estimates"][k]["value"] for k in keys]
        lo = [row["estimates"][k]["ci"][0] for k in keys]
        hi = [row["estimates"][k]["ci"][1] for k in keys]
        y = np.arange(len(keys))
        # The interval as a segment and the estimate as a point: a percentile bootstrap
        # interval need not contain the estimate (skewed weights), which errorbar refuses.
        ax.hlines(y, lo, hi, color="C0")
        ax.plot(vals, y, "o", color="C0")
        if "truth" in row:
            t = row["truth"]
            ax.axvline(t["value"], color="k", lw=1, label=f"{t['source']} value")
            ax.axvspan(*t["ci"], color="k", alpha=0.1)
            ax.legend(fontsize=7)
        ax.set_yticks(y, keys)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("long-term value per user")
    fig.tight_layout()
    out["estimates"] = _png(fig)
    plt.close(fig)
    weighted = {n: r.final_weights for n, r in results.items() if r.final_weights is not None}
    if weighted:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for name, w in weighted.items():
            pos = w[w > 0]
            if len(pos):
                ax.hist(np.log10(pos), bins=40, histtype="step", label=f"{name} ({len(pos)} > 0)")
        ax.set(xlabel="log10 trajectory weight (per user)", ylabel="users")
        ax.legend(fontsize=7)
        fig.tight_layout()
        out["weights"] = _png(fig)
        plt.close(fig)
    return out


def _fmt_ci(e: dict[str, Any]) -> str:
    return f"{e['value']:.2f} [{e['ci'][0]:.2f}, {e['ci'][1]:.2f}]"


def _rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, row in report["policies"].items():
        truth = row.get("truth")
        for key, e in row["estimates"].items():
            cells = [name, key, _fmt_ci(e), e["method"], f"{e['ess']:.0f} / {e['n']}"]
            if report["truth_source"] is not None:
                t = f"{truth['value']:.2f} [{truth['ci'][0]:.2f}, {truth['ci'][1]:.2f}]"
                cells += [t, "yes" if e["covers_truth"] else "**no**"]
            rows.append(cells)
    return rows


def _header(report: dict[str, Any]) -> list[str]:
    cols = ["policy", "estimator", "value [95% CI]", "interval", "ESS / users"]
    if report["truth_source"] is not None:
        cols += [f"{report['truth_source']} value", "covered"]
    return cols


def markdown(report: dict[str, Any]) -> str:
    lg = report["log"]
    lines = [
        "# Offline policy evaluation",
        "",
        f"Log: {lg['users']:,} users, {lg['requests']:,} requests, slates of "
        f"{lg['slate_size']}, propensities: {'yes' if lg['propensities'] else 'no'}; the "
        f"logging policy earned {lg['on_policy_value_per_user']:.2f} per user.",
        "",
        "| " + " | ".join(_header(report)) + " |",
        "|" + "---|" * len(_header(report)),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in _rows(report)]
    lines += ["", "Which estimate to read:", ""]
    for name, row in report["policies"].items():
        rec = row.get("recommended")
        if rec:
            read = rec["estimator"] or "none"
            lines.append(f"- **{name}: read {read}**: {rec['reason']}.")
    for name, row in report["policies"].items():
        q = row["fqe_quality"]
        if q:
            lines += [
                "",
                f"{name}: FQE held-out fit: reward R^2 {q['reward_r2']:.3f}, "
                f"Bellman R^2 {q['bellman_r2']:.2f}.",
            ]
        for w in row["warnings"]:
            lines.append(f"- **warning ({name})**: {w}")
    lines += ["", "Provenance:", "", "```json", json.dumps(report["provenance"], indent=2), "```"]
    return "\n".join(lines) + "\n"


def html_page(report: dict[str, Any], plots: dict[str, str]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in _header(report))
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c).replace('**', '')}</td>" for c in r) + "</tr>"
        for r in _rows(report)
    )
    reads = "".join(
        f"<li><b>{esc(name)}: read {esc(row['recommended']['estimator'] or 'none')}</b>: "
        f"{esc(row['recommended']['reason'])}.</li>"
        for name, row in report["policies"].items()
        if row.get("recommended")
    )
    warn = "".join(
        f"<li><b>{esc(name)}</b>: {esc(w)}</li>"
        for name, row in report["policies"].items()
        for w in row["warnings"]
    )
    imgs = "".join(
        f'<h2>{esc(title)}</h2><img alt="{esc(title)}" src="data:image/png;base64,{b64}">'
        for title, b64 in (
            ("Estimates with 95% intervals", plots.get("estimates")),
            ("Importance weight distribution", plots.get("weights")),
        )
        if b64
    )
    lg = report["log"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ltvrec OPE report</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
        "img{max-width:100%}</style></head><body><h1>Offline policy evaluation</h1>"
        f"<p>Log: {lg['users']:,} users, {lg['requests']:,} requests, slates of "
        f"{lg['slate_size']}, propensities: {'yes' if lg['propensities'] else 'no'}.</p>"
        f"<table><tr>{head}</tr>{body}</table>"
        f"<h2>Which estimate to read</h2><ul>{reads}</ul>"
        f"<h2>Warnings</h2><ul>{warn or '<li>none</li>'}</ul>{imgs}"
        f"<h2>Provenance</h2><pre>{esc(json.dumps(report['provenance'], indent=2))}</pre>"
        "</body></html>\n"
    )


def write_report(report: dict[str, Any], results: dict[str, PolicyResult], out: Path) -> None:
    """``out/ope.json``, ``out/ope.md`` and the self-contained ``out/ope.html``."""
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(report, results)
    for name, text in (
        ("ope.json", json.dumps(report, indent=2) + "\n"),
        ("ope.md", markdown(report)),
        ("ope.html", html_page(report, plots)),
    ):
        with atomic_path(out / name) as tmp:
            tmp.write_text(text)
