"""Fidelity report: how well a fitted simulator matches held-out logs.

On a time split (fit on the past, compare on the future):

- **choice**: held-out log-likelihood per request and item-level AUC, beside a
  popularity baseline (the same model with the user state switched off: item and
  position biases only); calibration of the per-item click probability (reliability
  curve, expected calibration error). Consumption-only logs: the consumed item against
  sampled negatives instead.
- **sessions and returns**: session lengths and return gaps of users simulated under a
  replay policy (a context-free Plackett-Luce whose scores are the log frequencies of
  items at the top position in the training log, or a given policy) against the
  held-out log: KS distance for session lengths; for return gaps, both sides are
  Kaplan-Meier curves over *every* session end (a user who does not come back is
  censored: in the log at its end, in the simulator at churn or the horizon), and the
  distance is the largest gap between the two "returned within t" curves up to the
  last held-out time. (Before, the simulated side held only the users who came back,
  against a held-out curve over everyone: it read churn as slow returns.)
- **value**: clicks and reward per request and requests per session, simulated vs logged.
- the assumptions in force (e.g. the no-click level of consumption-only logs).
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ltvrec.interactions.io import atomic_path
from ltvrec.interactions.schema import InteractionLog, ItemCatalog
from ltvrec.interactions.sessions import return_gaps, session_table
from ltvrec.interactions.splits import time_split
from ltvrec.simulators.base import UserSimulator
from ltvrec.simulators.fitted import FitConfig, FittedSimulator, fit_simulator
from ltvrec.simulators.policies import PlackettLucePolicy, SimPolicy
from ltvrec.simulators.replay import Trajectories, replay_log
from ltvrec.simulators.rollout import evaluate, run_users

logger = logging.getLogger(__name__)


def kaplan_meier(times: np.ndarray, censored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival ``S(t)`` at the distinct event times: ``(t [m], S [m])``."""
    order = np.argsort(times, kind="stable")
    t, c = np.asarray(times)[order], np.asarray(censored)[order]
    n = len(t)
    at_risk = n - np.arange(n)
    factors = np.where(c, 1.0, 1.0 - 1.0 / at_risk)
    surv = np.cumprod(factors)
    events = ~c
    return t[events], surv[events]


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (largest CDF difference)."""
    a, b = np.sort(a), np.sort(b)
    grid = np.union1d(a, b)
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.abs(fa - fb).max())


def survival_at(t_km: np.ndarray, s_km: np.ndarray, t: np.ndarray) -> np.ndarray:
    """A Kaplan-Meier curve ``(t_km, s_km)`` read at times ``t`` (right-continuous)."""
    j = np.searchsorted(t_km, t, side="right") - 1
    return np.where(j >= 0, s_km[np.maximum(j, 0)], 1.0)


def km_median(t_km: np.ndarray, s_km: np.ndarray) -> float | None:
    """The first time the curve is at or below 1/2 (None if it never gets there)."""
    return float(t_km[np.searchsorted(-s_km, -0.5)]) if len(t_km) and s_km.min() <= 0.5 else None


def km_distance(
    sim_gaps: np.ndarray, sim_censored: np.ndarray, t_km: np.ndarray, s_km: np.ndarray
) -> float:
    """Largest difference between the simulated and held-out Kaplan-Meier curves, over
    the held-out event times."""
    if len(t_km) == 0 or len(sim_gaps) == 0:
        return float("nan")
    t_sim, s_sim = kaplan_meier(sim_gaps, sim_censored)
    return float(np.abs(survival_at(t_sim, s_sim, t_km) - s_km).max())


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if labels.min() == labels.max():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def _reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> dict[str, Any]:
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    mean_p = np.bincount(which, weights=p, minlength=bins)
    mean_y = np.bincount(which, weights=y, minlength=bins)
    count = np.bincount(which, minlength=bins)
    ok = count > 0
    mp, my = mean_p[ok] / count[ok], mean_y[ok] / count[ok]
    ece = float(np.sum(count[ok] * np.abs(mp - my)) / count.sum())
    return {
        "predicted": mp.tolist(),
        "observed": my.tolist(),
        "count": count[ok].tolist(),
        "ece": ece,
    }


def _choice_metrics(
    sim: FittedSimulator, traj: Trajectories, rows: np.ndarray, consumption: bool, seed: int
) -> dict[str, Any]:
    from ltvrec.simulators.base import SimState

    latent = {k: v[rows] for k, v in sim.replay_latent(traj).items()}
    state = SimState(traj.before[rows], traj.time[rows], latent)
    x = sim.standardizer(traj.before[rows])
    # Popularity baseline: the same model with the user state switched off (x = 0).
    pop = replace(
        sim.choice, wq=np.zeros_like(sim.choice.wq), w_no_click=np.zeros_like(sim.choice.w_no_click)
    )
    pop_sim = _with_choice(sim, pop)
    pop_sim.residual = None  # no personalisation of any kind
    out: dict[str, Any] = {}
    if consumption:
        rng = np.random.default_rng(seed)
        item = traj.clicked_item[rows]
        neg = rng.integers(0, sim.n_items, (len(rows), 100))
        cand = np.concatenate([item[:, None], neg], axis=1)
        for name, s in (("model", sim), ("popularity", pop_sim)):
            u = np.take_along_axis(s.item_click_logits(state), cand, axis=1)
            ll = u[:, 0] - np.logaddexp.reduce(u, axis=1)
            labels = np.zeros(cand.shape, dtype=int)
            labels[:, 0] = 1
            out[name] = {
                "loglik_per_request_vs_100_negatives": float(ll.mean()),
                "auc_consumed_vs_negatives": _auc(u.ravel(), labels.ravel()),
            }
        del x
        return out
    slates = traj.slates[rows]
    shown = slates >= 0
    if not sim.allow_repeats:  # consumed items are out of the choice set, as in the simulator
        clicked = np.arange(slates.shape[1])[None, :] == traj.clicked_position[rows, None]
        shown = shown & ~(traj.consumed_in_slate()[rows] & ~clicked)
    safe = np.maximum(slates, 0)
    target = traj.clicked_position[rows] + 1
    for name, s in (("model", sim), ("popularity", pop_sim)):
        logits = s.choice_logits(state, safe)
        logits[:, 1:][~shown] = -np.inf
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        ll = logp[np.arange(len(rows)), target]
        p_item = np.exp(logp[:, 1:])[shown]
        y_item = (np.arange(slates.shape[1])[None, :] == (target - 1)[:, None])[shown].astype(int)
        out[name] = {
            "loglik_per_request": float(ll.mean()),
            "auc_item_click": _auc(p_item, y_item),
            "calibration": _reliability(p_item, y_item),
        }
    return out


# Thresholds of the report's warnings (documented in docs/simulators.md).
MIN_USERS = 500
"""Fewer users than this in the fit: every component rests on few people."""
MIN_SESSION_ENDS = 1000
"""Fewer session ends than this: the leave and return models rest on few events."""
MAX_ECE = 0.02
"""Held-out expected calibration error above this: the component's probabilities are off."""
MAX_OUTSIDE = 0.05
"""A larger share of simulated inputs outside the training states' range: extrapolation."""
MAX_DISTANCE = 0.2
"""Session-length KS or return-gap Kaplan-Meier distance above this: the simulated users'
sessions or returns do not look like the held-out ones."""


