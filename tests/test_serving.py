"""Serving: the bundle refuses damage, the runtime equals the torch policy and the env,
the service answers bad input with 4xx, and the served log is in the schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
from fastapi.testclient import TestClient

from ltvrec.agents.policies import PPOPolicy, load_policy
from ltvrec.agents.train_ppo import TrainConfig, train
from ltvrec.encoders.state import ENGAGEMENT_DECAYS, UserStateEncoder
from ltvrec.offline import replay
from ltvrec.serving.bundle import BundleError, export_bundle, read_manifest
from ltvrec.serving.log import ServedLog, bundle_catalog, read_served_log
from ltvrec.serving.runtime import Runtime
from ltvrec.serving.service import create_app
from ltvrec.simulators import KnownWorld, KnownWorldConfig, PlackettLucePolicy, simulate_log
from ltvrec.simulators.base import SimState
from ltvrec.simulators.logs import known_world_catalog

SMALL = TrainConfig(
    steps=2048, n_envs=16, n_steps=64, batch_size=256, n_epochs=1, eval_every=0,
    eval_users=20, checkpoint_every=0, hidden=(32,), tower_dim=16,
)  # fmt: skip


@pytest.fixture(scope="module")
def world() -> KnownWorld:
    return KnownWorld(KnownWorldConfig(n_items=300, horizon_days=10.0))


def _train_and_export(world: KnownWorld, root: Path) -> tuple[Path, Path]:
    train(world, SMALL, root / "policy")
    export_bundle(
        root / "policy", world.state_encoder, list(range(world.n_items)), root / "bundle",
        texts=world.items.titles,
    )  # fmt: skip
    return root / "policy", root / "bundle"


@pytest.fixture(scope="module")
def trained(world: KnownWorld, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _train_and_export(world, tmp_path_factory.mktemp("serving"))


@pytest.fixture(scope="module")
def engaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[KnownWorld, tuple[Path, Path]]:
    """A world whose state carries the engagement memory, and its bundle."""
    cfg = KnownWorldConfig(n_items=300, horizon_days=10.0, engagement_decays=ENGAGEMENT_DECAYS)
    world = KnownWorld(cfg)
    return world, _train_and_export(world, tmp_path_factory.mktemp("engaged"))


def test_onnx_scores_equal_the_torch_policy(trained: tuple[Path, Path]) -> None:
    policy, _ = load_policy(trained[0])
    rt = Runtime(trained[1])
    x = np.random.default_rng(0).normal(size=(64, rt.encoder.size)).astype(np.float32)
    with th.no_grad():
        ref = policy.scores(th.as_tensor(x)).double().numpy()
    np.testing.assert_allclose(rt.scores(x), ref, atol=1e-5)


def test_runtime_slates_and_probabilities_equal_the_policys(
    world: KnownWorld, trained: tuple[Path, Path]
) -> None:
    policy, _ = load_policy(trained[0])
    rt = Runtime(trained[1])
    sampled = PPOPolicy(policy, deterministic=False)
    state = world.reset(8, np.random.default_rng(1))
    for seed in range(20):
        obs = state.obs[seed % 8]
        got = rt.recommend(obs, mode="sample", rng=np.random.default_rng(seed))
        one = SimState(obs[None, :], np.zeros(1), {})
        want = sampled.act(world, one, np.random.default_rng(seed))[0]
        np.testing.assert_array_equal(got.index, want)
        probs = sampled.slate_probabilities(obs[None, :], want[None, :])
        assert got.pscore == pytest.approx(probs["pscore"][0], rel=1e-4)
        np.testing.assert_allclose(got.pscore_cascade, probs["pscore_cascade"][0], rtol=1e-4)
    greedy = rt.recommend(state.obs[0], mode="greedy")
    one = SimState(state.obs[:1], np.zeros(1), {})
    np.testing.assert_array_equal(greedy.index, PPOPolicy(policy).act(world, one, None)[0])  # type: ignore[arg-type]
    assert greedy.pscore == 1.0


@pytest.mark.parametrize("memory", [False, True])
def test_runtime_state_equals_the_envs_state(
    world: KnownWorld,
    trained: tuple[Path, Path],
    engaged: tuple[KnownWorld, tuple[Path, Path]],
    memory: bool,
) -> None:
    if memory:
        world, trained = engaged
        assert world.state_encoder.size == 174
    rt = Runtime(trained[1])
    log = simulate_log(world, PlackettLucePolicy(world.logging_scores(), world.slate_size), 25, 3)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    req = replay(log, catalog, world.state_encoder)  # equals what the env showed (test_offline)
    f = log.frame.sort_values(["user_id", "timestamp", "request_id", "position"])
    k = world.slate_size
    first = f.iloc[::k]
    clicked = f[f["click"] == 1].groupby("request_id")["item_id"].first()
    seconds = (first["timestamp"] - first["timestamp"].min()).dt.total_seconds().to_numpy()
    items = [int(clicked[r]) if r in clicked.index else None for r in first["request_id"]]
    rewards = f["reward"].to_numpy().reshape(-1, k).sum(axis=1)
    sessions = first["session_id"].tolist()
    for row in range(len(first)):
        u0 = np.searchsorted(req.user, req.user[row])  # this user's first request
        hist = slice(u0, row)
        state, unknown = rt.state(
            items[hist], seconds[hist], rewards[hist], seconds[row], sessions[hist], sessions[row]
        )
        assert unknown == []
        np.testing.assert_allclose(state, req.state[row], atol=1e-5, err_msg=f"request {row}")


def test_runtime_imports_no_torch(trained: tuple[Path, Path]) -> None:
    code = (
        "import sys, numpy as np\n"
        "from ltvrec.serving.runtime import Runtime\n"
        f"rt = Runtime({str(trained[1])!r})\n"
        "s, _ = rt.state([1, None], np.array([0.0, 60.0]), np.array([1.0, 0.0]), 120.0)\n"
        "rt.recommend(s, rng=np.random.default_rng(0))\n"
        "heavy = ('torch', 'transformers', 'stable_baselines3')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _copy(bundle: Path, to: Path) -> Path:
    import shutil

    return Path(shutil.copytree(bundle, to))


def test_damaged_bundles_are_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    manifest = read_manifest(trained[1])
    assert manifest["onnx_opset"] == 17 and manifest["slate_size"] == 5
    altered = _copy(trained[1], tmp_path / "altered")
    data = bytearray((altered / "text_map.npz").read_bytes())
    data[-1] ^= 1
    (altered / "text_map.npz").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"text_map\.npz does not match the sha256"):
        Runtime(altered)
    table = _copy(trained[1], tmp_path / "table") / "catalog" / "000001" / "item_table.npy"
    data = bytearray(table.read_bytes())
    data[-1] ^= 1
    table.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"000001/item_table\.npy does not match the sha256"):
        Runtime(table.parents[2])
    partial = _copy(trained[1], tmp_path / "partial")
    (partial / "policy.onnx").unlink()
    with pytest.raises(BundleError, match=r"incomplete: policy\.onnx missing"):
        Runtime(partial)
    newer = _copy(trained[1], tmp_path / "newer")
    m = json.loads((newer / "manifest.json").read_text())
    m["format_version"] = 99
    (newer / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="format_version 99, this ltvrec reads 2"):
        Runtime(newer)
    with pytest.raises(BundleError, match="not a bundle"):
        Runtime(tmp_path)
    with pytest.raises(BundleError, match="exists and is not empty"):
        export_bundle(trained[0], _other_encoder(), list(range(300)), newer)


def _other_encoder(**kwargs: Any) -> UserStateEncoder:
    return UserStateEncoder(np.zeros((300, 32), np.float32), **kwargs)


def test_export_refuses_another_simulators_state(
    trained: tuple[Path, Path], world: KnownWorld, tmp_path: Path
) -> None:
    with pytest.raises(BundleError, match="trained on other item vectors"):
        export_bundle(trained[0], _other_encoder(), list(range(300)), tmp_path / "b")
    other = UserStateEncoder(world.item_embeddings, engagement_decays=ENGAGEMENT_DECAYS)
    with pytest.raises(BundleError, match=r"reads a user state of 70 features.* writes 174"):
        export_bundle(trained[0], other, list(range(300)), tmp_path / "b")
    assert not (tmp_path / "b").exists()  # nothing half-written


@pytest.fixture()
def client(trained: tuple[Path, Path], tmp_path: Path) -> tuple[TestClient, Path]:
    app = create_app(Runtime(trained[1]), ServedLog(tmp_path / "log"), max_history=50)
    return TestClient(app), tmp_path / "log"


def test_recommend_feedback_and_the_served_log(
    client: tuple[TestClient, Path], world: KnownWorld
) -> None:
    c, log_dir = client
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/v1/model").json()["slate_size"] == 5
    assert "/v1/recommend" in c.get("/openapi.json").json()["paths"]
    body = {
        "user_id": "u1",
        "timestamp": 1000.0,
        "history": [{"timestamp": 10.0, "item_id": 3, "reward": 1.0},
                    {"timestamp": 20.0, "item_id": "no-such-item"}],
        "seed": 7,
    }  # fmt: skip
    r = c.post("/v1/recommend", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["items"]) == 5 and out["unknown_items"] == ["no-such-item"]
    assert 0 < out["pscore"] == pytest.approx(out["pscore_cascade"][-1])
    assert c.post("/v1/recommend", json=body).json()["items"] == out["items"]  # seeded
    # Acknowledged means on disk: the rows are readable before any close.
    text = "".join(p.read_text() for p in log_dir.glob("served-*.csv"))
    assert text.count(out["request_id"]) == 5
    fb = {"request_id": out["request_id"], "events": [{"item_id": out["items"][2], "reward": 1.0}]}
    assert c.post("/v1/feedback", json=fb).json()["recorded"] == 1
    catalog = bundle_catalog(list(range(world.n_items)), world.items.titles)
    log = read_served_log(log_dir, catalog).frame
    mine = log[log["request_id"] == out["request_id"]].sort_values("position")
    assert mine["click"].tolist() == [0, 0, 1, 0, 0]
    assert mine["item_id"].tolist() == out["items"]
    np.testing.assert_allclose(mine["pscore_cascade"], out["pscore_cascade"])


def test_organic_consumptions_reach_the_served_log(
    client: tuple[TestClient, Path], world: KnownWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """An item consumed outside the slate is recorded with its request; replayed, the
    user's state moves with it as with a click. A request keeps one consumption."""
    from ltvrec.simulators.replay import replay_log

    c, log_dir = client
    outs = [c.post("/v1/recommend", json={"user_id": "u", "timestamp": 100.0 + 10 * i,
                                           "seed": i}).json() for i in range(3)]  # fmt: skip
    a, b, _ = (o["request_id"] for o in outs)
    elsewhere = next(i for i in range(world.n_items) if i not in outs[0]["items"])

    def feedback(request_id: str, *events: dict[str, Any]) -> Any:
        return c.post("/v1/feedback", json={"request_id": request_id, "events": list(events)})

    organic = {"item_id": elsewhere, "organic": True, "reward": 4.0}
    assert feedback(a, organic).json()["recorded"] == 1
    assert feedback(b, {"position": 1, "reward": 1.0}).json()["recorded"] == 1
    # Later calls that would give a request a second consumption: kept out on reading.
    assert feedback(a, {**organic, "item_id": outs[0]["items"][0]}).status_code == 200
    assert feedback(b, organic).status_code == 200
    catalog = bundle_catalog(list(range(world.n_items)), world.items.titles)
    with caplog.at_level("WARNING", logger="ltvrec.serving.log"):
        log = read_served_log(log_dir, catalog)
    assert "2 organic consumption(s) dropped" in caplog.text
    assert log.has_organic
    per_request = log.frame.groupby("request_id", sort=False)[
        ["organic_item_id", "organic_reward"]
    ].first()
    assert per_request.loc[a].tolist() == [elsewhere, 4.0]
    assert per_request.drop(index=a)["organic_item_id"].isna().all()
    assert (per_request.drop(index=a)["organic_reward"] == 0.0).all()
    traj = replay_log(log, catalog, world.state_encoder)
    assert sorted(traj.consumed_item[traj.consumed_item >= 0].tolist()) == sorted(
        [elsewhere, outs[1]["items"][1]]
    )


