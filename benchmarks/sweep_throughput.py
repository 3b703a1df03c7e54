"""Sweep throughput on this machine: the same 4 trials (2 configs x 2 seeds; PPO on the
known world, then evaluation) one by one (``--backend local``) and as Ray Tune trials on
a local Ray instance with 2 CPUs, in the same run; trials per hour and the ratio.

    .venv/bin/python benchmarks/sweep_throughput.py [--steps 30000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ltvrec.sweep import SweepSpec, run_sweep


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30_000)
    p.add_argument("--users", type=int, default=500)
    args = p.parse_args()
    spec = SweepSpec(
        name="throughput",
        train={"steps": args.steps, "eval_every": 0, "checkpoint_every": 0, "eval_users": 50},
        grid={"train.learning_rate": [3e-4, 1e-3]},
        seeds=[0, 1],
        eval={"users": args.users},
    )
    spec.check()
    root = Path(tempfile.mkdtemp())
    rates = {}
    for backend in ("local", "ray"):
        start = time.perf_counter()
        summary = run_sweep(spec, root / backend, backend=backend, max_concurrent=2)
        seconds = time.perf_counter() - start
        assert not summary["failed"], summary["failed"]
        rates[backend] = len(spec.trials()) / seconds * 3600
        print(f"{backend:6s}: {len(spec.trials())} trials in {seconds:.0f} s = "
              f"{rates[backend]:.0f} trials/hour")  # fmt: skip
    print(f"ray / local: {rates['ray'] / rates['local']:.2f}x")


if __name__ == "__main__":
    main()
