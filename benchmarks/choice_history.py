"""What of the user's history should the fitted choice model read? (issue 14)

Per world seed (default known world, MiniLM titles, 3,000 users logged by the logging
policy, item consequences on): three simulators fitted on the same log, one per
``FitConfig.choice_history`` ('consumed', the default; 'none'; 'residual'). For each:

1. the choice model's predicted click rate against the truth's on the truth's own
   trajectories of each policy (400 users; the model scores states it did not choose),
   split at each user's first consumption, and its log-likelihood per request on
   held-out logging users;
2. the fitted simulator's value of each policy against the true value (the same 1,000
   users), with the click rate in both: the log-buildable baselines, the oracles (in the
   fitted simulator the oracles rank by its own click model), and ``greedy+w*consequence``
   (greedy-model's scores, divided by their spread over items, plus ``w`` times the
   items' standardised consequence estimate: a log-buildable way to trade clicks for what
   the log says an item does to the user afterwards).

    .venv/bin/python benchmarks/choice_history.py [--seeds 0 1 2] [--history consumed none residual]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
from _common import minilm_world

from ltvrec.agents.baselines import make_baseline
from ltvrec.agents.prior import consequence_prior
from ltvrec.interactions import InteractionLog, ItemCatalog
from ltvrec.simulators import (
    FitConfig,
    FittedSimulator,
    KnownWorld,
    KnownWorldConfig,
    QualityAwarePolicy,
    evaluate,
    fit_simulator,
    simulate_log,
)
from ltvrec.simulators.base import SimState
from ltvrec.simulators.policies import ScoredPolicy, SimPolicy
from ltvrec.simulators.replay import replay_log

WEIGHTS = (0.5, 1.0, 2.0)


@dataclass(frozen=True, eq=False)
class GreedyPlusConsequence(ScoredPolicy):
    """greedy-model's scores over their spread, plus ``w`` x the standardised
    consequence column of the fitted item vectors."""

    model: FittedSimulator
    weight: float
    name: str = "greedy+w*consequence"
    deterministic: bool = True

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        g = self.model.expected_reward_logits(obs)
        z = consequence_prior(self.model)
        if z is None:
            raise ValueError("greedy + w x consequence needs a fit with item consequences")
        return g / g.std(axis=1, keepdims=True).mean() + self.weight * z[None, :].astype(np.float64)


def click_check(
    fitted: FittedSimulator, log: InteractionLog, catalog: ItemCatalog
) -> tuple[float, float, float, str]:
    """(predicted click rate, true click rate, log-likelihood per request, the same
    rates split by whether the user had consumed anything yet) of the fitted choice
    model on the logged requests of ``log``."""
    traj = replay_log(log, catalog, fitted.state_encoder)
    state = SimState(traj.before, traj.time, fitted.replay_latent(traj))
    z = fitted.choice_logits(state, np.maximum(traj.slates, 0))
    z[:, 1:][traj.slates < 0] = -np.inf
    logp = z - np.logaddexp.reduce(z, axis=1, keepdims=True)
    ll = float(logp[np.arange(traj.n), traj.clicked_position + 1].mean())
    predicted = 1.0 - np.exp(logp[:, 0])
    clicked = traj.clicked_position >= 0
    fresh = traj.before[:, fitted.state_encoder.layout.index("interest_mass")] == 0
    split = ", ".join(
        f"{label} {predicted[m].mean():.3f}/{clicked[m].mean():.3f}"
        for label, m in (("before any consumption", fresh), ("after", ~fresh))
        if m.any()
    )
    return float(predicted.mean()), float(clicked.mean()), ll, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--history", nargs="+", default=["consumed", "none", "residual"])
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    base = KnownWorldConfig()
    for seed in args.seeds:
        lw = minilm_world(base, seed)
        cfg, world, logging, catalog = lw.config, lw.world, lw.logging, lw.catalog
        log, emb = lw.log, lw.vectors
        held_out = simulate_log(world, logging, 500, seed=10_000 + seed)
        for history in args.history:
            fit = FitConfig(
                horizon_days=cfg.horizon_days,
                seed=seed,
                item_consequences=True,
                choice_history=history,
            )
            fitted = fit_simulator(log, catalog, emb, fit)
            truth = KnownWorld(cfg, item_embeddings=fitted.item_embeddings)
            rows: dict[str, SimPolicy] = {
                name: make_baseline(
                    name, model=fitted, world=truth, logging=logging, n_items=world.n_items
                )
                for name in (
                    "random",
                    "logging",
                    "popularity-log",
                    "greedy-model",
                    "greedy-oracle",
                    "quality-aware-oracle",
                )
            }
            rows["quality-aware (2.0)"] = QualityAwarePolicy(world.items.quality, 2.0)
            for w in WEIGHTS:
                rows[f"greedy+{w:g}*consequence"] = GreedyPlusConsequence(fitted, w)
            p, t, ll, _ = click_check(fitted, held_out, catalog)
            print(
                f"\nworld seed {seed}, choice_history={history}: held-out logging users, "
                f"predicted click rate {p:.3f} (true {t:.3f}), log-likelihood {ll:.4f}/request"
            )
            for name, policy in rows.items():
                truth_log = simulate_log(truth, policy, 400, seed=77)
                pc, tc, _, split = click_check(fitted, truth_log, catalog)
                tv = evaluate(truth, policy, args.users, seed=99).summary()
                fv = evaluate(fitted, policy, args.users, seed=99).summary()
                print(
                    f"  {name:26s} true {tv['value']:6.1f} fitted {fv['value']:6.1f} "
                    f"({fv['value'] / tv['value'] - 1:+.0%}); clicks/request true "
                    f"{tv['clicks_per_request']:.2f} fitted {fv['clicks_per_request']:.2f}; "
                    f"on the truth's trajectories predicted {pc:.3f} true {tc:.3f} ({split})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
