"""What consuming an item does to the user afterwards, estimated per item from the log.

A title tells whether an item is *about* football; it does not tell whether this article
leaves its readers satisfied or annoyed. In the known world that is each item's quality,
and the whole long-term trade-off rests on it (docs/agents.md, "What the oracle
needs"): a fitted simulator whose state holds only text vectors cannot tell two
clickbait items apart, so it cannot value a policy that picks the better one. The logs
can: users who consumed a good item stay longer.

The estimate: a logistic regression of "the session ended after this request" on the
standardised state after the request (what the leave model reads) plus, per item ``j``,
the decayed count of the user's past consumptions of ``j``,

    E[t, j] = sum over consumptions of j at requests t' <= t of decay^(t - t')

(requests counted over the user's whole history, sessions included, since a
satisfaction-like effect outlives a session), with the L2 penalty of the leave model.
The consequence of item ``j`` is minus its coefficient: positive for items after which
users stay. Items never consumed get 0 (the penalty keeps their coefficient there).

:func:`with_consequences` appends it, scaled to the text columns' typical size (times
its split-half reliability when shrunk, :func:`cross_fitted`), to the item vectors, so
every block of the user state built from consumed items (``interest``, ``last_item``)
and every component model that reads the state or the item vectors sees it;
:func:`cross_fitted` does so for fitting, with each user's states built from the
consequences estimated without that user. Measured in docs/simulators.md ("Where the
errors come from, and item consequences").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.interactions.schema import InteractionLog, ItemCatalog
from ltvrec.simulators.components import Standardizer
from ltvrec.simulators.fit_config import FitConfig
from ltvrec.simulators.replay import Trajectories, replay_log

MIN_WEIGHT = 0.01
"""Exposure weights below this are dropped (``decay^age`` past it adds nothing)."""


def consumption_exposure(traj: Trajectories, n_items: int, decay: float) -> sp.csr_matrix:
    """``[R, N]`` sparse ``E[t, j]``: the decayed count of the user's consumptions of item
    ``j`` at requests up to and including ``t`` (weight ``decay^(t - t')``).

    ``traj``'s rows are sorted by user then time, so the request ``lag`` rows after a
    consumption belongs to the same user exactly when ``user`` agrees there.

    >>> from types import SimpleNamespace
    >>> t = SimpleNamespace(n=4, user=np.array([0, 0, 0, 1]),
    ...                     consumed_item=np.array([1, -1, 0, -1]))
    >>> consumption_exposure(t, 2, 0.5).toarray().tolist()
    [[0.0, 1.0], [0.0, 0.5], [1.0, 0.25], [0.0, 0.0]]
    """
    if not 0 < decay < 1:
        raise ValueError(f"expected a decay in (0, 1), got {decay}")
    src = np.flatnonzero(traj.consumed_item >= 0)
    items = traj.consumed_item[src]
    rows, cols, vals = [], [], []
    lags = int(np.floor(np.log(MIN_WEIGHT) / np.log(decay))) + 1
    for lag in range(lags):
        dst = src + lag
        ok = dst < traj.n
        ok[ok] = traj.user[dst[ok]] == traj.user[src[ok]]
        rows.append(dst[ok])
        cols.append(items[ok])
        vals.append(np.full(int(ok.sum()), decay**lag))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(traj.n, n_items),
    )


def item_consequences(
    traj: Trajectories,
    x_after: np.ndarray,
    n_items: int,
    decay: float,
    ridge: float,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """``[N]`` each item's consequence: minus its coefficient on the decayed consumption
    count in a logistic model of the session ending (see the module docstring).

    Args:
        traj: the replayed log.
        x_after: ``[R, S]`` the standardised states after each request.
        decay: per-request decay of a consumption's effect, in (0, 1).
        ridge: L2 penalty (``C = 1 / ridge`` in scikit-learn's terms).
        rows: ``[R]`` bool, the requests to fit on (whole users; default all).
    """
    from sklearn.linear_model import LogisticRegression

    keep = np.ones(traj.n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    y = traj.session_end[keep].astype(int)
    if len(y) == 0 or y.min() == y.max() or not (traj.consumed_item[keep] >= 0).any():
        return np.zeros(n_items)
    exposure = consumption_exposure(traj, n_items, decay)[keep]
    x = sp.hstack([sp.csr_matrix(x_after[keep]), exposure]).tocsr()
    model = LogisticRegression(C=1.0 / ridge, max_iter=2000).fit(x, y)
    return -model.coef_[0][x_after.shape[1] :].copy()


def text_prediction(
    consequence: np.ndarray,
    text_vectors: np.ndarray,
    counts: np.ndarray,
    ridge: float = 1.0,
    folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """``[N]`` each item's consequence as its text predicts it: a ridge regression of the
    estimates on the text vectors over the items the log holds consumptions of,
    cross-fitted over ``folds`` item folds (an item's prediction never reads its own
    estimate)."""
    from ltvrec.catalog import ridge_map

    c = np.asarray(consequence, dtype=np.float64)
    x = np.asarray(text_vectors, dtype=np.float64)
    seen = np.flatnonzero(np.asarray(counts) > 0)
    fold = np.random.default_rng([seed, 41]).integers(0, folds, len(c))
    t = np.zeros_like(c)
    for k in range(folds):
        fit = seen[fold[seen] != k]
        if len(fit) < 2:
            continue
        coef = ridge_map(x[fit], c[fit], ridge)
        mine = fold == k
        t[mine] = x[mine] @ coef[:-1] + coef[-1]
    return t


def split_half_kappa(
    half_a: np.ndarray,
    half_b: np.ndarray,
    counts_a: np.ndarray,
    counts_b: np.ndarray,
    prediction: np.ndarray,
    bins: int = 5,
) -> float:
    """``kappa`` of the reliability ``n / (n + kappa)`` of an item's estimate from ``n``
    consumptions, read off two estimates from disjoint halves of the users: within bins
    of items by consumptions, the correlation of the halves' departures from the text's
    prediction is the reliability of a half's estimate, so ``kappa = n_half (1 - rho) /
    rho`` per bin; the median over bins. ``inf`` when the halves do not agree at all."""
    n_half = (np.asarray(counts_a, float) + np.asarray(counts_b, float)) / 2
    seen = np.flatnonzero((np.asarray(counts_a) > 0) & (np.asarray(counts_b) > 0))
    if len(seen) < 4 * bins:
        return float("inf")
    a = np.asarray(half_a, float) - prediction
    b = np.asarray(half_b, float) - prediction
    edges = np.quantile(n_half[seen], np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, n_half[seen], side="right") - 1, 0, bins - 1)
    kappas = []
    for k in range(bins):
        idx = seen[which == k]
        if len(idx) < 4 or a[idx].std() == 0 or b[idx].std() == 0:
            continue
        rho = float(np.clip(np.corrcoef(a[idx], b[idx])[0, 1], 1e-3, 1 - 1e-3))
        kappas.append(float(np.median(n_half[idx])) * (1 - rho) / rho)
    return float(np.median(kappas)) if kappas else float("inf")


def shrunk_to_text(
    consequence: np.ndarray, prediction: np.ndarray, counts: np.ndarray, kappa: float
) -> np.ndarray:
    """``t_j + n_j / (n_j + kappa) (c_j - t_j)``: each item's estimate ``c_j`` believed as
    far as its ``n_j`` consumptions back it, the rest its text's prediction ``t_j`` (an
    item nobody consumed gets ``t_j``, as a new item does). Empirical Bayes for normal
    means with noise variance falling as ``1 / n`` (Efron and Morris 1973); ``kappa``
    from :func:`split_half_kappa`."""
    n = np.asarray(counts, dtype=np.float64)
    weight = n / (n + kappa) if np.isfinite(kappa) else np.zeros_like(n)
    return prediction + weight * (np.asarray(consequence, dtype=np.float64) - prediction)


def split_half_reliability(half_a: np.ndarray, half_b: np.ndarray) -> float:
    """The reliability of a per-item column estimated on all users, read off two estimates
    from disjoint halves of them: their correlation over items ``r``, stepped up to the
    whole log by Spearman-Brown, ``2 r / (1 + r)``, clipped to ``[0, 1]`` (0 when the
    halves do not agree at all, or either has no spread).

    Unlike :func:`split_half_kappa`, which compares the halves' departures from one shared
    text prediction, each half here carries its own text prediction, so a text direction
    that one log's noise happens to favour (in the known world without a trade-off: the
    clickbait class) does not count as agreement."""
    a = np.asarray(half_a, dtype=np.float64)
    b = np.asarray(half_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"expected two estimates of the same items, got {a.shape} and {b.shape}")
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return 0.0
    r = float(np.corrcoef(a, b)[0, 1])
    return float(np.clip(2 * r / (1 + r), 0.0, 1.0)) if r > 0 else 0.0


def consumption_counts(
    traj: Trajectories, n_items: int, rows: np.ndarray | None = None
) -> np.ndarray:
    """``[N]`` each item's consumptions in ``traj`` (in ``rows`` only, when given)."""
    items = traj.consumed_item if rows is None else traj.consumed_item[rows]
    return np.bincount(items[items >= 0], minlength=n_items).astype(np.float64)


def cross_fitted(
    log: InteractionLog,
    catalog: ItemCatalog,
    item_vectors: np.ndarray,
    traj: Trajectories,
    cfg: FitConfig,
    folds: int = 2,
) -> tuple[np.ndarray, Trajectories, np.ndarray, float]:
    """The item vectors with the consequence column, the log replayed for fitting the
    component models, the consequences ``[N]`` themselves, and the column's reliability;
    *cross-fitted*: each user's states carry the consequences estimated without that
    user's fold.

    With ``cfg.shrink_consequences`` the column's spread is the text columns' typical
    one times its split-half reliability (:func:`split_half_reliability` of the two
    folds' shrunk estimates): a column the log cannot reproduce from half its users is
    mostly its text prediction's noise, and scaled to full size it would read to every
    model (and to the start, :func:`~ltvrec.agents.prior.consequence_prior`) as loud as
    a real one. Measured in docs/simulators.md ("How much of the shrunk column the log
    backs"). Without shrinking the reliability is 1, as the raw column always was.

    Why: a column estimated from the very session ends the leave model is then fitted on
    explains them in-sample, noise included, and the leave model leans on it more than
    new users warrant (measured: held-out leave likelihood worse with it on ml-100k,
    docs/simulators.md). Estimated out of fold, the column is as noisy for the training
    users as it will be for new ones. The simulator's own column is estimated on every
    user (one more fit), centred and scaled like the folds'.

    Args:
        traj: the log replayed through the text-only state encoder.
        folds: user folds (2: each fold's consequences are fitted on half the users).
    """
    n = catalog.n_items
    x_after = Standardizer.fit(traj.after)(traj.after)
    args = (x_after, n, cfg.state_decay, cfg.ridge)

    fold = np.random.default_rng(cfg.seed).integers(0, folds, int(traj.user.max()) + 1)[traj.user]
    rows = [None, *(fold != k for k in range(folds))]
    raw = [item_consequences(traj, *args, rows=r) for r in rows]
    if cfg.shrink_consequences:
        # Each estimate towards its text's prediction, by the reliability the two
        # halves of the users (the folds' disjoint rows) show at each count.
        if folds != 2:
            raise ValueError("shrink_consequences reads the reliability off 2 folds")
        counts = [consumption_counts(traj, n, r) for r in rows]
        t = [
            text_prediction(c, item_vectors, m, cfg.ridge, seed=cfg.seed)
            for c, m in zip(raw, counts, strict=True)
        ]
        kappa = split_half_kappa(raw[1], raw[2], counts[1], counts[2], t[0])
        raw = [shrunk_to_text(c, p, m, kappa) for c, p, m in zip(raw, t, counts, strict=True)]
        # The folds' rows are disjoint halves of the users: how far they agree on the
        # shrunk column (each with its own text prediction) is how far to believe it.
        reliability = split_half_reliability(raw[1], raw[2])
    else:
        reliability = 1.0
    full = raw[0]
    merged: dict[str, np.ndarray] = {}
    for k in range(folds):
        out_of_fold = raw[k + 1]
        vectors = with_consequences(item_vectors, out_of_fold, like=full, reliability=reliability)
        encoder = UserStateEncoder(
            vectors, decay=cfg.state_decay, engagement_decays=cfg.engagement_decays
        )
        replayed = replay_log(log, catalog, encoder)  # the same rows in the same order
        mine = (fold == k)[:, None]
        for name in ("before", "after"):
            part = getattr(replayed, name)
            merged[name] = np.where(mine, part, merged[name]) if name in merged else part
    vectors = with_consequences(item_vectors, full, reliability=reliability)
    return vectors, replace(traj, **merged), full, reliability


def with_consequences(
    item_vectors: np.ndarray,
    consequence: np.ndarray,
    like: np.ndarray | None = None,
    reliability: float = 1.0,
) -> np.ndarray:
    """``[N, d + 1]``: the item vectors with the consequence appended as the last column,
    centred and rescaled so that its standard deviation over items is the text columns'
    median one times ``reliability`` (a column far larger or smaller than the rest would
    dominate, or vanish under, the L2 penalties of the models that read it; one the log
    does not back should vanish); with ``like``, centred and scaled as ``like`` would be
    (the same units for every fold's estimate)."""
    emb = np.asarray(item_vectors, dtype=np.float32)
    c = np.asarray(consequence, dtype=np.float64)
    ref = c if like is None else np.asarray(like, dtype=np.float64)
    if c.shape != (emb.shape[0],) or ref.shape != c.shape:
        raise ValueError(f"expected one consequence per item ({emb.shape[0]}), got {c.shape}")
    if not 0.0 <= reliability <= 1.0:
        raise ValueError(f"expected a reliability in [0, 1], got {reliability}")
    sd = float(ref.std())
    scale = reliability * float(np.median(emb.std(axis=0))) / sd if sd > 0 else 0.0
    return np.hstack([emb, ((c - ref.mean()) * scale)[:, None].astype(np.float32)])
