"""The serving runtime: a bundle -> slates with exact propensities. numpy + onnxruntime
only (no torch): the user state comes from the same state-encoder code as training
(:class:`~ltvrec.encoders.state.UserStateEncoder`, closed form over the history), the
scores from ``policy.onnx``, the slate from the same Plackett-Luce code as the agents
(seeded Gumbel-top-K, or top-K), and its probabilities from the same formulas OPE uses.

A request's history is the user's past requests in time order, each with the consumed
item (or none), its reward and its time; a session is given by ``session`` ids when the
client knows them, else starts after ``session_gap_minutes`` of inactivity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ltvrec.encoders.state import REQUEST, START, Events, UserStateEncoder
from ltvrec.serving.bundle import read_manifest
from ltvrec.simulators.plackett_luce import (
    cascade_probs,
    gumbel_top_k,
    item_position_marginals,
    top_k,
)

MODES = ("sample", "greedy")
MASKED = -1e8
"""Scores at or below this are the policy's masked items (it writes -1e9 there)."""


@dataclass(frozen=True)
class Slate:
    """A served slate and its probabilities under the policy that drew it.

    Attributes:
        index: ``[K]`` catalog indices; ``items``: the item ids.
        scores: ``[K]`` the policy's scores of the shown items.
        pscore: joint probability of the slate (1.0 for greedy mode).
        pscore_cascade: ``[K]`` probability of each prefix.
        pscore_item_position: ``[K]`` probability of each item at its position, or None
            when not computed (it costs a quadrature over the candidates).
    """

    index: np.ndarray
    items: list[Any]
    scores: np.ndarray
    pscore: float
    pscore_cascade: np.ndarray
    pscore_item_position: np.ndarray | None


