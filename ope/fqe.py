"""Fitted Q evaluation (FQE, Le et al. 2019): the target policy's action value from logs,
as the direct method over whole trajectories and as the model inside sequential DR.

Inputs are features, not states: ``x_logged [R, F]`` describes (state, logged slate) of
each request and ``x_target [R, M, F]`` (state, slate) for ``M`` slates sampled from the
target policy in the same state, so ``V(s_t) = mean_m Q(x_target[t, m])``. Iteration j
regresses ``Q_j(x_t)`` on ``r_t + gamma V_{j-1}(s_{t+1})`` (``r_t`` alone at a
trajectory's last request); the first iteration is therefore the one-step reward model.
By default the iterations run as long as the longest trajectory, so values propagate
from its end to its start.

Models (torch, float64): ``hidden=()`` is ridge regression; with ``iterations=None`` it
solves the iterations' limit, FQE's fixed point for a linear model (LSTD-Q, Lagoudakis
and Parr 2003), in one linear solve, and its interval refits that solve on user
resamples (a percentile bootstrap that includes the model's own error). ``hidden=(64,)``
is an MLP warm-started across iterations (slower, non-linear); its interval is over
users with the model held fixed, so it omits the model's error.

Cross-fitting: users are split into ``folds``; each fold's Q and V come from the model
fitted on the other folds, so DR's correction term is not fitted to its own noise
(Chernozhukov et al. 2018). Quality is reported on held-out users: R^2 of the first
iteration against rewards (the reward model's fit) and of the final Q against its
Bellman targets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch as th

from ltvrec.ope.intervals import Estimate, make_estimate
from ltvrec.ope.sequential import Trajectories


@dataclass(frozen=True)
class FQEConfig:
    """Fitted Q evaluation settings.

    Attributes:
        gamma: per-request discount (1: the simulator's undiscounted long-term value).
        hidden: MLP hidden sizes; () for the exact ridge-regression model.
        iterations: Bellman backups; None = to convergence: the linear model solves the
            fixed point directly, the MLP iterates as long as the longest trajectory.
        folds: cross-fitting folds over users (>= 2).
        ridge: L2 penalty of the linear model (scaled by the number of rows).
        epochs: MLP passes over the data per iteration.
        lr: MLP learning rate.
        seed: fold split and MLP initialisation.
    """

    gamma: float = 1.0
    hidden: tuple[int, ...] = ()
    iterations: int | None = None
    folds: int = 2
    ridge: float = 1e-3
    epochs: int = 2
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2 for cross-fitting, got {self.folds}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")


@dataclass(frozen=True)
class QValues:
    """Cross-fitted values per request.

    Attributes:
        q_logged: ``[R]`` ``Q(s_t, logged slate)``.
        v: ``[R]`` ``V(s_t)`` under the target policy.
        quality: held-out fit (``reward_r2``, ``bellman_r2``) averaged over folds.
        bootstrap: ``[B]`` FQE values refitted on user resamples (linear model), or None.
    """

    q_logged: np.ndarray
    v: np.ndarray
    quality: dict[str, float]
    bootstrap: np.ndarray | None = None


def _next_index(user: np.ndarray) -> np.ndarray:
    """Row of the same user's next request, -1 at a trajectory's end."""
    nxt = np.arange(1, len(user) + 1)
    last = np.r_[user[1:] != user[:-1], True]
    nxt[last] = -1
    return nxt


class _Ridge:
    def __init__(self, x: th.Tensor, ridge: float) -> None:
        self.mu = x.mean(0)
        self.sd = x.std(0).clamp_min(1e-8)
        z = self._z(x)
        self.ridge = ridge
        gram = z.T @ z + ridge * len(x) * th.eye(z.shape[1], dtype=z.dtype)
        gram[0, 0] -= ridge * len(x)  # do not shrink the intercept
        self.chol = th.linalg.cholesky(gram)
        self.z = z
        self.theta = th.zeros(z.shape[1], dtype=z.dtype)

    def _z(self, x: th.Tensor) -> th.Tensor:
        z = (x - self.mu) / self.sd
        return th.cat([th.ones(*z.shape[:-1], 1, dtype=z.dtype), z], dim=-1)

    def prepare(self, x: th.Tensor) -> th.Tensor:
        """Inputs transformed once, for repeated predictions across iterations."""
        return self._z(x)

    def fit(self, y: th.Tensor) -> None:
        self.theta = th.cholesky_solve((self.z.T @ y)[:, None], self.chol)[:, 0]

    def penalty(self) -> th.Tensor:
        eye = self.ridge * len(self.z) * th.eye(self.z.shape[1], dtype=self.z.dtype)
        eye[0, 0] = 0.0
        return eye

    def fit_fixed_point(self, reward: th.Tensor, z_next: th.Tensor, gamma: float) -> None:
        """FQE's limit for a linear model in one solve (LSTD-Q): ``theta`` with
        ``Z^T (Z theta - r - gamma Z_next theta) + ridge theta = 0``."""
        a = self.z.T @ (self.z - gamma * z_next) + self.penalty()
        self.theta = th.linalg.solve(a, self.z.T @ reward)

    def predict(self, z: th.Tensor) -> th.Tensor:
        return z @ self.theta

    def __call__(self, x: th.Tensor) -> th.Tensor:
        return self.predict(self._z(x))


class _MLP:
    def __init__(self, x: th.Tensor, cfg: FQEConfig) -> None:
        self.mu = x.mean(0)
        self.sd = x.std(0).clamp_min(1e-8)
        layers: list[th.nn.Module] = []
        width = x.shape[1]
        for h in cfg.hidden:
            layers += [th.nn.Linear(width, h), th.nn.ReLU()]
            width = h
        layers.append(th.nn.Linear(width, 1))
        self.net = th.nn.Sequential(*layers).double()
        self.opt = th.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.x = x
        self.cfg = cfg
        self.gen = th.Generator().manual_seed(cfg.seed)

    def fit(self, y: th.Tensor) -> None:
        n = len(self.x)
        for _ in range(self.cfg.epochs):
            for idx in th.randperm(n, generator=self.gen).split(512):
                loss = (self(self.x[idx]) - y[idx]).pow(2).mean()
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()

    def prepare(self, x: th.Tensor) -> th.Tensor:
        return x

    def predict(self, z: th.Tensor) -> th.Tensor:
        return self(z)

    def __call__(self, x: th.Tensor) -> th.Tensor:
        return self.net((x - self.mu) / self.sd)[..., 0]


def _r2(pred: th.Tensor, y: th.Tensor) -> float:
    var = float(y.var())
    return 1.0 - float((pred - y).pow(2).mean()) / var if var > 0 else float("nan")


class FQE:
    """Cross-fitted fitted Q evaluation; see the module docstring."""

    def __init__(self, config: FQEConfig | None = None) -> None:
        self.config = config or FQEConfig()

    def fit_predict(
        self,
        traj: Trajectories,
        x_logged: np.ndarray,
        x_target: np.ndarray,
        n_bootstrap: int = 0,
        seed: int = 0,
    ) -> QValues:
        """Cross-fitted ``Q(s_t, a_t)`` and ``V(s_t)`` for every logged request, and
        (linear fixed point, ``n_bootstrap > 0``) refitted bootstrap values of FQE."""
        cfg = self.config
        r = len(traj.user)
        if x_logged.ndim != 2 or len(x_logged) != r:
            raise ValueError(f"expected x_logged [{r}, F], got shape {x_logged.shape}")
        if x_target.shape[0] != r or x_target.ndim != 3 or x_target.shape[2] != x_logged.shape[1]:
            raise ValueError(
                f"expected x_target [{r}, M, {x_logged.shape[1]}], got shape {x_target.shape}"
            )
        if traj.n_users < cfg.folds:
            raise ValueError(f"{traj.n_users} users cannot be split into {cfg.folds} folds")
        fold_of_user = np.random.default_rng(cfg.seed).permutation(traj.n_users) % cfg.folds
        fold = fold_of_user[traj.user]
        nxt = _next_index(traj.user)
        fixed_point = not cfg.hidden and cfg.iterations is None
        iterations = cfg.iterations or int(traj.step.max()) + 1
        xl = th.as_tensor(np.asarray(x_logged, dtype=np.float64))
        xt = th.as_tensor(np.asarray(x_target, dtype=np.float64))
        rew = th.as_tensor(np.asarray(traj.reward, dtype=np.float64))
        q_out = np.empty(r)
        v_out = np.empty(r)
        quality: dict[str, list[float]] = {"reward_r2": [], "bellman_r2": []}
        th.manual_seed(cfg.seed)
        for k in range(cfg.folds):
            train = th.as_tensor(np.flatnonzero(fold != k))
            test = th.as_tensor(np.flatnonzero(fold == k))
            model: Any = _Ridge(xl[train], cfg.ridge) if not cfg.hidden else _MLP(xl[train], cfg)
            # Row positions of each training row's successor, within the training rows.
            pos = th.full((r,), -1, dtype=th.long)
            pos[train] = th.arange(len(train))
            nxt_train = th.as_tensor(nxt)[train]
            has_next = nxt_train >= 0
            succ = pos[nxt_train.clamp_min(0)]
            xt_train = model.prepare(xt[train])
            v_train = th.zeros(len(train), dtype=th.float64)
            if fixed_point:
                model.fit(rew[train])  # the one-step reward model, for its quality
                with th.no_grad():
                    quality["reward_r2"].append(_r2(model(xl[test]), rew[test]))
                z_next = th.zeros_like(model.z)
                z_next[has_next] = xt_train.mean(dim=1)[succ[has_next]]
                model.fit_fixed_point(rew[train], z_next, cfg.gamma)
                iterations = 0
            for j in range(iterations):
                y = rew[train].clone()
                y[has_next] += cfg.gamma * v_train[succ[has_next]]
                model.fit(y)
                if j == 0:
                    with th.no_grad():
                        quality["reward_r2"].append(_r2(model(xl[test]), rew[test]))
                with th.no_grad():
                    v_train = model.predict(xt_train).mean(dim=1)
            with th.no_grad():
                q_test = model(xl[test])
                v_all = model(xt[test]).mean(dim=1)
            q_out[test.numpy()] = q_test.numpy()
            v_out[test.numpy()] = v_all.numpy()
            # Held-out Bellman targets of this fold, from its own predictions.
            nt = nxt[test.numpy()]
            target = traj.reward[test.numpy()] + cfg.gamma * np.where(
                nt >= 0, v_out[np.maximum(nt, 0)], 0.0
            )
            quality["bellman_r2"].append(_r2(q_test, th.as_tensor(target)))
        boot = None
        if fixed_point and n_bootstrap > 0:
            boot = self._bootstrap(traj, xl, xt, nxt, n_bootstrap, seed)
        return QValues(q_out, v_out, {k: float(np.mean(v)) for k, v in quality.items()}, boot)

    def _bootstrap(
        self,
        traj: Trajectories,
        xl: th.Tensor,
        xt: th.Tensor,
        nxt: np.ndarray,
        n_bootstrap: int,
        seed: int,
    ) -> np.ndarray:
        """FQE's value refitted (linear fixed point, all users) on user resamples. The
        normal equations are sums over users, so each resample reweights per-user sums
        ``A_u, b_u`` by how often it drew the user: one small solve per resample."""
        cfg = self.config
        model = _Ridge(xl, cfg.ridge)
        z = model.z
        zt = model.prepare(xt).mean(dim=1)
        has = th.as_tensor(nxt >= 0)
        z_next = th.zeros_like(z)
        z_next[has] = zt[th.as_tensor(nxt)[has]]
        u = traj.n_users
        user = th.as_tensor(traj.user)
        f = z.shape[1]
        rhs = z - cfg.gamma * z_next
        rew = th.as_tensor(traj.reward, dtype=z.dtype)
        rng = np.random.default_rng(seed)
        counts = th.as_tensor(
            rng.multinomial(u, np.full(u, 1.0 / u), size=n_bootstrap).astype(np.float64)
        )
        z0 = zt[th.as_tensor(traj.step == 0)]  # [U, F]: each user's first state, in order
        theta = th.empty(n_bootstrap, f, dtype=z.dtype)
        if u * f * f <= 100_000_000:  # per-user sums fit in memory (<= 800 MB)
            a_u = th.zeros(u, f * f, dtype=z.dtype)
            step = max(1, 20_000_000 // (f * f))
            for i in range(0, len(z), step):
                sl = slice(i, i + step)
                outer = (z[sl, :, None] * rhs[sl, None, :]).reshape(-1, f * f)
                a_u.index_add_(0, user[sl], outer)
            b_u = th.zeros(u, f, dtype=z.dtype).index_add_(0, user, z * rew[:, None])
            a = (counts @ a_u).reshape(n_bootstrap, f, f) + model.penalty()
            theta = th.linalg.solve(a, counts @ b_u)
        else:  # one weighted solve per resample
            for i in range(n_bootstrap):
                zc = z * counts[i][user][:, None]
                theta[i] = th.linalg.solve(zc.T @ rhs + model.penalty(), zc.T @ rew)
        return ((counts * (z0 @ theta.T).T).sum(dim=1) / u).numpy()

    def estimate(
        self,
        traj: Trajectories,
        values: QValues,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> Estimate:
        """The direct method: the mean over users of ``V(s_0)``. With the refitted
        bootstrap of :meth:`fit_predict` its interval includes the model's error;
        otherwise it is over users with the model held fixed and omits that error."""
        first = traj.step == 0
        params = {**asdict(self.config), **values.quality}
        boot = values.bootstrap
        if boot is None or n_bootstrap == 0:
            return make_estimate(
                "FQE", params, values.v[first], None, None, alpha, n_bootstrap, seed
            )
        e = make_estimate("FQE", params, values.v[first], None, None, alpha, 0, seed)
        ci = (float(np.quantile(boot, alpha / 2)), float(np.quantile(boot, 1 - alpha / 2)))
        return replace(e, ci=ci, method="bootstrap-percentile (refitted)", se=float(boot.std()))
