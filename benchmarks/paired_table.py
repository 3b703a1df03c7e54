"""Seed-level paired comparisons from several ``ltvrec evaluate --out DIR`` runs, one
per seed (e.g. one per known-world item seed): per-seed values, and each policy's
paired difference against ``--policy`` (mean and 95% t-interval over seeds).

    .venv/bin/python benchmarks/paired_table.py --policy ppo runs/ceiling5/eval-*
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ltvrec.agents.evaluation import comparison_line, paired_comparison


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", type=Path, nargs="+", help="evaluate --out folders, one per seed")
    p.add_argument("--policy", default="ppo", help="the policy compared with every other")
    args = p.parse_args()
    per_seed: dict[str, list[float]] = {}
    for folder in sorted(args.folders):
        for row in json.loads((folder / "evaluation.json").read_text()):
            per_seed.setdefault(row["policy"], []).append(float(row["value"]))
    print(f"{len(args.folders)} seeds: {', '.join(str(f) for f in sorted(args.folders))}")
    print("| policy | per-seed values | mean |\n|---|---|---|")
    for name, values in per_seed.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {name} | {shown} | {sum(values) / len(values):.1f} |")
    print()
    for name, values in per_seed.items():
        if name != args.policy:
            c = paired_comparison(per_seed[args.policy], values)
            print(comparison_line(f"{args.policy} vs {name}", c))


if __name__ == "__main__":
    main()
