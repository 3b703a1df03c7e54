"""A policy's item table, and the rows of items known by their text alone (numpy only).

A trained slate policy scores the catalog from one row per item (the *item table*):

- ``text [d]``: the item's text vector (language model -> PCA), which the item tower
  projects;
- ``bias [1]``: the item's own learned score offset (its "id bias"); 0 for an item the
  policy never trained on;
- with the baselines' signals (:mod:`ltvrec.agents.prior`), four more blocks: ``keys [h]``
  (the fitted choice model's item key), ``utility [1]`` (its item utility at the first
  position), ``reward [1]`` (the fitted reward model's item term) and
  ``log_popularity [1]`` (``log(1 + count)`` in the logs).

Rows are the policy's input (the exported ONNX graph takes the table as an input), so a
catalog can grow after training: :class:`TextMap` writes the row of a new item from its
text vector alone. The choice model's keys and the reward model's item term are linear
in the item vector already (exact); the choice model's per-item utility is predicted by
a ridge regression on the item vector fitted over the trained items; the popularity of
an item nobody has seen is 0 (popularity cannot score a new item, and says so by giving
it the lowest possible count). Its id bias is the start's item term, where the policy
started from one (``greedy + r x consequence``: linear in the item vector), else 0.

Where the simulator's item vectors end with each item's *consequence* estimated from
the logs (``FitConfig.item_consequences``), a new item's vector is its text vector plus
that column predicted from the text (a ridge regression over the trained items): the
item vector is what the user state, the choice keys and the start's term read.

Used by the torch policy (training, cold-start experiments) and by the torch-free
serving runtime (``ltvrec items add``, ``POST /v1/items``): one definition of a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TEXT_MAP_KEYS = ("text_key_proj", "text_utility", "text_reward")
"""The signal arrays :class:`TextMap` is built from (see ``signal_arrays``)."""
OPTIONAL_KEYS = ("text_consequence", "text_bias")
"""Arrays a :class:`TextMap` has when the item vectors carry consequences (the first)
and when the policy started from a per-item term (the second)."""


@dataclass(frozen=True)
class TableLayout:
    """Column layout of an item table: ``text [d] | bias | keys [h] | utility | reward |
    log_popularity`` (the last four only with signals, ``key_dim > 0``)."""

    item_dim: int
    key_dim: int = 0

    @property
    def width(self) -> int:
        return self.item_dim + 1 + (self.key_dim + 3 if self.key_dim else 0)

    @property
    def has_signals(self) -> bool:
        return self.key_dim > 0

    def to_dict(self) -> dict[str, int]:
        return {"item_dim": self.item_dim, "key_dim": self.key_dim}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableLayout:
        return cls(int(d["item_dim"]), int(d.get("key_dim", 0)))


@dataclass(frozen=True)
class TextMap:
    """Rows of the item table from text vectors alone (see the module docstring).

    Attributes:
        layout: the table's layout.
        key_proj: ``[d, h]`` item vector -> choice-model key (signals only).
        utility: ``[d + 1]`` ridge coefficients and intercept of the item utility.
        reward: ``[d + 1]`` the reward model's item coefficients and intercept.
        consequence: ``[t + 1]`` ridge coefficients and intercept of the consequence
            column from the text vector (``t = d - 1``), or None: the item vector is the
            text vector.
        bias: ``[d + 1]`` the start's item term as a linear function of the item vector,
            or None: a new item's id bias is 0.
    """

    layout: TableLayout
    key_proj: np.ndarray | None = None
    utility: np.ndarray | None = None
    reward: np.ndarray | None = None
    consequence: np.ndarray | None = None
    bias: np.ndarray | None = None

    @property
    def text_dim(self) -> int:
        """Size of the text vectors :meth:`rows` takes."""
        return self.layout.item_dim - (1 if self.consequence is not None else 0)

    def vectors(self, text: np.ndarray) -> np.ndarray:
        """``[M, d]`` float64 item vectors for text vectors ``[M, t]``: the text vector,
        and the predicted consequence where the item vectors carry one."""
        e = np.asarray(text, dtype=np.float64)
        if e.ndim != 2 or e.shape[1] != self.text_dim:
            extra = (
                f" (item vectors of {self.layout.item_dim}: the text's {self.text_dim} and "
                "a consequence column predicted from them)"
                if self.consequence is not None
                else ""
            )
            raise ValueError(
                f"expected text vectors [M, {self.text_dim}]{extra}, got {list(e.shape)}"
            )
        if self.consequence is None:
            return e
        return np.c_[e, e @ self.consequence[:-1] + self.consequence[-1]]

    def rows(self, text: np.ndarray) -> np.ndarray:
        """``[M, width]`` float32 table rows for text vectors ``[M, t]``."""
        e = self.vectors(text)
        bias = np.zeros(len(e)) if self.bias is None else e @ self.bias[:-1] + self.bias[-1]
        cols = [e, bias[:, None]]
        if self.layout.has_signals:
            assert self.key_proj is not None and self.utility is not None
            assert self.reward is not None
            cols += [
                e @ self.key_proj,
                (e @ self.utility[:-1] + self.utility[-1])[:, None],
                (e @ self.reward[:-1] + self.reward[-1])[:, None],
                np.zeros((len(e), 1)),  # log(1 + 0): never consumed
            ]
        return np.concatenate(cols, axis=1).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save (float32), keyed as :data:`TEXT_MAP_KEYS` and, where
        present, :data:`OPTIONAL_KEYS`."""
        if not self.layout.has_signals:
            return {}
        assert self.key_proj is not None and self.utility is not None
        assert self.reward is not None
        out = {
            "text_key_proj": self.key_proj.astype(np.float32),
            "text_utility": self.utility.astype(np.float32),
            "text_reward": self.reward.astype(np.float32),
        }
        for key, value in zip(OPTIONAL_KEYS, (self.consequence, self.bias), strict=True):
            if value is not None:
                out[key] = value.astype(np.float32)
        return out

    @classmethod
    def from_arrays(cls, layout: TableLayout, arrays: dict[str, np.ndarray]) -> TextMap:
        if not layout.has_signals:
            return cls(layout)
        missing = [k for k in TEXT_MAP_KEYS if k not in arrays]
        if missing:
            raise ValueError(
                f"this policy's signals were saved without {', '.join(missing)}: it cannot "
                "score items by their text alone; retrain it with this ltvrec"
            )
        consequence, bias = (
            None if k not in arrays else np.asarray(arrays[k], dtype=np.float64)
            for k in OPTIONAL_KEYS
        )
        return cls(
            layout,
            np.asarray(arrays["text_key_proj"], dtype=np.float64),
            np.asarray(arrays["text_utility"], dtype=np.float64),
            np.asarray(arrays["text_reward"], dtype=np.float64),
            consequence,
            bias,
        )


