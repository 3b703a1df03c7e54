"""Seed-level paired comparisons across ``ltvrec experiment`` runs made on the same
seeds (same worlds, logs and evaluation users): each ``A`` against ``B``, where each is
``RUN_FOLDER:POLICY`` (a row of the run's ``report.json`` table).

    .venv/bin/python benchmarks/paired_runs.py runs/kw-resid:ppo-fitted \\
        runs/kw-cons-text:ppo-fitted [A B ...]

``--times R`` compares each ``A`` with ``R x B`` (per seed ``A - R B``): "wins" then says
A earns at least R times B, seed by seed. ``RUN_1+RUN_2:POLICY`` puts the seeds of
several runs end to end (e.g. worlds 0-4 and, with ``--set world.seed=5``, worlds 5-9);
pair it with the same runs, in the same order, on the other side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ltvrec.agents.evaluation import comparison_line, paired_comparison


def per_seed(spec: str) -> list[float]:
    folders, sep, policy = spec.rpartition(":")
    if not sep:
        raise SystemExit(f"expected RUN_FOLDER:POLICY, got {spec!r}")
    return [v for folder in folders.split("+") for v in _run_values(folder, policy)]


def _run_values(folder: str, policy: str) -> list[float]:
    table = json.loads((Path(folder) / "report.json").read_text())["table"]
    for row in table:
        if row["policy"] == policy:
            return [float(v) for v in row["value_per_seed"]]
    known = ", ".join(row["policy"] for row in table)
    raise SystemExit(f"{folder} has no policy {policy!r}; it has {known}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pairs", nargs="+", help="A B [A B ...], each RUN_FOLDER:POLICY")
    p.add_argument("--times", type=float, default=1.0, help="compare A with TIMES x B")
    args = p.parse_args()
    if len(args.pairs) % 2:
        raise SystemExit("give the runs in pairs: A B [A B ...]")
    for a, b in zip(args.pairs[::2], args.pairs[1::2], strict=True):
        va, vb = per_seed(a), per_seed(b)
        print(f"{a}: {', '.join(f'{v:.1f}' for v in va)}")
        print(f"{b}: {', '.join(f'{v:.1f}' for v in vb)}")
        label = f"{a} vs {b}" if args.times == 1 else f"{a} vs {args.times} x {b}"
        print(comparison_line(label, paired_comparison(va, vb, times=args.times)))


if __name__ == "__main__":
    main()
