"""Marginalised importance sampling against truth: a tabular chain whose state
visitation ratios and value are computed exactly, and the identity at the logging
policy."""

from __future__ import annotations

import numpy as np
import pytest

from ltvrec.ope import MarginalizedIS, Trajectories

# A 3-state chain with 2 actions and termination: P[s, a] over (s' = 0, 1, 2, end).
P = np.array(
    [
        [[0.1, 0.6, 0.1, 0.2], [0.5, 0.1, 0.3, 0.1]],
        [[0.2, 0.2, 0.4, 0.2], [0.1, 0.5, 0.1, 0.3]],
        [[0.3, 0.1, 0.2, 0.4], [0.2, 0.2, 0.5, 0.1]],
    ]
)
R = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.5]])  # mean reward r(s, a)
P0 = np.array([0.6, 0.3, 0.1])
MU = np.array([[0.5, 0.5], [0.6, 0.4], [0.3, 0.7]])
PI = np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.2]])


def _exact(policy: np.ndarray) -> tuple[np.ndarray, float]:
    """Expected visits per state and the value, ``gamma = 1``."""
    p = np.einsum("sa,sat->st", policy, P[:, :, :3])
    visits = np.linalg.solve(np.eye(3) - p.T, P0)
    return visits, float(visits @ (policy * R).sum(axis=1))


def _log(users: int, seed: int) -> tuple[Trajectories, np.ndarray]:
    """Trajectories logged by ``MU`` (rewards Bernoulli-free: mean plus N(0, 1) noise)
    and each request's state."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, int, int, float]] = []
    for u in range(users):
        s, t = rng.choice(3, p=P0), 0
        while True:
            a = rng.choice(2, p=MU[s])
            rows.append((u, t, s, a, R[s, a] + rng.standard_normal()))
            nxt = rng.choice(4, p=P[s, a])
            if nxt == 3:
                break
            s, t = nxt, t + 1
    user, step, state, action, reward = (np.array(c) for c in zip(*rows, strict=True))
    traj = Trajectories(user, step, reward.astype(float), MU[state, action], PI[state, action])
    return traj, state


@pytest.fixture(scope="module")
def chain_log() -> tuple[Trajectories, np.ndarray]:
    return _log(6000, seed=0)


def test_tabular_ratios_and_value_match_the_exact_chain(chain_log):
    traj, state = chain_log
    onehot = np.eye(3)[state][:, 1:]  # the intercept is the third indicator
    est = MarginalizedIS(ridge=0.0, standardize=False)
    w = est.state_ratios(traj, onehot)
    d_pi, truth = _exact(PI)
    d_mu, _ = _exact(MU)
    for s in range(3):
        assert np.allclose(w[state == s], w[state == s][0])  # one ratio per state
        assert w[state == s][0] == pytest.approx(d_pi[s] / d_mu[s], rel=0.06)
    e = est.estimate(traj, onehot, n_bootstrap=300, seed=1)
    assert abs(e.value - truth) < 4 * e.se
    assert e.ci[0] < truth < e.ci[1]
    # The product of ratios degenerates on long chains; the marginal weights do not.
    assert e.params["negative_ratio_share"] == 0.0


def test_logging_target_gives_unit_ratios_and_the_logged_mean(chain_log):
    traj, state = chain_log
    same = Trajectories(traj.user, traj.step, traj.reward, traj.behaviour, traj.behaviour)
    feats = np.c_[np.eye(3)[state][:, 1:], np.random.default_rng(2).standard_normal(len(state))]
    est = MarginalizedIS(ridge=0.0)
    assert np.allclose(est.state_ratios(same, feats), 1.0, atol=1e-9)
    e = est.estimate(same, feats, n_bootstrap=0)
    logged_mean = np.bincount(traj.user, weights=traj.reward).mean()
    assert e.value == pytest.approx(logged_mean, rel=1e-9)


def test_bootstrap_refits_the_ratio(chain_log):
    """Each resample's value is the estimator run on the resampled users (the identity
    the per-user sums rely on), checked for one resample by running it directly."""
    from ltvrec.ope.marginal import _refitted_bootstrap

    traj, state = chain_log
    feats = np.eye(3)[state][:, 1:]
    est = MarginalizedIS(ridge=0.0, standardize=False)
    z = est._design(traj, feats)
    z, lhs, rho, first = est._system(traj, z)
    boot = _refitted_bootstrap(traj, z, lhs, rho, first, est._penalty(3, len(z)), 1, seed=5)
    counts = np.random.default_rng(5).multinomial(
        traj.n_users, np.full(traj.n_users, 1.0 / traj.n_users), size=1
    )[0]
    pick = np.repeat(np.arange(traj.n_users), counts)
    rows = np.concatenate([np.flatnonzero(traj.user == u) for u in pick])
    new_user = np.repeat(np.arange(len(pick)), [np.sum(traj.user == u) for u in pick])
    resampled = Trajectories(
        new_user, traj.step[rows], traj.reward[rows], traj.behaviour[rows], traj.target[rows]
    )
    direct = est.estimate(resampled, feats[rows], n_bootstrap=0).value
    assert boot[0] == pytest.approx(direct, rel=1e-9)


def test_bad_inputs_are_named(chain_log):
    traj = chain_log[0]
    with pytest.raises(ValueError, match="features"):
        MarginalizedIS().estimate(traj, np.ones((3, 2)))
    with pytest.raises(ValueError, match="gamma"):
        MarginalizedIS(gamma=1.5)
