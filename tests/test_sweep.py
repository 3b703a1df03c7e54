"""Sweeps: the grid, resume, failures that do not sink the sweep, and a Ray Tune run
that equals the trials run one by one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ltvrec.sweep import SweepSpec, local_ray, run_sweep

BASE: dict[str, Any] = {
    "name": "tiny",
    "world": {"horizon_days": 2.0, "n_items": 100},
    "train": {"steps": 512, "n_envs": 8, "n_steps": 64, "batch_size": 256, "n_epochs": 1,
              "eval_every": 0, "checkpoint_every": 0, "eval_users": 10, "hidden": [16],
              "tower_dim": 8},
    "grid": {"train.learning_rate": [0.0003, 0.003]},
    "seeds": [0, 1],
    "eval": {"users": 60},
}  # fmt: skip


def _spec(tmp_path: Path, **over: Any) -> SweepSpec:
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump({**BASE, **over}))
    return SweepSpec.load(f)


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"grid": {"train.nope": [1]}}, "'train.nope' is not train.<TrainConfig field>"),
        ({"grid": {"lr": [1]}}, "'lr' is not train."),
        ({"grid": {"train.gamma": []}}, "needs a non-empty list"),
        ({"env": "fitted"}, "env fitted needs sim"),
        ({"seeds": []}, "at least one seed"),
        ({"colour": "blue"}, "unknown keys ['colour']"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, over: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace(".", r"\.")):
        _spec(tmp_path, **over)


def test_trials_are_the_grid_times_the_seeds(tmp_path: Path) -> None:
    spec = _spec(tmp_path, grid={"train.gamma": [0.9, 0.99], "train.ent_coef": [0.0, 0.01]})
    trials = spec.trials()
    assert len(trials) == 2 * 2 * 2 and len({t.id for t in trials}) == 8
    drawn = _spec(tmp_path, grid={}, random={"n": 3, "space": {
        "train.learning_rate": {"loguniform": [1e-4, 1e-2]}}}).trials()  # fmt: skip
    lrs = {t.settings["train.learning_rate"] for t in drawn}
    assert len(lrs) == 3 and all(1e-4 <= x <= 1e-2 for x in lrs)


@pytest.mark.slow
def test_local_sweep_aggregates_resumes_and_survives_a_failure(tmp_path: Path) -> None:
    spec = _spec(tmp_path, grid={"train.learning_rate": [0.0003, 0.003], "train.n_steps": [64]})
    out = tmp_path / "run"
    summary = run_sweep(spec, out, backend="local")
    assert summary["failed"] == [] and len(summary["configs"]) == 2
    for row in summary["configs"]:
        per_seed = [
            json.loads((out / "trials" / t.id / "result.json").read_text())["value"]
            for t in spec.trials()
            if t.settings == row["settings"]
        ]
        assert row["per_seed"] == pytest.approx(per_seed) and row["value"] == pytest.approx(
            np.mean(per_seed)
        )
        assert row["ci"][0] < row["value"] < row["ci"][1]
    stamps = {f: f.stat().st_mtime_ns for f in out.glob("trials/*/result.json")}
    # Re-run with one more (broken) config: finished trials are not redone, the broken
    # one is reported and the others still count.
    bigger = _spec(
        tmp_path, grid={"train.learning_rate": [0.0003, 0.003], "train.n_steps": [64, 0]}
    )
    summary = run_sweep(bigger, out, backend="local")
    assert {f: f.stat().st_mtime_ns for f in stamps} == stamps
    assert len(summary["configs"]) == 2 and len(summary["failed"]) == 4
    assert all("n_steps" in str(f["settings"]) for f in summary["failed"])
    text = (out / "sweep.md").read_text()
    assert "Failed trials" in text and (out / "sweep.png").is_file()


def test_ray_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RuntimeError, match=r"pip install 'ltvrec\[scale\]'"), local_ray():
        pass


@pytest.mark.slow
def test_ray_sweep_equals_the_trials_run_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(tmp_path)
    monkeypatch.chdir(tmp_path)  # a relative folder, as `ltvrec sweep` gets by default
    by_ray = run_sweep(spec, "ray", backend="ray", max_concurrent=2)
    assert len(list((tmp_path / "ray" / "trials").glob("*/result.json"))) == 4
    one_by_one = run_sweep(spec, tmp_path / "local", backend="local")
    assert by_ray["failed"] == [] and len(by_ray["configs"]) == 2
    key = lambda rows: sorted((json.dumps(r["settings"]), r["per_seed"]) for r in rows)  # noqa: E731
    assert key(by_ray["configs"]) == key(one_by_one["configs"])


@pytest.mark.slow
def test_local_ray_connects_only_to_loopback(tmp_path: Path) -> None:
    import re
    import shutil
    import subprocess

    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    code = (
        "from ltvrec.sweep import local_ray\n"
        "with local_ray(num_cpus=1) as ray:\n"
        "    f = ray.remote(lambda x: x + 1)\n"
        "    assert ray.get(f.remote(1)) == 2\n"
    )
    trace = tmp_path / "trace.txt"
    done = subprocess.run(
        ["strace", "-f", "-e", "trace=connect", "-o", str(trace), sys.executable, "-c", code],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    calls = [line for line in trace.read_text().splitlines() if "connect(" in line]
    inet = [c for c in calls if "AF_INET" in c]
    assert inet, "expected Ray to talk to itself over TCP"
    outside = [c for c in inet if not re.search(r'"(::ffff:)?127\.0\.0\.1"', c)]
    assert outside == [], outside[:3]


@pytest.mark.slow
def test_encode_on_ray_equals_the_local_path(ml100k_small: Path, tmp_path: Path) -> None:
    from conftest import ltvrec

    from ltvrec.encoders import ItemEncoding

    outs = {}
    for name, extra in (("local", []), ("ray", ["--ray", "--shards", "3"])):
        done = ltvrec("encode", "--dataset", str(ml100k_small), "--out", str(tmp_path / name),
                      "--cache-dir", str(tmp_path / f"cache-{name}"), *extra)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        outs[name] = ItemEncoding.load(tmp_path / name)
    a, b = outs["local"], outs["ray"]
    assert list(a.item_ids) == list(b.item_ids) and a.identity == b.identity
    # Same model, same texts; only the batch composition differs between the paths.
    np.testing.assert_allclose(b.raw, a.raw, atol=1e-6)
    np.testing.assert_allclose(np.abs(b.embeddings), np.abs(a.embeddings), atol=1e-4)
    # The Ray result went into the cache in the local path's format: a local re-run hits it.
    done = ltvrec("encode", "--dataset", str(ml100k_small), "--out", str(tmp_path / "again"),
                  "--cache-dir", str(tmp_path / "cache-ray"))  # fmt: skip
    assert "from the cache" in done.stdout
