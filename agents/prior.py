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
"""

from __future__ import annotations

import numpy as np
import torch as th
from torch import nn

from ltvrec.simulators.fitted import REWARD_FLOOR, FittedSimulator

SIGNALS = ("greedy", "popularity")


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

    def forward(self, state: th.Tensor) -> th.Tensor:
        x = (state - self.state_mean) / self.state_std
        utility = (x @ self.wq + self.bq) @ self.item_keys.T + self.item_utility
        mean = (x @ self.reward_coef)[:, None] + self.item_reward
        lo, hi = self.reward_range[0], self.reward_range[1]
        greedy = utility + th.log(th.minimum(th.maximum(mean, lo), hi))
        pop = self.log_popularity.expand_as(greedy)
        return th.stack([greedy / self.scale[0], pop / self.scale[1]], dim=-1)

    @staticmethod
    def arrays_from_state(state: dict[str, th.Tensor], prefix: str) -> dict[str, np.ndarray]:
        """The arrays of a saved module, from a state dict whose keys start with ``prefix``."""
        return {k[len(prefix) :]: v.numpy() for k, v in state.items() if k.startswith(prefix)}


__all__ = ["SIGNALS", "BaselineSignals", "signal_arrays"]