def _leave_calibration(
    sim: FittedSimulator, traj: Trajectories, rows: np.ndarray
) -> dict[str, Any]:
    """Reliability of the leave model on held-out requests (did the session end here?)."""
    from ltvrec.simulators.base import SimState

    state = SimState(traj.after[rows], traj.time[rows], {})
    p = sim.leave_prob(state)
    return _reliability(np.asarray(p, np.float64), traj.session_end[rows].astype(np.float64))


def fidelity_warnings(report: dict[str, Any]) -> list[str]:
    """What a reader of ``report`` must not miss: thin data, poor held-out calibration,
    simulated users far from the held-out ones, extrapolation."""
    out: list[str] = []
    fit = report.get("fit", {})
    if fit.get("users", MIN_USERS) < MIN_USERS:
        out.append(
            f"fitted on {fit['users']:,} users (< {MIN_USERS}): every component model rests "
            "on few people; read simulated values as rough"
        )
    if fit.get("sessions", MIN_SESSION_ENDS) < MIN_SESSION_ENDS:
        out.append(
            f"fitted on {fit['sessions']:,} session ends (< {MIN_SESSION_ENDS}): the leave "
            "and return models rest on few events"
        )
    checks = [("choice", report["choice"]["model"].get("calibration", {}).get("ece"))]
    checks.append(("leave", report.get("leave_calibration", {}).get("ece")))
    for name, ece in checks:
        if ece is not None and ece > MAX_ECE:
            out.append(
                f"the {name} model's held-out calibration is poor (ECE {ece:.3f} > {MAX_ECE})"
            )
    ks, km = report["session_length"]["ks"], report["return_gap_days"]["km_cdf_distance"]
    if ks > MAX_DISTANCE:
        out.append(f"simulated session lengths differ from the held-out ones (KS {ks:.3f})")
    sl = report["session_length"]
    ks_c = sl.get("ks_consumptions")
    if ks_c is not None and ks_c > MAX_DISTANCE:
        out.append(
            f"simulated sessions hold {sl['simulated_mean_consumptions']:.1f} consumptions on "
            f"average where the held-out ones hold {sl['held_out_mean']:.1f} (KS {ks_c:.3f}): "
            "every request of this consumption-only log is a consumption, and its leave "
            "model a hazard per consumption (see FitConfig.organic)"
        )
    if np.isfinite(km) and km > MAX_DISTANCE:
        out.append(
            f"simulated returns differ from the held-out ones (Kaplan-Meier distance {km:.3f})"
        )
    outside = report.get("inputs_outside_support")
    if outside is not None and outside > MAX_OUTSIDE:
        out.append(
            f"{outside:.1%} of the simulated inputs lie outside the training states' range "
            f"(> {MAX_OUTSIDE:.0%}): the components extrapolate"
        )
    return out


