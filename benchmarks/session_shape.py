"""The shape of a consumption-only log's sessions, fitted on, held out and simulated, split into
users' first sessions and later ones: how many of each, their consumptions (mean,
quantiles, share of one-consumption sessions) and the KS distance within each kind.

The time-split fidelity report's setting: each recipe fitted on the first 80% of time,
the held-out sessions the rest (each labelled by its index in the user's whole log), the
simulated ones 2,000 fresh users under the replay policy (seed 0, as the report).

    cd benchmarks && ../.venv/bin/python session_shape.py \\
        --recipe organic=true return_bins=8 --recipe organic=true return_bins=8 \\
        leave_duration_bins=12

docs/simulators.md ("How long a session has lasted") quotes its output.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import log_and_vectors

from ltvrec.config import load_config
from ltvrec.interactions.sessions import session_table
from ltvrec.interactions.splits import time_split
from ltvrec.simulators.fidelity import ks_distance, replay_policy, simulated_sessions
from ltvrec.simulators.fitted import FitConfig, fit_simulator

QUANTILES = (0.1, 0.5, 0.9)


def describe(lengths: np.ndarray) -> str:
    q = " / ".join(f"{v:g}" for v in np.quantile(lengths, QUANTILES))
    return (
        f"mean {lengths.mean():.1f}, q10 / median / q90 {q}, one only {(lengths == 1).mean():.0%}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k", help="a fetched consumption-only data set")
    p.add_argument("--users", type=int, default=2000, help="simulated users per recipe")
    p.add_argument(
        "--recipe", nargs="*", action="append", default=None, help="fit settings key=value"
    )
    args = p.parse_args()
    log, catalog, emb = log_and_vectors(args.data)
    split = time_split(log, valid=0.0, test=0.2)
    whole = session_table(log)
    held = whole[whole["session_id"].isin(set(session_table(split.test)["session_id"]))]
    h_len, h_first = held["n_requests"].to_numpy(), held["index"].to_numpy() == 0
    train = session_table(split.train)
    t_len, t_first = train["n_requests"].to_numpy(), train["index"].to_numpy() == 0
    for name, lengths, first in (("training", t_len, t_first), ("held-out", h_len, h_first)):
        print(f"{name} sessions: {len(lengths)}, first sessions {first.mean():.0%}")
        for label, m in (("first", first), ("later", ~first)):
            print(f"  {name}, {label}: {m.sum()} sessions, {describe(lengths[m])}")
    for recipe in args.recipe or [[]]:
        sim = fit_simulator(split.train, catalog, emb, load_config(FitConfig, overrides=recipe))
        s = simulated_sessions(
            sim, replay_policy(split.train, catalog, sim.slate_size), args.users, 0
        )
        first = s["index"] == 0
        name = " ".join(recipe) or "defaults"
        print(
            f"{name}: {len(first)} simulated sessions, first {first.mean():.0%}; KS "
            f"(consumptions) {ks_distance(s['clicks'], h_len):.3f}"
        )
        for label, m, hm in (("first", first, h_first), ("later", ~first, ~h_first)):
            ks = ks_distance(s["clicks"][m], h_len[hm])
            print(f"  simulated, {label}: {describe(s['clicks'][m])}; KS {ks:.3f}")


if __name__ == "__main__":
    main()