class Runtime:
    """Load a bundle (verified) and answer requests; thread-safe for concurrent calls."""

    def __init__(self, folder: str | Path, threads: int = 1) -> None:
        folder = Path(folder)
        self.manifest = read_manifest(folder)
        self.folder = folder
        enc = json.loads((folder / "state_encoder.json").read_text())
        emb = np.load(folder / "item_embeddings.npy", allow_pickle=False)
        # Bundles written before the engagement blocks: none.
        rates = tuple(enc.get("engagement_decays", ()))
        self.encoder = UserStateEncoder(emb, decay=enc["decay"], engagement_decays=rates)
        self.session_gap_hours = float(enc["session_gap_minutes"]) / 60.0
        items = json.loads((folder / "items.json").read_text())
        self.item_ids: list[Any] = items["item_ids"]
        self.texts: list[str] = items["texts"]
        # Looked up by str(id): JSON clients may send 42 or "42" for the same item.
        self.index_of = {str(item): i for i, item in enumerate(self.item_ids)}
        self.n_items = len(self.item_ids)
        self.slate_size = int(self.manifest["slate_size"])
        self.mask_consumed = bool(self.manifest.get("mask_consumed", False))
        """The policy never recommends an item the user has consumed (its history's
        items), trained where repeats do not happen; :meth:`consumed` builds the mask."""
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(folder / "policy.onnx"), opts, providers=["CPUExecutionProvider"]
        )

    # ----------------------------------------------------------------- state
    def state(
        self,
        items: list[Any],
        times: np.ndarray,
        rewards: np.ndarray,
        now: float,
        sessions: list[Any] | None = None,
        session: Any = None,
    ) -> tuple[np.ndarray, list[Any]]:
        """The user state ``[S]`` at a request at ``now`` (seconds), and the history's
        item ids not in the catalog (treated as no consumption, and reported).

        Args:
            items: per past request, the consumed item id or None.
            times: ``[H]`` seconds, non-decreasing, <= ``now``.
            rewards: ``[H]``.
            sessions, session: optional session ids of the history and of this request.
        """
        t = np.asarray(times, dtype=np.float64)
        h = len(items)
        if len(t) != h or len(rewards) != h or (sessions is not None and len(sessions) != h):
            raise ValueError("history fields must have one entry per past request")
        if h and (np.any(np.diff(t) < 0) or t[-1] > now):
            raise ValueError("history must be in time order and not after the request")
        unknown = [i for i in items if i is not None and str(i) not in self.index_of]
        idx = np.array([self.index_of.get(str(i), -1) if i is not None else -1 for i in items])
        # Which requests (history + this one) start a session, and the hours before them.
        all_t = np.r_[t, now]
        if sessions is not None and session is not None:
            sid = [*sessions, session]
            starts = np.array([j == 0 or sid[j] != sid[j - 1] for j in range(h + 1)])
        else:
            gaps = np.diff(all_t) / 3600.0
            starts = np.r_[True, gaps > self.session_gap_hours]
        hours = np.r_[np.nan, np.diff(all_t) / 3600.0]
        kind, item, rew, hrs = [], [], [], []
        for j in range(h + 1):
            if starts[j]:
                kind.append(START)
                item.append(-1)
                rew.append(0.0)
                hrs.append(hours[j])
            if j < h:
                kind.append(REQUEST)
                item.append(int(idx[j]))
                rew.append(float(rewards[j]))
                hrs.append(np.nan)
        events = Events(
            user=np.zeros(len(kind), dtype=np.int64),
            kind=np.array(kind),
            item=np.array(item, dtype=np.int64),
            reward=np.array(rew, dtype=np.float64),
            hours=np.array(hrs, dtype=np.float64),
            n_users=1,
        )
        return self.encoder.from_events(events)[0].astype(np.float32), unknown

    def consumed(self, items: list[Any]) -> np.ndarray:
        """``[N]`` float32: 1 for the catalog items among a history's consumed items."""
        out = np.zeros(self.n_items, dtype=np.float32)
        idx = [self.index_of[str(i)] for i in items if i is not None and str(i) in self.index_of]
        out[idx] = 1.0
        return out

    # ---------------------------------------------------------------- scores
    def scores(self, states: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        """``[B, N]`` float64 scores for states ``[B, S]``; a bundle that masks consumed
        items needs ``consumed [B, N]`` (:meth:`consumed`) and scores them ``-inf``."""
        x = np.ascontiguousarray(states, dtype=np.float32).reshape(-1, self.encoder.size)
        feeds = {"state": x}
        if self.mask_consumed:
            if consumed is None:
                raise ValueError("this bundle masks consumed items: pass consumed [B, N]")
            feeds["consumed"] = np.ascontiguousarray(consumed, dtype=np.float32).reshape(
                len(x), self.n_items
            )
        out = np.asarray(self.session.run(["scores"], feeds)[0], dtype=np.float64)
        return np.where(out <= MASKED, -np.inf, out)

    # ----------------------------------------------------------------- slate
    def recommend(
        self,
        state: np.ndarray,
        k: int | None = None,
        mode: str = "sample",
        rng: np.random.Generator | None = None,
        exclude: list[Any] | None = None,
        candidates: list[Any] | None = None,
        item_position: bool = False,
        consumed: np.ndarray | None = None,
    ) -> Slate:
        """A slate for one user state. Items outside ``candidates`` (when given), in
        ``exclude``, or consumed (``consumed [N]``, for bundles that mask them) get
        probability 0; the propensities are of the distribution actually sampled from
        (the policy restricted to the allowed items)."""
        k = self.slate_size if k is None else k
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        s = self.scores(state[None, :], None if consumed is None else consumed[None, :])[0]
        allowed = np.isfinite(s)  # masked (consumed) items are -inf
        if candidates is not None:
            listed = np.zeros(self.n_items, dtype=bool)
            listed[[self.index_of[str(c)] for c in candidates if str(c) in self.index_of]] = True
            allowed &= listed
        for e in exclude or ():
            if str(e) in self.index_of:
                allowed[self.index_of[str(e)]] = False
        n_allowed = int(allowed.sum())
        if not 1 <= k <= n_allowed:
            raise ValueError(f"k must be between 1 and {n_allowed} (the allowed items), got {k}")
        masked = np.where(allowed, s, -np.inf)
        if mode == "greedy":
            slate = top_k(masked[None, :], k)[0]
            ones = np.ones(k)
            return Slate(
                slate, self._ids(slate), s[slate], 1.0, ones, ones if item_position else None
            )
        rng = rng or np.random.default_rng()
        slate = gumbel_top_k(masked[None, :], k, rng)[0]
        casc = cascade_probs(masked[None, :], slate[None, :])[0]
        ipp = None
        if item_position:
            sub = np.flatnonzero(allowed)
            marg = item_position_marginals(s[sub], k, grid=100)
            where = np.searchsorted(sub, slate)
            ipp = marg[where, np.arange(k)]
        return Slate(slate, self._ids(slate), s[slate], float(casc[-1]), casc, ipp)

    def _ids(self, index: np.ndarray) -> list[Any]:
        return [self.item_ids[i] for i in index]
