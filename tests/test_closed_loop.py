"""The loop closes: train on the known world -> export -> serve (sample mode) -> known-
world users drive the service and send their clicks as feedback -> the served log is
read by ``ltvrec ope`` and ``ltvrec sim fit`` -> its click rate is the served policy's
true value, and an OPE estimate of another policy from it covers that policy's truth."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import ltvrec_here

from ltvrec.agents.policies import PPOPolicy, load_policy
from ltvrec.agents.train_ppo import TrainConfig, train
from ltvrec.offline import evaluate_policy, replay
from ltvrec.serving.bundle import export_bundle
from ltvrec.serving.log import ServedLog, bundle_catalog, read_served_log, write_log_folder
from ltvrec.serving.runtime import Runtime
from ltvrec.serving.service import create_app
from ltvrec.simulators import KnownWorld, RandomPolicy, evaluate
from ltvrec.simulators.base import SimState, StepResult, UserSimulator
from ltvrec.simulators.rollout import mean_ci, run_users

T0 = 1_700_000_000.0  # the users' first request, in epoch seconds


class ServiceUsers:
    """Simulated users as client apps: each request goes to the service with the user's
    own history and session; clicks go back as feedback. The active users' requests of
    one step are sent together, as many clients would, through the app's ASGI interface
    in one event loop (a thread hop per request, as in Starlette's TestClient, cost more
    than the service's own work)."""

    name = "service"

    def __init__(self, app: Any, n: int) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://service")
        self.active = np.arange(n)
        self.history: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        self.session = np.zeros(n, dtype=np.int64)
        self.pending: list[tuple[str, float]] = []
        self.calls = 0

    def _post_all(self, path: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
        async def send() -> list[httpx.Response]:
            posts: list[Awaitable[httpx.Response]] = [
                self.client.post(path, json=b) for b in bodies
            ]
            return list(await asyncio.gather(*posts))

        out = self.loop.run_until_complete(send())
        for r in out:
            assert r.status_code == 200, r.text
        return out

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> np.ndarray:
        bodies, stamps = [], []
        for row, u in enumerate(self.active):
            ts = T0 + float(state.time[row]) * 86400.0
            bodies.append({
                "user_id": int(u), "timestamp": ts, "session_id": int(self.session[u]),
                "history": self.history[u], "seed": self.calls,
            })  # fmt: skip
            stamps.append(ts)
            self.calls += 1
        replies = [r.json() for r in self._post_all("/v1/recommend", bodies)]
        self.pending = [(r["request_id"], ts) for r, ts in zip(replies, stamps, strict=True)]
        return np.array([[int(i) for i in r["items"]] for r in replies])

    def on_step(self, active: np.ndarray, _s: SimState, slates: np.ndarray, r: StepResult) -> None:
        feedback = []
        for row, u in enumerate(active):
            request_id, ts = self.pending[row]
            pos = int(r.clicked_position[row])
            if pos >= 0:
                feedback.append({"request_id": request_id, "events": [
                    {"position": pos, "reward": float(r.reward[row])}]})  # fmt: skip
            self.history[u].append({
                "timestamp": ts, "item_id": int(slates[row, pos]) if pos >= 0 else None,
                "reward": float(r.reward[row]), "session_id": int(self.session[u]),
            })  # fmt: skip
            if r.session_end[row]:
                self.session[u] += 1
        self._post_all("/v1/feedback", feedback)
        self.active = active[~r.done]


@pytest.mark.slow
def test_the_loop_closes(tmp_path: Path) -> None:
    world = KnownWorld()
    cfg = TrainConfig(
        steps=4096, n_envs=16, n_steps=64, batch_size=256, n_epochs=1, eval_every=0,
        eval_users=20, checkpoint_every=0, hidden=(32,), tower_dim=16,
    )  # fmt: skip
    train(world, cfg, tmp_path / "policy")
    export_bundle(
        tmp_path / "policy", world.state_encoder, list(range(world.n_items)),
        tmp_path / "bundle", texts=world.items.titles,
    )  # fmt: skip
    runtime = Runtime(tmp_path / "bundle")
    served = ServedLog(tmp_path / "served")
    rng = np.random.default_rng(0)
    users = ServiceUsers(create_app(runtime, served), n=150)
    try:
        run_users(world, users, world.reset(150, rng), rng, users.on_step)
    finally:
        users.close()
    served.close()

    catalog = bundle_catalog(runtime.item_ids, runtime.texts)
    log = read_served_log(tmp_path / "served", catalog)
    assert log.frame["request_id"].nunique() == users.calls

    # The served log's own value per user is the served policy's true value.
    per_user = log.frame.groupby("user_id")["reward"].sum().reindex(range(150), fill_value=0)
    got, glo, ghi = mean_ci(per_user.to_numpy())
    policy, _ = load_policy(tmp_path / "policy")
    truth, tlo, thi = evaluate(world, PPOPolicy(policy, deterministic=False), 1500, 1).value
    assert abs(got - truth) < 2 * np.hypot((ghi - glo) / 3.92, (thi - tlo) / 3.92)

    # Another policy's value, estimated from the served log, covers its truth.
    req = replay(log, catalog, world.state_encoder, world.slate_size)
    target = RandomPolicy(n_items=world.n_items)
    res = evaluate_policy("random", target, world, req, n_bootstrap=500)
    r_truth, r_lo, r_hi = evaluate(world, target, 4000, seed=2).value
    slack = (r_hi - r_lo) / 2
    for key in ("pdis", "weighted-dr"):
        e = res.estimates[key]
        assert e.ci[0] - slack <= r_truth <= e.ci[1] + slack, (key, e.ci, r_truth)

    # The CLI reads the served log like any other log.
    folder = write_log_folder(log, catalog, tmp_path / "served-log")
    done = ltvrec_here("ope", "--logs", str(folder), "--policy", "random", "--out",
                       str(tmp_path / "ope"), "--truth-users", "0", "--bootstrap", "50",
                       "--members", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ope" / "ope.html").is_file()
    # (What is checked is that the CLI reads it; a short fit does that.)
    done = ltvrec_here("sim", "fit", "--data", str(folder), "--out", str(tmp_path / "sim"),
                       "--model", "hashing", "--set", "epochs=1",
                       "--set", "min_steps=0")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sim" / "simulator.json").is_file()
