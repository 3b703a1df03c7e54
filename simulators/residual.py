"""The residual interest: what a user chose beyond what anyone would have.

The state's ``interest`` block is a decayed mean of the vectors of the items a user
consumed. Under a logging policy that shows diverse slates, that mean says what the user
prefers, and a choice model fitted on it learns "users click items like the ones they
consumed". Under a policy that shows the same few items again and again, the mean says
what the policy showed: the user consumed those items because nothing else was on offer,
and the model reads its own exposure as taste. Measured in the known world
(docs/simulators.md, "Clicks after the first consumption"): on the true world's own
trajectories of ``greedy-model`` the choice model predicts a click rate of 0.89 where the
truth clicks 0.70, calibrated at every user's first request (no history yet) and off from
the first consumption on.

The residual interest conditions on what was shown. With ``p_k`` the probability a choice
model *without* history (the base model: items, positions and engagement counters only)
gives the item at position ``k`` of the slate shown, and ``c_k`` 1 if it was clicked,

    r  <-  decay * r  +  sum_k (c_k - p_k) * e_{slate_k}

after every request (sessions included). A user who clicks what everyone clicks moves
``r`` by nothing, whatever the policy showed; one who picks the football item out of five
where the base model expected a film moves it towards football. It is the score of a
logistic taste model at zero taste (the gradient a single online step would take), so its
expectation does not depend on which slates were shown, only on how the user departs
from the base model on them.

The fitted simulator keeps ``r`` as latent user state (``SimState.latent["residual"]``,
built from the user's own slates and clicks, so a policy could observe it too; the
observable state the policies read is unchanged), and its choice model's user tower reads
it, divided by its spread over the logged requests, in place of the consumed-item blocks
(``FitConfig.choice_history = 'residual'``). Fitting replays the log through the same update
(:func:`replay_residuals`), with the same base model, so the simulated and replayed
residuals agree exactly (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ltvrec.simulators.components import ChoiceParams
from ltvrec.simulators.replay import Trajectories


def shown_probabilities(base: ChoiceParams, x: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """``[B, K]`` the base model's click probability of each shown item (0 where the slate
    has no item, ``-1``), from standardised states ``x [B, S]``."""
    shown = slates >= 0
    safe = np.maximum(slates, 0)
    q = x @ base.wq + base.bq
    u = np.einsum("bh,bkh->bk", q, base.item_keys[safe]) + base.item_bias[safe]
    u = np.where(shown, u + base.position_bias[None, : slates.shape[1]], -np.inf)
    z = np.concatenate([(x @ base.w_no_click + base.b_no_click)[:, None], u], axis=1)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z[:, 1:] / z.sum(axis=1, keepdims=True)


def residual_step(
    base: ChoiceParams,
    x: np.ndarray,
    slates: np.ndarray,
    clicked_position: np.ndarray,
    item_vectors: np.ndarray,
) -> np.ndarray:
    """``[B, d]`` one request's ``sum_k (c_k - p_k) e_{slate_k}``."""
    p = shown_probabilities(base, x, slates)
    k = slates.shape[1]
    c = (np.arange(k)[None, :] == np.asarray(clicked_position)[:, None]).astype(np.float64)
    w = np.where(slates >= 0, c - p, 0.0)
    return np.einsum("bk,bkd->bd", w, item_vectors[np.maximum(slates, 0)].astype(np.float64))


def replay_residuals(
    traj: Trajectories,
    x: np.ndarray,
    base: ChoiceParams,
    item_vectors: np.ndarray,
    decay: float,
    step_fn: Callable[..., np.ndarray] = residual_step,
) -> np.ndarray:
    """``[R, d]`` each logged user's residual interest *before* each of their requests
    (0 before the first), from the replayed log (rows by user, then time) and its
    standardised before-states ``x``. ``step_fn`` (``residual_step``'s signature) is
    the per-request increment (a variant's, in benchmarks)."""
    step = step_fn(base, x, traj.slates, traj.clicked_position, item_vectors)
    out = np.zeros_like(step)
    first = np.r_[True, traj.user[1:] != traj.user[:-1]] if traj.n else np.zeros(0, bool)
    starts = np.maximum.accumulate(np.where(first, np.arange(traj.n), 0))
    rank = np.arange(traj.n) - starts  # the request's index within its user's history
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(1, int(rank.max(initial=0)) + 2))
    for i in range(1, len(bounds)):  # all users' i-th requests at once
        rows = order[bounds[i - 1] : bounds[i]]
        out[rows] = decay * out[rows - 1] + step[rows - 1]
    return out


@dataclass(frozen=True)
class ResidualInterest:
    """The residual interest's update and its place in the choice model's user tower.

    Attributes:
        base: the choice model without history whose probabilities the clicks are
            measured against.
        weights: ``[d, h]`` the user tower's weights on the residual over ``scale``.
        scale: ``[d]`` the residual's spread over the logged requests. (Its mean is
            folded into the choice model's query bias, so a user with no residual yet,
            or a state read from observations alone, adds nothing: greedy-model and the
            policies' prior, which read the observable state, score as for such a user.)
        decay: per-request decay.
    """

    base: ChoiceParams
    weights: np.ndarray
    scale: np.ndarray
    decay: float

    def initial(self, n: int) -> np.ndarray:
        return np.zeros((n, len(self.scale)))

    def update(
        self,
        residual: np.ndarray,
        x: np.ndarray,
        slates: np.ndarray,
        clicked_position: np.ndarray,
        item_vectors: np.ndarray,
    ) -> np.ndarray:
        """The residual after one request (``x``: the standardised state before it)."""
        step = residual_step(self.base, x, slates, clicked_position, item_vectors)
        return self.decay * residual + step

    def query(self, residual: np.ndarray) -> np.ndarray:
        """``[B, h]`` the residual's term of the user tower (0 for no residual)."""
        return (residual / self.scale) @ self.weights

    def arrays(self) -> dict[str, np.ndarray]:
        b = self.base
        return {
            "residual_weights": self.weights,
            "residual_scale": self.scale,
            "residual_decay": np.array([self.decay]),
            "residual_base_wq": b.wq,
            "residual_base_bq": b.bq,
            "residual_base_item_keys": b.item_keys,
            "residual_base_item_bias": b.item_bias,
            "residual_base_position_bias": b.position_bias,
            "residual_base_w_no_click": b.w_no_click,
            "residual_base_b_no_click": np.array([b.b_no_click]),
        }

    @classmethod
    def from_arrays(cls, t: dict[str, np.ndarray]) -> ResidualInterest | None:
        """The inverse of :meth:`arrays`; None where the arrays hold none."""
        if "residual_weights" not in t:
            return None
        base = ChoiceParams(
            t["residual_base_wq"],
            t["residual_base_bq"],
            t["residual_base_item_keys"],
            t["residual_base_item_bias"],
            t["residual_base_position_bias"],
            t["residual_base_w_no_click"],
            float(t["residual_base_b_no_click"][0]),
        )
        return cls(base, t["residual_weights"], t["residual_scale"], float(t["residual_decay"][0]))


__all__ = ["ResidualInterest", "replay_residuals", "residual_step", "shown_probabilities"]
