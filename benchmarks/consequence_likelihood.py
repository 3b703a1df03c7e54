"""Do item consequences (:mod:`ltvrec.simulators.consequence`) describe held-out users'
leaving and returning better? Per random user split, the consequences are estimated
on 70% of the users, the leave and return models are fitted on the same users with and
without the consequence column in the item vectors, and both are scored on the other
30% (an item no training user consumed has consequence 0). Paired over splits.

    .venv/bin/python benchmarks/consequence_likelihood.py --data ml-100k [--splits 5]
    .venv/bin/python benchmarks/consequence_likelihood.py --data known-world [--users 3000]

Item vectors: ml-100k's are the default encoder's (MiniLM through the cache), the
known world's its own title vectors. Nats per request for leaving, per session end
for returning.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import log_and_vectors, paired_line, user_split
from state_memory import held_out

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.simulators.components import Standardizer
from ltvrec.simulators.consequence import item_consequences, with_consequences
from ltvrec.simulators.replay import replay_log


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k", help="a fetched data set, or known-world")
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--users", type=int, default=3000, help="known world: users logged")
    p.add_argument("--test-share", type=float, default=0.3)
    args = p.parse_args()
    log, catalog, emb = log_and_vectors(args.data, args.users)
    results: dict[str, dict[str, list[float]]] = {"leave": {}, "return": {}}
    for split in range(args.splits):
        train, test = user_split(log, split, args.test_share)
        traj = replay_log(train, catalog, UserStateEncoder(emb))
        x_after = Standardizer.fit(traj.after)(traj.after)
        c = item_consequences(traj, x_after, catalog.n_items, 0.8, 1.0)
        line = [f"split {split}:"]
        for name, vectors in (("consequences", with_consequences(emb, c)), ("text", emb)):
            leave, ret = held_out(train, test, catalog, np.asarray(vectors), ())
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
