"""OPE of whole policies on simulator logs: the replayed states are the ones the policy
saw, and the DR family stays on the known world's truth where importance sampling
alone fails."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ltvrec.offline import evaluate_policy, replay
from ltvrec.simulators import (
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    evaluate,
    simulate_log,
)
from ltvrec.simulators.base import SimState, UserSimulator
from ltvrec.simulators.logs import known_world_catalog


class _Recorder:
    """The logging policy, keeping every observation it was shown."""

    def __init__(self, inner: PlackettLucePolicy) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen: list[np.ndarray] = []

    def act(self, sim: UserSimulator, state: SimState, rng: np.random.Generator) -> Any:
        self.seen.append(state.obs.copy())
        return self.inner.act(sim, state, rng)

    def propensities(self, slates: np.ndarray) -> dict[str, np.ndarray]:
        return self.inner.propensities(slates)


def test_replayed_states_are_the_states_the_policy_saw() -> None:
    world = KnownWorld()
    rec = _Recorder(PlackettLucePolicy(world.logging_scores(), world.slate_size))
    log = simulate_log(world, rec, 60, seed=3)
    req = replay(
        log, known_world_catalog(world.items.titles, world.items.price), world.state_encoder
    )
    seen = np.concatenate(rec.seen)  # one row per request, in the simulator's order
    assert len(seen) == len(req.user)
    # Same multiset of states (the orders differ): compare sorted rows.
    a = seen[np.lexsort(seen.T[::-1])]
    b = req.state[np.lexsort(req.state.T[::-1])]
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert req.pscore is not None and req.pscore.min() > 0


@pytest.mark.slow
def test_dr_family_covers_the_truth_where_pdis_fails() -> None:
    world = KnownWorld()
    scores = world.logging_scores()
    log = simulate_log(world, PlackettLucePolicy(scores, world.slate_size), 1000, seed=0)
    req = replay(
        log, known_world_catalog(world.items.titles, world.items.price), world.state_encoder
    )
    noise = np.random.default_rng(1).standard_normal(len(scores))
    target = PlackettLucePolicy(scores + 0.2 * noise, world.slate_size, name="target")
    truth, lo, hi = evaluate(world, target, 4000, seed=5).value
    res = evaluate_policy("target", target, world, req, samples=4, n_bootstrap=300)
    e = res.estimates
    slack = (hi - lo) / 2  # the Monte Carlo truth's own half-width
    for key in ("dr", "weighted-dr", "fqe"):
        assert e[key].ci[0] - slack <= truth <= e[key].ci[1] + slack, (key, e[key].ci, truth)
    # PDIS's weights degenerate this far from logging; its interval misses the truth.
    assert e["pdis"].ess < 0.05 * req.n_users
    assert e["pdis"].ci[1] < truth
    assert res.fqe_quality is not None and res.fqe_quality["bellman_r2"] > 0.5


def test_consumed_before_each_request_by_hand() -> None:
    from ltvrec.offline import _consumed_before

    # Two users; user 0 consumes item 2, nothing, item 0; user 1 consumes item 2, item 1.
    user = np.array([0, 0, 0, 1, 1])
    clicked = np.array([2, -1, 0, 2, 1])
    got = _consumed_before(user, clicked, np.array([0, 3]), 3)
    want = np.array(
        [[0, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0], [0, 0, 1]], dtype=bool
    )  # what each user had consumed *before* each of their requests
    np.testing.assert_array_equal(got, want)


def test_ope_refuses_a_policy_that_reads_latent_state() -> None:
    from ltvrec.errors import InputError
    from ltvrec.simulators import GreedyPolicy
    from ltvrec.simulators.policies import ScoredPolicy

    world = KnownWorld(KnownWorldConfig(n_items=30, slate_size=3, horizon_days=5.0))
    log = simulate_log(world, PlackettLucePolicy(world.logging_scores(), 3), 20, seed=0)
    catalog = known_world_catalog(world.items.titles, world.items.price)
    req = replay(log, catalog, world.state_encoder)
    assert not isinstance(GreedyPolicy(), ScoredPolicy)
    with pytest.raises(InputError, match="reads the simulator's latent state"):
        evaluate_policy("greedy-oracle", GreedyPolicy(), world, req)  # type: ignore[arg-type]


def test_model_based_in_the_true_world_is_its_monte_carlo_value() -> None:
    """With the truth itself as every ensemble member, the model-based estimate is the
    truth's Monte Carlo value on the same users, and its interval is that simulation's
    own error widened by t with K - 1 degrees of freedom (hand-computed here)."""
    from scipy import stats

    from ltvrec.offline import model_based

    world = KnownWorld(KnownWorldConfig(n_items=40, slate_size=3, horizon_days=10.0))
    logging = PlackettLucePolicy(world.logging_scores(), world.slate_size)
    est = model_based(logging, [world, world, world], n_users=200, seed=3)
    run = evaluate(world, logging, 200, seed=3)
    assert est.value == pytest.approx(run.value[0], rel=1e-12)
    assert est.params["members"] == [pytest.approx(run.value[0])] * 3
    mc = run.returns.std(ddof=1) / np.sqrt(200)
    half = stats.t.ppf(0.975, 2) * mc
    assert est.ci == pytest.approx((run.value[0] - half, run.value[0] + half))
    with pytest.raises(ValueError, match=">= 2 ensemble members"):
        model_based(logging, [world], n_users=10)


def test_model_based_shows_a_policy_its_own_layout_inside_wider_members() -> None:
    """Members whose item vectors carry one more column (a fit's item consequences) show
    wider states; with ``layout`` the policy acts on the columns that form its own. The
    known world's dynamics do not read the item vectors, so a policy that scores items
    by the user's interest block earns in the wider world exactly what it earns in its
    own."""
    from dataclasses import dataclass

    from ltvrec.offline import model_based
    from ltvrec.simulators.policies import ScoredPolicy

    cfg = KnownWorldConfig(n_items=40, slate_size=3, horizon_days=10.0)
    base = KnownWorld(cfg)
    extra = np.random.default_rng(0).standard_normal((base.n_items, 1)).astype(np.float32)
    wide = KnownWorld(cfg, item_embeddings=np.hstack([base.item_embeddings, extra]))
    d = base.item_embeddings.shape[1]

    @dataclass(frozen=True)
    class ByInterest(ScoredPolicy):
        emb: np.ndarray
        name: str = "by interest"
        deterministic: bool = False

        def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
            assert obs.shape[1] == base.state_encoder.size
            return 3.0 * obs[:, :d] @ self.emb.T

    policy = ByInterest(base.item_embeddings)
    own = model_based(policy, [base, base], n_users=150, seed=2)
    inside = model_based(
        policy, [wide, wide], n_users=150, seed=2, layout=base.state_encoder.layout
    )
    assert inside.value == pytest.approx(own.value, rel=1e-12)
    with pytest.raises(AssertionError):  # without the layout it reads the wide state
        model_based(policy, [wide, wide], n_users=10)
