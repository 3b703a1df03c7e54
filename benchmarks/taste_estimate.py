"""Probe: the choice model reading a taste *estimate* instead of the residual interest.

The residual interest ``g = sum (c - p) e`` (decayed) is the gradient of a logistic taste
model at zero taste. One diagonal Newton step from zero divides it by the evidence,
``g / (lambda + P)`` with ``P = sum p (1 - p) e^2`` (decayed the same way, per
dimension) and ``lambda`` the mean ``P`` of the logged requests, so that many exposures
in one direction do not inflate it. Fitted on the far OPE study's replicate logs
(``benchmarks/far_components.py`` gives the residual model's rows), its far targets are
simulated and compared with the truth, and its clicks on the truth's own requests.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/taste_estimate.py \\
        --ppo runs/kw-default/seed0/ppo-true [--replicates 0 1]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from far_components import far_study

from ltvrec.simulators import FitConfig, evaluate, fit_simulator
from ltvrec.simulators.base import SimState
from ltvrec.simulators.components import ChoiceParams, Standardizer, _fit_choice
from ltvrec.simulators.logs import simulate_log
from ltvrec.simulators.replay import replay_log
from ltvrec.simulators.residual import ResidualInterest, replay_residuals, shown_probabilities


def evidence_step(
    base: ChoiceParams, x: np.ndarray, slates: np.ndarray, clicked: np.ndarray, vecs: np.ndarray
) -> np.ndarray:
    """``[B, 2d]``: one request's ``sum (c - p) e`` and ``sum p (1 - p) e^2``."""
    p = shown_probabilities(base, x, slates)
    c = (np.arange(slates.shape[1])[None, :] == np.asarray(clicked)[:, None]).astype(np.float64)
    shown = slates >= 0
    e = vecs[np.maximum(slates, 0)].astype(np.float64)
    g = np.einsum("bk,bkd->bd", np.where(shown, c - p, 0.0), e)
    info = np.einsum("bk,bkd->bd", np.where(shown, p * (1 - p), 0.0), e * e)
    return np.concatenate([g, info], axis=1)


@dataclass(frozen=True)
class TasteEstimate(ResidualInterest):
    """Latent ``[g, P]`` per user; the user tower reads ``g / (prior + P)``."""

    prior: np.ndarray | None = None

    def initial(self, n: int) -> np.ndarray:
        return np.zeros((n, 2 * len(self.scale)))

    def update(self, residual: np.ndarray, x: np.ndarray, slates: np.ndarray,
               clicked_position: np.ndarray, item_vectors: np.ndarray) -> np.ndarray:  # fmt: skip
        return self.decay * residual + evidence_step(
            self.base, x, slates, clicked_position, item_vectors
        )

    def feature(self, latent: np.ndarray) -> np.ndarray:
        d = len(self.scale)
        return latent[:, :d] / (self.prior + latent[:, d:])

    def query(self, residual: np.ndarray) -> np.ndarray:
        return (self.feature(residual) / self.scale) @ self.weights


def with_taste_estimate(sim: Any, log: Any, catalog: Any, cfg: FitConfig) -> None:
    """Refit ``sim``'s (a residual-interest fit's) choice model on the taste estimate."""
    traj = replay_log(log, catalog, sim.state_encoder)
    xb = sim.standardizer(traj.before)
    layout = sim.state_encoder.layout
    history = np.zeros(layout.size, dtype=bool)
    for name, cols in layout.blocks.items():
        history[cols] = name in ("interest", "last_item")
    base, vecs = sim.residual.base, sim.item_embeddings
    latent = replay_residuals(traj, xb, base, vecs, cfg.residual_decay, evidence_step)
    d = vecs.shape[1]
    prior = latent[:, d:].mean(axis=0)  # the evidence of a typical logged request
    feat = latent[:, :d] / (prior + latent[:, d:])
    fstd = Standardizer.fit(feat)
    choice, info = _fit_choice(traj, xb, vecs, cfg, False, sim.slate_size, history, fstd(feat))
    w = info.pop("extra_wq")
    sim.choice = replace(choice, bq=choice.bq - (fstd.mean / fstd.std) @ w)
    sim.residual = TasteEstimate(base, w, fstd.std, cfg.residual_decay, prior)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ppo", type=str, default=None)
    p.add_argument("--replicates", type=int, nargs="+", default=[0, 1])
    p.add_argument("--eval-users", type=int, default=5000)
    args = p.parse_args()
    world, catalog, logging, targets, truth, requests = far_study(
        args.ppo, "minilm", args.eval_users
    )
    for r in args.replicates:
        log = simulate_log(world, logging, 1000, seed=1000 + r)
        cfg = FitConfig(horizon_days=world.config.horizon_days, seed=r, choice_history="residual")
        sim = fit_simulator(log, catalog, world.item_embeddings, cfg)
        with_taste_estimate(sim, log, catalog, cfg)
        assert sim.residual is not None
        for name, target in targets.items():
            row, t = evaluate(sim, target, args.eval_users, seed=7).summary(), truth[name]
            own = replay_log(requests[name], catalog, sim.state_encoder)
            latent = replay_residuals(
                own, sim.standardizer(own.before), sim.residual.base, sim.item_embeddings,
                cfg.residual_decay, evidence_step,
            )  # fmt: skip
            z = sim.choice_logits(SimState(own.before, own.time, {"residual": latent}), own.slates)
            pz = np.exp(z - z.max(axis=1, keepdims=True))
            predicted = float(1 - (pz[:, 0] / pz.sum(axis=1)).mean())
            cols = ("value", "clicks_per_request", "sessions_per_user")
            rel = {c: f"{row[c] / t[c] - 1:+.0%}" for c in cols}
            clicks = row["clicks_per_request"]
            seen = float((own.clicked_position >= 0).mean())
            print(
                f"log {r}, {name}: value {row['value']:.1f} ({rel['value']}), clicks/request "
                f"{clicks:.3f} ({rel['clicks_per_request']}), sessions/user "
                f"{rel['sessions_per_user']}; clicks on the truth's requests {predicted:.3f} "
                f"(true {seen:.3f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