@pytest.mark.parametrize(
    ("events", "fragment"),
    [
        ([{"position": 0, "organic": True}], "names its item_id and has no position"),
        ([{"organic": True}], "names its item_id and has no position"),
        ([{"item_id": "no-such-item", "organic": True}], "is not in the catalog"),
        ([{"item_id": 1, "organic": True, "click": 0}], "its click is 1"),
        ([{"item_id": 1, "organic": True}, {"item_id": 2, "organic": True}],
         "at most one consumption"),
        ([{"item_id": 1, "organic": True}, {"position": 0}], "at most one consumption"),
    ],
)  # fmt: skip
def test_bad_organic_events_are_refused_and_nothing_is_written(
    client: tuple[TestClient, Path], events: list[dict[str, Any]], fragment: str
) -> None:
    c, log_dir = client
    out = c.post("/v1/recommend", json={"user_id": "u", "timestamp": 100.0}).json()
    before = "".join(p.read_text() for p in log_dir.glob("served-*.csv"))
    r = c.post("/v1/feedback", json={"request_id": out["request_id"], "events": events})
    assert r.status_code == 422 and fragment in r.text, r.text
    assert "".join(p.read_text() for p in log_dir.glob("served-*.csv")) == before


@pytest.mark.parametrize(
    ("path", "payload", "status", "fragment"),
    [
        ("/v1/recommend", {"user_id": 1, "k": 0}, 422, "k must be between 1 and 300"),
        ("/v1/recommend", {"user_id": 1, "k": 301}, 422, "k must be between 1 and 300"),
        ("/v1/recommend", {"user_id": 1, "history": [{"timestamp": 1.0}] * 51}, 422,
         "history has 51 entries; the limit is 50"),
        ("/v1/recommend", {"user_id": 1, "timestamp": 5.0, "history": [{"timestamp": 9.0}]},
         422, "time order"),
        ("/v1/recommend", {"user_id": 1, "mode": "best"}, 422, "sample"),
        ("/v1/recommend", {"history": []}, 422, "user_id"),
        ("/v1/recommend", {"user_id": ""}, 422, "user_id"),
        ("/v1/recommend", {"user_id": "  "}, 422, "user_id"),
        ("/v1/feedback", {"request_id": "nope", "events": [{"position": 0}]}, 404,
         "unknown request_id"),
        ("/v1/feedback", {"request_id": "x", "events": []}, 422, "events"),
    ],
)  # fmt: skip
def test_bad_requests_get_4xx_with_a_message(
    client: tuple[TestClient, Path], path: str, payload: dict[str, object], status: int,
    fragment: str,
) -> None:  # fmt: skip
    r = client[0].post(path, json=payload)
    assert r.status_code == status
    assert fragment in r.text


