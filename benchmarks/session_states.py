"""What a consumption-only log's leave model reads at a user's first session end, logged
and simulated (default clock, replay policy): the session counters and the mean reward
per request, and the training log's consumptions per session by the session's index.

    cd benchmarks && ../.venv/bin/python session_states.py [--data ml-100k]

docs/simulators.md ("A consumption-only log's session clock") quotes its output.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import log_and_vectors

from ltvrec.interactions.sessions import session_table
from ltvrec.interactions.splits import time_split
from ltvrec.simulators.base import SimState
from ltvrec.simulators.fidelity import replay_policy
from ltvrec.simulators.fitted import FitConfig, fit_simulator
from ltvrec.simulators.replay import replay_log
from ltvrec.simulators.rollout import run_users

BLOCKS = ("session_requests", "session_clicks", "session_mean_reward")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k")
    p.add_argument("--users", type=int, default=2000, help="simulated users")
    args = p.parse_args()
    log, catalog, emb = log_and_vectors(args.data)
    train = time_split(log, valid=0.0, test=0.2).train
    s = session_table(train)
    by_index = (("1st", s["index"] == 0), ("2nd", s["index"] == 1), ("6th+", s["index"] >= 5))
    for label, m in by_index:
        mean = s["n_requests"][m].mean()
        print(f"training log, {label} sessions: {m.sum()}, mean requests {mean:.1f}")
    sim = fit_simulator(train, catalog, emb, FitConfig())
    layout = sim.state_encoder.layout
    cols = [layout.index(b) for b in BLOCKS]
    traj = replay_log(train, catalog, sim.state_encoder)
    end = traj.session_end & (traj.after[:, layout.index("sessions")] == 1)
    logged = traj.after[end][:, cols].mean(axis=0)
    # Simulated: each first-session state after a request, weighted by its leave probability
    # (the expected state at the first session's end).
    sums, weight = np.zeros(len(cols)), 0.0
    leave = sim.leave_prob

    def weighted(state: SimState) -> np.ndarray:
        nonlocal sums, weight
        p_leave = leave(state)
        first = state.obs[:, layout.index("sessions")] == 1
        sums += (p_leave[first, None] * state.obs[first][:, cols]).sum(axis=0)
        weight += float(p_leave[first].sum())
        return p_leave

    sim.leave_prob = weighted  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    run_users(sim, replay_policy(train, catalog, sim.slate_size), sim.reset(args.users, rng), rng)
    for name, a, b in zip(BLOCKS, logged, sums / weight, strict=True):
        print(f"first session's end, {name}: logged {a:.1f}, simulated {b:.1f}")


if __name__ == "__main__":
    main()
