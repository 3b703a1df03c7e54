"""Cascade-factored sequential estimators against truth: a tiny slate MDP enumerated
exactly, where PDIS with prefix-through-the-last-click ratios is unbiased when the user
is a cascade user, and measurably biased when the choice at the top depends on the item
below it; and the factored ratio equals the joint one for slates of one item."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

from ltvrec.ope import PDIS, Trajectories

N, K = 3, 2  # items, slate size
SLATES = list(itertools.permutations(range(N), K))
CLICK = np.array([[0.5, 0.2, 0.35], [0.1, 0.6, 0.3]])  # click prob [state, item]
REWARD = np.array([[1.0, 2.0, 0.5], [3.0, 0.5, 1.0]])  # reward of a click [state, item]
NEXT_AFTER_CLICK = np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])  # P(s' | clicked item)
NEXT_NO_CLICK = np.array([[0.6, 0.4], [0.1, 0.9]])  # P(s' | s, no click)
P0 = np.array([0.7, 0.3])
MU_SCORES = np.array([[0.0, 0.0, 0.0], [0.5, -0.5, 0.0]])
PI_SCORES = np.array([[2.0, -1.0, 0.5], [-1.0, 1.5, 0.0]])


def _pl(scores: np.ndarray, slate: tuple[int, ...]) -> np.ndarray:
    """Prefix probabilities ``[K]`` of ``slate`` under Plackett-Luce ``scores``."""
    w = np.exp(scores)
    left, out, p = w.sum(), [], 1.0
    for a in slate:
        p *= w[a] / left
        left -= w[a]
        out.append(p)
    return np.array(out)


def _outcomes(s: int, slate: tuple[int, ...], interaction: float) -> list[tuple[int, float]]:
    """``(clicked position or -1, probability)``: a cascade user clicks the first item
    with prob ``CLICK``, else looks at the second. ``interaction > 0`` breaks the
    cascade: the first click's chance also falls with the second item's appeal."""
    c0 = CLICK[s, slate[0]] * (1 - interaction * CLICK[s, slate[1]])
    c1 = (1 - c0) * CLICK[s, slate[1]]
    return [(0, c0), (1, c1), (-1, 1 - c0 - c1)]


def _enumerate(interaction: float) -> tuple[float, float, float]:
    """Exact ``(true value of PI, E_mu[PDIS-cascade], E_mu[PDIS joint])`` over two
    requests per user."""
    truth = cascade_mean = joint_mean = 0.0

    def steps(s: int) -> Iterator[tuple[tuple[int, ...], int, float]]:
        for slate in SLATES:
            for pos, p_out in _outcomes(s, slate, interaction):
                yield slate, pos, p_out

    def next_states(s: int, slate: tuple[int, ...], pos: int) -> np.ndarray:
        return NEXT_AFTER_CLICK[slate[pos]] if pos >= 0 else NEXT_NO_CLICK[s]

    for s0 in range(2):
        for sl0, pos0, p_o0 in steps(s0):
            for s1 in range(2):
                p_s1 = next_states(s0, sl0, pos0)[s1]
                for sl1, pos1, p_o1 in steps(s1):
                    rows = [(s0, sl0, pos0), (s1, sl1, pos1)]
                    rewards = [REWARD[s, sl[p]] if p >= 0 else 0.0 for s, sl, p in rows]
                    mu = [_pl(MU_SCORES[s], sl) for s, sl, _ in rows]
                    pi = [_pl(PI_SCORES[s], sl) for s, sl, _ in rows]
                    env = P0[s0] * p_o0 * p_s1 * p_o1
                    truth += env * pi[0][-1] * pi[1][-1] * sum(rewards)
                    p_mu = env * mu[0][-1] * mu[1][-1]
                    for joint in (False, True):
                        last = [K - 1 if joint or p < 0 else p for _, _, p in rows]
                        traj = Trajectories(
                            np.zeros(2, dtype=int),
                            np.arange(2),
                            np.array(rewards),
                            np.array([m[k] for m, k in zip(mu, last, strict=True)]),
                            np.array([q[k] for q, k in zip(pi, last, strict=True)]),
                        )
                        value = PDIS().estimate(traj, n_bootstrap=0).value
                        if joint:
                            joint_mean += p_mu * value
                        else:
                            cascade_mean += p_mu * value
    return truth, cascade_mean, joint_mean


def test_cascade_pdis_is_unbiased_for_a_cascade_user():
    truth, cascade, joint = _enumerate(interaction=0.0)
    assert joint == pytest.approx(truth, rel=1e-10)
    assert cascade == pytest.approx(truth, rel=1e-10)


def test_cascade_pdis_is_biased_when_the_top_click_depends_on_the_item_below():
    truth, cascade, joint = _enumerate(interaction=0.9)
    assert joint == pytest.approx(truth, rel=1e-10)  # the joint ratio needs no assumption
    assert abs(cascade - truth) > 1e-3 * truth


def test_factored_ratio_is_the_joint_ratio_for_one_item_slates():
    from ltvrec.offline import replay, target_probabilities
    from ltvrec.simulators import (
        KnownWorld,
        KnownWorldConfig,
        PlackettLucePolicy,
        simulate_log,
    )
    from ltvrec.simulators.logs import known_world_catalog

    world = KnownWorld(KnownWorldConfig(n_items=40, slate_size=1, horizon_days=5.0))
    logging = PlackettLucePolicy(world.logging_scores(), 1)
    log = simulate_log(world, logging, 30, seed=0)
    req = replay(log, known_world_catalog(world.items.titles, world.items.price),
                 world.state_encoder)  # fmt: skip
    assert req.pscore_to_click is not None and req.last_click is not None
    assert np.any(req.last_click >= 0)
    np.testing.assert_array_equal(req.pscore_to_click, req.pscore)
    target = PlackettLucePolicy(world.logging_scores() * 0.5, 1, name="target")
    joint, to_click = target_probabilities(target, req)
    np.testing.assert_array_equal(to_click, joint)
