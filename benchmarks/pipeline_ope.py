"""Re-run a finished ``ltvrec pipeline`` run's OPE section on its saved simulator and
seed 0's PPO, as the pipeline does (300 logged users, 1,000 users per on-policy value),
and print the recommended and model-based estimates beside the simulator's own values.

    .venv/bin/python benchmarks/pipeline_ope.py runs/ml100k-duration-5seeds runs/ope-again

docs/ope.md ("The demo's OPE section") quotes its output.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import SimpleNamespace

from ltvrec.agents.policies import load_policy
from ltvrec.interactions import load
from ltvrec.pipeline import _offline_evaluation
from ltvrec.simulators import FittedSimulator


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run, out = Path(sys.argv[1]), Path(sys.argv[2])
    sim = FittedSimulator.load(run / "simulator")
    policy, _ = load_policy(run / "ppo")
    catalog = load(sim.meta["provenance"]["dataset"]).catalog
    report = _offline_evaluation(sim, catalog, SimpleNamespace(policy=policy), out, 300, 1000)
    print("| policy | read | model-based | simulator's own value | model-based error |")
    print("|---|---|---|---|---|")
    for name, row in report["policies"].items():
        truth = row["truth"]["value"]
        read = row["recommended"]["estimator"]
        guess = " (a guess)" if row["recommended"].get("guess") else ""

        def show(e: dict, t: float = truth) -> str:
            miss = "" if e["ci"][0] <= t <= e["ci"][1] else " (miss)"
            return f"{e['value']:.1f} [{e['ci'][0]:.1f}, {e['ci'][1]:.1f}]{miss}"

        mb = row["estimates"]["model-based"]
        print(
            f"| {name} | {read}{guess} {show(row['estimates'][read])} | {show(mb)} | {truth:.1f} | "
            f"{mb['value'] / truth - 1:+.0%} |"
        )


if __name__ == "__main__":
    main()