def test_docs_page_works_offline(client: tuple[TestClient, Path]) -> None:
    """/docs references no external URL, and every asset it names is served here."""
    c = client[0]
    r = c.get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text
    assert re.findall(r"https?://", r.text) == []
    assets = re.findall(r"""['"](/docs-assets/[^'"]+)['"]""", r.text)
    assert sorted(a.rsplit(".", 1)[1] for a in assets) == ["css", "js", "png"]
    for a in assets:
        got = c.get(a)
        assert got.status_code == 200 and len(got.content) > 100, a


def test_malformed_and_oversize_bodies(client: tuple[TestClient, Path]) -> None:
    c = client[0]
    r = c.post("/v1/recommend", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.text
    big = {"user_id": 1, "history": [{"timestamp": 1.0, "item_id": "x" * 100}] * 20_000}
    r = c.post("/v1/recommend", json=big)
    assert r.status_code == 413 and "over the limit" in r.text
    assert c.get("/healthz").status_code == 200  # still serving


def test_served_log_rotates_and_reads_back_across_files(
    trained: tuple[Path, Path], world: KnownWorld, tmp_path: Path
) -> None:
    log = ServedLog(tmp_path, max_bytes=2_000)
    c = TestClient(create_app(Runtime(trained[1]), log))
    ids = [c.post("/v1/recommend", json={"user_id": i, "timestamp": 100.0 + i}).json()
           for i in range(30)]  # fmt: skip
    for out in ids[::3]:
        c.post("/v1/feedback", json={"request_id": out["request_id"], "events": [{"position": 1}]})
    log.close()
    assert len(list(tmp_path.glob("served-*.csv"))) > 3
    catalog = bundle_catalog(list(range(world.n_items)), world.items.titles)
    frame = read_served_log(tmp_path, catalog).frame
    assert frame["request_id"].nunique() == 30 and int(frame["click"].sum()) == 10


def test_ltvrec_serve_answers_on_loopback(trained: tuple[Path, Path], tmp_path: Path) -> None:
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "ltvrec", "serve", str(trained[1]), "--port", str(port),
           "--log-dir", str(tmp_path / "log")]  # fmt: skip
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/recommend", json={"user_id": "a"})
        assert r.status_code == 200 and len(r.json()["items"]) == 5
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len(list((tmp_path / "log").glob("served-*.csv"))) == 1


