"""``ltvrec ope``: a report a user can open offline, and one-line errors for bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import ltvrec, ltvrec_here

from ltvrec.offline import replay
from ltvrec.ope_report import warnings_for
from ltvrec.simulators import KnownWorld, KnownWorldConfig, PlackettLucePolicy, simulate_log
from ltvrec.simulators.logs import known_world_catalog


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kw") / "log"
    done = ltvrec("simulate", "known-world", "--users", "150", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
def test_ope_report_is_complete_and_self_contained(small_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = ltvrec(
        "ope", "--logs", str(small_log), "--policy", "logging", "--policy", "popularity-log",
        "--out", str(out), "--truth-users", "300", "--bootstrap", "100", "--members", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "ope.json").read_text())
    assert report["log"]["users"] == 150 and report["log"]["propensities"]
    logging, popularity = report["policies"]["logging"], report["policies"]["popularity-log"]
    assert set(logging["estimates"]) == {
        "trajectory-is", "pdis", "weighted-pdis", "marginalized", "pdis-cascade",
        "weighted-pdis-cascade", "marginalized-cascade", "fqe", "model-based", "dr",
        "weighted-dr",
    }  # fmt: skip
    # The target is the logging policy itself: every weight is 1, so the IS family is
    # exactly the log's own value per user (an identity, not an interval check).
    on_policy = report["log"]["on_policy_value_per_user"]
    for name in ("trajectory-is", "pdis", "weighted-pdis"):
        assert logging["estimates"][name]["value"] == pytest.approx(on_policy, rel=1e-9)
        assert logging["estimates"][name]["n"] == 150
    assert logging["estimates"]["pdis"]["ess"] == pytest.approx(150)
    assert logging["estimates"]["pdis"]["max_weight"] == pytest.approx(1.0)
    # A deterministic policy: IS cannot see it, and the report says so.
    assert popularity["zero_support"] == 1.0
    assert any("probability 0" in w for w in popularity["warnings"])
    page = (out / "ope.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert not re.search(r"(src|href)=.(https?:|//)", page)  # nothing fetched from outside
    assert "| logging | weighted-dr |" in (out / "ope.md").read_text()
    # The identity holds for the factored and marginalised estimators too: every ratio
    # is 1, and the state-ratio solution is w = 1.
    for name in ("pdis-cascade", "weighted-pdis-cascade"):
        assert logging["estimates"][name]["value"] == pytest.approx(on_policy, rel=1e-9)
    assert logging["estimates"]["marginalized"]["value"] == pytest.approx(on_policy, rel=1e-3)
    # The report says which estimate to read: weighted DR on the logging policy's own
    # log; for a policy the weights cannot see, the model-based estimate, flagged.
    assert logging["recommended"]["estimator"] == "weighted-dr"
    assert popularity["recommended"]["estimator"] == "model-based"
    assert "not vouched for by the log" in popularity["recommended"]["reason"]
    assert len(popularity["estimates"]["model-based"]["params"]["members"]) == 2
    # The log records impressions, so the refitted simulators read the residual interest.
    assert report["provenance"]["model_choice_history"] == "residual"
    assert "**popularity-log: read model-based**" in (out / "ope.md").read_text()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--estimators", "pdis,magic"], "unknown estimators ['magic']"),
        (["--policy", "greedy"], "cannot evaluate 'greedy' offline"),
        (["--policy", "greedy-oracle"], "cannot evaluate 'greedy-oracle' offline"),
        (["--policy", "greedy-model"], "greedy-model needs a simulator fitted from the logs"),
        (["--ppo-mode", "argmax"], "ppo_mode must be 'sample' or 'greedy'"),
        (["--members-history", "interest"], "members_history must be one of"),
    ],
)
def test_ope_bad_input_is_one_line(
    small_log: Path, tmp_path: Path, args: list[str], fragment: str
) -> None:
    base = {"--policy": "logging", "--estimators": "pdis"}
    flags = dict(zip(args[::2], args[1::2], strict=True))
    merged = [x for k, v in {**base, **flags}.items() for x in (k, v)]
    done = ltvrec_here("ope", "--logs", str(small_log), "--out", str(tmp_path / "o"), *merged)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {fragment}"), lines


def _row(ess: float, zero_support: float, bellman: float | None, model: bool) -> dict:
    est = {"value": 1.0, "ci": [0.5, 1.5], "ess": ess}
    estimates = {"pdis": est, "weighted-dr": est, "fqe": est}
    if model:
        estimates["model-based"] = {**est, "ci": [2.0, 3.0]}
    quality = None if bellman is None else {"reward_r2": 0.1, "bellman_r2": bellman}
    return {"estimates": estimates, "zero_support": zero_support, "fqe_quality": quality}


@pytest.mark.parametrize(
    ("row", "read", "fragment"),
    [
        (_row(500, 0.0, 0.9, True), "weighted-dr", "rest on 500 of 1,000 users"),
        (_row(50, 0.0, 0.9, True), "model-based", "FQE disagrees"),
        (_row(500, 0.9, 0.9, True), "model-based", "90% of the logged slates"),
        (_row(50, 0.0, 0.9, False), "fqe", "extrapolates"),
        (_row(50, 0.0, 0.1, False), None, "the log cannot answer"),
    ],
)
def test_recommendation_rule(row: dict, read: str | None, fragment: str) -> None:
    from ltvrec.ope_report import recommend

    rec = recommend(row, 1000)
    assert rec["estimator"] == read and fragment in str(rec["reason"])


@pytest.mark.parametrize(("sessions", "guess"), [([4.4, 36.7, 14.7], True), ([2.1, 3.5], False)])
def test_model_based_pick_says_when_its_members_disagree_on_the_users(
    sessions: list[float], guess: bool
) -> None:
    """Members whose users' sessions per user are more than 2x apart make the
    model-based pick a guess, said in the reason, whatever their values say."""
    from ltvrec.ope_report import recommend

    row = _row(50, 0.9, 0.9, True)
    row["estimates"]["model-based"]["params"] = {"members_sessions_per_user": sessions}
    rec = recommend(row, 1000)
    assert rec["estimator"] == "model-based"
    assert bool(rec["guess"]) is guess
    assert ("4.4 to 36.7 sessions per user" in str(rec["reason"])) is guess


def test_replay_refuses_a_log_with_another_slate_size() -> None:
    world = KnownWorld(KnownWorldConfig(slate_size=3))
    log = simulate_log(world, PlackettLucePolicy(world.logging_scores(), 3), 5, seed=0)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    with pytest.raises(ValueError, match="slates have 3 positions but the policies show 5"):
        replay(log, catalog, world.state_encoder, slate_size=5)


def test_warnings_name_each_problem() -> None:
    from ltvrec.offline import PolicyResult
    from ltvrec.ope.intervals import make_estimate

    w = np.r_[np.full(99, 1e-3), 50.0]
    e = make_estimate("PDIS", {}, w, None, w, n_bootstrap=0)
    res = PolicyResult("x", {"pdis": e}, w, 0.9, {"reward_r2": 0.01, "bellman_r2": 0.2})
    text = " ".join(warnings_for(res, 100, True))
    for fragment in (
        "Low effective sample size",
        "Extreme weights",
        "probability 0",
        "reward model explains little",
        "FQE fits its Bellman targets poorly",
    ):
        assert fragment in text
    assert "no propensities" in " ".join(warnings_for(res, 100, False))
    assert "Unstable fit" not in text


def test_a_point_estimate_outside_its_own_interval_is_warned() -> None:
    # As in the demo's OPE section: FQE's full-data fit 2560, its refits' interval
    # [-375, 572] (a near-singular system).
    from dataclasses import replace

    from ltvrec.offline import PolicyResult
    from ltvrec.ope.intervals import make_estimate

    e = make_estimate("FQE", {}, np.full(50, 2560.0), None, None, n_bootstrap=0)
    fqe = replace(e, ci=(-375.0, 571.8), method="bootstrap-percentile (refitted)")
    res = PolicyResult("x", {"fqe": fqe}, None, 0.0, None)
    text = " ".join(warnings_for(res, 50, True))
    assert "Unstable fit: the point estimate of fqe lies outside its own bootstrap" in text
    ok = replace(fqe, ci=(2000.0, 3000.0))
    assert "Unstable" not in " ".join(
        warnings_for(PolicyResult("x", {"fqe": ok}, None, 0.0, None), 50, True)
    )
