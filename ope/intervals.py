"""The ``Estimate`` container and its intervals.

An estimate is ``sum(num) / sum(den)`` over per-request (or per-user) contributions
(``den`` None: ``mean(num)``).

- Normal interval: for ``den = 1`` the standard error of the mean of ``num``; for a
  ratio (self-normalised estimators) the delta method. Holds when n is large and the
  contributions are not heavy-tailed (check ``max_weight`` and ``ess``).
- Percentile bootstrap over the same units, vectorised in chunks of resamples (no
  Python loop over resamples within a chunk); the point estimate stays the estimator on
  the full data. Better for skewed contributions; it cannot repair a weight that was
  never observed (support problems).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    """A policy value estimate with its uncertainty and weight diagnostics.

    Attributes:
        value: the point estimate.
        se: standard error (normal / delta method).
        ci: ``(low, high)`` at ``level`` by ``method``.
        level: coverage of the interval (e.g. 0.95).
        method: "bootstrap-percentile" or "normal".
        n: number of units (requests, slates or users).
        ess: effective sample size of the weights ``(sum w)^2 / sum w^2`` (n if none).
        max_weight: the largest weight (NaN if none).
        estimator, params: the estimator's name and hyperparameters.
        normal_ci: the normal interval, kept beside a bootstrap one.
        weights: the importance weights the diagnostics come from (None if none);
            :attr:`weight_quantiles` reads them on first use.
    """

    value: float
    se: float
    ci: tuple[float, float]
    level: float
    method: str
    n: int
    ess: float
    max_weight: float
    estimator: str
    params: dict[str, Any] = field(default_factory=dict)
    normal_ci: tuple[float, float] = (float("nan"), float("nan"))
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)

    @cached_property
    def weight_quantiles(self) -> dict[str, float]:
        """Median, 90th and 99th percentile of the weights (empty if none), exact. Computed
        when first read: a selection over every weight costs as much as the estimate
        itself (half of IPS's time on 10^6 requests), and bootstrap loops, coverage
        studies and sweeps never read it."""
        if self.weights is None or not len(self.weights):
            return {}
        q50, q90, q99 = np.quantile(self.weights, [0.5, 0.9, 0.99]).tolist()
        return {"p50": q50, "p90": q90, "p99": q99}

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "params": self.params,
            "value": self.value,
            "se": self.se,
            "ci": list(self.ci),
            "level": self.level,
            "method": self.method,
            "normal_ci": list(self.normal_ci),
            "n": self.n,
            "ess": self.ess,
            "max_weight": self.max_weight,
            "weight_quantiles": self.weight_quantiles,
        }


def bootstrap_ratio(
    num: np.ndarray,
    den: np.ndarray | None,
    n_bootstrap: int,
    seed: int,
    chunk_elements: int = 20_000_000,
    compress: bool = True,
) -> np.ndarray:
    """``[n_bootstrap]`` values of ``sum(num*) / sum(den*)`` over resampled units
    (``den`` None: a mean).

    When the units take few distinct ``(num, den)`` pairs (binary rewards and a handful
    of weights: most bandit logs), a resample is exactly a multinomial draw of how often
    each distinct pair is picked, ``O(distinct)`` per resample instead of ``O(n)``; else
    unit indices are resampled in chunks of ``chunk_elements``.
    """
    rng = np.random.default_rng(seed)
    n = len(num)
    key = num.astype(np.complex128)
    if den is not None:
        key += 1j * den
    values, counts = np.unique(key, return_counts=True) if compress else (key, None)
    if counts is not None and len(values) <= max(64, n // 20):
        picks = rng.multinomial(n, counts / n, size=n_bootstrap).astype(np.float64)
        top = picks @ values.real
        return top / n if den is None else top / (picks @ values.imag)
    per_chunk = max(1, chunk_elements // max(n, 1))
    out = np.empty(n_bootstrap)
    done = 0
    while done < n_bootstrap:
        b = min(per_chunk, n_bootstrap - done)
        idx = rng.integers(0, n, size=(b, n), dtype=np.int32 if n < 2**31 else np.int64)
        top = num[idx].sum(axis=1)
        out[done : done + b] = top / n if den is None else top / den[idx].sum(axis=1)
        done += b
    return out


def _residual_sd(
    num: np.ndarray, den: np.ndarray | None, value: float, den_sq: float | None = None
) -> float:
    """Sample standard deviation of ``num - value * den`` (``den`` None: ``num - value``,
    ``value`` the mean), whose mean is 0 by construction of ``value``. The sum of
    squares comes from dot products (no temporary ``[n]`` array; ``den_sq``, ``den @ den``
    when the caller has it); where they would cancel (the residuals tiny against the
    values: a nearly constant DM column) it is taken again in two passes."""
    n = len(num)
    if den is None:
        big = float(num @ num)
        ss = big - n * value * value
    else:
        dd = float(den @ den) if den_sq is None else den_sq
        big = float(num @ num) + value * value * dd
        ss = big - 2.0 * value * float(num @ den)
    if ss <= 1e-8 * big:
        r = num - value if den is None else num - value * den
        ss = float(r @ r)
    return float(np.sqrt(max(ss, 0.0) / (n - 1)))


def make_estimate(
    estimator: str,
    params: dict[str, Any],
    num: np.ndarray,
    den: np.ndarray | None,
    weights: np.ndarray | None,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Build an :class:`Estimate` from contributions (see the module docstring)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    num = np.asarray(num, dtype=np.float64)
    n = len(num)
    # The weight diagnostics' sums, shared with a self-normalised estimator whose
    # normaliser is the weights themselves (SNIPS): one pass each, not two.
    w = None if weights is None or not len(weights) else np.asarray(weights, dtype=np.float64)
    w_sum = w_sq = None
    if w is not None:
        w_sum, w_sq = float(w.sum()), float(w @ w)
    shared = w is not None and den is not None and den is weights
    if den is None:  # a mean
        value = float(num.sum() / n)
        se = _residual_sd(num, None, value) / np.sqrt(n) if n > 1 else float("nan")
    else:
        den = np.asarray(den, dtype=np.float64)
        total = w_sum if shared else float(den.sum())
        if total is None or total <= 0:
            raise ValueError(
                "the estimator's normaliser is zero: no logged action has target probability > 0"
            )
        value = float(num.sum() / total)
        # Delta method for a ratio of means: the residuals num - value * den over mean(den).
        den_sq = w_sq if shared else None
        spread = _residual_sd(num, den, value, den_sq) / (total / n) if n > 1 else float("nan")
        se = spread / np.sqrt(n)
    z = float(stats.norm.ppf(1 - alpha / 2))
    normal = (value - z * se, value + z * se)
    if n_bootstrap > 0 and n > 1:
        boot = bootstrap_ratio(num, den, n_bootstrap, seed)
        ci = (float(np.quantile(boot, alpha / 2)), float(np.quantile(boot, 1 - alpha / 2)))
        method = "bootstrap-percentile"
    else:
        ci, method = normal, "normal"
    if w is not None and w_sum is not None and w_sq is not None:
        ess = float(w_sum**2 / max(w_sq, 1e-300))
        mx = float(w.max())
    else:
        ess, mx = float(n), float("nan")
    return Estimate(
        value, se, ci, 1 - alpha, method, n, ess, mx, estimator, params, normal, weights=w
    )
