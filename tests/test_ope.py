"""OPE estimators: equal to the Open Bandit Pipeline on the same inputs, close to the
truth where it is known, and clear about bad input."""

from __future__ import annotations

import numpy as np
import pytest
from obp.ope import (
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
)
from obp.ope import (
    SlateIndependentIPS as ObpSIIPS,
)
from obp.ope import (
    SlateRewardInteractionIPS as ObpRIPS,
)
from obp.ope import (
    SlateStandardIPS as ObpSSIPS,
)

from ltvrec.interactions import Dataset, InteractionLog
from ltvrec.ope import (
    DM,
    DR,
    IPS,
    SNDR,
    SNIPS,
    BanditFeedback,
    DRShrinkage,
    SlateFeedback,
    SlateIndependentIPS,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
    SwitchDR,
    Target,
)
from ltvrec.ope.intervals import bootstrap_ratio, make_estimate
from ltvrec.simulators import KnownWorld, KnownWorldConfig, PlackettLucePolicy, simulate_log


def _synthetic(
    n: int = 5000, n_actions: int = 10, len_list: int = 3, seed: int = 0
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    logging = rng.dirichlet(np.ones(n_actions), size=(n, len_list)).transpose(0, 2, 1)
    position = rng.integers(0, len_list, n)
    action = np.array([rng.choice(n_actions, p=logging[i, :, position[i]]) for i in range(n)])
    pscore = logging[np.arange(n), action, position]
    reward = rng.binomial(1, 0.2 + 0.05 * (action % 4)).astype(float)
    target = rng.dirichlet(np.ones(n_actions) * 0.5, size=(n, len_list)).transpose(0, 2, 1)
    q_hat = np.clip(rng.normal(0.3, 0.1, (n, n_actions, len_list)), 0, 1)
    return dict(
        reward=reward, action=action, position=position, pscore=pscore, action_dist=target, q=q_hat
    )


PAIRS = [
    (IPS(), InverseProbabilityWeighting(), False),
    (SNIPS(), SelfNormalizedInverseProbabilityWeighting(), False),
    (DM(), DirectMethod(), True),
    (DR(), DoublyRobust(), True),
    (SNDR(), SelfNormalizedDoublyRobust(), True),
    (SwitchDR(tau=3.0), SwitchDoublyRobust(tau=3.0), True),
    (DRShrinkage(lambda_=2.0), DoublyRobustWithShrinkage(lambda_=2.0), True),
]


@pytest.mark.parametrize(("ours", "theirs", "needs_q"), PAIRS, ids=[p[0].name for p in PAIRS])
def test_bandit_estimators_equal_obp_on_synthetic_inputs(
    ours: object, theirs: object, needs_q: bool
) -> None:
    d = _synthetic()
    fb = BanditFeedback.create(d["reward"], d["action"], d["position"], d["pscore"], 10, 3)
    kwargs = {"estimated_rewards_by_reg_model": d["q"]} if needs_q else {}
    ref = theirs.estimate_policy_value(  # type: ignore[attr-defined]
        reward=d["reward"], action=d["action"], position=d["position"], pscore=d["pscore"],
        action_dist=d["action_dist"], **kwargs,
    )  # fmt: skip
    got = ours.estimate(fb, d["action_dist"], d["q"] if needs_q else None, n_bootstrap=0)  # type: ignore[attr-defined]
    assert got.value == pytest.approx(ref, rel=1e-9)
    # The per-request form, computed by hand, gives the same value and interval.
    rows = np.arange(fb.n)
    pi, q = d["action_dist"][rows, :, d["position"]], d["q"][rows, :, d["position"]]
    sparse = Target(
        pi[rows, d["action"]],
        (pi * q).sum(axis=1) if needs_q else None,
        q[rows, d["action"]] if needs_q else None,
    )
    fast = ours.estimate(fb, sparse, n_bootstrap=0)  # type: ignore[attr-defined]
    assert fast.value == pytest.approx(ref, rel=1e-12)
    assert fast.normal_ci == pytest.approx(got.normal_ci, rel=1e-12)


@pytest.mark.parametrize(("ours", "theirs", "needs_q"), PAIRS, ids=[p[0].name for p in PAIRS])
def test_context_free_table_equals_the_dense_target(
    ours: object, theirs: object, needs_q: bool
) -> None:
    d = _synthetic()
    fb = BanditFeedback.create(d["reward"], d["action"], d["position"], d["pscore"], 10, 3)
    rng = np.random.default_rng(7)
    table = rng.dirichlet(np.ones(10), size=3).T  # [n_actions, len_list]
    q_table = rng.random((10, 3))
    dense = np.broadcast_to(table, (fb.n, 10, 3))
    q_dense = np.broadcast_to(q_table, (fb.n, 10, 3)) if needs_q else None
    got = ours.estimate(fb, dense, q_dense, n_bootstrap=0)  # type: ignore[attr-defined]
    fast = Target.from_table(fb, table, q_table if needs_q else None)
    e = ours.estimate(fb, fast, n_bootstrap=0)  # type: ignore[attr-defined]
    assert e.value == pytest.approx(got.value, rel=1e-12)
    assert e.se == pytest.approx(got.se, rel=1e-9)
    assert e.weight_quantiles == got.weight_quantiles


def test_target_table_is_checked() -> None:
    fb = _fb()
    with pytest.raises(ValueError, match="must sum to 1 over actions"):
        Target.from_table(fb, np.array([[0.7], [0.7]]))
    with pytest.raises(ValueError, match=r"shape \(2, 1\)"):
        Target.from_table(fb, np.ones((3, 1)) / 3)


@pytest.mark.parametrize("ratio", [False, True])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_standard_error_equals_the_two_pass_formula(ratio: bool, offset: float) -> None:
    # The dot-product sums of squares agree with np.std, also for a column whose spread
    # is tiny against its level (offset 1e6: the shortcut would cancel; it falls back).
    rng = np.random.default_rng(3)
    num = offset + rng.exponential(1.0, 5000)
    den = rng.uniform(0.5, 1.5, 5000) if ratio else None
    e = make_estimate("x", {}, num, den, den, n_bootstrap=0)
    if den is None:
        want = num.std(ddof=1) / np.sqrt(len(num))
    else:
        resid = (num - e.value * den) / den.mean()
        want = resid.std(ddof=1) / np.sqrt(len(num))
    assert e.se == pytest.approx(want, rel=1e-7)
    if den is not None:  # the weight quantiles, read after the fact, are exact
        assert e.weight_quantiles["p90"] == pytest.approx(np.quantile(den, 0.9), rel=1e-12)


def test_obd_random_policy_ctr_from_bts_logs(obd: Dataset) -> None:
    # Ground truth: the uniform-random policy's CTR, measured on its own logs.
    f = obd.log.frame
    truth = float(f.loc[f["policy"] == "random", "click"].mean())
    bts = InteractionLog(frame=f[f["policy"] == "bts"].reset_index(drop=True), session_gap=None)
    fb = BanditFeedback.from_log(bts, obd.catalog)
    uniform = np.full((fb.n, fb.n_actions, fb.len_list), 1.0 / fb.n_actions)
    truth_se = float(np.sqrt(truth * (1 - truth) / (f["policy"] == "random").sum()))
    refs = (InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting())
    for est, obp_est in zip((IPS(), SNIPS()), refs, strict=True):
        e = est.estimate(fb, uniform, n_bootstrap=500, seed=0)
        ref = obp_est.estimate_policy_value(
            reward=fb.reward, action=fb.action, position=fb.position, pscore=fb.pscore,
            action_dist=uniform,
        )  # fmt: skip
        assert e.value == pytest.approx(ref, rel=1e-9)
        # Estimate and truth agree within their joint sampling error (numbers: docs/ope.md).
        assert abs(e.value - truth) < 2 * np.hypot(e.se, truth_se)
        assert e.ess < fb.n  # BTS is far from uniform: weights are uneven


@pytest.fixture(scope="module")
def slate_log() -> tuple[KnownWorld, InteractionLog]:
    world = KnownWorld(KnownWorldConfig(n_items=40, slate_size=3, horizon_days=5.0))
    policy = PlackettLucePolicy(world.logging_scores(), 3)
    return world, simulate_log(world, policy, 400, seed=0)


def test_slate_estimators_equal_obp(slate_log: tuple[KnownWorld, InteractionLog]) -> None:
    world, log = slate_log
    fb = SlateFeedback.from_log(log)
    n, k = world.n_items, 3
    # Target: uniform random slates; its propensities in closed form.
    joint = 1.0 / (n * (n - 1) * (n - 2))
    target = {
        "pscore": np.full(len(fb.reward), joint),
        "pscore_item_position": np.full(len(fb.reward), 1.0 / n),
        "pscore_cascade": np.array([1.0 / n, 1.0 / (n * (n - 1)), joint])[fb.position],
    }
    for ours, theirs, col in (
        (SlateStandardIPS(), ObpSSIPS(len_list=k), "pscore"),
        (SlateIndependentIPS(), ObpSIIPS(len_list=k), "pscore_item_position"),
        (SlateRewardInteractionIPS(), ObpRIPS(len_list=k), "pscore_cascade"),
    ):
        got = ours.estimate(fb, target[col], n_bootstrap=0)
        ref = theirs.estimate_policy_value(
            fb.slate, fb.reward, fb.position, fb.pscores[col], target[col]
        )
        assert got.value == pytest.approx(ref, rel=1e-9), ours.name


def test_bootstrap_and_normal_intervals_agree_on_a_simple_mean() -> None:
    d = _synthetic(n=20000, seed=3)
    fb = BanditFeedback.create(d["reward"], d["action"], d["position"], d["pscore"], 10, 3)
    e = IPS().estimate(fb, d["action_dist"], n_bootstrap=1000, seed=1)
    assert e.method == "bootstrap-percentile"
    assert e.ci[0] < e.value < e.ci[1]
    width_b, width_n = e.ci[1] - e.ci[0], e.normal_ci[1] - e.normal_ci[0]
    assert abs(width_b - width_n) / width_n < 0.15
    again = IPS().estimate(fb, d["action_dist"], n_bootstrap=1000, seed=1)
    assert again.ci == e.ci  # seeded


@pytest.mark.parametrize("ratio", [False, True])
def test_compressed_bootstrap_has_the_plain_bootstraps_distribution(ratio: bool) -> None:
    # Few distinct (num, den) pairs: the multinomial-count resample must match resampling
    # unit indices. Both are random: compare moments within Monte Carlo error.
    rng = np.random.default_rng(0)
    w = rng.choice([0.5, 1.0, 2.0, 8.0], size=5000)
    num = w * rng.binomial(1, 0.1, 5000)
    den = w if ratio else None
    fast = bootstrap_ratio(num, den, 4000, seed=1)
    plain = bootstrap_ratio(num, den, 4000, seed=2, compress=False)
    se = plain.std()
    assert abs(fast.mean() - plain.mean()) < 4 * se / np.sqrt(2000)
    assert fast.std() == pytest.approx(se, rel=0.08)
    assert np.quantile(fast, 0.975) == pytest.approx(np.quantile(plain, 0.975), abs=0.2 * se)


def _fb(**over: object) -> BanditFeedback:
    base: dict[str, object] = dict(
        reward=np.array([1.0, 0.0]), action=np.array([0, 1]), position=np.array([0, 0]),
        pscore=np.array([0.5, 0.5]), n_actions=2, len_list=1,
    )  # fmt: skip
    base.update(over)
    return BanditFeedback.create(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"pscore": None}, "pscore is missing"),
        ({"pscore": np.array([0.5, 0.0])}, r"pscore must be in \(0, 1\]; row 1"),
        ({"pscore": np.array([0.5, 1.5])}, r"pscore must be in \(0, 1\]; row 1"),
        ({"action": np.array([0, 1, 1])}, "expected 2 rows"),
        ({"action": np.array([0, 2])}, r"action must be in \[0, 2\)"),
        (
            {
                "reward": np.array([]),
                "action": np.array([]),
                "position": np.array([]),
                "pscore": np.array([]),
            },
            "empty",
        ),
    ],
)
def test_invalid_feedback(over: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        _fb(**over)


@pytest.mark.parametrize(
    ("dist", "fragment"),
    [
        (np.array([[[0.7], [0.7]], [[0.5], [0.5]]]), "must sum to 1 over actions; request 0"),
        (np.ones((2, 2, 2)) / 2, r"expected action_dist of shape \(2, 2, 1\)"),
        (np.array([[[1.5], [-0.5]], [[0.5], [0.5]]]), "probabilities >= 0"),
    ],
)
def test_invalid_target_probabilities(dist: np.ndarray, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        IPS().estimate(_fb(), dist)


def test_dr_family_needs_a_reward_model_and_slate_ips_its_propensity(
    slate_log: tuple[KnownWorld, InteractionLog],
) -> None:
    with pytest.raises(ValueError, match="needs estimated_rewards"):
        DR().estimate(_fb(), np.full((2, 2, 1), 0.5))
    _, log = slate_log
    no_cascade = InteractionLog(frame=log.frame.drop(columns="pscore_cascade"))
    with pytest.raises(ValueError, match="needs pscore_cascade"):
        SlateRewardInteractionIPS().estimate(
            SlateFeedback.from_log(no_cascade), np.ones(log.n_rows)
        )


def test_cross_fitted_reward_model_equals_obps_and_feeds_dr() -> None:
    from obp.ope import RegressionModel
    from sklearn.linear_model import LogisticRegression

    from ltvrec.ope.reward_model import cross_fit_rewards

    rng = np.random.default_rng(4)
    n, n_actions, len_list, dim = 3000, 6, 2, 3
    context = rng.normal(size=(n, dim))
    action = rng.integers(0, n_actions, n)
    position = rng.integers(0, len_list, n)
    logit = 1.5 * context[:, 0] + 0.5 * (action % 3) + 0.3 * position - 1.0
    reward = rng.binomial(1, 1 / (1 + np.exp(-logit))).astype(float)
    base = LogisticRegression(max_iter=1000)
    ours = cross_fit_rewards(context, action, position, reward, n_actions, len_list,
                             base_model=base, folds=3, seed=5)  # fmt: skip
    ref = RegressionModel(n_actions=n_actions, len_list=len_list, base_model=base,
                          action_context=np.eye(n_actions)).fit_predict(
        context=context, action=action, reward=reward, position=position, n_folds=3,
        random_state=5)  # fmt: skip
    np.testing.assert_allclose(ours.q_hat, ref, rtol=1e-9, atol=1e-12)
    # Held-out quality: the (additive, well-specified) model has real signal and says so;
    # on rewards driven by a context x action interaction it cannot fit, it says that too.
    assert ours.quality["auc"] > 0.7 and ours.quality["r2"] > 0.1
    twisted = rng.binomial(1, 1 / (1 + np.exp(-3 * context[:, 0] * (action % 3 - 1)))).astype(float)
    poor = cross_fit_rewards(context, action, position, twisted, n_actions, len_list, folds=3)
    assert poor.quality["auc"] < 0.6 and poor.quality["r2"] < 0.02
    pscore = np.full(n, 1.0 / n_actions)
    fb = BanditFeedback.create(reward, action, position, pscore, n_actions, len_list)
    uniform = np.full((n, n_actions, len_list), 1.0 / n_actions)
    got = DR().estimate(fb, uniform, ours.q_hat, n_bootstrap=0).value
    want = DoublyRobust().estimate_policy_value(
        reward=reward, action=action, position=position, pscore=pscore, action_dist=uniform,
        estimated_rewards_by_reg_model=ref)  # fmt: skip
    assert got == pytest.approx(want, rel=1e-9)


def test_reward_model_bad_shapes() -> None:
    from ltvrec.ope.reward_model import cross_fit_rewards

    with pytest.raises(ValueError, match=r"expected context \[n, F\]"):
        cross_fit_rewards(np.zeros((5, 2)), np.zeros(4, int), np.zeros(4, int), np.zeros(4), 2)
