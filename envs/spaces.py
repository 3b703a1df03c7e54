"""The slate action space: K distinct item indices out of N."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


class SlateSpace(spaces.MultiDiscrete):
    """``MultiDiscrete([N] * K)`` whose samples and members have K *distinct* items.

    ``sample()`` draws without replacement (uniformly over ordered slates) from the
    space's own generator; ``contains()`` also checks distinctness. Libraries that treat
    it as a plain ``MultiDiscrete`` (one independent categorical per slot, e.g. SB3's
    default policy) can still propose slates with duplicates; the envs reject those.

    >>> space = SlateSpace(n_items=10, slate_size=3, seed=0)
    >>> a = space.sample()
    >>> len(set(a.tolist())), space.contains(a), space.contains(np.array([1, 1, 2]))
    (3, True, False)
    """

    def __init__(
        self, n_items: int, slate_size: int, seed: int | np.random.Generator | None = None
    ):
        if not 1 <= slate_size <= n_items:
            raise ValueError(f"expected 1 <= slate_size <= n_items, got {slate_size}, {n_items}")
        super().__init__(np.full(slate_size, n_items, dtype=np.int64), seed=seed)
        self.n_items = n_items
        self.slate_size = slate_size

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            raise NotImplementedError("SlateSpace.sample does not support masks or probabilities")
        return self.np_random.choice(self.n_items, self.slate_size, replace=False).astype(np.int64)

    def contains(self, x: Any) -> bool:
        if not super().contains(x):
            return False
        a = np.asarray(x)
        return len(np.unique(a)) == a.size

    def __repr__(self) -> str:
        return f"SlateSpace(n_items={self.n_items}, slate_size={self.slate_size})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, SlateSpace)
            and other.n_items == self.n_items
            and other.slate_size == self.slate_size
        )
