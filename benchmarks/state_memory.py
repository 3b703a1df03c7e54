"""Does the state's engagement memory help the leave and return models? Held-out
log-likelihood of both models fitted on the user state with and without the engagement
blocks (encoders/state.py), paired over random user splits: per split, the models are
fitted on 70% of the users and scored on the other 30%, both states on the same split.

    .venv/bin/python benchmarks/state_memory.py --data ml-100k [--splits 5]
    .venv/bin/python benchmarks/state_memory.py --data known-world [--users 3000]

ml-100k's item vectors are the default encoder's (MiniLM through the cache, as the
demo); the known world's are its own title vectors, and its log is its logging
policy's. Prints per split and the paired mean difference with its 95% t-interval
over splits (nats per request for leaving, per session end for returning). In the
known world it also prints how much of the users' latent satisfaction a linear
regression on the observable state explains (held-out R^2), with and without.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import log_and_vectors, paired_line, user_split

from ltvrec.encoders.state import ENGAGEMENT_DECAYS, UserStateEncoder
from ltvrec.interactions import InteractionLog
from ltvrec.interactions.schema import ItemCatalog
from ltvrec.simulators.components import (
    fit_leave_and_return,
    leave_log_likelihood,
    return_log_likelihood,
)
from ltvrec.simulators.replay import replay_log


def held_out(
    train: InteractionLog, test: InteractionLog, catalog: ItemCatalog, emb: np.ndarray,
    decays: tuple[float, ...],
) -> tuple[float, float]:  # fmt: skip
    enc = UserStateEncoder(emb, engagement_decays=decays)
    tr, te = replay_log(train, catalog, enc), replay_log(test, catalog, enc)
    std, leave, ret = fit_leave_and_return(tr)
    xa = std(te.after)
    e = te.session_end
    return (
        leave_log_likelihood(leave, xa, e),
        return_log_likelihood(ret, xa[e], te.gap_days[e], te.censored[e]),
    )


def satisfaction_r2(decays: tuple[float, ...], users: int) -> float:
    """Held-out R^2 of a linear regression of the known world's latent satisfaction on
    the observable state, over the states after each request under the logging policy
    (every tenth-of-ten split: rows 7-9 of each 10 held out)."""
    from sklearn.linear_model import LinearRegression

    from ltvrec.simulators import KnownWorld, KnownWorldConfig, PlackettLucePolicy

    world = KnownWorld(KnownWorldConfig(engagement_decays=decays))
    policy = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    rng = np.random.default_rng(0)
    state = world.reset(users, rng)
    x, y = [], []
    while state.n:
        state, result = world.step(state, policy.act(world, state, rng), rng)
        x.append(state.obs)
        y.append(state.latent["satisfaction"])
        state = state.take(~result.done)
    xs, ys = np.concatenate(x), np.concatenate(y)
    train = np.arange(len(ys)) % 10 < 7
    fit = LinearRegression().fit(xs[train], ys[train])
    return float(fit.score(xs[~train], ys[~train]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k", help="a fetched data set, or known-world")
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--users", type=int, default=3000, help="known world: users logged")
    p.add_argument("--test-share", type=float, default=0.3)
    args = p.parse_args()
    log, catalog, emb = log_and_vectors(args.data, args.users)
    n_users = log.frame["user_id"].nunique()
    print(
        f"{args.data}: {n_users:,} users, {log.n_requests:,} requests; decays "
        f"{ENGAGEMENT_DECAYS} vs none; {args.splits} splits, {args.test_share:.0%} held out"
    )
    results: dict[str, dict[str, list[float]]] = {"leave": {}, "return": {}}
    for split in range(args.splits):
        train, test = user_split(log, split, args.test_share)
        line = [f"split {split}:"]
        for name, decays in (("memory", ENGAGEMENT_DECAYS), ("none", ())):
            leave, ret = held_out(train, test, catalog, emb, decays)
            results["leave"].setdefault(name, []).append(leave)
            results["return"].setdefault(name, []).append(ret)
            line.append(f"{name}: leave {leave:.4f}, return {ret:.4f}")
        print(" ".join(line))
    if args.data == "known-world":
        for name, decays in (("memory", ENGAGEMENT_DECAYS), ("none", ())):
            r2 = satisfaction_r2(decays, args.users)
            print(f"latent satisfaction from the observable state, {name}: R^2 {r2:.3f}")
    for model, unit in (("leave", "nats/request"), ("return", "nats/session")):
        r = results[model]
        print(
            paired_line(f"{model} log-likelihood ({unit}), memory - none", r["memory"], r["none"])
        )


if __name__ == "__main__":
    main()