def test_serve_and_export_errors_are_one_line(trained: tuple[Path, Path], tmp_path: Path) -> None:
    from conftest import ltvrec

    done = ltvrec("serve", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {tmp_path} is not a bundle (no manifest.json); make one with: "
        "ltvrec export --policy DIR --out BUNDLE"
    ]
    done = ltvrec("export", "--policy", str(trained[0]), "--out", str(trained[1]))
    assert done.returncode == 1 and "exists and is not empty" in done.stderr


@pytest.mark.parametrize("shortlist", [0, 6])
def test_a_masked_policy_started_from_baselines_serves_exactly(
    tmp_path: Path, shortlist: int
) -> None:
    # A simulator fitted to logs without repeats: the policy holds the baselines' signals
    # and masks consumed items (and, with a shortlist, everything outside each request's
    # candidate set); the bundle carries all of it (inside the ONNX module).
    from ltvrec.simulators import FitConfig, fit_simulator

    world = KnownWorld(KnownWorldConfig(n_items=50, slate_size=3, horizon_days=10.0))
    log = simulate_log(world, PlackettLucePolicy(world.logging_scores(), 3), 200, seed=0)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    cfg = FitConfig(horizon_days=10.0, epochs=2, min_steps=0, repeats="forbid")
    sim = fit_simulator(log, catalog, world.item_embeddings, cfg)
    small = TrainConfig(
        steps=1024, n_envs=16, n_steps=64, batch_size=256, n_epochs=1, eval_every=0,
        eval_users=20, checkpoint_every=0, hidden=(16,), tower_dim=8, start_users=30,
        shortlist=shortlist, shortlist_explore=2,
    )  # fmt: skip
    train(sim, small, tmp_path / "policy")
    export_bundle(
        tmp_path / "policy", sim.state_encoder, list(sim.item_ids), tmp_path / "bundle",
    )  # fmt: skip
    policy, meta = load_policy(tmp_path / "policy")
    assert meta["mask_consumed"] and meta["start"] is not None
    rt = Runtime(tmp_path / "bundle")
    assert rt.mask_consumed and read_manifest(tmp_path / "bundle")["inputs"]["consumed"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, rt.encoder.size)).astype(np.float32)
    consumed = (rng.random((16, 50)) < 0.3).astype(np.float32)
    want = PPOPolicy(policy).scores(x, consumed.astype(bool))
    got = rt.scores(x, consumed)
    # The same items are out in torch and onnxruntime: the consumed ones, and with a
    # shortlist those outside the candidate set (from 2 x 6 + 2 items, fewer consumed).
    assert np.array_equal(np.isinf(got), np.isinf(want))
    assert np.isinf(got)[consumed.astype(bool)].all()
    if shortlist:
        assert ((~np.isinf(got)).sum(1) <= 2 * shortlist + 2).all()
    else:
        assert np.array_equal(np.isinf(got), consumed.astype(bool))
    np.testing.assert_allclose(got[~np.isinf(got)], want[~np.isinf(want)], atol=1e-4)
    history = [str(i) for i in np.flatnonzero(consumed[0])]
    for seed in range(10):
        slate = rt.recommend(x[0], rng=np.random.default_rng(seed), consumed=rt.consumed(history))
        assert not set(map(str, slate.items)) & set(history)
        probs = PPOPolicy(policy, deterministic=False).slate_probabilities(
            x[:1], slate.index[None, :], consumed[:1].astype(bool)
        )
        assert slate.pscore == pytest.approx(probs["pscore"][0], rel=1e-3)
    with pytest.raises(ValueError, match="masks consumed items"):
        rt.scores(x)