def ridge_map(x: np.ndarray, y: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """``[D + 1]`` float64: ridge coefficients of ``y [N]`` on ``x [N, D]`` and the
    intercept (unpenalised), last."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean_x, mean_y = x.mean(axis=0), y.mean()
    xc = x - mean_x
    coef = np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ (y - mean_y))
    return np.append(coef, mean_y - mean_x @ coef)


def linear_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[D + 1]`` float64: least-squares coefficients of ``y [N]`` on ``x [N, D]`` and an
    intercept, last (exact where ``y`` is linear in ``x``)."""
    x = np.asarray(x, dtype=np.float64)
    design = np.c_[x, np.ones(len(x))]
    return np.linalg.lstsq(design, np.asarray(y, dtype=np.float64), rcond=None)[0]


def fit_text_maps(
    item_embeddings: np.ndarray,
    item_keys: np.ndarray,
    item_utility: np.ndarray,
    reward_coef: np.ndarray,
    reward_intercept: float,
    ridge: float = 1.0,
) -> dict[str, np.ndarray]:
    """The :data:`TEXT_MAP_KEYS` arrays from a fitted model's per-item arrays.

    Args:
        item_embeddings: ``[N, d]`` the trained items' vectors.
        item_keys: ``[N, h]`` the choice model's keys, linear in the item vectors (the
            map is recovered by least squares; exact up to float error).
        item_utility: ``[N]`` per-item utility, regressed on the item vectors (ridge,
            intercept unpenalised).
        reward_coef: ``[d]`` the reward model's item coefficients.
        reward_intercept: its intercept.
    """
    e = np.asarray(item_embeddings, dtype=np.float64)
    key_proj = np.linalg.lstsq(e, np.asarray(item_keys, dtype=np.float64), rcond=None)[0]
    utility = ridge_map(e, item_utility, ridge)
    reward = np.append(np.asarray(reward_coef, dtype=np.float64), float(reward_intercept))
    return {
        "text_key_proj": key_proj.astype(np.float32),
        "text_utility": utility.astype(np.float32),
        "text_reward": reward.astype(np.float32),
    }


__all__ = [
    "OPTIONAL_KEYS",
    "TEXT_MAP_KEYS",
    "TableLayout",
    "TextMap",
    "fit_text_maps",
    "linear_map",
    "ridge_map",
]
