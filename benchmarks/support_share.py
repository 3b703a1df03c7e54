"""How well a policy's share of simulated states outside the log's range flags a fitted
simulator's misvaluation: over known-world experiment reports (``ltvrec experiment
known-world``'s ``report.json``, whose fidelity table has the truth beside the fitted
simulator's value), the relative errors of the policy rows binned by that share. Rows that
several runs share (the same worlds, logs and fit) are counted once.

    .venv/bin/python benchmarks/support_share.py runs/kw-*/report.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

BINS = ((0.0, 0.01), (0.01, 0.02), (0.02, 0.05), (0.05, 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, nargs="+")
    args = parser.parse_args()
    rows = set()
    for path in args.reports:
        policies = json.loads(path.read_text())["fidelity_where_policies_go"]["policies"]
        for name, v in policies.items():
            rows.add((name, round(v["relative_error"], 3), round(v["outside_support"], 3)))
    print(f"{len(rows)} distinct policy rows from {len(args.reports)} reports\n")
    print(
        "| outside the log's range | rows | median relative error | misvalued by > 10% | by > 30% |"
    )
    print("|---|---|---|---|---|")
    for lo, hi in BINS:
        err = np.array([abs(e) for _, e, o in rows if lo <= o < hi])
        if not len(err):
            continue
        print(
            f"| {lo:.0%} to {hi:.0%} | {len(err)} | {np.median(err):.1%} | "
            f"{int((err > 0.10).sum())} | {int((err > 0.30).sum())} |"
        )


if __name__ == "__main__":
    main()
