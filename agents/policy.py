"""``SlateActorCriticPolicy``: a two-tower Plackett-Luce slate policy for SB3's PPO.

- user tower: standardised user state -> MLP -> query ``q [B, h]``;
- item tower: item embedding ``e_j [d]`` -> learned linear projection ``W e_j [h]`` plus a
  learned item bias ``b_j`` (static catalog) or an MLP bias of the features
  (per-step candidates);
- scores ``s_j = q . W e_j + b_j``; the slate distribution is Plackett-Luce over them;
- the catalog enters as an *item table* (:mod:`ltvrec.catalog`): one row per item (text
  vector, id bias, the signals' item columns). :meth:`~SlateActorCriticPolicy.scores`
  takes any table, so items added after training (rows written from their text alone,
  :meth:`~SlateActorCriticPolicy.text_map`) are scored like the rest; ``id_dropout``
  trains with the id bias of a share of items held at 0, so the text path learns to
  stand alone;
- value head: MLP over the standardised user state;
- optionally, the log-buildable baselines' own signals (:mod:`ltvrec.agents.prior`):
  ``s_j += w_g * greedy_j(state) + w_p * popularity_j`` with ``w`` learned. With a start
  ``w0`` and the residual two-tower score at exactly 0, the policy at step 0 is that
  baseline (top-K) or a Plackett-Luce sample around it.

Observation standardisation (mean/std buffers) lives *inside* the module, so an export
of the module (ONNX) carries it.

It subclasses SB3's ``ActorCriticPolicy`` and overrides only what it must: ``_build``
(no ``MultiDiscrete`` action head: SB3 would build one categorical per slot, which
proposes duplicates and gets slate propensities wrong), and ``forward``,
``evaluate_actions``, ``get_distribution``, ``predict_values`` (the scores need the
item tower, which SB3's latent-to-action path does not know).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from ltvrec.agents.distributions import NEG, PlackettLuceDistribution
from ltvrec.agents.prior import BaselineSignals, candidate_mask
from ltvrec.catalog import OPTIONAL_KEYS, TEXT_MAP_KEYS, TableLayout, TextMap, linear_map

ITEM_BIAS_SCALE = 10.0
"""The item bias is ``ITEM_BIAS_SCALE * item_bias``: Adam moves each parameter by about
the learning rate per step, and an item bias needs to travel a few units, so this makes
it learn ~10x faster than the towers. (Per-group learning rates are not an option: SB3
resets every param group's rate at each update.)"""


def _mlp(inp: int, hidden: list[int], out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(inp, h), nn.Tanh()]
        inp = h
    layers.append(nn.Linear(inp, out))
    return nn.Sequential(*layers)


class SlateActorCriticPolicy(ActorCriticPolicy):
    """See the module docstring.

    Args (through ``policy_kwargs``):
        item_embeddings: ``[N, d]`` catalog item vectors (static catalog; omit when the
            observation carries ``candidate_features``).
        tower_dim: ``h``, the query / item projection width.
        hidden: hidden layer sizes of the user tower and of the value head.
        obs_mean, obs_std: initial standardisation of the user state (``[S]``); see
            :meth:`set_obs_normalizer`.
        state_dim: how many leading observation features are the user state (the rest,
            e.g. the elapsed-time feature, reach the value head only).
        signals: arrays of :class:`~ltvrec.agents.prior.BaselineSignals` (static catalog
            only), or None for the plain two-tower scorer.
        signal_init: ``(w_g, w_p)``, the start weights of the signals; the residual
            scorer then starts at exactly 0.
        item_bias_init: ``[N]``, the start's per-item term (``w_c`` times the item
            consequences, :func:`~ltvrec.agents.prior.consequence_prior`): the item bias
            starts there instead of at 0, and the start's scores include it.
        mask_consumed: the last ``N`` observation columns are the user's consumed items
            (0/1; see ``SlateVectorEnv``), scored ``-inf`` so they are never drawn.
        shortlist: per request, only the candidate set of
            :func:`~ltvrec.agents.prior.candidate_mask` (the ``shortlist`` best items by
            each baseline signal, plus ``shortlist_explore`` hashed from the state) can be
            drawn; 0: the whole catalog. Needs the signals.
        shortlist_explore: exploration items added to each request's candidate set.
        id_dropout: share of the catalog whose id bias is not learned (drawn once, with
            ``id_dropout_seed``) but held at what a new item's row would hold (the
            start's item term, else 0): the text path must score those items alone, as
            it will score items added after training.
    """

    def __init__(
        self,
        observation_space: spaces.Space[Any],
        action_space: spaces.Space[Any],
        lr_schedule: Schedule,
        item_embeddings: np.ndarray | None = None,
        tower_dim: int = 32,
        hidden: list[int] | None = None,
        obs_mean: np.ndarray | None = None,
        obs_std: np.ndarray | None = None,
        state_dim: int | None = None,
        signals: dict[str, np.ndarray] | None = None,
        signal_init: tuple[float, float] = (0.0, 0.0),
        item_bias_init: np.ndarray | None = None,
        mask_consumed: bool = False,
        shortlist: int = 0,
        shortlist_explore: int = 0,
        id_dropout: float = 0.0,
        id_dropout_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= id_dropout < 1.0:
            raise ValueError(f"id_dropout must be in [0, 1), got {id_dropout}")
        self.id_dropout = float(id_dropout)
        self.id_dropout_seed = int(id_dropout_seed)
        if not isinstance(action_space, spaces.MultiDiscrete):
            raise TypeError(f"expected a slate (MultiDiscrete) action space, got {action_space}")
        self.candidates = isinstance(observation_space, spaces.Dict)
        if not self.candidates and item_embeddings is None:
            raise ValueError("a static-catalog policy needs item_embeddings [N, d]")
        self._item_embeddings = item_embeddings
        self.tower_dim = tower_dim
        self.hidden = hidden or [64, 64]
        self._obs_init = (obs_mean, obs_std)
        self.state_dim: int = state_dim or 0
        if signals is not None and self.candidates:
            raise ValueError("baseline signals need a static catalog, not per-step candidates")
        self._signals = signals
        self._signal_init = tuple(float(w) for w in signal_init)
        if item_bias_init is not None and signals is None:
            raise ValueError("item_bias_init is part of a start: give the signals too")
        self._item_bias_init = None if item_bias_init is None else np.asarray(item_bias_init)
        self.signals: BaselineSignals | None = None
        if mask_consumed and self.candidates:
            raise ValueError("masking consumed items needs a static catalog")
        self.mask_consumed = mask_consumed
        if shortlist and signals is None:
            raise ValueError("a shortlist is built from the baselines' signals: give signals")
        self.shortlist = int(shortlist)
        self.shortlist_explore = int(shortlist_explore)
        self.obs_mean: th.Tensor
        self.obs_std: th.Tensor
        self.item_embeddings: th.Tensor
        self.id_mask: th.Tensor
        self.action_dist: PlackettLuceDistribution
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        k = len(self.action_space.nvec)  # type: ignore[attr-defined]
        self.slate_size = k
        self.action_dist = PlackettLuceDistribution(k)
        user_space = self.observation_space["user"] if self.candidates else self.observation_space  # type: ignore[index]
        s_dim = int(np.prod(user_space.shape or (0,)))
        self.n_mask = 0
        if self.mask_consumed:
            self.n_mask = int(np.asarray(self._item_embeddings).shape[0])
            s_dim -= self.n_mask  # the consumed block is a mask, not an input
        if not self.state_dim:
            self.state_dim = s_dim
        mean, std = self._obs_init
        self.register_buffer(
            "obs_mean", th.as_tensor(np.zeros(s_dim) if mean is None else mean, dtype=th.float32)
        )
        self.register_buffer(
            "obs_std", th.as_tensor(np.ones(s_dim) if std is None else std, dtype=th.float32)
        )
        self.user_tower = _mlp(self.state_dim, self.hidden, self.tower_dim)
        self.value_head = _mlp(s_dim, self.hidden, 1)
        if self.candidates:
            d = int(self.observation_space["candidate_features"].shape[1])  # type: ignore[index]
            self.item_proj = nn.Linear(d, self.tower_dim, bias=False)
            self.item_bias_net = _mlp(d, [32], 1)
        else:
            emb = np.asarray(self._item_embeddings, dtype=np.float32)
            self.register_buffer("item_embeddings", th.as_tensor(emb))
            self.item_proj = nn.Linear(emb.shape[1], self.tower_dim, bias=False)
            self.item_bias = nn.Parameter(th.zeros(emb.shape[0]))
            keep = np.random.default_rng(self.id_dropout_seed).random(emb.shape[0])
            self.register_buffer("id_mask", th.as_tensor(keep >= self.id_dropout, dtype=th.float32))
        last = self.user_tower[-1]
        assert isinstance(last, nn.Linear)
        with th.no_grad():
            if self._signals is not None:
                # Start exactly at the baseline the signal weights pick: residual = 0.
                self.signals = BaselineSignals(self._signals)
                init = th.as_tensor(self._signal_init, dtype=th.float32)
                self.signal_weight = nn.Parameter(init.clone())
                self.register_buffer("signal_weight_init", init.clone())
                if self._item_bias_init is not None:
                    bias = th.as_tensor(self._item_bias_init, dtype=th.float32)
                    if bias.shape != self.item_bias.shape:
                        raise ValueError(
                            f"item_bias_init has shape {tuple(bias.shape)}, the catalog "
                            f"{tuple(self.item_bias.shape)}"
                        )
                    self.item_bias.copy_(bias / ITEM_BIAS_SCALE)
                    self.register_buffer("item_bias_start", bias.clone())
                last.weight.zero_()
                last.bias.zero_()
            else:
                # Small initial scores: close to uniform slates (SB3's gain 0.01).
                last.weight.mul_(0.01)
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )  # type: ignore[call-arg]

    def set_obs_normalizer(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Fix the user-state standardisation (e.g. from states seen under a random policy)."""
        self.obs_mean.copy_(th.as_tensor(mean, dtype=th.float32))
        self.obs_std.copy_(th.as_tensor(np.maximum(std, 1e-3), dtype=th.float32))

    # ------------------------------------------------------------------ core
    def _user(self, obs: PyTorchObs) -> th.Tensor:
        user = obs["user"] if isinstance(obs, dict) else obs
        if self.n_mask:
            user = user[..., : -self.n_mask]
        return self._standardise(user)

    def _standardise(self, user: th.Tensor) -> th.Tensor:
        d = user.shape[-1]
        return (user.float() - self.obs_mean[:d]) / self.obs_std[:d]

    def _split(
        self, obs: PyTorchObs, n_items: int, consumed: th.Tensor | None
    ) -> tuple[th.Tensor, th.Tensor | None]:
        """``(user features, consumed block or None)`` of a flat observation: with
        consumed-item masking the observation ends with ``[n_items]`` 0/1 columns unless
        ``consumed`` is given apart."""
        assert not isinstance(obs, dict)
        if consumed is None and self.n_mask:
            return obs[..., :-n_items], obs[..., -n_items:]
        return obs, consumed

    def _mask(self, s: th.Tensor, consumed: th.Tensor | None) -> th.Tensor:
        return s if consumed is None else s.masked_fill(consumed > 0.5, NEG)

    def masked(self, obs: PyTorchObs, s: th.Tensor) -> th.Tensor:
        """``s [B, N]`` with the observation's consumed items at ``NEG`` (a policy that
        masks them; else ``s``)."""
        return self._mask(s, self._split(obs, s.shape[1], None)[1])

    # ------------------------------------------------------------ item table
    @property
    def table_layout(self) -> TableLayout:
        """The columns of :meth:`item_table` (see :mod:`ltvrec.catalog`)."""
        key_dim = self.signals.key_dim if self.signals is not None else 0
        return TableLayout(int(self.item_embeddings.shape[1]), key_dim)

    def id_bias(self) -> th.Tensor:
        """``[N]``: each trained item's id bias; an item under ``id_dropout`` holds the
        start's item term (a function of its vector, as a new item's row has it), or
        0 without one."""
        bias = ITEM_BIAS_SCALE * self.item_bias * self.id_mask
        start = getattr(self, "item_bias_start", None)
        return bias if start is None else bias + start * (1.0 - self.id_mask)

    def item_table(self) -> th.Tensor:
        """``[N, width]``: the trained catalog's rows (item vector, id bias, signals)."""
        cols = [self.item_embeddings, self.id_bias()[:, None]]
        if self.signals is not None:
            cols.append(self.signals.item_columns())
        return th.cat(cols, dim=1)

    def text_map(self) -> TextMap:
        """Writes the table rows of items known by their text alone: the signals' maps
        (and the consequence column's, where the item vectors carry one) and, for a
        policy that started from a per-item term, that term as a linear function of the
        item vector (exact: it is the standardised consequence column times a weight)."""
        arrays: dict[str, np.ndarray] = {}
        if self.signals is not None:
            arrays = {
                k: getattr(self.signals, k).numpy()
                for k in (*TEXT_MAP_KEYS, *OPTIONAL_KEYS)
                if hasattr(self.signals, k)
            }
        start = getattr(self, "item_bias_start", None)
        if start is not None:
            # In float32, as a bundle saves it: the rows a bundle rebuilds from its saved
            # arrays are then these rows, bit for bit.
            bias = linear_map(self.item_embeddings.numpy(), start.numpy())
            arrays["text_bias"] = bias.astype(np.float32)
        return TextMap.from_arrays(self.table_layout, arrays)

    def prepare_items(self, table: th.Tensor | None = None) -> th.Tensor:
        """``[N, h + 1 + c]``: the item side of the scores, which depends on the catalog
        alone (computed once per catalog when serving): the item tower's key ``W e_j``,
        the id bias, and the signals' item columns. ``table``: an item table (default:
        the catalog trained on)."""
        if table is None:
            emb, bias = self.item_embeddings, self.id_bias()
            columns = self.signals.item_columns() if self.signals is not None else None
        else:
            d = self.item_embeddings.shape[1]
            emb, bias = table[:, :d], table[:, d]
            columns = table[:, d + 1 :] if self.signals is not None else None
        parts = [self.item_proj(emb), bias[:, None]]
        if columns is not None:
            parts.append(columns)
        return th.cat(parts, dim=1)

    def scores(
        self,
        obs: PyTorchObs,
        table: th.Tensor | None = None,
        consumed: th.Tensor | None = None,
        prepared: th.Tensor | None = None,
    ) -> th.Tensor:
        """Scores ``[B, N]`` of the catalog (or of the step's candidates). Only the first
        ``state_dim`` features (the user state) are read; extra training-only features
        (the elapsed-time feature) feed the value head alone.

        Args:
            table: ``[N, width]`` item table to score (default: the catalog trained on).
            consumed: ``[B, N]`` the consumed-item block, given apart from ``obs`` (a
                policy that masks consumed items otherwise reads it from the end of
                ``obs``).
            prepared: the table's :meth:`prepare_items`, when computed already.
        """
        if isinstance(obs, dict):
            q = self.user_tower(self._user(obs)[..., : self.state_dim])
            feats = obs["candidate_features"].float()
            keys = self.item_proj(feats)  # [B, N, h]
            s = th.einsum("bh,bnh->bn", q, keys) + self.item_bias_net(feats).squeeze(-1)
            return s.masked_fill(obs["mask"] < 0.5, NEG)
        given = prepared is not None or table is not None
        if prepared is None:
            prepared = self.prepare_items(table)
        n = int(prepared.shape[0]) if given else self.n_mask
        user, consumed = self._split(obs, n, consumed)
        h = self.tower_dim
        state = user[..., : self.state_dim]
        s = self.user_tower(self._standardise(state)) @ prepared[:, :h].T + prepared[:, h]
        if self.signals is not None:
            feats = self.signals(state.float(), prepared[:, h + 1 :])
            s = self._shortlisted(state, consumed, feats, s + feats @ self.signal_weight)
        return self._mask(s, consumed)

    def _shortlisted(
        self, state: th.Tensor, consumed: th.Tensor | None, feats: th.Tensor, s: th.Tensor
    ) -> th.Tensor:
        """``s`` with every item outside the request's candidate set at ``NEG``."""
        if not self.shortlist:
            return s
        available = None if consumed is None else consumed < 0.5
        n = min(self.shortlist, s.shape[1])
        keep = candidate_mask(feats, state.float(), available, n, self.shortlist_explore)
        return s.masked_fill(~keep, NEG)

    def signal_features(self, obs: PyTorchObs) -> th.Tensor:
        """The baselines' scaled signals ``[B, N, 2]`` (greedy-model, popularity-log)."""
        assert self.signals is not None and not isinstance(obs, dict)
        return self.signals(obs[..., : self.state_dim].float())

    def start_scores(self, obs: PyTorchObs) -> th.Tensor:
        """Scores ``[B, N]`` of the policy at step 0 (signals at their start weights),
        for the KL of the trained policy to its start."""
        init = self.signal_weight_init
        assert isinstance(init, th.Tensor)
        user, consumed = self._split(obs, self.n_mask, None)
        state = user[..., : self.state_dim]
        feats = self.signal_features(state)
        s = feats @ init
        start_bias = getattr(self, "item_bias_start", None)
        if start_bias is not None:
            s = s + start_bias
        return self._mask(self._shortlisted(state, consumed, feats, s), consumed)

    def values(self, obs: PyTorchObs) -> th.Tensor:
        return self.value_head(self._user(obs))

    # ------------------------------------------------------------------ SB3 API
    def forward(
        self, obs: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        dist = self.action_dist.proba_distribution(self.scores(obs))
        actions = dist.get_actions(deterministic=deterministic)
        return actions, self.values(obs), dist.log_prob(actions)

    def evaluate_actions(
        self, obs: PyTorchObs, actions: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        dist = self.action_dist.proba_distribution(self.scores(obs))
        return self.values(obs), dist.log_prob(actions.long()), dist.entropy()

    def get_distribution(self, obs: PyTorchObs) -> PlackettLuceDistribution:
        return self.action_dist.proba_distribution(self.scores(obs))

    def predict_values(self, obs: PyTorchObs) -> th.Tensor:
        return self.values(obs)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.get_distribution(observation).get_actions(deterministic=deterministic)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            item_embeddings=self._item_embeddings,
            tower_dim=self.tower_dim,
            hidden=self.hidden,
            state_dim=self.state_dim,
            signals=self._signals,
            signal_init=self._signal_init,
            item_bias_init=self._item_bias_init,
            mask_consumed=self.mask_consumed,
            shortlist=self.shortlist,
            shortlist_explore=self.shortlist_explore,
            id_dropout=self.id_dropout,
            id_dropout_seed=self.id_dropout_seed,
        )
        return data