def policy_fidelity(
    truth: UserSimulator,
    fitted: UserSimulator,
    policies: dict[str, SimPolicy],
    users: int,
    seed: int,
) -> dict[str, Any]:
    """Fidelity where policies go: each policy's long-term value in the truth and in the
    fitted simulator (the same users' seeds in both), the relative error, and the
    Spearman rank correlation of the two orderings. A policy that reads the truth's
    latent state (an oracle) is evaluated in the fitted simulator by the same rule over
    the fitted simulator's own click model: what the simulator thinks of that rule."""
    from scipy.stats import spearmanr

    rows = []
    for name, policy in policies.items():
        true = evaluate(truth, policy, users, seed).value[0]
        fit = evaluate(fitted, policy, users, seed)
        rows.append(
            {
                "policy": name,
                "true": true,
                "fitted": fit.value[0],
                "relative_error": fit.value[0] / true - 1.0 if true else float("nan"),
                "outside_support": fit.outside_support,
            }
        )
    rho = spearmanr([r["true"] for r in rows], [r["fitted"] for r in rows]).statistic
    return {"rows": rows, "spearman": float(rho) if len(rows) > 2 else float("nan")}


def _with_choice(sim: FittedSimulator, choice: Any) -> FittedSimulator:
    clone = copy.copy(sim)
    clone.choice = choice
    return clone


def replay_policy(log: InteractionLog, catalog: ItemCatalog, slate_size: int) -> PlackettLucePolicy:
    """Context-free Plackett-Luce with scores = log frequency at the top position."""
    f = log.frame
    top = f[f["position"] == 0]
    idx = catalog.index_of(top["item_id"])
    counts = np.bincount(idx[idx >= 0], minlength=catalog.n_items).astype(float)
    return PlackettLucePolicy(np.log(counts + 0.5), slate_size, name="replay")


def simulated_sessions(
    sim: FittedSimulator, policy: SimPolicy, n_users: int, seed: int
) -> dict[str, np.ndarray]:
    """Per simulated session: ``requests``, ``clicks`` (consumptions, organic ones
    included), ``index`` (0-based among its user's sessions), and ``gap`` (the days to
    the next session) with ``censored`` (True when there is none: at churn or a return
    past the horizon, censored at the days left to the horizon)."""
    rng = np.random.default_rng(seed)
    counted = ("requests", "clicks", "index")  # in the current session; its index
    out: dict[str, list[np.ndarray]] = {k: [] for k in (*counted, "gap", "censored")}
    count = np.zeros((len(counted), n_users))

    def on_step(idx: np.ndarray, _s: Any, _a: np.ndarray, r: Any) -> None:
        count[0, idx] += 1
        count[1, idx] += (r.clicked_item >= 0) | (r.organic_item >= 0)
        ended = r.session_end
        for k, row in zip(counted, count, strict=True):
            out[k].append(row[idx[ended]].copy())
        count[:2, idx[ended]] = 0
        count[2, idx[ended]] += 1
        done = r.done[ended]
        out["gap"].append(np.where(done, sim.horizon_days - r.time[ended], r.return_gap[ended]))
        out["censored"].append(done)

    run_users(sim, policy, sim.reset(n_users, rng), rng, on_step)
    return {k: np.concatenate(v) for k, v in out.items()}


