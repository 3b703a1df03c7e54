"""The pseudo-inverse slate estimator (Swaminathan et al. 2017, "Off-policy evaluation
for slate recommendation", NeurIPS).

A slate ``s`` of ``K`` positions over ``N`` items is written as its indicator vector
``1_s`` in ``R^{K N}`` (entry ``j N + a`` is 1 when item ``a`` is at position ``j``).
If the expected slate reward is *additive* over (position, item) pairs,
``E[r | x, s] = 1_s^T phi_x`` for some unknown ``phi_x``, then with the logging
policy's pairwise marginals ``Gamma(x) = E_mu[1_s 1_s^T | x]`` and the target's
item-position marginals ``q(x) = E_pi[1_s | x]``

    V_PI = mean_i  r_i * q(x_i)^T Gamma(x_i)^+ 1_{s_i}

is unbiased (``^+``: the Moore-Penrose pseudo-inverse), with weights that grow with
``K N`` rather than with the number of slates, ``N! / (N - K)!``. It is biased where the
reward is not additive (positions interact: a cascade user, a choice among the shown
items). It needs ``Gamma``: exact by enumeration for small catalogs
(:func:`pairwise_marginals` of an enumerated distribution), or from samples of the
logging policy (:func:`sampled_pairwise_marginals`, a Monte Carlo approximation whose
error shrinks as ``1 / sqrt(samples)``; the pseudo-inverse amplifies it along
directions the logging policy rarely shows).

Here the logging policy is context-free (one ``Gamma`` for every request, as for the
known world's logging Plackett-Luce); the target's marginals may vary per request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltvrec.ope.intervals import Estimate, make_estimate


def indicators(slates: np.ndarray, n_items: int) -> np.ndarray:
    """``[S, K N]`` slot-item indicator vectors of ``slates [S, K]``."""
    s, k = slates.shape
    out = np.zeros((s, k * n_items))
    out[np.arange(s)[:, None], np.arange(k)[None, :] * n_items + slates] = 1.0
    return out


def pairwise_marginals(slates: np.ndarray, probs: np.ndarray, n_items: int) -> np.ndarray:
    """``Gamma [K N, K N] = sum_s p(s) 1_s 1_s^T`` of a distribution over ``slates`` with
    probabilities ``probs`` (summing to 1): exact when every slate is listed."""
    p = np.asarray(probs, dtype=np.float64)
    if not np.isclose(p.sum(), 1.0, atol=1e-9):
        raise ValueError(f"slate probabilities must sum to 1, got {p.sum():.6g}")
    ind = indicators(slates, n_items)
    return (ind * p[:, None]).T @ ind


def sampled_pairwise_marginals(slates: np.ndarray, n_items: int) -> np.ndarray:
    """``Gamma`` estimated from slates drawn from the logging policy (an approximation)."""
    ind = indicators(slates, n_items)
    return ind.T @ ind / len(slates)


@dataclass(frozen=True)
class SlatePseudoInverse:
    """The pseudo-inverse estimator; see the module docstring.

    Attributes:
        rcond: relative cut-off of small singular values in the pseudo-inverse.
    """

    rcond: float = 1e-10

    def weights(
        self, slates: np.ndarray, target_marginals: np.ndarray, gamma: np.ndarray
    ) -> np.ndarray:
        """``[n]`` per-slate weights ``q(x_i)^T Gamma^+ 1_{s_i}``. ``target_marginals``:
        ``[K, N]`` (a context-free target) or ``[n, K, N]``: P(item at position)."""
        slates = np.asarray(slates)
        n, k = slates.shape
        q = np.asarray(target_marginals, dtype=np.float64)
        n_items = q.shape[-1]
        if q.shape[-2] != k or q.ndim not in (2, 3) or (q.ndim == 3 and len(q) != n):
            raise ValueError(
                f"expected target_marginals [{k}, N] or [{n}, {k}, N], got shape {q.shape}"
            )
        if gamma.shape != (k * n_items, k * n_items):
            raise ValueError(
                f"expected gamma [{k * n_items}, {k * n_items}] (K N squared), got {gamma.shape}"
            )
        if slates.min() < 0 or slates.max() >= n_items:
            raise ValueError(f"slates must hold item indices in [0, {n_items})")
        g = np.linalg.pinv(gamma, rcond=self.rcond, hermitian=True)
        cols = np.arange(k)[None, :] * n_items + slates  # [n, K] entries of 1_s
        if q.ndim == 2:
            projected = g @ q.reshape(-1)  # Gamma^+ q, once
            return projected[cols].sum(axis=1)
        projected = q.reshape(n, -1) @ g  # [n, K N] (Gamma symmetric)
        return np.take_along_axis(projected, cols, axis=1).sum(axis=1)

    def estimate(
        self,
        slates: np.ndarray,
        reward: np.ndarray,
        target_marginals: np.ndarray,
        gamma: np.ndarray,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> Estimate:
        """Value per slate from logged ``slates [n, K]`` and slate rewards ``[n]``."""
        reward = np.asarray(reward, dtype=np.float64)
        if reward.shape != (len(slates),):
            raise ValueError(f"expected reward [{len(slates)}], got shape {reward.shape}")
        w = self.weights(slates, target_marginals, gamma)
        return make_estimate(
            "SlatePseudoInverse", {"rcond": self.rcond}, w * reward, None, w, alpha,
            n_bootstrap, seed,
        )  # fmt: skip
