"""A consumption-only log's session clock: what the simulator does after a request the
user takes nothing from the slate (``FitConfig.organic``, ``no_click_leave``), and which
state blocks the leave and return models read (``leave_ignore``, ``return_ignore``),
against the held-out part of the log.

In a consumption-only log (MovieLens) every logged request is a consumption, so the leave
model is fitted as a hazard per consumption; the simulator also simulates requests
without one (the assumed click rate), and by default applies the same hazard after them.
``organic`` makes every simulated request a consumption too (what is not taken from the
slate is found elsewhere); ``no_click_leave=0`` lets only consumptions end sessions.
Per arm, the time-split fidelity report (replay policy: the first 80% of time fitted,
the rest held out): session length in requests and in consumptions (KS against the
held-out sessions, whose requests are consumptions), the return-gap Kaplan-Meier
distance, the held-out choice log-likelihood; then the value of the log-buildable
baselines in that simulator (``--users`` each, the same users).

    cd benchmarks && ../.venv/bin/python consumption_clock.py [--data ml-100k] [--users 300]
        [--arms NAME ...]
"""

from __future__ import annotations

import argparse

from _common import log_and_vectors

from ltvrec.agents.baselines import make_baseline
from ltvrec.simulators.fidelity import fidelity_report, replay_policy
from ltvrec.simulators.fitted import FitConfig
from ltvrec.simulators.rollout import evaluate

COUNTERS = ("session_requests", "session_mean_reward")
"""Blocks that, in a consumption-only log, only restate the consumptions (requests) or
mean reward per consumption, and in a simulation count requests without one."""

ARMS = {
    "default (leave after every request)": FitConfig(),
    "organic (every request a consumption)": FitConfig(organic=True),
    "organic, return ignores sessions and interest_mass": FitConfig(
        organic=True, return_ignore=("sessions", "interest_mass")
    ),
    "organic, mlp leave model": FitConfig(organic=True, leave_model="mlp"),
    "organic, 8-bin return hazard": FitConfig(organic=True, return_bins=8),
    "organic, mlp leave model, 8-bin return hazard": FitConfig(
        organic=True, leave_model="mlp", return_bins=8
    ),
    "organic, 8-bin return hazard, 12 duration bins": FitConfig(
        organic=True, return_bins=8, leave_duration_bins=12
    ),
    "organic, mlp leave model, 8-bin return hazard, 12 duration bins": FitConfig(
        organic=True, leave_model="mlp", return_bins=8, leave_duration_bins=12
    ),
    "organic, 12 duration bins": FitConfig(organic=True, leave_duration_bins=12),
    "12 duration bins (leave after every request)": FitConfig(leave_duration_bins=12),
    "no_click_leave=0": FitConfig(no_click_leave=0.0),
    "no_click_leave=0, leave and return ignore the counters": FitConfig(
        no_click_leave=0.0, leave_ignore=COUNTERS, return_ignore=COUNTERS
    ),
    "leave and return ignore the counters": FitConfig(
        leave_ignore=COUNTERS, return_ignore=COUNTERS
    ),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k", help="a fetched consumption-only data set")
    p.add_argument("--users", type=int, default=300, help="simulated users per policy value")
    p.add_argument("--arms", nargs="+", default=list(ARMS), help="arm names (default: all)")
    args = p.parse_args()
    log, catalog, emb = log_and_vectors(args.data)
    if not log.consumption_only:
        raise SystemExit(f"{args.data} records impressions; this is for consumption-only logs")
    print(
        "| arm | session KS (requests) | session KS (consumptions) | consumptions per session "
        "(held-out) | return-gap KM distance | choice log-lik | "
        + " | ".join(("random", "replay", "popularity-log", "greedy-model"))
        + " |",
        flush=True,
    )
    for name in args.arms:
        cfg = ARMS[name]
        rep, sim = fidelity_report(log, catalog, emb, cfg)
        sl, rg = rep["session_length"], rep["return_gap_days"]
        ll = rep["choice"]["model"]["loglik_per_request_vs_100_negatives"]
        policies = {
            "random": make_baseline("random", n_items=sim.n_items),
            "replay": replay_policy(log, catalog, sim.slate_size),
            "popularity-log": make_baseline("popularity-log", sim),
            "greedy-model": make_baseline("greedy-model", sim),
        }
        values = [evaluate(sim, pol, args.users, seed=7).value[0] for pol in policies.values()]
        print(
            f"| {name} | {sl['ks']:.3f} | {sl['ks_consumptions']:.3f} | "
            f"{sl['simulated_mean_consumptions']:.1f} ({sl['held_out_mean']:.1f}) | "
            f"{rg['km_cdf_distance']:.3f} | {ll:.3f} | "
            + " | ".join(f"{v:.1f}" for v in values)
            + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
