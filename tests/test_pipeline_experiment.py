"""The end-to-end pipeline (real data) and the sim-to-real experiment, on tiny budgets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ltvrec.agents import TrainConfig
from ltvrec.agents.baselines import make_baseline
from ltvrec.errors import ConfigError
from ltvrec.experiment import run_experiment
from ltvrec.interactions import Dataset
from ltvrec.simulators import FitConfig, KnownWorld, KnownWorldConfig, evaluate

TINY = TrainConfig(
    steps=1024, n_envs=16, n_steps=32, batch_size=128, n_epochs=1, eval_every=0,
    eval_users=20, checkpoint_every=0, hidden=(16,), tower_dim=8, start_users=30,
    start_scales=(2.0, 8.0),
)  # fmt: skip


@pytest.mark.slow
def test_experiment_writes_a_complete_report(tmp_path: Path) -> None:
    world = KnownWorldConfig(n_items=80, slate_size=4, horizon_days=10.0)
    report = run_experiment(
        1, tmp_path, TINY, world, log_users=200, eval_users=100, model="hashing"
    )
    names = [r["policy"] for r in report["table"]]
    assert names == [
        "ppo-fitted", "ppo-fitted (start, step 0)", "ppo-true", "ppo-true (start, step 0)",
        "random", "logging", "popularity-log", "greedy-model", "greedy-oracle",
        "quality-aware-oracle",
    ]  # fmt: skip
    for f in ("report.md", "report.json", "learning_curves.png"):
        assert (tmp_path / f).is_file()
    text = (tmp_path / "report.md").read_text()
    assert "quality-aware-oracle (oracle: not buildable from logs)" in text
    # Truth: the oracles' values are the known world's, recomputed here on the same users
    # (seed 0's world is the base world with item seed 0).
    by = {r["policy"]: r for r in json.loads((tmp_path / "report.json").read_text())["table"]}
    base = KnownWorld(world)
    for name in ("greedy-oracle", "random"):
        again = evaluate(base, make_baseline(name, world=base), 100, seed=1_000_000)
        assert by[name]["value_per_seed"][0] == pytest.approx(again.value[0])
    # Each trained policy beside its own step-0 self, paired.
    for name in ("ppo-fitted", "ppo-true"):
        assert f"{name} vs {name} (start, step 0)" in report["comparisons"]
    # Issue 14's ratios, seed by seed: ppo-fitted - 0.9 x ppo-true, - 1.2 x greedy-oracle.
    for times, b in ((0.9, "ppo-true"), (1.2, "greedy-oracle")):
        c = report["comparisons"][f"ppo-fitted vs {times} x {b}"]
        want = by["ppo-fitted"]["value_per_seed"][0] - times * by[b]["value_per_seed"][0]
        assert c["differences"] == [pytest.approx(want)]
        assert f"ppo-fitted vs {times} x {b}: mean paired difference" in text
    # One seed: no seed-level interval, so no claim either way.
    assert all(c["verdict"] == "not established" for c in report["comparisons"].values())
    # Fidelity where policies go: every policy, its true value the table's, and the
    # stronger quality-aware rule beside them.
    fid = report["fidelity_where_policies_go"]
    assert list(fid["policies"]) == [*names, "quality-aware-oracle (2.0)"]
    for name in names:
        row = fid["policies"][name]
        assert row["true"] == pytest.approx(by[name]["value"])
        # Seed by seed: the values, their relative error and the count within 10%.
        assert row["true_per_seed"] == pytest.approx(by[name]["value_per_seed"])
        (fitted,), (true,) = row["fitted_per_seed"], row["true_per_seed"]
        (err,) = row["relative_error_per_seed"]
        assert err == pytest.approx(fitted / true - 1.0)
        assert row["seeds_within_tolerance"] == int(abs(err) <= 0.10)
    assert -1.0 <= fid["spearman_mean"] <= 1.0 and "Spearman rank correlation" in text
    assert "| seeds within 10% |" in text


def test_fidelity_summary_counts_the_seeds_within_ten_percent() -> None:
    from ltvrec.experiment import _fidelity_summary

    def seed(fitted: float, true: float) -> dict[str, object]:
        row = {"policy": "p", "fitted": fitted, "true": true, "outside_support": 0.0,
               "relative_error": fitted / true - 1.0}  # fmt: skip
        return {"rows": [row], "spearman": 1.0}

    # Just inside 10% on either side, just outside on either side, by magnitude.
    out = _fidelity_summary([seed(43.9, 40.0), seed(45.1, 50.0), seed(44.1, 40.0),
                             seed(44.9, 50.0)])["policies"]["p"]  # fmt: skip
    assert out["relative_error_per_seed"] == pytest.approx([0.0975, -0.098, 0.1025, -0.102])
    assert out["seeds_within_tolerance"] == 2
    assert out["fitted_per_seed"] == [43.9, 45.1, 44.1, 44.9]
    # The pooled column stays the ratio of the means, not the mean of the ratios.
    assert out["relative_error"] == pytest.approx(178.0 / 180.0 - 1.0)


@pytest.mark.slow
def test_experiment_with_item_consequences_changes_what_policies_see_not_the_truth(
    tmp_path: Path,
) -> None:
    world = KnownWorldConfig(n_items=80, slate_size=4, horizon_days=10.0)
    fit = FitConfig(item_consequences=True, min_steps=0)  # what it wires, not fit quality
    with pytest.raises(ConfigError, match="start_members >= 2"):
        run_experiment(1, tmp_path, TINY, world, 200, 100, "hashing", train_on_members=True)
    with pytest.raises(ConfigError, match="needs train_true"):
        run_experiment(1, tmp_path, TINY, world, 200, 100, "hashing", train_true=False,
                       true_log_users=400)  # fmt: skip
    # PPO-fitted trains on a draw per user among the fit and two members (each with its
    # own consequence column, so its users' states differ by member); PPO-true starts
    # from a fit on 400 true-world users.
    report = run_experiment(
        1, tmp_path, TINY, world, 200, 100, "hashing", fit_config=fit, start_members=2,
        train_on_members=True, true_log_users=400,
    )  # fmt: skip
    assert report["fit_config"]["item_consequences"] is True
    assert report["train_on_members"] is True and report["start_members"] == 2
    text = (tmp_path / "report.md").read_text()
    assert "`fit.item_consequences`" in text and "among the fit and its 2 members" in text
    # PPO-true reads another fit's item vectors: the same text columns, its own
    # consequence column (estimated on 400 users, not the logs' 200). It is evaluated
    # in the truth beside the oracles and left out of the fidelity table, whose
    # simulator shows the logs' vectors.
    from ltvrec.agents.policies import load_policy

    vecs = {
        name: load_policy(tmp_path / "seed0" / name)[0].item_embeddings.numpy()
        for name in ("ppo-fitted", "ppo-true")
    }
    np.testing.assert_array_equal(vecs["ppo-true"][:, :-1], vecs["ppo-fitted"][:, :-1])
    assert not np.allclose(vecs["ppo-true"][:, -1], vecs["ppo-fitted"][:, -1])
    assert report["true_log_users"] == 400 and "fit on 400 true-world users" in text
    assert "ppo-true vs quality-aware-oracle" in report["comparisons"]
    assert "ppo-true" not in report["fidelity_where_policies_go"]["policies"]
    # The truth's dynamics do not read the item vectors: the oracles and random earn
    # exactly what they earn in the world the text vectors alone describe.
    by = {r["policy"]: r for r in report["table"]}
    base = KnownWorld(world)
    for name in ("greedy-oracle", "quality-aware-oracle", "random"):
        again = evaluate(base, make_baseline(name, world=base), 100, seed=1_000_000)
        assert by[name]["value_per_seed"][0] == pytest.approx(again.value[0])


@pytest.mark.slow
def test_pipeline_on_ml100k(ml100k: Dataset, tmp_path: Path) -> None:
    from ltvrec.pipeline import run_pipeline
    from ltvrec.simulators import FitConfig

    report = run_pipeline(
        "ml-100k", tmp_path, TINY, FitConfig(epochs=2, min_steps=0), eval_users=20, seeds=1,
        ope_users=30, ope_truth_users=100, fidelity_users=200,
    )  # fmt: skip
    assert [r["policy"] for r in report["evaluation"]] == [
        "ppo", "ppo (start, step 0)", "greedy-model", "popularity-log", "random"
    ]  # fmt: skip
    assert "not identifiable" in report["assumptions"][0]
    assert "repeats forbidden" in report["assumptions"][1]
    by = {r["policy"]: r for r in report["evaluation"]}
    assert report["best_baseline"] in ("greedy-model", "popularity-log")
    assert report["ppo_vs_best_baseline"] == pytest.approx(
        by["ppo"]["value"] / by[report["best_baseline"]]["value"] - 1
    )
    # The table's values are the saved simulator's: greedy-model rebuilt from the saved
    # folder, on the same users (seed 100), gives the same value.
    from ltvrec.simulators import FittedSimulator

    saved = FittedSimulator.load(tmp_path / "simulator")
    again = evaluate(saved, make_baseline("greedy-model", model=saved), 20, seed=100)
    assert by["greedy-model"]["value_per_seed"][0] == pytest.approx(again.value[0])
    # `ltvrec evaluate ppo=DIR` finds the simulator the policy was trained on by itself.
    from ltvrec.agents.evaluation import evaluate_specs

    rows = evaluate_specs([f"ppo={tmp_path / 'ppo'}", "greedy-model"], users=20, seeds=1)
    own = evaluate(saved, make_baseline("greedy-model", model=saved), 20, seed=0)
    assert rows[1]["value"] == pytest.approx(own.value[0])
    text = (tmp_path / "report.md").read_text()
    assert "no ground truth" in text and "| ppo |" in text
    # A consumption-only log's sessions are also compared in consumptions.
    fidelity = json.loads((tmp_path / "fidelity" / "fidelity.json").read_text())
    lengths = fidelity["session_length"]
    assert lengths["simulated_mean_consumptions"] < lengths["simulated_mean"]
    # ml-100k's first sessions (a new user rates at least 20 movies) are its longest.
    kinds = lengths["by_kind"]
    assert 0 < kinds["first"]["held_out_share"] < 1
    assert kinds["first"]["held_out_mean"] > 2 * kinds["later"]["held_out_mean"]
    for sub in ("encoding", "simulator", "fidelity", "ppo", "ope"):
        assert (tmp_path / sub).is_dir()
    # The OPE report: every policy estimated, the simulator's own value beside it.
    ope = json.loads((tmp_path / "ope" / "ope.json").read_text())
    assert list(ope["policies"]) == [
        "ppo (sampled)", "logging", "greedy-model", "popularity-log", "random"
    ]  # fmt: skip
    assert ope["log"]["users"] == 30 and ope["log"]["propensities"]
    for row in ope["policies"].values():
        assert "weighted-dr" in row["estimates"] and "value" in row["truth"]
    # Identity: the logging policy estimated on its own log has every weight 1, so the
    # IS family returns the log's own value per user.
    own = ope["policies"]["logging"]["estimates"]
    for name in ("trajectory-is", "pdis", "weighted-pdis"):
        assert own[name]["value"] == pytest.approx(ope["log"]["on_policy_value_per_user"])
    assert "data:image/png;base64," in (tmp_path / "ope" / "ope.html").read_text()
    assert "Offline policy evaluation" in text