KIND_LABELS = {"first": "users' first sessions", "later": "their later sessions"}


def _sessions_by_kind(
    sim: np.ndarray, sim_first: np.ndarray, held: np.ndarray, held_first: np.ndarray
) -> dict[str, dict[str, float | None]]:
    """Users' first sessions and their later ones compared apart: the share of each kind,
    its mean length and the KS distance within it (None where a side has none)."""
    out: dict[str, dict[str, float | None]] = {}
    for kind, s_m, h_m in (("first", sim_first, held_first), ("later", ~sim_first, ~held_first)):
        both = s_m.any() and h_m.any()
        out[kind] = {
            "held_out_share": float(h_m.mean()) if len(h_m) else None,
            "simulated_share": float(s_m.mean()) if len(s_m) else None,
            "held_out_mean": float(held[h_m].mean()) if h_m.any() else None,
            "simulated_mean": float(sim[s_m].mean()) if s_m.any() else None,
            "ks": ks_distance(sim[s_m], held[h_m]) if both else None,
        }
    return out


def fidelity_report(
    log: InteractionLog,
    catalog: ItemCatalog,
    item_embeddings: np.ndarray,
    config: FitConfig | None = None,
    test_fraction: float = 0.2,
    policy: SimPolicy | None = None,
    n_sim_users: int = 2000,
    seed: int = 0,
) -> tuple[dict[str, Any], FittedSimulator]:
    """Fit on the first ``1 - test_fraction`` of time, compare with the rest.

    Returns:
        (report dict, the simulator fitted on the training part).
    """
    cfg = config or FitConfig()
    split = time_split(log, valid=0.0, test=test_fraction)
    sim = fit_simulator(split.train, catalog, item_embeddings, cfg)
    consumption = log.consumption_only
    # States for held-out requests need their whole history: replay the full log.
    traj = replay_log(log, catalog, sim.state_encoder)
    t0 = log.frame["timestamp"].min()
    cut = (split.test.frame["timestamp"].min() - t0).total_seconds() / 86400.0
    rows = np.flatnonzero(traj.time >= cut)
    if consumption:
        rows = rows[traj.clicked_item[rows] >= 0]
    choice = _choice_metrics(sim, traj, rows, consumption, seed)
    leave_calibration = _leave_calibration(sim, traj, np.flatnonzero(traj.time >= cut))

    pol = policy or replay_policy(split.train, catalog, sim.slate_size)
    sim.reset_support_counts()
    sessions = simulated_sessions(sim, pol, n_sim_users, seed)
    sim_lengths, sim_clicks = sessions["requests"], sessions["clicks"]
    sim_gaps, sim_censored = sessions["gap"], sessions["censored"]
    outside = sim.outside_share
    test = split.test
    held = session_table(test)
    held_lengths = held["n_requests"].to_numpy()
    # A held-out session is a user's first when it is first in the user's whole log.
    first_ids = session_table(log).query("index == 0")["session_id"]
    held_first = held["session_id"].isin(first_ids).to_numpy()
    g = return_gaps(test)
    t_km, s_km = kaplan_meier(g["gap_seconds"].to_numpy() / 86400.0, g["censored"].to_numpy())
    value = evaluate(sim, pol, min(n_sim_users, 1000), seed).summary()
    tf = test.frame
    per_req = tf.groupby("request_id").agg(click=("click", "max"), reward=("reward", "sum"))
    logged = {
        "clicks_per_request": float(per_req["click"].mean()),
        "reward_per_click": float(per_req["reward"].sum() / max(per_req["click"].sum(), 1)),
        "requests_per_session": float(held_lengths.mean()),
    }
    simulated = {
        "clicks_per_request": value["clicks_per_request"],
        "reward_per_click": value["reward_per_click"],
        "requests_per_session": value["requests_per_session"],
    }
    report = {
        "split": split.how,
        "train_requests": split.train.n_requests,
        "test_requests": test.n_requests,
        "consumption_only": consumption,
        "choice": choice,
        "session_length": {
            "ks": ks_distance(sim_lengths, held_lengths),
            "held_out_mean": float(held_lengths.mean()),
            "simulated_mean": float(sim_lengths.mean()),
            # A consumption-only log's request is a consumption; the simulator's is not.
            **(
                {
                    "ks_consumptions": ks_distance(sim_clicks, held_lengths),
                    "simulated_mean_consumptions": float(sim_clicks.mean()),
                }
                if consumption
                else {}
            ),
            # In the log's unit: consumptions for a consumption-only log, else requests.
            "by_kind": _sessions_by_kind(
                sim_clicks if consumption else sim_lengths,
                sessions["index"] == 0,
                held_lengths,
                held_first,
            ),
        },
        "return_gap_days": {
            "km_cdf_distance": km_distance(sim_gaps, sim_censored, t_km, s_km),
            "held_out_median_km": km_median(t_km, s_km),
            "simulated_median_km": km_median(*kaplan_meier(sim_gaps, sim_censored)),
            "simulated_returned_share": float(1.0 - sim_censored.mean())
            if len(sim_censored)
            else None,
        },
        "policy": {"name": pol.name, "logged": logged, "simulated": simulated},
        "inputs_outside_support": outside,
        "inputs_clipped": sim.clip_inputs,
        "leave_calibration": leave_calibration,
        "assumptions": sim.meta.get("assumptions", []),
        "fit": sim.meta.get("fit", {}),
        "_plot": {
            "sim_lengths": sim_lengths,
            "held_lengths": held_lengths,
            "sim_km": kaplan_meier(sim_gaps, sim_censored),
            "km": (t_km, s_km),
        },
    }
    report["warnings"] = fidelity_warnings(report)
    return report, sim


