"""Where the fitted simulator's value for the far OPE targets goes wrong: each target of
``benchmarks/ope_coverage.py --targets far`` evaluated in simulators fitted on replicate
logs of that study (log seed ``1000 + r``, the whole log, no resampling) and in the true
world, component by component (clicks per request, requests per session, sessions per
user, churn), beside the value.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/far_components.py \\
        --ppo runs/kw-default/seed0/ppo-true [--replicates 0 1 2] [--choice-history residual] \\
        [--choice-ignore session_clicks session_mean_reward] [--clip-residual] \\
        [--frozen-residual] [--consequences]

The last column is the fitted choice model's click rate on the *truth's own* requests
of each target (500 true-world users, replayed with their own residual interest):
where it is right and the simulated click rate is not, the error is in the states the
simulated users reach, not in the model's clicks for a given state.

``--frozen-residual``: each simulated user draws a residual once, from the logged
requests' (each request equally likely), and keeps it: a fixed taste in the residual's
own coordinates, which their clicks no longer move.

``--consequences``: fit with ``FitConfig.item_consequences`` (each item's estimated
effect on the user's later session ends, one more column of the item vectors).

``--clip-residual``: the simulated users' residual interest (over its scale) is clipped,
per dimension, to the range the logged requests' took, before the choice model reads it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
from choice_history import click_check
from ope_coverage import far_targets

from ltvrec.simulators import FitConfig, KnownWorld, PlackettLucePolicy, evaluate, fit_simulator
from ltvrec.simulators.logs import known_world_catalog, simulate_log
from ltvrec.simulators.policies import ScoredPolicy
from ltvrec.simulators.replay import replay_log
from ltvrec.simulators.residual import ResidualInterest


@dataclass(frozen=True)
class ClippedResidual(ResidualInterest):
    """The residual interest read through a per-dimension clip of ``residual / scale``."""

    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def query(self, residual: np.ndarray) -> np.ndarray:
        return np.clip(residual / self.scale, self.low, self.high) @ self.weights


@dataclass(frozen=True)
class FrozenResidual(ResidualInterest):
    """A residual drawn once per simulated user from ``pool`` and never updated."""

    pool: np.ndarray | None = None
    rng: np.random.Generator | None = None

    def initial(self, n: int) -> np.ndarray:
        assert self.pool is not None and self.rng is not None
        return self.pool[self.rng.integers(0, len(self.pool), n)]

    def update(self, residual: np.ndarray, *_: Any) -> np.ndarray:
        return residual


@dataclass(frozen=True)
class TextColumnsOnly(ScoredPolicy):
    """``inner`` reading only the text columns of a state whose item vectors carry one
    more column (a fit with item consequences): the targets were built on the text
    vectors."""

    inner: ScoredPolicy
    keep: np.ndarray

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        return self.inner.deterministic

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        return self.inner.scores(obs[:, self.keep], consumed)


def text_columns(sim: Any) -> np.ndarray:
    """The state columns of ``sim`` that do not read its last item column."""
    d = sim.item_embeddings.shape[1]
    drop = {d - 1, 2 * d - 1}  # the consequence entry of `interest` and `last_item`
    return np.array([i for i in range(sim.state_encoder.size) if i not in drop])


def far_study(ppo: str | None, model: str, eval_users: int) -> tuple[Any, ...]:
    """The far OPE study's world (titles encoded with ``model``), catalog, logging policy
    and targets; each target's true summary over ``eval_users`` users, and 500 true-world
    users' requests under it (for the click check)."""
    from ltvrec.experiment import encode_titles

    world = KnownWorld()
    emb = encode_titles(world.items.titles, model, world.config.embedding_dim)
    world = KnownWorld(world.config, item_embeddings=emb)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    targets = far_targets(world, ppo, [1.0, 0.5])
    truth = {k: evaluate(world, t, eval_users, seed=7).summary() for k, t in targets.items()}
    requests = {k: simulate_log(world, t, 500, seed=5) for k, t in targets.items()}
    return world, catalog, logging, targets, truth, requests


COLUMNS = ("value", "clicks_per_request", "requests_per_session", "sessions_per_user",
           "churn_rate")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ppo", type=str, default=None)
    p.add_argument("--replicates", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--eval-users", type=int, default=5000)
    p.add_argument("--choice-history", type=str, default="residual")
    p.add_argument("--choice-ignore", nargs="+", default=[], help="FitConfig.choice_ignore")
    p.add_argument("--clip-residual", action="store_true")
    p.add_argument("--frozen-residual", action="store_true")
    p.add_argument("--consequences", action="store_true", help="FitConfig.item_consequences")
    p.add_argument("--model", type=str, default="minilm")
    args = p.parse_args()
    world, catalog, logging, targets, truth, requests = far_study(
        args.ppo, args.model, args.eval_users
    )
    print("| target | simulator | " + " | ".join(COLUMNS) + " | clicks on the truth's requests |")
    print("|---|---|" + "---|" * (len(COLUMNS) + 1))
    for name, row in truth.items():
        print(f"| {name} | truth | " + " | ".join(f"{row[c]:.3f}" for c in COLUMNS) + " | - |")
    for r in args.replicates:
        log = simulate_log(world, logging, args.users, seed=1000 + r)
        cfg = FitConfig(
            horizon_days=world.config.horizon_days,
            seed=r,
            choice_history=args.choice_history,
            choice_ignore=tuple(args.choice_ignore),
            item_consequences=args.consequences,
        )
        sim = fit_simulator(log, catalog, world.item_embeddings, cfg)
        if args.clip_residual and sim.residual is not None:
            res = sim.residual
            z = sim.replay_latent(replay_log(log, catalog, sim.state_encoder))["residual"]
            z = z / res.scale
            sim.residual = ClippedResidual(
                res.base, res.weights, res.scale, res.decay, z.min(axis=0), z.max(axis=0)
            )
        if args.frozen_residual and sim.residual is not None:
            res = sim.residual
            pool = sim.replay_latent(replay_log(log, catalog, sim.state_encoder))["residual"]
            rng = np.random.default_rng(r)
            sim.residual = FrozenResidual(res.base, res.weights, res.scale, res.decay, pool, rng)
        for name, target in targets.items():
            if args.consequences:
                target = TextColumnsOnly(target, text_columns(sim))
            row = evaluate(sim, target, args.eval_users, seed=7).summary()
            t = truth[name]
            cells = " | ".join(f"{row[c]:.3f} ({row[c] / t[c] - 1:+.0%})" for c in COLUMNS)
            pred, seen, _, _ = click_check(sim, requests[name], catalog)
            print(f"| {name} | log {r} | {cells} | {pred:.3f} (true {seen:.3f}) |", flush=True)


if __name__ == "__main__":
    main()
