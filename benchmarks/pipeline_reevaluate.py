"""Re-evaluate a finished ``ltvrec pipeline --seeds N`` run's policies (without
retraining), exactly as the pipeline does: the same users per seed, paired comparisons.

    .venv/bin/python benchmarks/pipeline_reevaluate.py runs/ml100k-5seeds 5
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ltvrec.agents.baselines import make_baseline
from ltvrec.agents.evaluation import evaluate_many, markdown_table, paired_comparison
from ltvrec.agents.policies import PPOPolicy, load_policy
from ltvrec.pipeline import BASELINES, start_policy
from ltvrec.simulators import FittedSimulator
from ltvrec.simulators.policies import SimPolicy


def main() -> None:
    out, seeds = Path(sys.argv[1]), int(sys.argv[2])
    users = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    sim = FittedSimulator.load(out / "simulator")
    trained = [load_policy(out / ("ppo" if s == 0 else f"ppo-seed{s}"))[0] for s in range(seeds)]
    policies: dict[str, SimPolicy | list[SimPolicy]] = {
        "ppo": [PPOPolicy(p) for p in trained],
        "ppo (start, step 0)": [start_policy(p) for p in trained],
    }
    for name in BASELINES:
        policies[name] = make_baseline(name, model=sim, n_items=sim.n_items)
    rows = evaluate_many(sim, policies, users, seeds, seed_offset=100)
    per_seed = {r["policy"]: r["value_per_seed"] for r in rows}
    comparisons = {
        f"ppo vs {b}": paired_comparison(per_seed["ppo"], per_seed[b])
        for b in (*BASELINES, "ppo (start, step 0)")
    }
    print(markdown_table(rows))
    (out / "reevaluation.json").write_text(
        json.dumps({"evaluation": rows, "comparisons": comparisons}, indent=2) + "\n"
    )
    for k, c in comparisons.items():
        print(
            k, round(c["mean"], 2), [round(x, 2) for x in c["ci"]], c["verdict"], c["differences"]
        )


if __name__ == "__main__":
    main()
