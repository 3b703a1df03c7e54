"""The log-buildable baselines' own signals, inside the policy module.

``BaselineSignals`` computes, from the raw user state ``[B, S]``, the two signals every
log-buildable baseline ranks by:

- ``greedy``: ``greedy-model``'s score, the log expected immediate reward of each item
  under the fitted models (:meth:`FittedSimulator.expected_reward_logits`), ``[B, N]``;
- ``popularity``: ``log(1 + count)`` of each item's consumptions in the log, ``[N]``;

each divided by a fixed scale (its standard deviation over items, averaged over logged-
like states) so that one weight means the same for both. The policy scores items by
``w_g * greedy + w_p * popularity + residual`` with ``w`` learned; a policy whose
``w`` starts at ``(c, 0)`` or ``(0, c)`` and whose residual starts at 0 *is* the
baseline at step 0 (top-K), and a Plackett-Luce sample around it for PPO to improve.

Everything is a buffer of the module, so the exported ONNX policy carries it and the
runtime needs no simulator.

:func:`candidate_mask` is the candidate generator built on the same signals: per
request, the union of the ``n`` best items by each signal and ``explore`` more drawn by
a hash of the user state, so the set is a deterministic function of the observation and
a Plackett-Luce policy restricted to it keeps exact propensities.
"""

from __future__ import annotations

import numpy as np
import torch as th
from torch import nn

from ltvrec.catalog import fit_text_maps, ridge_map
from ltvrec.simulators.fitted import (
    REWARD_FLOOR,
    FittedSimulator,
    fit_config_of,
    fitted_from_vectors,
)

SIGNALS = ("greedy", "popularity")


def consequence_prior(model: FittedSimulator) -> np.ndarray | None:
    """``[N]`` float32: the item consequences ``model`` was fitted with
    (``FitConfig.item_consequences``: what consuming each item does to the user's later
    session ends, estimated from the log; the last column of its item vectors),
    standardised over items and times the column's split-half reliability (1 unless the
    fit shrank the consequences, :func:`~ltvrec.simulators.consequence.cross_fitted`):
    a column the log does not back starts no policy; None for a fit without them.

    It is the third signal of the start (``greedy + r x consequence``, a log-buildable
    ranking that trades clicks for what the log says an item does afterwards). Being
    per item and independent of the user, it enters the policy as the initial value of
    the item bias, so a policy started there has no new parameter and exports as any
    other."""
    if not fit_config_of(model).item_consequences:
        return None
    c = model.item_embeddings[:, -1].astype(np.float64)
    reliability = float(model.meta.get("fit", {}).get("consequence_reliability", 1.0))
    return (reliability * (c - c.mean()) / max(float(c.std()), 1e-12)).astype(np.float32)


def signal_arrays(model: FittedSimulator, probe_states: np.ndarray) -> dict[str, np.ndarray]:
    """The numpy arrays :class:`BaselineSignals` is built from (all float32).

    Args:
        model: the simulator fitted from the logs (its response and reward models, and the
            item counts of its log).
        probe_states: ``[M, S]`` user states to set the signals' scales on.
    """
    if model.item_counts is None:
        raise ValueError(
            "the policy's popularity signal needs the log's item counts, which this "
            "simulator was saved without; refit it with `ltvrec sim fit`"
        )
    c, r, st = model.choice, model.reward_params, model.standardizer
    d = st.mean.shape[0]
    log_pop = np.log1p(model.item_counts)
    greedy = model.expected_reward_logits(probe_states)
    scale = np.array([max(float(greedy.std(axis=1).mean()), 1e-6), max(float(log_pop.std()), 1e-6)])
    arrays = {
        "state_mean": st.mean,
        "state_std": st.std,
        "wq": c.wq,
        "bq": c.bq,
        "item_keys": c.item_keys,
        "item_utility": c.item_bias + c.position_bias[0],
        "reward_coef": r.coef[:d],
        "item_reward": model.item_embeddings @ r.coef[d:] + r.intercept,
        "reward_range": np.array(
            [max(r.low, REWARD_FLOOR), max(r.high, REWARD_FLOOR)], dtype=np.float64
        ),
        "log_popularity": log_pop,
        "scale": scale,
    }
    # How a new item's columns follow from its text vector (ltvrec.catalog.TextMap).
    arrays.update(
        fit_text_maps(
            model.item_embeddings,
            c.item_keys,
            arrays["item_utility"],
            r.coef[d:],
            float(r.intercept),
        )
    )
    if fit_config_of(model).item_consequences:
        # A new item's consequence column, predicted from its text vector.
        text = fitted_from_vectors(model)
        arrays["text_consequence"] = ridge_map(text, model.item_embeddings[:, -1])
    return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


