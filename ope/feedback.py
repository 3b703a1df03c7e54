"""Typed, validated logged feedback for the estimators (one container per shape).

``BanditFeedback``: one row per logged (request, position) decision — OBP's layout —
with the logging policy's probability of the logged action at that position.
``SlateFeedback``: one row per shown slot, grouped into slates, with whichever slate
propensities the log carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ltvrec.interactions.schema import InteractionLog, ItemCatalog


def _array(x: np.ndarray, name: str, dtype: type, n: int | None = None) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got shape {a.shape}")
    if n is not None and len(a) != n:
        raise ValueError(f"{name}: expected {n} rows (as reward), got {len(a)}")
    return a.astype(dtype)


@dataclass(frozen=True)
class BanditFeedback:
    """Arrays ``[n]``: ``reward``, ``action`` (0..n_actions-1), ``position``
    (0..len_list-1) and ``pscore`` (the logging policy's probability of that action at
    that position, in (0, 1])."""

    reward: np.ndarray
    action: np.ndarray
    position: np.ndarray
    pscore: np.ndarray
    n_actions: int
    len_list: int

    @classmethod
    def create(
        cls,
        reward: np.ndarray,
        action: np.ndarray,
        position: np.ndarray,
        pscore: np.ndarray | None,
        n_actions: int,
        len_list: int = 1,
    ) -> BanditFeedback:
        """Validate and wrap; raises ``ValueError`` naming the bad input."""
        r = _array(reward, "reward", np.float64)
        n = len(r)
        if n == 0:
            raise ValueError("the feedback is empty; expected at least one logged request")
        if pscore is None:
            raise ValueError(
                "pscore is missing: importance-weighted estimators need the logging policy's "
                "propensities (a log without them supports DM only)"
            )
        a = _array(action, "action", np.int64, n)
        k = _array(position, "position", np.int64, n)
        p = _array(pscore, "pscore", np.float64, n)
        if not np.isfinite(r).all():
            raise ValueError("reward holds NaN or infinite values")
        if a.min() < 0 or a.max() >= n_actions:
            raise ValueError(f"action must be in [0, {n_actions}), got {a.min()}..{a.max()}")
        if k.min() < 0 or k.max() >= len_list:
            raise ValueError(f"position must be in [0, {len_list}), got {k.min()}..{k.max()}")
        bad = ~np.isfinite(p) | (p <= 0) | (p > 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"pscore must be in (0, 1]; row {i} has {p[i]}")
        return cls(r, a, k, p, n_actions, len_list)

    @property
    def n(self) -> int:
        return len(self.reward)

    @cached_property
    def slot(self) -> np.ndarray:
        """``[n]`` int64 ``action * len_list + position``: where each logged decision sits
        in a flattened ``[n_actions, len_list]`` table (one ``take`` gathers a
        context-free target's probabilities, :meth:`~ltvrec.ope.Target.from_table`)."""
        return self.action * self.len_list + self.position

    @classmethod
    def from_log(cls, log: InteractionLog, catalog: ItemCatalog) -> BanditFeedback:
        """One row per logged slot, with the item-at-position propensity (OBD's kind)."""
        log.require(("pscore_item_position",), "bandit (per-position) OPE")
        f = log.frame
        k = int(f["position"].max()) + 1
        return cls.create(
            f["reward"].to_numpy(),
            catalog.index_of(f["item_id"]),
            f["position"].to_numpy(),
            f["pscore_item_position"].to_numpy(),
            catalog.n_items,
            k,
        )


@dataclass(frozen=True)
class SlateFeedback:
    """Slot rows ``[rows]``: ``slate`` (0..n_slates-1), ``position``, ``reward``, and the
    propensity columns present (``pscore``, ``pscore_item_position``, ``pscore_cascade``)."""

    slate: np.ndarray
    position: np.ndarray
    reward: np.ndarray
    pscores: dict[str, np.ndarray]
    n_slates: int

    def pscore(self, column: str) -> np.ndarray:
        if column not in self.pscores:
            raise ValueError(
                f"this estimator needs {column}, which the log lacks (it has "
                f"{', '.join(self.pscores) or 'no propensities'})"
            )
        return self.pscores[column]

    @classmethod
    def from_log(cls, log: InteractionLog) -> SlateFeedback:
        f = log.frame
        codes = np.unique(f["request_id"].to_numpy(), return_inverse=True)[1]
        cols = {c: f[c].to_numpy(np.float64) for c in log.pscore_columns}
        if not cols:
            raise ValueError("slate IPS estimators need propensities; the log has none")
        return cls(
            codes,
            f["position"].to_numpy(),
            f["reward"].to_numpy(np.float64),
            cols,
            int(codes.max()) + 1,
        )
