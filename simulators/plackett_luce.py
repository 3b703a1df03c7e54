"""Plackett-Luce slates in numpy: sampling, exact slate probabilities, marginals.

Scores ``s [B, N]`` over N candidates define, for a slate ``a = (a_1..a_K)``,

    P(a) = prod_k exp(s_{a_k}) / sum_{j not in a_1..a_{k-1}} exp(s_j)      (joint)
    P(a_1..a_k) = the same product up to k                                  (cascade)

Sampling is Gumbel-top-K: add i.i.d. Gumbel(0, 1) noise to the scores and take the K
largest, which draws exactly from this distribution (Yellott 1977; Kool et al. 2019,
"Stochastic Beams and Where to Find Them"). Slates never hold duplicates.

The item-position marginal ``P(item i at position k)`` has no closed form. We compute
it with the exponential-race representation: give item j a clock ``T_j ~ Exp(w_j)``,
``w_j = exp(s_j)``; the slate is the order in which clocks ring, so

    P(i at position k) = int_0^inf w_i e^{-w_i t} P(exactly k other clocks rang by t) dt,

where the count of other clocks that rang by ``t`` is Poisson-binomial with
``p_j(t) = 1 - e^{-w_j t}``. The integral is taken on a log-spaced grid in ``t`` (the
integrand is smooth and decays fast in ``log t``: the trapezoid rule there converges
geometrically) and the leave-one-out count distribution comes from prefix and suffix
products, truncated at K, without any subtraction. Tests check it against brute-force
enumeration to 1e-9.
"""

from __future__ import annotations

import itertools

import numpy as np


def exclude(scores: np.ndarray, consumed: np.ndarray | None) -> np.ndarray:
    """``scores [B, N]`` with the ``consumed [B, N]`` items at ``-inf`` (never drawn,
    probability 0; the others' probabilities renormalise exactly). A user with fewer
    than K items left keeps the full catalog rather than an impossible slate."""
    if consumed is None:
        return scores
    scores = np.broadcast_to(np.asarray(scores, dtype=np.float64), consumed.shape)
    return np.where(consumed, -np.inf, scores)


def gumbel_top_k(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sample slates ``[B, k]`` (int64) from Plackett-Luce over ``scores [B, N]``."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or not 1 <= k <= scores.shape[1]:
        raise ValueError(f"expected scores [B, N] with 1 <= k <= N, got {scores.shape}, k={k}")
    perturbed = scores + rng.gumbel(size=scores.shape)
    return top_k(perturbed, k)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The k highest-scoring indices per row, best first: ``[B, k]`` (int64)."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def _log_softmax_denominators(scores: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """``log sum_{j not in a_1..a_{k-1}} exp(s_j)`` for every position: ``[B, K]``."""
    m = scores.max(axis=1, keepdims=True)
    w = np.exp(scores - m)
    total = w.sum(axis=1, keepdims=True)
    chosen = np.take_along_axis(w, slates, axis=1)
    before = np.cumsum(chosen, axis=1) - chosen
    remaining = np.maximum(total - before, np.finfo(np.float64).tiny)
    return np.log(remaining) + m


def position_log_probs(scores: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """Per-position conditional log-probabilities ``[B, K]``; their sum is the joint
    log-probability and their prefix sums are the cascade log-probabilities."""
    scores = np.asarray(scores, dtype=np.float64)
    slates = np.asarray(slates, dtype=np.int64)
    chosen = np.take_along_axis(scores, slates, axis=1)
    return chosen - _log_softmax_denominators(scores, slates)


def slate_log_prob(scores: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """Joint log-probability of each slate ``[B]``."""
    return position_log_probs(scores, slates).sum(axis=1)


def cascade_probs(scores: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """``P(a_1..a_k)`` for every prefix: ``[B, K]``."""
    return np.exp(np.cumsum(position_log_probs(scores, slates), axis=1))


def item_position_marginals(scores: np.ndarray, k: int, grid: int = 400) -> np.ndarray:
    """``P(item i at position p)`` for one score vector: ``[N, k]`` (float64).

    Args:
        scores: ``[N]`` scores of one Plackett-Luce distribution (``-inf``: never drawn,
            probability 0 at every position).
        k: slate size (positions 0..k-1).
        grid: points of the log-spaced quadrature grid.

    Cost ``O(grid * N * k)`` time and memory; meant for one context-free distribution
    (e.g. a logging policy whose scores do not depend on the user), computed once.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1 and not np.isfinite(s).all():
        drawn = np.flatnonzero(np.isfinite(s))
        out = np.zeros((len(s), k))
        if not 1 <= k <= len(drawn):
            raise ValueError(f"expected 1 <= k <= {len(drawn)} (items with finite scores), got {k}")
        out[drawn] = item_position_marginals(s[drawn], k, grid)
        return out
    if s.ndim != 1 or not 1 <= k <= len(s):
        raise ValueError(f"expected scores [N] and 1 <= k <= N, got {s.shape}, k={k}")
    n = len(s)
    w = np.exp(s - s.max())
    w = w / w.sum()
    # Clocks ring on time scales 1/w; cover them all generously on a log grid.
    lo = np.log(1.0 / w.max()) - 25.0
    hi = np.log(1.0 / w.min()) + np.log(40.0)
    x = np.linspace(lo, hi, grid)
    h = x[1] - x[0]
    t = np.exp(x)
    p = -np.expm1(-np.outer(w, t))  # [N, G] P(clock j rang by t)
    q = 1.0 - p
    # prefix[j] = count distribution (0..k-1) of clocks 0..j-1; suffix[j] of j..N-1.
    prefix = np.zeros((n + 1, grid, k))
    prefix[0, :, 0] = 1.0
    for j in range(n):
        prefix[j + 1] = prefix[j] * q[j, :, None]
        prefix[j + 1, :, 1:] += prefix[j, :, :-1] * p[j, :, None]
    suffix = np.zeros((n + 1, grid, k))
    suffix[n, :, 0] = 1.0
    for j in range(n - 1, -1, -1):
        suffix[j] = suffix[j + 1] * q[j, :, None]
        suffix[j, :, 1:] += suffix[j + 1, :, :-1] * p[j, :, None]
    out = np.empty((n, k))
    density = w[:, None] * t[None, :] * np.exp(-np.outer(w, t))  # [N, G], dt = t dx
    for pos in range(k):
        # P(exactly pos others rang) = sum_c prefix_i(c) * suffix_{i+1}(pos - c)
        others = np.zeros((n, grid))
        for c in range(pos + 1):
            others += prefix[:n, :, c] * suffix[1:, :, pos - c]
        out[:, pos] = (density * others).sum(axis=1) * h
    return out


def enumerate_slates(n: int, k: int) -> np.ndarray:
    """All ordered slates of k distinct items from n: ``[n!/(n-k)!, k]`` (for tests)."""
    return np.array(list(itertools.permutations(range(n), k)), dtype=np.int64)