class BaselineSignals(nn.Module):
    """``forward(state [B, S]) -> [B, N, 2]``: the scaled greedy and popularity signals."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.state_mean: th.Tensor
        self.state_std: th.Tensor
        self.wq: th.Tensor
        self.bq: th.Tensor
        self.item_keys: th.Tensor
        self.item_utility: th.Tensor
        self.reward_coef: th.Tensor
        self.item_reward: th.Tensor
        self.reward_range: th.Tensor
        self.log_popularity: th.Tensor
        self.scale: th.Tensor
        for name, value in arrays.items():
            self.register_buffer(name, th.as_tensor(np.asarray(value, dtype=np.float32)))

    @property
    def n_items(self) -> int:
        return int(self.item_keys.shape[0])

    @property
    def key_dim(self) -> int:
        return int(self.item_keys.shape[1])

    def item_columns(self) -> th.Tensor:
        """``[N, h + 3]``: the per-item blocks of the policy's item table (keys,
        utility, reward, log popularity; see :mod:`ltvrec.catalog`)."""
        return th.cat(
            [
                self.item_keys,
                self.item_utility[:, None],
                self.item_reward[:, None],
                self.log_popularity[:, None],
            ],
            dim=1,
        )

    def forward(self, state: th.Tensor, items: th.Tensor | None = None) -> th.Tensor:
        """Signals ``[B, N, 2]``; ``items``: ``[N, h + 3]`` item columns (default: the
        catalog trained on, :meth:`item_columns`)."""
        if items is None:
            keys, item_utility = self.item_keys, self.item_utility
            item_reward, log_pop = self.item_reward, self.log_popularity
        else:
            h = self.key_dim
            keys, item_utility = items[:, :h], items[:, h]
            item_reward, log_pop = items[:, h + 1], items[:, h + 2]
        x = (state - self.state_mean) / self.state_std
        utility = (x @ self.wq + self.bq) @ keys.T + item_utility
        mean = (x @ self.reward_coef)[:, None] + item_reward
        lo, hi = self.reward_range[0], self.reward_range[1]
        greedy = utility + th.log(th.minimum(th.maximum(mean, lo), hi))
        pop = log_pop.expand_as(greedy)
        return th.stack([greedy / self.scale[0], pop / self.scale[1]], dim=-1)

    @staticmethod
    def arrays_from_state(state: dict[str, th.Tensor], prefix: str) -> dict[str, np.ndarray]:
        """The arrays of a saved module, from a state dict whose keys start with ``prefix``."""
        return {k[len(prefix) :]: v.numpy() for k, v in state.items() if k.startswith(prefix)}


HASH_MOD = 2**31 - 1
"""Modulus of the exploration hash (a prime; every product stays inside int64)."""


def _top_n(scores: th.Tensor, n: int) -> th.Tensor:
    """``[B, N]`` True for each row's ``n`` highest scores (ties at the n-th included)."""
    kth = th.topk(scores, n, dim=1).values[:, -1:]
    return scores >= kth


def candidate_mask(
    features: th.Tensor,
    state: th.Tensor,
    available: th.Tensor | None,
    n: int,
    explore: int,
) -> th.Tensor:
    """``[B, N]`` bool: each request's candidate set.

    Args:
        features: ``[B, N, 2]`` the baselines' signals (:class:`BaselineSignals`).
        state: ``[B, S]`` the raw user state, hashed to pick the exploration items.
        available: ``[B, N]`` bool, items that may be shown (not consumed), or None.
        n: items taken from each signal's top (greedy-model's, popularity-log's).
        explore: further items, pseudo-random given the state, from the rest.

    Integer arithmetic only for the hash (rounded state x fixed weights, then a
    multiplicative hash per item, modulo a prime), so torch and onnxruntime pick the
    same items from the same observation.
    """
    big = th.finfo(features.dtype).max
    g, p = features[..., 0], features[..., 1]
    if available is not None:
        g, p = g.masked_fill(~available, -big), p.masked_fill(~available, -big)
    chosen = _top_n(g, n) | _top_n(p, n)
    if available is not None:
        chosen = chosen & available
    if explore > 0:
        n_items = features.shape[1]
        weights = th.arange(1, state.shape[1] + 1, dtype=th.int64) * 7919
        key = (th.round(state * 1024.0).to(th.int64) * weights).sum(1, keepdim=True)
        key = th.remainder(key, HASH_MOD) + 1  # [B, 1]
        items = th.remainder(th.arange(n_items, dtype=th.int64) * 2654435761, HASH_MOD) + 1
        h = th.remainder(key * items, HASH_MOD).to(th.float64)  # [B, N], < 2^31
        rest = ~chosen if available is None else (~chosen & available)
        h = h.masked_fill(~rest, -1.0)
        chosen = chosen | (_top_n(h, explore) & rest)
    return chosen


__all__ = [
    "HASH_MOD",
    "SIGNALS",
    "BaselineSignals",
    "candidate_mask",
    "consequence_prior",
    "signal_arrays",
]
