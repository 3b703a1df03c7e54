"""Trajectory-level IS estimators: hand-computed values, and the known world's truth."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import hand_trajectories

from ltvrec.ope.sequential import PDIS, Trajectories, TrajectoryIS, WeightedPDIS
from ltvrec.simulators import KnownWorld, PlackettLucePolicy, evaluate, simulate_log
from ltvrec.simulators.plackett_luce import slate_log_prob


def test_hand_computed_values() -> None:
    t = hand_trajectories()
    # Trajectory IS: user 0 weight 2*0.5*1 = 1, return 3 -> 3; user 1: 0.5 * 1 -> 0.5.
    assert TrajectoryIS().estimate(t, n_bootstrap=0).value == pytest.approx((3 + 0.5) / 2)
    # PDIS: user 0: 2*1 + 1*0 + 1*2 = 4; user 1: 0.5*1 = 0.5.
    assert PDIS().estimate(t, n_bootstrap=0).value == pytest.approx((4 + 0.5) / 2)
    # Weighted PDIS: mean weight at step 0 = (2 + 0.5)/2 = 1.25; at step 1 = (1 + 0.5)/2 =
    # 0.75 (user 1 ended with weight 0.5); at step 2 = (1 + 0.5)/2 = 0.75.
    # user 0: 2*1/1.25 + 0 + 1*2/0.75; user 1: 0.5*1/1.25.
    want = (2 / 1.25 + 2 / 0.75 + 0.5 / 1.25) / 2
    assert WeightedPDIS().estimate(t, n_bootstrap=0).value == pytest.approx(want)
    # Discounting: PDIS with gamma 0.5 -> user 0: 2*1 + 0.25*1*2 = 2.5.
    assert PDIS(gamma=0.5).estimate(t, n_bootstrap=0).value == pytest.approx((2.5 + 0.5) / 2)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("user", np.array([1, 0, 0, 1]), "non-decreasing"),
        (
            "behaviour",
            np.array([0.0, 0.5, 0.5, 0.5]),
            r"behaviour probabilities must be in \(0, 1\]",
        ),
        ("target", np.array([1.5, 0.5, 0.5, 0.5]), r"target probabilities must be in \[0, 1\]"),
        ("reward", np.array([1.0]), "reward has 1 rows, expected 4"),
    ],
)
def test_invalid_trajectories(field: str, value: np.ndarray, fragment: str) -> None:
    base = hand_trajectories()
    kwargs = {k: getattr(base, k) for k in ("user", "step", "reward", "behaviour", "target")}
    kwargs[field] = value
    with pytest.raises(ValueError, match=fragment):
        Trajectories(**kwargs)


def _from_known_world(eps: float) -> tuple[Trajectories, tuple[float, float, float]]:
    world = KnownWorld()
    scores = world.logging_scores()
    target_scores = scores + eps * np.random.default_rng(1).standard_normal(len(scores))
    target = PlackettLucePolicy(target_scores, world.slate_size, name="target")
    truth = evaluate(world, target, 4000, seed=5).value
    log = simulate_log(world, PlackettLucePolicy(scores, world.slate_size), 2000, seed=0)
    f = log.frame.sort_values(["user_id", "timestamp", "request_id", "position"])
    k = world.slate_size
    slates = f["item_id"].to_numpy().reshape(-1, k)
    first = f.iloc[::k]
    user = first["user_id"].to_numpy()
    step = first.groupby("user_id").cumcount().to_numpy()
    reward = f["reward"].to_numpy().reshape(-1, k).sum(axis=1)
    tp = np.exp(slate_log_prob(np.broadcast_to(target_scores, (len(slates), len(scores))), slates))
    return Trajectories(user, step, reward, first["pscore"].to_numpy(), tp), truth


@pytest.mark.slow
def test_near_the_logging_policy_pdis_covers_the_true_value() -> None:
    traj, (truth, lo, hi) = _from_known_world(eps=0.05)
    for est in (PDIS(), WeightedPDIS()):
        e = est.estimate(traj, n_bootstrap=300, seed=0)
        # The estimate's CI covers the Monte Carlo truth (itself +-0.6 at 95%).
        assert e.ci[0] - (hi - truth) <= truth <= e.ci[1] + (truth - lo), (est, e.ci, truth)


@pytest.mark.slow
def test_far_from_the_logging_policy_the_weights_say_so() -> None:
    traj, _ = _from_known_world(eps=0.2)
    e = PDIS().estimate(traj, n_bootstrap=0)
    assert e.ess < 0.01 * traj.n_users  # degenerate: 2000 users, effective ~5


def test_a_zero_target_probability_ends_the_weight_without_nan() -> None:
    t = hand_trajectories()
    zeroed = Trajectories(t.user, t.step, t.reward, t.behaviour, np.array([0.5, 0.0, 0.5, 0.25]))
    # User 0's weight is 2 at step 0 and 0 from step 1 on; user 1 is untouched.
    np.testing.assert_array_equal(np.exp(zeroed.cumulative_log_weights()), [2.0, 0.0, 0.0, 0.5])
    assert PDIS().estimate(zeroed, n_bootstrap=0).value == pytest.approx((2.0 + 0.5) / 2)
    everything_zero = Trajectories(t.user, t.step, t.reward, t.behaviour, np.zeros(4))
    assert PDIS().estimate(everything_zero, n_bootstrap=0).value == 0.0
