"""How well does a fitted simulator pick PPO's start? (issue 13's start, issue 14's
fidelity where the policy goes)

Per world seed, as the sim-to-real experiment builds it (``_common.minilm_world``: the
known world with MiniLM titles, 3,000 users logged by its logging policy, a simulator
fitted with ``--set fit.key=value`` fields, ``seed`` set per world): every start
candidate of ``TrainConfig`` (greedy-model, popularity-log, their sum, and with item
consequences ``greedy + r x consequence``, at each scale; sampled Plackett-Luce, as PPO
trains it) evaluated on the same users in the fitted simulator and in the TRUE world.
Prints, per world, the candidate the one-standard-error rule picks in the fitted
simulator and in the truth, with the true value of each.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/start_selection.py --seeds 3 \\
        --set fit.item_consequences=true --set fit.choice_history=residual \\
        [--set fit.clip_inputs=true] [--users 200]
"""

from __future__ import annotations

import argparse
from dataclasses import fields, replace
from typing import Any

import numpy as np
from _common import minilm_world

from ltvrec.agents.prior import BaselineSignals, consequence_prior, signal_arrays
from ltvrec.agents.train_ppo import (
    TrainConfig,
    choose_start,
    obs_statistics,
    start_candidates,
    start_policy_of,
)
from ltvrec.simulators import FitConfig, KnownWorld, KnownWorldConfig, evaluate, fit_simulator
from ltvrec.simulators.ensemble import fit_ensemble


def _typed(cls: Any, key: str, value: str) -> Any:
    kind = {f.name: f.type for f in fields(cls)}[key]
    if "bool" in str(kind):
        return value.lower() in ("1", "true", "yes")
    for t in (int, float):
        if t.__name__ in str(kind):
            return t(value)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--users", type=int, default=200, help="users per candidate")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument(
        "--members", type=int, default=0, help="also each candidate's value in an ensemble"
    )
    args = parser.parse_args()
    fit, world_cfg = FitConfig(), KnownWorldConfig()
    for item in args.overrides:
        key, _, value = item.partition("=")
        if key.startswith("fit."):
            fit = replace(fit, **{key[4:]: _typed(FitConfig, key[4:], value)})
        elif key.startswith("world."):
            world_cfg = replace(world_cfg, **{key[6:]: _typed(KnownWorldConfig, key[6:], value)})
        else:
            raise SystemExit(f"--set {item}: fit.KEY=VALUE or world.KEY=VALUE")
    cfg = replace(TrainConfig(), start_users=args.users)
    for seed in args.seeds:
        lw = minilm_world(world_cfg, seed)
        recipe = replace(fit, horizon_days=world_cfg.horizon_days, seed=seed)
        fitted = fit_simulator(lw.log, lw.catalog, lw.vectors, recipe)
        truth = KnownWorld(lw.config, item_embeddings=fitted.item_embeddings)
        _, _, probe = obs_statistics(fitted, seed=seed)
        signals = BaselineSignals(signal_arrays(fitted, probe))
        prior = consequence_prior(fitted)
        run = replace(cfg, seed=seed)
        picked = {
            where: choose_start(sim, signals, run, prior)[0]
            for where, sim in (("fitted", fitted), ("truth", truth))
        }
        outside = fitted.outside_share or 0.0
        print(f"\nworld seed {seed} (choosing: {outside:.1%} of fitted states outside)")
        members = (
            fit_ensemble(lw.log, lw.catalog, lw.vectors, recipe, args.members, seed)
            if args.members
            else []
        )
        extra = " members: min / mean / max |" if members else ""
        print(f"| start (w_g, w_p, w_c) | fitted | truth | fitted error | picked |{extra}")
        print("|---|---|---|---|---|" + ("---|" if members else ""))
        for w in start_candidates(run, consequence=prior is not None):
            policy = start_policy_of(signals, w, prior, run)
            f = evaluate(fitted, policy, args.users, seed=20_000 + seed).value[0]
            t = evaluate(truth, policy, args.users, seed=20_000 + seed).value[0]
            mark = " + ".join(k for k, v in picked.items() if v == w)
            cells = ""
            if members:
                v = [evaluate(m, policy, args.users, seed=20_000 + seed).value[0] for m in members]
                cells = f" {min(v):.1f} / {np.mean(v):.1f} / {max(v):.1f} |"
            print(f"| {w} | {f:.1f} | {t:.1f} | {f / t - 1:+.0%} | {mark} |{cells}", flush=True)


if __name__ == "__main__":
    main()