def _num(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _share(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def write_report(report: dict[str, Any], folder: str | Path, title: str) -> Path:
    """Write ``fidelity.json``, ``fidelity.md`` and PNG plots into ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plot = report["_plot"]
    data = {k: v for k, v in report.items() if k != "_plot"}
    with atomic_path(folder / "fidelity.json") as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")

    cal = report["choice"].get("model", {}).get("calibration")
    fig, axes = plt.subplots(1, 3 if cal else 2, figsize=(15 if cal else 10, 4))
    mx = int(min(max(plot["held_lengths"].max(), plot["sim_lengths"].max()), 60))
    bins = np.arange(1, mx + 2) - 0.5
    axes[0].hist(plot["held_lengths"], bins=bins, density=True, alpha=0.5, label="held-out log")
    axes[0].hist(plot["sim_lengths"], bins=bins, density=True, alpha=0.5, label="simulated")
    axes[0].set(title="requests per session", xlabel="requests")
    axes[0].legend()
    t_km, s_km = plot["km"]
    axes[1].step(t_km, 1 - s_km, where="post", label="held-out (Kaplan-Meier)")
    t_sim, s_sim = plot["sim_km"]
    axes[1].step(t_sim, 1 - s_sim, where="post", label="simulated (Kaplan-Meier)")
    axes[1].set(title="returned within t (every session end)", xlabel="days", xscale="symlog")
    axes[1].legend()
    if cal:
        axes[2].plot([0, 1], [0, 1], "k:", lw=1)
        axes[2].plot(cal["predicted"], cal["observed"], "o-", label="fitted")
        pc = report["choice"]["popularity"]["calibration"]
        axes[2].plot(pc["predicted"], pc["observed"], "s-", label="popularity")
        axes[2].set(title="item click calibration", xlabel="predicted", ylabel="observed")
        axes[2].legend()
    fig.tight_layout()
    fig.savefig(folder / "fidelity.png", dpi=100)
    plt.close(fig)

    lines = [f"# Fidelity report: {title}", "", f"Split: {data['split']}.", ""]
    lines += ["## Warnings", ""]
    lines += [f"- {w}" for w in data.get("warnings", [])] or ["- none"]
    lines += [""]
    lines += ["## Choice (held-out)", "", "| model | metric | value |", "|---|---|---|"]
    for model, metrics in data["choice"].items():
        for k, v in metrics.items():
            if k == "calibration":
                lines.append(f"| {model} | calibration ECE | {v['ece']:.4f} |")
            else:
                lines.append(f"| {model} | {k} | {v:.4f} |")
    if "leave_calibration" in data:
        ece = data["leave_calibration"]["ece"]
        lines += ["", f"Leave model, held-out calibration ECE: {ece:.4f}."]
    sl, rg = data["session_length"], data["return_gap_days"]
    unit = "consumptions" if "ks_consumptions" in sl else "requests"
    pol = data["policy"]
    lines += [
        "",
        "## Sessions and returns",
        "",
        f"Simulated users follow the `{pol['name']}` policy.",
        "",
        f"- session length KS distance: {sl['ks']:.3f} (held-out mean {sl['held_out_mean']:.2f}, "
        f"simulated {sl['simulated_mean']:.2f})",
        *(
            [
                f"- consumptions per session (a consumption-only log's requests are "
                f"consumptions): KS distance {sl['ks_consumptions']:.3f} (held-out mean "
                f"{sl['held_out_mean']:.2f}, simulated {sl['simulated_mean_consumptions']:.2f})"
            ]
            if "ks_consumptions" in sl
            else []
        ),
        *(
            f"- {KIND_LABELS[kind]} ({unit}): held-out {_share(v['held_out_share'])} of the "
            f"sessions, mean {_num(v['held_out_mean'])}; simulated "
            f"{_share(v['simulated_share'])}, mean {_num(v['simulated_mean'])}; KS distance "
            f"{_num(v['ks'], 3)}"
            for kind, v in sl.get("by_kind", {}).items()
        ),
        f"- return gap: largest distance between the held-out and simulated Kaplan-Meier "
        f"curves over every session end, {rg['km_cdf_distance']:.3f} (median days: "
        f"held-out {_num(rg['held_out_median_km'])}, simulated "
        f"{_num(rg['simulated_median_km'])}; simulated session ends followed by a "
        f"return: {_num(rg['simulated_returned_share'])})",
        "- simulated states (before and after each request) outside the training range: "
        + (
            "not known (a simulator saved without its support)"
            if data.get("inputs_outside_support") is None
            else f"{data['inputs_outside_support']:.1%}, "
            + ("clipped to it" if data.get("inputs_clipped") else "not clipped (`clip_inputs` off)")
        ),
        "",
        "## Policy value per request",
        "",
        "Consumption-only logs have one click per request by construction; compare reward "
        "per click there.",
        "",
        "| | logged | simulated |",
        "|---|---|---|",
    ]
    for k in pol["logged"]:
        lines.append(f"| {k} | {pol['logged'][k]:.4f} | {pol['simulated'][k]:.4f} |")
    lines += ["", "## Assumptions", ""]
    lines += [f"- {a}" for a in data["assumptions"]] or ["- none"]
    lines += ["", "![fidelity](fidelity.png)", ""]
    with atomic_path(folder / "fidelity.md") as tmp:
        tmp.write_text("\n".join(lines))
    return folder


def report_for_saved(
    sim_dir: str | Path,
    data: str | Path,
    out: str | Path,
    test_fraction: float = 0.2,
    n_sim_users: int = 2000,
) -> Path:
    """``ltvrec sim report``: the fidelity report of a saved simulator's recipe (its
    fit config and item vectors) on the data set it was fitted on, written to ``out``."""
    from ltvrec.errors import InputError
    from ltvrec.interactions.datasets import load
    from ltvrec.simulators.fitted import fit_config_of, fitted_from_vectors

    sim = FittedSimulator.load(sim_dir)
    ds = load(data)
    if list(sim.item_ids) != list(ds.catalog.item_ids):
        raise InputError(f"{sim_dir} was fitted on other items than {ds.name}'s catalog")
    logger.info(
        f"refitting on the first {1 - test_fraction:.0%} of time and simulating "
        f"{n_sim_users:,} users"
    )
    report, _ = fidelity_report(
        ds.log,
        ds.catalog,
        fitted_from_vectors(sim),
        fit_config_of(sim),
        test_fraction,
        n_sim_users=n_sim_users,
    )
    return write_report(report, out, ds.name)
