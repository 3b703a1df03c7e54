"""Where the fitted simulator's errors come from, in the known world (issue 14).

Per world seed: 3,000 users logged by the logging policy, titles encoded with MiniLM
(PCA 32), and three simulators fitted on the same log whose item vectors are

- ``text``: the title vectors alone (the default);
- ``text+consequence``: plus each item's consequence estimated from the log
  (``FitConfig.item_consequences``, :mod:`ltvrec.simulators.consequence`);
- ``text+TRUE quality``: plus the items' true quality (not buildable from logs: an
  upper bound on what any per-item column can give the fit).

Prints, per simulator and policy, the true value and the fitted simulator's relative
error, split into clicks per request, requests per session and sessions per user
(fitted / true, the same 1,000 users). Then, for the ``text`` fit, two checks of the
choice model on states it did not choose: (1) its predicted click rate against the
truth's on the truth's own trajectories of each policy (1,000 users); (2) at states
the logging policy reaches, the within-user correlation, over all items, of the model's
user-item term ``q(x) . v(e_j)`` with the true topic affinity.

``--set key=value ...`` sets more ``FitConfig`` fields of every fit (e.g.
``choice_history=residual``, the known-world experiments' recipe).

    .venv/bin/python benchmarks/fidelity_sources.py [--seeds 0 1 2] [--set key=value ...]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from _common import minilm_world

from ltvrec.agents.baselines import make_baseline
from ltvrec.config import load_config
from ltvrec.simulators import (
    FitConfig,
    FittedSimulator,
    KnownWorld,
    KnownWorldConfig,
    QualityAwarePolicy,
    evaluate,
    fit_simulator,
    known_world_catalog,
    simulate_log,
)
from ltvrec.simulators.base import SimState, UserSimulator
from ltvrec.simulators.policies import SimPolicy
from ltvrec.simulators.replay import replay_log
from ltvrec.simulators.rollout import run_users

POLICIES = ("random", "logging", "popularity-log", "greedy-model", "quality-aware-oracle")
PARTS = ("clicks_per_request", "requests_per_session", "sessions_per_user")


def policies(
    fitted: FittedSimulator, world: KnownWorld, logging: SimPolicy
) -> dict[str, SimPolicy]:
    out = {
        name: make_baseline(name, model=fitted, world=world, logging=logging, n_items=world.n_items)
        for name in POLICIES
    }
    out["quality-aware (2.0)"] = QualityAwarePolicy(world.items.quality, 2.0)
    return out


def click_calibration(fitted: FittedSimulator, world: KnownWorld, log_of: dict) -> None:
    catalog = known_world_catalog(world.items.titles, world.items.price)
    for name, log in log_of.items():
        traj = replay_log(log, catalog, fitted.state_encoder)
        # The simulator's own choice logits, with the residual interest each logged user's
        # history gives (choice_history='residual'; none otherwise).
        state = SimState(traj.before, traj.time, fitted.replay_latent(traj))
        z = fitted.choice_logits(state, traj.slates)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        print(
            f"  {name:28s} predicted click rate {1 - p[:, 0].mean():.3f}, "
            f"true {(traj.clicked_position >= 0).mean():.3f}"
        )


def affinity_correlation(fitted: FittedSimulator, world: KnownWorld, logging: SimPolicy) -> float:
    c, cfg = fitted.choice, world.config
    model, truth = [], []

    class Recorder:
        name = "logging"

        def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
            if rng.random() < 0.05:  # a sample of the states, not all of them
                x = fitted._x(state)
                model.append((x @ c.wq + c.bq) @ c.item_keys.T)
                aff = cfg.n_topics * state.latent["interest"] @ world.items.topics.T
                truth.append(cfg.interest_weight * aff)
            return logging.act(sim, state, rng)

    rng = np.random.default_rng(5)
    run_users(world, Recorder(), world.reset(1000, rng), rng)
    m, t = np.concatenate(model), np.concatenate(truth)
    m, t = m - m.mean(axis=1, keepdims=True), t - t.mean(axis=1, keepdims=True)
    return float(np.corrcoef(m.ravel(), t.ravel())[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--set", nargs="+", default=[], help="FitConfig fields: key=value")
    args = parser.parse_args()
    # The truth's own observations carry the same engagement memory as the fits' states,
    # so that the policies built on a fit can act in it.
    decays = load_config(FitConfig, overrides=args.set).engagement_decays
    base = KnownWorldConfig(engagement_decays=decays)
    for seed in args.seeds:
        lw = minilm_world(base, seed)
        cfg, world, logging, catalog = lw.config, lw.world, lw.logging, lw.catalog
        log, emb = lw.log, lw.vectors
        fit = load_config(
            FitConfig, overrides=[f"horizon_days={cfg.horizon_days}", f"seed={seed}", *args.set]
        )
        quality = world.items.quality
        true_column = (quality - quality.mean()) / quality.std() * np.median(emb.std(axis=0))
        fits = {
            "text": fit_simulator(log, catalog, emb, fit),
            "text+consequence": fit_simulator(
                log, catalog, emb, replace(fit, item_consequences=True)
            ),
            "text+TRUE quality": fit_simulator(
                log, catalog, np.hstack([emb, true_column[:, None].astype(np.float32)]), fit
            ),
        }
        print(f"\nworld seed {seed}")
        for label, fitted in fits.items():
            truth = KnownWorld(cfg, item_embeddings=fitted.item_embeddings)
            print(f" {label}")
            for name, policy in policies(fitted, truth, logging).items():
                t = evaluate(truth, policy, args.users, seed=99).summary()
                f = evaluate(fitted, policy, args.users, seed=99).summary()
                parts = ", ".join(f"{f[k] / t[k] - 1:+.0%}" for k in PARTS)
                error = f["value"] / t["value"] - 1
                print(
                    f"  {name:28s} true {t['value']:6.1f}  fitted {error:+.0%}"
                    f"  (clicks/request, requests/session, sessions/user: {parts})"
                )
        text = fits["text"]
        print(" the text fit's choice model on the truth's own trajectories")
        truth_logs = {
            name: simulate_log(world, policy, args.users, seed=77)
            for name, policy in policies(text, world, logging).items()
        }
        click_calibration(text, world, truth_logs)
        corr = (
            "n/a (the residual interest, not replayed here, carries its personalisation)"
            if text.residual is not None
            else f"{affinity_correlation(text, world, logging):.3f}"
        )
        print(
            " within-user correlation of its user-item term with the true affinity, at "
            f"logging states: {corr}"
        )


if __name__ == "__main__":
    main()
