"""Serving latency: the runtime (onnxruntime, one thread) beside the torch policy's eager
scoring + the same slate code, per request, at 1,682 and 10,000 candidates, K = 10;
then the HTTP service on loopback at concurrency 8. Goals: runtime p99 about a
millisecond at 1,682 candidates and faster than torch eager; HTTP p99 under 10 ms.

    .venv/bin/python benchmarks/serving_latency.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch as th

from ltvrec.agents.policies import load_policy
from ltvrec.agents.train_ppo import TrainConfig, train
from ltvrec.serving.bundle import export_bundle
from ltvrec.serving.runtime import Runtime
from ltvrec.simulators import KnownWorld, KnownWorldConfig
from ltvrec.simulators.plackett_luce import cascade_probs, gumbel_top_k

TINY = TrainConfig(
    steps=512, n_envs=8, n_steps=64, batch_size=256, n_epochs=1, eval_every=0,
    eval_users=10, checkpoint_every=0,
)  # fmt: skip


def pct(ms: list[float]) -> str:
    a = np.array(ms)
    return f"p50 {np.percentile(a, 50):.3f} ms, p99 {np.percentile(a, 99):.3f} ms"


def bundle_for(n_items: int, root: Path) -> tuple[Path, Path]:
    world = KnownWorld(KnownWorldConfig(n_items=n_items, slate_size=10, horizon_days=2.0))
    train(world, TINY, root / f"policy{n_items}")
    export_bundle(
        root / f"policy{n_items}", world.state_encoder, list(range(n_items)),
        root / f"bundle{n_items}",
    )  # fmt: skip
    return root / f"policy{n_items}", root / f"bundle{n_items}"


def runtime_latency(policy_dir: Path, bundle: Path, requests: int) -> None:
    th.set_num_threads(1)
    rt = Runtime(bundle, threads=1)
    policy, _ = load_policy(policy_dir)
    history = [3, None, 5, 7, None, 11] * 5
    times = np.arange(len(history)) * 60.0
    rewards = np.ones(len(history))
    ours, eager = [], []
    for i in range(requests):
        start = time.perf_counter()
        state, _ = rt.state(history, times, rewards, times[-1] + 60.0)
        rt.recommend(state, mode="sample", rng=np.random.default_rng(i))
        ours.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        state, _ = rt.state(history, times, rewards, times[-1] + 60.0)
        with th.no_grad():
            s = policy.scores(th.as_tensor(state[None, :])).double().numpy()
        slate = gumbel_top_k(s, 10, np.random.default_rng(i))
        cascade_probs(s, slate)
        eager.append((time.perf_counter() - start) * 1000)
    n = rt.n_items
    print(f"| {n:,} | runtime (onnxruntime) | {pct(ours)} |")
    print(f"| {n:,} | torch eager, same state and slate code | {pct(eager)} |")
    ratio = np.percentile(eager, 99) / np.percentile(ours, 99)
    print(f"| {n:,} | p99 ratio torch / runtime | {ratio:.1f}x |")


def http_latency(bundle: Path, requests: int, concurrency: int = 8) -> None:
    """``ltvrec serve`` in its own process (as deployed), clients in this one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_dir = tempfile.mkdtemp()
    cmd = [sys.executable, "-m", "ltvrec", "serve", str(bundle), "--port", str(port),
           "--log-dir", log_dir]  # fmt: skip
    server = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        body = {
            "user_id": 1,
            "history": [
                {"timestamp": 60.0 * j, "item_id": j % 50, "reward": 1.0} for j in range(30)
            ],
        }

        def worker(n: int) -> list[float]:
            out = []
            with httpx.Client() as c:
                for _ in range(n):
                    start = time.perf_counter()
                    r = c.post(f"{base}/v1/recommend", json=body)
                    out.append((time.perf_counter() - start) * 1000)
                    assert r.status_code == 200
            return out

        worker(50)  # warm up
        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            parts = list(pool.map(worker, [requests // concurrency] * concurrency))
        wall = time.perf_counter() - start
        single = worker(requests // 4)
    finally:
        server.terminate()
        server.wait()
    lat = [x for p in parts for x in p]
    print(f"| 1,682 | HTTP, concurrency {concurrency}, loopback | {pct(lat)} "
          f"({len(lat) / wall:.0f} requests/s) |")  # fmt: skip
    print(f"| 1,682 | HTTP, one client at a time, loopback | {pct(single)} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    args = p.parse_args()
    root = Path(tempfile.mkdtemp())
    print("| candidates | path | latency per request |")
    print("|---|---|---|")
    for n in (1682, 10_000):
        policy_dir, bundle = bundle_for(n, root)
        runtime_latency(policy_dir, bundle, args.requests)
        if n == 1682:
            http_latency(bundle, args.requests)


if __name__ == "__main__":
    main()
