"""Do item consequences (:mod:`ltvrec.simulators.consequence`) describe held-out users'
leaving and returning better? Per random user split, a simulator is fitted on 70% of
the users with and without ``item_consequences`` (``--in-sample``: the consequence
column estimated on every training user and used as is, the first version; default:
cross-fitted, as ``fit_simulator`` does), and its leave and return models are scored on
the other 30% (an item no training user consumed has consequence 0). Paired over
splits.

    .venv/bin/python benchmarks/consequence_likelihood.py --data ml-100k [--splits 5]
    .venv/bin/python benchmarks/consequence_likelihood.py --data known-world [--users 3000]

Item vectors: ml-100k's are the default encoder's (MiniLM through the cache), the
known world's its own title vectors. Nats per request for leaving, per session end
for returning.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _common import log_and_vectors, paired_line, user_split
from state_memory import held_out

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.simulators import FitConfig, fit_simulator
from ltvrec.simulators.components import (
    Standardizer,
    leave_log_likelihood,
    return_log_likelihood,
)
from ltvrec.simulators.consequence import item_consequences, with_consequences
from ltvrec.simulators.replay import replay_log


def simulator_held_out(
    train: Any, test: Any, catalog: Any, emb: np.ndarray, consequences: bool
) -> tuple[float, float]:
    """The held-out log-likelihood of a fitted simulator's own leave and return models."""
    sim = fit_simulator(train, catalog, emb, FitConfig(item_consequences=consequences))
    te = replay_log(test, catalog, sim.state_encoder)
    xa, e = sim.standardizer(te.after), te.session_end
    return (
        leave_log_likelihood(sim.leave_params, xa, e),
        return_log_likelihood(sim.return_params, xa[e], te.gap_days[e], te.censored[e]),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k", help="a fetched data set, or known-world")
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--users", type=int, default=3000, help="known world: users logged")
    p.add_argument("--test-share", type=float, default=0.3)
    p.add_argument("--in-sample", action="store_true")
    args = p.parse_args()
    log, catalog, emb = log_and_vectors(args.data, args.users)
    results: dict[str, dict[str, list[float]]] = {"leave": {}, "return": {}}
    for split in range(args.splits):
        train, test = user_split(log, split, args.test_share)
        line = [f"split {split}:"]
        for name in ("consequences", "text"):
            if not args.in_sample:
                leave, ret = simulator_held_out(train, test, catalog, emb, name != "text")
            elif name == "text":
                leave, ret = held_out(train, test, catalog, emb, ())
            else:
                traj = replay_log(train, catalog, UserStateEncoder(emb))
                x_after = Standardizer.fit(traj.after)(traj.after)
                c = item_consequences(traj, x_after, catalog.n_items, 0.8, 1.0)
                leave, ret = held_out(train, test, catalog, with_consequences(emb, c), ())
            results["leave"].setdefault(name, []).append(leave)
            results["return"].setdefault(name, []).append(ret)
            line.append(f"{name}: leave {leave:.4f}, return {ret:.4f}")
        print(" ".join(line), flush=True)
    for model, unit in (("leave", "nats/request"), ("return", "nats/session")):
        r = results[model]
        label = f"{model} log-likelihood ({unit}), consequences - text"
        print(paired_line(label, r["consequences"], r["text"]))


if __name__ == "__main__":
    main()
