"""Cross-fitted reward models for the bandit DM / DR family, with their quality.

``q_hat(x, a, k)`` is fitted per position ``k`` on features ``[context, action
features]`` (one-hot actions by default), as in the Open Bandit Pipeline's
``RegressionModel``; with ``folds >= 2`` every logged request's ``q_hat`` comes from a
model fitted on the other folds (shuffled K-fold, seeded), so DR's correction term is
not fitted to its own noise. Quality is measured on those held-out predictions at the
logged actions: R^2 and Brier score / MSE, and for classifiers the log loss and AUC.

Any scikit-learn estimator works as ``base_model`` (a classifier's ``predict_proba``
is used for binary rewards); the default is a logistic regression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import KFold


@dataclass(frozen=True)
class RewardModel:
    """Cross-fitted reward estimates and their held-out quality.

    Attributes:
        q_hat: ``[n, n_actions, len_list]`` estimated expected rewards.
        quality: held-out ``r2``, ``mse`` (the Brier score for 0/1 rewards) and, for a
            classifier, ``log_loss`` and ``auc``; ``folds``.
    """

    q_hat: np.ndarray
    quality: dict[str, float]


def _features(context: np.ndarray, action: np.ndarray, action_features: np.ndarray) -> np.ndarray:
    return np.c_[context, action_features[action]]


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    return model.predict_proba(x)[:, 1] if is_classifier(model) else model.predict(x)


def cross_fit_rewards(
    context: np.ndarray,
    action: np.ndarray,
    position: np.ndarray,
    reward: np.ndarray,
    n_actions: int,
    len_list: int = 1,
    action_features: np.ndarray | None = None,
    base_model: Any = None,
    folds: int = 2,
    seed: int = 0,
) -> RewardModel:
    """Fit ``q_hat`` per position with K-fold cross-fitting; see the module docstring."""
    context = np.asarray(context, dtype=np.float64)
    n = len(reward)
    if context.ndim != 2 or len(context) != n or len(action) != n or len(position) != n:
        raise ValueError(
            f"expected context [n, F], action [n], position [n] with n = {n} rewards; got "
            f"{context.shape}, {np.shape(action)}, {np.shape(position)}"
        )
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    feats = np.eye(n_actions) if action_features is None else np.asarray(action_features)
    model = base_model if base_model is not None else LogisticRegression(max_iter=1000)
    q_hat = np.zeros((n, n_actions, len_list))
    splits = (
        [(np.arange(n), np.arange(n))]
        if folds == 1
        else list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(context))
    )
    for train, test in splits:
        for k in range(len_list):
            at_k = train[position[train] == k]
            if len(at_k) == 0:
                raise ValueError(f"no training data at position {k} in a fold; use fewer folds")
            fitted = clone(model).fit(_features(context[at_k], action[at_k], feats), reward[at_k])
            every = np.repeat(np.arange(n_actions), len(test))
            x = _features(np.tile(context[test], (n_actions, 1)), every, feats)
            q_hat[test, :, k] = _predict(fitted, x).reshape(n_actions, len(test)).T
    logged = q_hat[np.arange(n), action, position]
    r = np.asarray(reward, dtype=np.float64)
    mse = float(np.mean((logged - r) ** 2))
    quality = {
        "folds": float(folds),
        "mse": mse,
        "r2": 1.0 - mse / float(r.var()) if r.var() > 0 else float("nan"),
    }
    if is_classifier(model) and len(np.unique(r)) == 2:
        clipped = np.clip(logged, 1e-12, 1 - 1e-12)
        quality["log_loss"] = float(log_loss(r, clipped, labels=[0, 1]))
        quality["auc"] = float(roc_auc_score(r, logged))
    return RewardModel(q_hat, quality)
