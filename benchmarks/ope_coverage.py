"""Coverage study on the known world: bias, RMSE and 95%-CI coverage of the trajectory
estimators (trajectory IS, PDIS, weighted PDIS, marginalised IS, FQE, sequential DR,
weighted DR) against the true long-term value, over replicate log sets.

Targets (``--targets``):

- ``near``: the logging Plackett-Luce with its scores perturbed by ``eps * N(0, 1)``
  (small eps: near the logging policy; true values all within ~0.2 of each other);
- ``far``: policies of genuinely different value, built once before the replicates:
  ``greedy-model`` (deterministic, from a simulator fitted on a separate log of 3,000
  users), ``ppo (sampled)`` (a policy trained with ``ltvrec train``, ``--ppo DIR``), and
  ``quality-aware (sampled, T)``: Plackett-Luce over the fitted model's expected-reward
  logits plus 2 x the items' true quality, divided by a temperature T in ``--temps``
  (log-buildable given the items' quality; no latent user state).

Truth: Monte Carlo over 20,000 fresh users. Each replicate: a fresh log of ``--users``
users from ``--logging-temp`` x the logging policy's scores' Plackett-Luce, then every
estimator through ``ltvrec.offline.evaluate_policy`` (the code ``ltvrec ope`` runs);
coverage of the normal interval and of the percentile bootstrap (FQE and marginalised
IS: refitted); with ``--members K`` also the model-based estimate (the target simulated
in K simulators fitted on bootstrap resamples of the replicate's users). ``--json``
keeps every replicate's estimates and diagnostics (to apply the report's recommendation
rule afterwards). ``--choice-history`` sets the model-based members' choice model
(``FitConfig.choice_history``); ``--reuse PART.json`` takes the truth, the diagnostics and
every other estimator's rows of the same replicates from an earlier run's part and
computes only the model-based estimate (the replicate logs are the same: seed
``1000 + r``); ``--only-model-based`` computes the truth and the model-based estimate
alone (no recommendation), and ``--members-set key=value ...`` sets more of the members'
``FitConfig`` fields (e.g. ``item_consequences=true shrink_consequences=true``).
``--summarize`` concatenates each estimator's rows over the parts in the order given, so
the parts of a weighting-only run (``--members 0``) and of an ``--only-model-based`` run
of the same replicates summarize as one study, recommendation included (give each run's
parts in replicate order; parts whose truth differs are refused). With ``--scale S ...``
it also gives each model-based estimate's coverage had every interval's half-width been
S times as wide around the same point (what a narrower rule, e.g. more members' t
quantile, would buy at the same spread).

    .venv/bin/python benchmarks/ope_coverage.py [--replicates 100] [--users 1000]
    .venv/bin/python benchmarks/ope_coverage.py --targets far --ppo runs/kw-default/seed0/ppo-true \
        --model minilm --members 3 --replicates 50 --json runs/ope-far.json
    .venv/bin/python benchmarks/ope_coverage.py --summarize runs/ope-far.json  # + recommendations
    .venv/bin/python benchmarks/ope_coverage.py --targets far --ppo runs/kw-default/seed0/ppo-true \
        --model minilm --members 3 --choice-history residual --reuse runs/ope-far.json \
        --json runs/ope-far-residual.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltvrec.config import load_config
from ltvrec.offline import evaluate_policy, model_based, replay
from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    PlackettLucePolicy,
    evaluate,
    fit_simulator,
    simulate_log,
)
from ltvrec.simulators.ensemble import fit_ensemble
from ltvrec.simulators.fitted import FittedSimulator
from ltvrec.simulators.logs import known_world_catalog
from ltvrec.simulators.policies import ScoredPolicy


@dataclass(frozen=True)
class SampledQualityAware(ScoredPolicy):
    """Plackett-Luce over ``(fitted expected-reward logits + weight x quality) / temp``."""

    model: FittedSimulator
    quality: np.ndarray
    weight: float
    temp: float
    name: str = "quality-aware (sampled)"
    deterministic: bool = False

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        return (self.model.expected_reward_logits(obs) + self.weight * self.quality) / self.temp


def far_targets(world: KnownWorld, ppo: str | None, temps: list[float]) -> dict[str, ScoredPolicy]:
    from ltvrec.agents.baselines import ModelGreedyPolicy
    from ltvrec.agents.policies import PPOPolicy, load_policy

    catalog = known_world_catalog(world.items.titles, world.items.price)
    logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    log = simulate_log(world, logging, 3000, seed=99)
    cfg = FitConfig(horizon_days=world.config.horizon_days, seed=0)
    fitted = fit_simulator(log, catalog, world.item_embeddings, cfg)
    out: dict[str, ScoredPolicy] = {"greedy-model": ModelGreedyPolicy(fitted)}
    if ppo:
        out["ppo (sampled)"] = PPOPolicy(load_policy(ppo)[0], deterministic=False, name="ppo")
    for t in temps:
        name = f"quality-aware (sampled, T={t})"
        out[name] = SampledQualityAware(fitted, world.items.quality, 2.0, t, name=name)
    return out


def summarize(paths: list[str], scales: list[float] | None = None) -> str:
    """The tables of one study from its ``--json`` parts (replicates concatenated in the
    order given), with the report's recommendation rule applied to every replicate, and
    with ``scales`` the model-based coverage at scaled half-widths."""
    from ltvrec.ope_report import recommend

    parts = [json.loads(Path(p).read_text()) for p in paths]
    truth = parts[0]["truth"]
    users = parts[0]["args"]["users"]
    for path, part in zip(paths[1:], parts[1:], strict=True):
        if part["truth"] != truth or part["args"]["users"] != users:
            raise SystemExit(f"{path}: another study (its truth or log size differ)")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    diagnostics: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for key, rows in part["rows"].items():
            target, est = key.split("|")
            results.setdefault((target, est), []).extend(rows)
        for target, rows in part["diagnostics"].items():
            diagnostics.setdefault(target, []).extend(rows)
    guesses = guess_table(truth, results)
    if scales:
        members = int(parts[0]["args"]["members"])
        scaled = scaled_coverage(truth, results, scales, members)
        guesses = "\n\n".join(t for t in (guesses, scaled) if t)
    if not diagnostics:  # an --only-model-based study: no recommendation to apply
        return table(truth, results) + ("\n\n" + guesses if guesses else "")
    lines = [table(truth, results), "", "| target | recommended (share of replicates) | "
             "coverage of the recommended estimate | no answer |", "|---|---|---|---|"]  # fmt: skip
    for target, diags in diagnostics.items():
        picks: dict[str, int] = {}
        hits = none = 0
        for i, diag in enumerate(diags):
            estimates = {e: rows[i] for (t, e), rows in results.items() if t == target}
            rec = recommend({"estimates": estimates, **diag}, users)["estimator"]
            picks[str(rec)] = picks.get(str(rec), 0) + 1
            if rec is None:
                none += 1
            else:
                lo, hi = estimates[rec]["ci"]
                hits += lo <= truth[target] <= hi
        share = ", ".join(f"{k} {v / len(diags):.0%}" for k, v in sorted(picks.items()))
        lines.append(f"| {target} | {share} | {hits / len(diags):.2f} | {none / len(diags):.0%} |")
    if guesses:
        lines += ["", guesses]
    return f"{sum(len(v) for v in diagnostics.values()) // len(diagnostics)} replicates\n" + (
        "\n".join(lines)
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=100)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--targets", choices=["near", "far"], default="near")
    p.add_argument("--eps", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    p.add_argument("--ppo", type=str, default=None, help="a trained policy (far targets)")
    p.add_argument("--temps", type=float, nargs="+", default=[1.0, 0.5])
    p.add_argument("--logging-temp", type=float, default=1.0,
                   help="the logging policy's temperature (> 1: more exploratory)")  # fmt: skip
    p.add_argument("--model", type=str, default=None,
                   help="encode titles with this text model (e.g. minilm, as `ltvrec "
                   "experiment` does; needed for a policy trained there)")  # fmt: skip
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--members", type=int, default=0,
                   help="also the model-based estimate from this many simulators fitted on "
                   "bootstrap resamples of each replicate's users (0: skip)")  # fmt: skip
    p.add_argument("--choice-history", type=str, default="consumed",
                   help="the model-based members' FitConfig.choice_history")  # fmt: skip
    p.add_argument("--members-set", type=str, nargs="+", default=[],
                   help="more FitConfig fields of the members: key=value ...")  # fmt: skip
    p.add_argument("--only-model-based", action="store_true",
                   help="compute only the truth and the model-based estimate")  # fmt: skip
    p.add_argument("--reuse", type=str, default=None,
                   help="an earlier --json part of the same replicates: take its truth, "
                   "diagnostics and estimates, recompute only the model-based one")  # fmt: skip
    p.add_argument("--truth-users", type=int, default=20_000)
    p.add_argument("--start", type=int, default=0, help="first replicate (to run in parts)")
    p.add_argument("--json", type=str, default=None, help="also write every replicate here")
    p.add_argument("--summarize", type=str, nargs="+", default=None,
                   help="only print the tables of these --json parts (one study)")  # fmt: skip
    p.add_argument("--scale", type=float, nargs="+", default=None,
                   help="with --summarize: model-based coverage at these multiples of each "
                   "interval's half-width")  # fmt: skip
    args = p.parse_args()
    if args.scale and (not args.summarize or min(args.scale) <= 0):
        raise SystemExit("--scale takes positive multiples, and only with --summarize")
    if args.summarize:
        print(summarize(args.summarize, args.scale))
        return
    world = KnownWorld()
    if args.model:
        from ltvrec.experiment import encode_titles

        emb = encode_titles(world.items.titles, args.model, world.config.embedding_dim)
        world = KnownWorld(world.config, item_embeddings=emb)
    scores = world.logging_scores()
    catalog = known_world_catalog(world.items.titles, world.items.price)
    logging = PlackettLucePolicy(scores / args.logging_temp, world.slate_size)
    targets: dict[str, ScoredPolicy]
    if args.targets == "near":
        noise = np.random.default_rng(1).standard_normal(len(scores))
        targets = {
            f"eps = {eps}": PlackettLucePolicy(scores + eps * noise, world.slate_size)
            for eps in args.eps
        }
    else:
        targets = far_targets(world, args.ppo, args.temps)
    reused = reused_part(args) if args.reuse else None
    if reused is not None:
        truth = {k: reused["truth"][k] for k in targets}
    else:
        truth = {k: true_value(world, t, args.truth_users) for k, t in targets.items()}
    print("truth:", {k: round(v, 2) for k, v in truth.items()}, flush=True)
    masks = any(getattr(t, "masks_consumed", False) for t in targets.values())
    # (target, estimator) -> per-replicate rows
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    diagnostics: dict[str, list[dict[str, object]]] = {}
    start = time.perf_counter()
    for r in range(args.start, args.start + args.replicates):
        log = simulate_log(world, logging, args.users, seed=1000 + r)
        members = []
        if args.members:
            fit = load_config(
                FitConfig,
                overrides=[
                    f"horizon_days={world.config.horizon_days}",
                    f"seed={r}",
                    f"choice_history={args.choice_history}",
                    *args.members_set,
                ],
            )
            members = fit_ensemble(log, catalog, world.item_embeddings, fit, args.members, r)
        for key, target in targets.items():
            if args.only_model_based:
                rows = {}
            elif reused is not None:
                i = r - reused["args"]["start"]
                diagnostics.setdefault(key, []).append(reused["diagnostics"][key][i])
                rows = {e: v[i] for (t, e), v in reused["results"].items() if t == key}
            else:
                req = replay(log, catalog, world.state_encoder, consumed=masks)
                res = evaluate_policy(
                    key, target, world, req, samples=2, n_bootstrap=args.bootstrap, seed=r
                )
                diagnostics.setdefault(key, []).append(
                    {"zero_support": res.zero_support, "fqe_quality": res.fqe_quality}
                )
                rows = {est: estimate_row(e) for est, e in res.estimates.items()}
            if members:
                # The targets read the world's states (members with item consequences
                # show wider ones).
                layout = world.state_encoder.layout
                est = model_based(target, members, args.users, seed=r, layout=layout)
                rows["model-based"] = estimate_row(est)
            for est, row in rows.items():
                results.setdefault((key, est), []).append(row)
        seconds = time.perf_counter() - start
        print(f"replicate {r + 1 - args.start}/{args.replicates} ({seconds:.0f} s)", flush=True)
        if args.json:  # after every replicate: a stopped run keeps what it measured
            raw = {f"{t}|{e}": rows for (t, e), rows in results.items()}
            body = {"truth": truth, "rows": raw, "diagnostics": diagnostics, "args": vars(args)}
            tmp = Path(args.json + ".tmp")
            tmp.write_text(json.dumps(body))
            tmp.replace(args.json)
    print(f"\n{args.replicates} replicate logs of {args.users} users; truth from "
          f"{args.truth_users:,} users")  # fmt: skip
    print(table(truth, results))


def true_value(world: KnownWorld, target: ScoredPolicy, users: int) -> float:
    return float(evaluate(world, target, users, seed=7).value[0])


def estimate_row(e: Any) -> dict[str, Any]:
    row = {"value": e.value, "ci": list(e.ci), "normal_ci": list(e.normal_ci), "ess": e.ess,
           "n": e.n}  # fmt: skip
    sessions = e.params.get("members_sessions_per_user")
    if sessions is not None:  # what the report's guess rule reads, and each member's value
        row["params"] = {
            "members_sessions_per_user": [float(x) for x in sessions],
            "members": [float(x) for x in e.params["members"]],
        }
    return row


def guess_table(truth: dict[str, float], results: dict[tuple[str, str], list[Any]]) -> str:
    """Per target, how often the report would call the model-based value a guess (its
    members' sessions per user too far apart), and the interval's coverage with and
    without that flag."""
    from ltvrec.ope_report import members_disagree

    lines = ["| target | called a guess | coverage, called a guess | coverage, not |",
             "|---|---|---|---|"]  # fmt: skip
    for (target, est), rows in results.items():
        if est != "model-based" or not all("params" in r for r in rows):
            continue
        flag = np.array([members_disagree(r) is not None for r in rows])
        hit = np.array([r["ci"][0] <= truth[target] <= r["ci"][1] for r in rows])
        cov = [f"{hit[m].mean():.2f} ({m.sum()})" if m.any() else "-" for m in (flag, ~flag)]
        lines.append(f"| {target} | {flag.mean():.0%} | {cov[0]} | {cov[1]} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def scaled_coverage(
    truth: dict[str, float],
    results: dict[tuple[str, str], list[Any]],
    scales: list[float],
    members: int,
) -> str:
    """Per target, the model-based estimate's coverage had each interval's half-width
    been ``s`` times as wide around its midpoint, for each ``s`` in ``scales``; and how
    its ``sd`` (half-width over ``t(0.975, members - 1)``) compares with the estimates'
    actual spread around their mean, and how much it varies (coefficient of variation;
    ``members - 1`` degrees of freedom make it 0.52 for 3 members)."""
    from scipy import stats

    t = float(stats.t.ppf(0.975, members - 1))
    head = " | ".join(f"half-width x {s:g}" for s in scales)
    lines = [
        f"| target | {head} | median half-width / RMSE | median sd / actual sd | CV of sd |",
        "|---|" + "---|" * (len(scales) + 3),
    ]
    for (target, est), rows in results.items():
        if est != "model-based":
            continue
        lo, hi = (np.array([r["ci"][k] for r in rows]) for k in (0, 1))
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        cov = [np.mean(np.abs(truth[target] - mid) <= s * half) for s in scales]
        value = np.array([r["value"] for r in rows])
        rmse = float(np.sqrt(np.mean((value - truth[target]) ** 2)))
        spread = [
            np.median(half) / rmse,
            np.median(half) / t / value.std(),
            half.std() / half.mean(),
        ]
        lines.append(f"| {target} | " + " | ".join(f"{c:.2f}" for c in [*cov, *spread]) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def reused_part(args: argparse.Namespace) -> dict[str, Any]:
    """The earlier part ``args.reuse``, checked to hold this run's replicates of the same
    study; its rows as ``results`` (the model-based ones dropped: they are recomputed)."""
    part = json.loads(Path(args.reuse).read_text())
    old = part["args"]
    same = ("targets", "users", "logging_temp", "model", "ppo", "temps", "eps")
    differ = [k for k in same if old.get(k) != getattr(args, k)]
    if differ:
        raise SystemExit(f"--reuse {args.reuse}: another study ({', '.join(differ)} differ)")
    first, last = old["start"], old["start"] + old["replicates"]
    if not first <= args.start <= args.start + args.replicates <= last:
        raise SystemExit(
            f"--reuse {args.reuse} holds replicates {old['start']}..."
            f"{old['start'] + old['replicates'] - 1}, not {args.start}..."
            f"{args.start + args.replicates - 1}"
        )
    results = {}
    for key, rows in part["rows"].items():
        target, est = key.split("|")
        if est != "model-based":
            results[(target, est)] = rows
    return {**part, "results": results}


def table(truth: dict[str, float], results: dict[tuple[str, str], list[dict[str, Any]]]) -> str:
    cols = ["target", "truth", "estimator", "bias", "relative error", "RMSE"]
    cols += ["coverage (normal)", "coverage (bootstrap)", "median ESS"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for (key, est), rows in results.items():
        t = truth[key]
        v = np.array([x["value"] for x in rows])
        cn = np.mean([x["normal_ci"][0] <= t <= x["normal_ci"][1] for x in rows])
        cb = np.mean([x["ci"][0] <= t <= x["ci"][1] for x in rows])
        ess = np.median([x["ess"] for x in rows])
        rmse = float(np.sqrt(np.mean((v - t) ** 2)))
        bias = v.mean() - t
        lines.append(
            f"| {key} | {t:.2f} | {est} | {bias:+.2f} | {bias / t:+.1%} | {rmse:.2f} | {cn:.2f} "
            f"| {cb:.2f} | {ess:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
