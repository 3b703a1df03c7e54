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
from threading import Lock
from typing import Any

import numpy as np
import onnxruntime as ort

from ltvrec.encoders.state import REQUEST, START, Events, UserStateEncoder
from ltvrec.serving.bundle import (
    Catalog,
    ItemsError,
    grown_catalog,
    read_catalog,
    read_manifest,
    read_text_map,
    write_catalog,
)
from ltvrec.serving.text import BundleTextEncoder
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
    """Load a bundle (verified) and answer requests; thread-safe for concurrent calls.

    The catalog (:class:`~ltvrec.serving.bundle.Catalog`) is one immutable object
    replaced whole by :meth:`add_items`; a request reads it once (``catalog=``) so its
    state, scores and slate all come from one version."""

    def __init__(
        self, folder: str | Path, threads: int = 1, catalog_version: int | None = None
    ) -> None:
        folder = Path(folder)
        self.manifest = read_manifest(folder)
        self.folder = folder
        self.threads = threads
        enc = json.loads((folder / "state_encoder.json").read_text())
        # Bundles written before the engagement blocks: none.
        self._rates = tuple(enc.get("engagement_decays", ()))
        self._decay = enc["decay"]
        self.session_gap_hours = float(enc["session_gap_minutes"]) / 60.0
        self._text_encoder: BundleTextEncoder | None = None
        self._add_lock = Lock()
        self.catalog = read_catalog(folder, int(self.manifest["item_dim"]), catalog_version)
        self._encoders: dict[int, UserStateEncoder] = {}
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
        self._items_session = ort.InferenceSession(
            str(folder / "items.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self._prepared: dict[int, np.ndarray] = {}
        self.prepared(self.catalog)

    # --------------------------------------------------------------- catalog
    @property
    def catalog(self) -> Catalog:
        """The catalog served now."""
        return self._catalog

    @catalog.setter
    def catalog(self, value: Catalog) -> None:
        value_index = {str(item): i for i, item in enumerate(value.item_ids)}
        self._index = (value.version, value_index)
        self._catalog = value

    def _index_of(self, cat: Catalog) -> dict[str, int]:
        # Looked up by str(id): JSON clients may send 42 or "42" for the same item.
        version, index = self._index
        if version == cat.version:
            return index
        return {str(item): i for i, item in enumerate(cat.item_ids)}

    @property
    def item_ids(self) -> list[Any]:
        return self.catalog.item_ids

    @property
    def texts(self) -> list[str]:
        return self.catalog.texts

    @property
    def n_items(self) -> int:
        return self.catalog.n_items

    @property
    def index_of(self) -> dict[str, int]:
        return self._index_of(self.catalog)

    def encoder_for(self, cat: Catalog | None = None) -> UserStateEncoder:
        """The user-state encoder over ``cat``'s item vectors (built once per version)."""
        cat = cat or self.catalog
        enc = self._encoders.get(cat.version)
        if enc is None:
            enc = UserStateEncoder(
                cat.item_embeddings, decay=self._decay, engagement_decays=self._rates
            )
            self._encoders = {cat.version: enc, **dict(list(self._encoders.items())[:1])}
        return enc

    def prepared(self, cat: Catalog | None = None) -> np.ndarray:
        """``[N, P]``: the item side of ``cat``'s scores (``items.onnx``), computed once
        per catalog version."""
        cat = cat or self.catalog
        out = self._prepared.get(cat.version)
        if out is None:
            out = self._items_session.run(["prepared"], {"items": cat.table})[0]
            # This version and the one before it (requests still in flight read it).
            self._prepared = {cat.version: out, **dict(list(self._prepared.items())[:1])}
        return out

    @property
    def encoder(self) -> UserStateEncoder:
        return self.encoder_for()

    @property
    def can_add_items(self) -> bool:
        """Whether the bundle can take new items (it carries a text encoder, and its
        policy the maps that write a new item's row)."""
        return bool(self.manifest.get("text_encoder")) and not self.manifest.get("no_new_items")

    def text_encoder(self) -> BundleTextEncoder:
        """The bundle's torch-free text encoder (loaded on first use)."""
        reason = self.manifest.get("no_new_items")
        if reason:
            raise ItemsError(f"this bundle cannot take new items: {reason}")
        if not self.manifest.get("text_encoder"):
            raise ItemsError(
                "this bundle carries no text encoder, so it cannot take new items; export "
                "it with its item encoding (ltvrec export ... --items DIR)"
            )
        if self._text_encoder is None:
            self._text_encoder = BundleTextEncoder(self.folder, self.threads)
        return self._text_encoder

    def add_items(self, items: list[dict[str, Any]], write: bool = True) -> Catalog:
        """Add items by their text (``[{"item_id", "text"}, ...]``): encode, write their
        table rows, write the next catalog version into the bundle (``write``), then
        serve it. Bad rows raise :class:`~ltvrec.serving.bundle.ItemsError` and change
        nothing; so does a failed write."""
        with self._add_lock:
            encoder = self.text_encoder()
            text_map = read_text_map(self.folder, self.manifest)
            grown, added = grown_catalog(self.catalog, text_map, encoder.encode, items)
            if write:
                write_catalog(
                    self.folder,
                    grown.version,
                    grown.item_ids,
                    grown.texts,
                    grown.table,
                    parent=self.catalog.version,
                    added=added,
                )
            self.encoder_for(grown)
            self.prepared(grown)
            self.catalog = grown
            return grown

    # ----------------------------------------------------------------- state
    def state(
        self,
        items: list[Any],
        times: np.ndarray,
        rewards: np.ndarray,
        now: float,
        sessions: list[Any] | None = None,
        session: Any = None,
        catalog: Catalog | None = None,
    ) -> tuple[np.ndarray, list[Any]]:
        """The user state ``[S]`` at a request at ``now`` (seconds), and the history's
        item ids not in the catalog (treated as no consumption, and reported).

        Args:
            items: per past request, the consumed item id or None.
            times: ``[H]`` seconds, non-decreasing, <= ``now``.
            rewards: ``[H]``.
            sessions, session: optional session ids of the history and of this request.
            catalog: the catalog version to read the items in (default: the current).
        """
        cat = catalog or self.catalog
        index_of = self._index_of(cat)
        t = np.asarray(times, dtype=np.float64)
        h = len(items)
        if len(t) != h or len(rewards) != h or (sessions is not None and len(sessions) != h):
            raise ValueError("history fields must have one entry per past request")
        if h and (np.any(np.diff(t) < 0) or t[-1] > now):
            raise ValueError("history must be in time order and not after the request")
        unknown = [i for i in items if i is not None and str(i) not in index_of]
        idx = np.array([index_of.get(str(i), -1) if i is not None else -1 for i in items])
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
        state = self.encoder_for(cat).from_events(events)[0].astype(np.float32)
        return state, unknown

    def consumed(self, items: list[Any], catalog: Catalog | None = None) -> np.ndarray:
        """``[N]`` float32: 1 for the catalog items among a history's consumed items."""
        cat = catalog or self.catalog
        index_of = self._index_of(cat)
        out = np.zeros(cat.n_items, dtype=np.float32)
        idx = [index_of[str(i)] for i in items if i is not None and str(i) in index_of]
        out[idx] = 1.0
        return out

    # ---------------------------------------------------------------- scores
    def scores(
        self,
        states: np.ndarray,
        consumed: np.ndarray | None = None,
        catalog: Catalog | None = None,
    ) -> np.ndarray:
        """``[B, N]`` float64 scores for states ``[B, S]`` of ``catalog``'s items (default:
        the current catalog); a bundle that masks consumed items needs ``consumed [B, N]``
        (:meth:`consumed`) and scores them ``-inf``."""
        cat = catalog or self.catalog
        x = np.ascontiguousarray(states, dtype=np.float32).reshape(
            -1, int(self.manifest["state_size"])
        )
        feeds = {"state": x, "prepared": self.prepared(cat)}
        if self.mask_consumed:
            if consumed is None:
                raise ValueError("this bundle masks consumed items: pass consumed [B, N]")
            feeds["consumed"] = np.ascontiguousarray(consumed, dtype=np.float32).reshape(
                len(x), cat.n_items
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
        catalog: Catalog | None = None,
    ) -> Slate:
        """A slate for one user state. Items outside ``candidates`` (when given), in
        ``exclude``, or consumed (``consumed [N]``, for bundles that mask them) get
        probability 0; the propensities are of the distribution actually sampled from
        (the policy restricted to the allowed items). ``catalog``: the version to serve
        from (default: the current one)."""
        cat = catalog or self.catalog
        index_of = self._index_of(cat)
        k = self.slate_size if k is None else k
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        s = self.scores(state[None, :], None if consumed is None else consumed[None, :], cat)[0]
        allowed = np.isfinite(s)  # masked (consumed) items are -inf
        if candidates is not None:
            listed = np.zeros(cat.n_items, dtype=bool)
            listed[[index_of[str(c)] for c in candidates if str(c) in index_of]] = True
            allowed &= listed
        for e in exclude or ():
            if str(e) in index_of:
                allowed[index_of[str(e)]] = False
        n_allowed = int(allowed.sum())
        if not 1 <= k <= n_allowed:
            raise ValueError(f"k must be between 1 and {n_allowed} (the allowed items), got {k}")
        masked = np.where(allowed, s, -np.inf)
        if mode == "greedy":
            slate = top_k(masked[None, :], k)[0]
            ones = np.ones(k)
            return Slate(
                slate, self._ids(slate, cat), s[slate], 1.0, ones, ones if item_position else None
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
        return Slate(slate, self._ids(slate, cat), s[slate], float(casc[-1]), casc, ipp)

    def _ids(self, index: np.ndarray, cat: Catalog) -> list[Any]:
        return [cat.item_ids[i] for i in index]
