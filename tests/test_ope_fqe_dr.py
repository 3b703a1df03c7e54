"""Sequential DR, weighted DR and FQE: identities that hold exactly, a hand-checked
example, an MDP whose values are known, and the known world's truth."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import hand_trajectories

from ltvrec.ope import (
    FQE,
    PDIS,
    FQEConfig,
    SequentialDR,
    Trajectories,
    WeightedDR,
    WeightedPDIS,
)
from ltvrec.ope.sequential import resampled_weighted


def test_dr_with_a_zero_model_is_pdis_and_weighted_dr_is_weighted_pdis() -> None:
    t = hand_trajectories()
    zero = np.zeros(4)
    for dr, is_ in ((SequentialDR(), PDIS()), (WeightedDR(), WeightedPDIS())):
        assert dr.estimate(t, zero, zero, n_bootstrap=0).value == pytest.approx(
            is_.estimate(t, n_bootstrap=0).value, rel=1e-12
        )


def _random_trajectories(seed: int) -> tuple[Trajectories, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 7, size=9)
    user = np.repeat(np.arange(9), lengths)
    step = np.concatenate([np.arange(n) for n in lengths])
    r = len(user)
    target = np.where(rng.random(r) < 0.1, 0.0, rng.uniform(0, 1, r))  # some zero ratios
    t = Trajectories(user, step, rng.normal(1, 1, r), rng.uniform(0.1, 1, r), target)
    return t, rng.normal(size=r), rng.normal(size=r)


def _replicated(t: Trajectories, counts: np.ndarray, *arrays: np.ndarray) -> list:
    """The trajectories (and per-request arrays) with user i repeated counts[i] times."""
    rows = [np.flatnonzero(t.user == i) for i in range(t.n_users) for _ in range(counts[i])]
    idx = np.concatenate(rows)
    user = np.concatenate([np.full(len(r), k) for k, r in enumerate(rows)])
    rep = Trajectories(user, t.step[idx], t.reward[idx], t.behaviour[idx], t.target[idx])
    return [rep, *(a[idx] for a in arrays)]


def test_clipping_by_hand_and_its_reported_shift() -> None:
    t = hand_trajectories()
    zero = np.zeros(4)
    # Cumulative weights: user 0: 2, 1, 1; user 1: 0.5. Clipped at 1.5: 1.5, 1, 1; 0.5.
    est = PDIS(clip=1.5).estimate(t, n_bootstrap=0)
    assert est.value == pytest.approx((1.5 * 1 + 0 + 1 * 2 + 0.5 * 1) / 2)
    assert est.params["clipped_share"] == 0.25
    assert est.params["shift_from_clipping"] == pytest.approx(est.value - (4 + 0.5) / 2)
    # A cap no weight reaches changes nothing, in every estimator.
    for clipped, plain in (
        (PDIS(clip=1e9), PDIS()), (WeightedPDIS(clip=1e9), WeightedPDIS()),
    ):  # fmt: skip
        a, b = clipped.estimate(t, n_bootstrap=0), plain.estimate(t, n_bootstrap=0)
        assert a.value == b.value and a.params["shift_from_clipping"] == 0.0
    for dr_clipped, dr in (
        (SequentialDR(clip=1e9), SequentialDR()),
        (WeightedDR(clip=1e9), WeightedDR()),
    ):
        a, b = (
            dr_clipped.estimate(t, zero, zero, n_bootstrap=0),
            dr.estimate(t, zero, zero, n_bootstrap=0),
        )
        assert a.value == b.value and a.params["clipped_share"] == 0.0
    with pytest.raises(ValueError, match="clip must be > 0"):
        PDIS(clip=0.0).estimate(t)


@pytest.mark.parametrize(("gamma", "clip"), [(1.0, None), (0.8, None), (1.0, 1.5)])
def test_weighted_resamples_recompute_their_normalisers(gamma: float, clip: float | None) -> None:
    """Identity: the bootstrap's value on a resample equals the estimator run on the
    resampled users (normalisers and all); all-ones counts give the point estimate."""
    t, q, v = _random_trajectories(3)
    counts = np.random.default_rng(0).multinomial(9, np.full(9, 1 / 9), size=4)
    counts = np.vstack([np.ones(9, dtype=np.int64), counts])
    got_pdis = resampled_weighted(t, counts, gamma, t.reward, clip=clip)
    got_dr = resampled_weighted(t, counts, gamma, t.reward - q, v, clip=clip)
    for b, c in enumerate(counts):
        rep, rq, rv = _replicated(t, c, q, v)
        want = WeightedPDIS(gamma, clip).estimate(rep, n_bootstrap=0).value
        assert got_pdis[b] == pytest.approx(want, rel=1e-10)
        want = WeightedDR(gamma, clip).estimate(rep, rq, rv, n_bootstrap=0).value
        assert got_dr[b] == pytest.approx(want, rel=1e-10)
    # And the interval is built from those resamples.
    est = WeightedPDIS(gamma, clip).estimate(t, n_bootstrap=200, seed=1)
    assert est.method == "bootstrap-percentile (normalisers recomputed)"
    assert est.ci[0] <= est.ci[1]


def test_sequential_dr_byhand_trajectories() -> None:
    t = hand_trajectories()
    q = np.array([0.5, 1.0, 1.5, 2.0])
    v = np.array([3.0, 2.0, 1.0, 0.5])
    # Cumulative weights: user 0: 2, 1, 1; user 1: 0.5.
    # User 0: [2(1-0.5) + 1*3] + [1(0-1) + 2*2] + [1(2-1.5) + 1*1] = 4 + 3 + 1.5 = 8.5
    # User 1: 0.5(1-2) + 1*0.5 = 0.
    assert SequentialDR().estimate(t, q, v, n_bootstrap=0).value == pytest.approx(8.5 / 2)
    # gamma = 0.5 discounts each request's term by 0.5^t: 4 + 1.5 + 0.375 = 5.875.
    assert SequentialDR(gamma=0.5).estimate(t, q, v, n_bootstrap=0).value == pytest.approx(
        5.875 / 2
    )


def test_dr_is_exact_with_the_true_model_whatever_the_weights() -> None:
    # Deterministic rewards r_t = t + 1 over 3 steps: Q and V are the rewards-to-go, and
    # DR's correction terms cancel for any weights: the value is V(s_0) = 6.
    n = 50
    user = np.repeat(np.arange(n), 3)
    step = np.tile(np.arange(3), n)
    reward = (step + 1).astype(float)
    rng = np.random.default_rng(0)
    t = Trajectories(user, step, reward, rng.uniform(0.1, 1, 3 * n), rng.uniform(0, 1, 3 * n))
    togo = np.array([6.0, 5.0, 3.0])[step]
    for dr in (SequentialDR(), WeightedDR()):
        assert dr.estimate(t, togo, togo, n_bootstrap=0).value == pytest.approx(6.0, rel=1e-12)


def _chain(n: int = 400) -> tuple[Trajectories, np.ndarray, np.ndarray]:
    # Three steps, reward t + 1 plus noise, one-hot step features: FQE's answer is 6.
    rng = np.random.default_rng(1)
    user = np.repeat(np.arange(n), 3)
    step = np.tile(np.arange(3), n)
    reward = step + 1 + rng.normal(0, 0.1, 3 * n)
    x = np.eye(3)[step]
    p = np.full(3 * n, 0.5)
    return Trajectories(user, step, reward, p, p), x, x[:, None, :]


@pytest.mark.parametrize(
    "config", [FQEConfig(ridge=1e-9), FQEConfig(ridge=1e-9, iterations=3)], ids=["fixed", "iter"]
)
def test_fqe_recovers_known_values(config: FQEConfig) -> None:
    t, xl, xt = _chain()
    values = FQE(config).fit_predict(t, xl, xt, n_bootstrap=200)
    np.testing.assert_allclose(values.v, np.array([6.0, 5.0, 3.0])[t.step], atol=0.05)
    e = FQE(config).estimate(t, values, n_bootstrap=200)
    # Tabular features, target = logging, equal folds, no shrinkage: FQE is the mean
    # observed return, exactly.
    returns = t.reward.reshape(-1, 3).sum(axis=1)
    assert e.value == pytest.approx(returns.mean(), rel=1e-9)
    assert values.quality["bellman_r2"] > 0.95
    if values.bootstrap is not None:  # the fixed point refits on resamples: its spread is
        # the sampling error of that mean
        assert e.method == "bootstrap-percentile (refitted)"
        assert e.se == pytest.approx(returns.std() / np.sqrt(len(returns)), rel=0.15)


def test_fqe_mlp_learns_the_chain() -> None:
    t, xl, xt = _chain()
    cfg = FQEConfig(hidden=(16,), iterations=6, epochs=30, lr=0.02)
    values = FQE(cfg).fit_predict(t, xl, xt)
    assert FQE(cfg).estimate(t, values, n_bootstrap=0).value == pytest.approx(6.0, abs=0.3)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"x_logged": np.zeros((5, 3))}, r"expected x_logged \[1200, F\]"),
        ({"x_target": np.zeros((1200, 3))}, r"expected x_target \[1200, M, 3\]"),
    ],
)
def test_fqe_rejects_bad_shapes(kwargs: dict[str, np.ndarray], fragment: str) -> None:
    t, xl, xt = _chain()
    args = {"x_logged": xl, "x_target": xt, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        FQE().fit_predict(t, args["x_logged"], args["x_target"])


def test_config_and_value_errors() -> None:
    with pytest.raises(ValueError, match="folds must be >= 2"):
        FQEConfig(folds=1)
    t = hand_trajectories()
    with pytest.raises(ValueError, match="expected q_logged of shape"):
        SequentialDR().estimate(t, np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="v has NaN"):
        SequentialDR().estimate(t, np.zeros(4), np.array([0, np.nan, 0, 0]))
