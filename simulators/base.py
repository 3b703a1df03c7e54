"""The batched user-simulator protocol and the session process every simulator shares.

A simulator holds no users itself. ``reset(n, rng)`` returns a :class:`SimState` for n
users; ``step(state, slates, rng)`` returns the next state and a :class:`StepResult`.
All randomness comes from the ``numpy.random.Generator`` passed in. The known world and
the fitted simulator differ only in the hooks below; the step itself — choice, reward,
state update, leaving, churn, return and the horizon — is written once here, so the
scalar env, the vector env and every experiment run the same code.

One step is one request:

1. choice: multinomial logit over the slate plus a no-click option
   (``choice_logits -> [B, K+1]``, column 0 = no click), drawn by Gumbel-max;
2. reward given the click (``reward``);
3. hidden-state update (``after_request``) and the observable user state
   (:class:`~ltvrec.encoders.UserStateEncoder`) update;
4. leave: the session ends with probability ``leave_prob``;
5. at a session end: the user churns with probability ``churn_prob`` (terminal);
   otherwise returns after ``return_gap`` days; a return at or past the horizon ends
   the episode by truncation; otherwise a new session starts (``start_session``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from ltvrec.encoders.state import UserStateEncoder

MINUTES_PER_REQUEST = 1.0
"""Time a request takes inside a session (minutes)."""


class PerUserRNG:
    """One ``numpy.random.Generator`` per user, for per-user reproducible batches.

    A simulator step draws one block of uniforms per user. With a plain Generator the
    block for B users is one ``rng.random((B, M))`` call; with a ``PerUserRNG`` it is
    ``g_i.random(M)`` for each user's own generator. Since ``g.random((1, M))`` and
    ``g.random(M)`` draw the same numbers, a batch of B users driven by generators
    seeded like B one-user runs reproduces those runs exactly — which is how the
    vector env reproduces B scalar envs.
    """

    def __init__(self, generators: list[np.random.Generator]) -> None:
        self.generators = list(generators)

    def __len__(self) -> int:
        return len(self.generators)

    def take(self, idx: np.ndarray) -> PerUserRNG:
        return PerUserRNG([self.generators[i] for i in np.arange(len(self))[idx]])


RNG = np.random.Generator | PerUserRNG


def uniform_block(rng: RNG, n: int, m: int) -> np.ndarray:
    """``[n, m]`` uniforms in (0, 1): one row per user."""
    if isinstance(rng, PerUserRNG):
        if len(rng) != n:
            raise ValueError(f"PerUserRNG holds {len(rng)} generators for {n} users")
        u = np.stack([g.random(m) for g in rng.generators]) if n else np.empty((0, m))
    else:
        u = rng.random((n, m))
    return np.clip(u, 1e-300, 1.0 - 1e-16)


def per_user(
    rng: RNG, n: int, draw: Callable[[np.random.Generator, int], np.ndarray]
) -> np.ndarray:
    """``draw(generator, count)`` for n users: one call, or one call per user."""
    if isinstance(rng, PerUserRNG):
        return (
            np.concatenate([draw(g, 1) for g in rng.generators])
            if n
            else draw(np.random.default_rng(0), 0)
        )
    return draw(rng, n)


@dataclass(frozen=True)
class SimState:
    """The state of B simulated users.

    Attributes:
        obs: ``[B, S]`` float32, the observable user state (what policies see).
        time: ``[B]`` days since each user's first request.
        latent: named ``[B, ...]`` arrays only the simulator sees (e.g. satisfaction).
        consumed: ``[B, N]`` bool, the items each user has consumed, kept by simulators
            that forbid repeats (None otherwise). It is the user's own observable
            history, so policies may read it (to mask what cannot be consumed again).
    """

    obs: np.ndarray
    time: np.ndarray
    latent: dict[str, np.ndarray]
    consumed: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.time)

    def take(self, idx: np.ndarray) -> SimState:
        """The users at ``idx`` (indices or a boolean mask)."""
        return SimState(
            self.obs[idx],
            self.time[idx],
            {k: v[idx] for k, v in self.latent.items()},
            None if self.consumed is None else self.consumed[idx],
        )

    @staticmethod
    def concat(states: list[SimState]) -> SimState:
        consumed = [s.consumed for s in states]
        return SimState(
            np.concatenate([s.obs for s in states]),
            np.concatenate([s.time for s in states]),
            {k: np.concatenate([s.latent[k] for s in states]) for k in states[0].latent},
            None if any(c is None for c in consumed) else np.concatenate(consumed),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class StepResult:
    """What happened at one request, per user (all ``[B]``).

    Attributes:
        clicked_position: slate position clicked, -1 for no click.
        clicked_item: item index clicked, -1 for no click.
        reward: the request's reward.
        session_end: the session ended after this request.
        churned: the user left for good (the episode terminates).
        truncated: the user's next return falls at or past the horizon.
        return_gap: days until the next session (NaN when the session goes on).
        time: days since the user's start, at this request.
        organic_item: item consumed outside the slate (simulators with ``organic``),
            -1 otherwise.
        organic_reward: the user's reward for ``organic_item`` (0 without one): it
            moves the user's state, and the policy does not earn it.
    """

    clicked_position: np.ndarray
    clicked_item: np.ndarray
    reward: np.ndarray
    session_end: np.ndarray
    churned: np.ndarray
    truncated: np.ndarray
    return_gap: np.ndarray
    time: np.ndarray
    organic_item: np.ndarray
    organic_reward: np.ndarray

    @property
    def done(self) -> np.ndarray:
        return self.churned | self.truncated

    def take(self, idx: np.ndarray) -> StepResult:
        return StepResult(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


class UserSimulator(Protocol):
    """What envs, agents and experiments need from any simulator."""

    n_items: int
    slate_size: int
    horizon_days: float
    item_embeddings: np.ndarray
    state_encoder: UserStateEncoder
    allow_repeats: bool
    """False: a consumed item cannot be clicked again, and states carry ``consumed``."""
    organic: bool
    """True: requests without a click can be consumptions outside the slate
    (``StepResult.organic_item``), which logs drawn from it record."""

    def reset(self, n: int, rng: RNG) -> SimState: ...

    def step(
        self, state: SimState, slates: np.ndarray, rng: RNG
    ) -> tuple[SimState, StepResult]: ...

    def choice_logits(self, state: SimState, slates: np.ndarray) -> np.ndarray: ...

    def item_click_logits(self, state: SimState) -> np.ndarray: ...


def check_slates(slates: np.ndarray, n: int, n_items: int, k: int) -> np.ndarray:
    """Validate a slate batch: shape ``[n, k]``, integer, in range, distinct per row."""
    a = np.asarray(slates)
    if a.shape != (n, k):
        raise ValueError(f"expected slates of shape ({n}, {k}), got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"expected integer item indices, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= n_items):
        raise ValueError(f"item index out of range [0, {n_items}): got {a.min()}..{a.max()}")
    srt = np.sort(a, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise ValueError(
            f"slate {row} repeats an item: {a[row].tolist()}; a slate holds K distinct items "
            "(an independent-per-slot policy such as MultiDiscrete can propose duplicates)"
        )
    return a.astype(np.int64)


class SessionSimulator:
    """Base class: the shared step; subclasses fill in the hooks.

    Subclasses set ``n_items``, ``slate_size``, ``horizon_days``, ``item_embeddings``
    and ``state_encoder``, and implement the hooks below.
    """

    n_items: int
    slate_size: int
    horizon_days: float
    item_embeddings: np.ndarray
    state_encoder: UserStateEncoder
    allow_repeats: bool = True
    """False: a consumed item cannot be clicked again (its choice utility is -inf), and
    states carry ``consumed``."""
    organic: bool = False
    """True: a request without a click is still a consumption, of an item the user finds
    outside the slate (drawn from :meth:`item_click_logits` over the catalog, the
    slate's items and, without repeats, consumed ones excluded). It moves the user's
    state and ``consumed`` as a click does and earns the policy nothing
    (``StepResult.reward`` 0, ``clicked_item`` -1); ``organic_item`` records it."""
    no_click_leave: float | None = None
    """None: :meth:`leave_prob` after every request. A number: the probability that a
    request without a click ends the session (short of a certain end, as at a session
    cap); :meth:`leave_prob` applies after clicks only."""

    # ------------------------------------------------------------------ hooks
    def init_latent(self, n: int, rng: RNG) -> dict[str, np.ndarray]:
        return {}

    def choice_logits(self, state: SimState, slates: np.ndarray) -> np.ndarray:
        """``[B, K+1]`` utilities: column 0 no click, column k+1 the item at position k."""
        raise NotImplementedError

    def item_click_logits(self, state: SimState) -> np.ndarray:
        """``[B, N]`` utility of every item at the top position (for greedy policies)."""
        raise NotImplementedError

    def reward(self, state: SimState, item: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """``[B]`` reward given the clicked item (-1: no click, reward 0); ``normal [B]``
        is standard normal noise for models that need it."""
        return (item >= 0).astype(np.float64)

    def after_choice(
        self, state: SimState, slates: np.ndarray, position: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The latent state once the user has seen ``slates`` and clicked ``position``
        (-1: nothing), before the request's other consequences (:meth:`after_request`)."""
        return state.latent

    def after_request(
        self, state: SimState, item: np.ndarray, reward: np.ndarray
    ) -> dict[str, np.ndarray]:
        return state.latent

    def leave_prob(self, state: SimState) -> np.ndarray:
        raise NotImplementedError

    def churn_prob(self, state: SimState) -> np.ndarray:
        return np.zeros(state.n)

    def return_gap(self, state: SimState, exponential: np.ndarray) -> np.ndarray:
        """Days until the next session; ``exponential [b]`` is Exp(1) noise."""
        raise NotImplementedError

    def start_session(self, state: SimState, mask: np.ndarray) -> dict[str, np.ndarray]:
        return state.latent

    # ------------------------------------------------------------------ protocol
    def reset(self, n: int, rng: RNG) -> SimState:
        """n fresh users at time 0, at the start of their first session."""
        enc = self.state_encoder
        obs = enc.start_session(enc.initial(n), np.full(n, np.nan))
        consumed = None if self.allow_repeats else np.zeros((n, self.n_items), dtype=bool)
        return SimState(obs, np.zeros(n), self.init_latent(n, rng), consumed)

    def step(self, state: SimState, slates: np.ndarray, rng: RNG) -> tuple[SimState, StepResult]:
        """One request for every user in ``state``; see the module docstring.

        Each user's randomness is one row of uniforms: K+1 for the Gumbel-max choice,
        then leave, churn, return gap and two for a normal (Box-Muller).
        """
        slates = check_slates(slates, state.n, self.n_items, self.slate_size)
        k = slates.shape[1]
        u = uniform_block(rng, state.n, k + 6)
        logits = self.choice_logits(state, slates)
        if state.consumed is not None:  # no repeats: consumed items cannot be chosen
            rows = np.arange(state.n)[:, None]
            logits[:, 1:] = np.where(state.consumed[rows, slates], -np.inf, logits[:, 1:])
        gumbel = -np.log(-np.log(u[:, : k + 1]))
        choice = np.argmax(logits + gumbel, axis=1)  # 0 = no click
        pos = choice - 1
        clicked = pos >= 0
        item = np.where(clicked, slates[np.arange(state.n), np.maximum(pos, 0)], -1)
        normal = np.sqrt(-2.0 * np.log(u[:, k + 4])) * np.cos(2.0 * np.pi * u[:, k + 5])
        reward = np.where(clicked, self.reward(state, item, normal), 0.0)

        organic = np.full(state.n, -1)
        own, own_reward = item, reward  # what the user consumed, and its reward
        if self.organic:
            organic = self._organic_items(state, slates, clicked, rng)
            own = np.where(clicked, item, organic)
            found = organic >= 0
            own_reward = reward.copy()
            own_reward[found] = self.reward(state.take(found), organic[found], normal[found])

        seen = self.after_choice(state, slates, pos)
        if seen is not state.latent:
            state = SimState(state.obs, state.time, seen, state.consumed)
        latent = self.after_request(state, own, own_reward)
        obs = self.state_encoder.observe(state.obs, own, own_reward)
        consumed = state.consumed
        took = own >= 0
        if consumed is not None and took.any():
            consumed = consumed.copy()
            consumed[np.flatnonzero(took), own[took]] = True
        now = state.time
        after = SimState(obs, now + MINUTES_PER_REQUEST / 1440.0, latent, consumed)

        p_leave = self.leave_prob(after)
        if self.no_click_leave is not None:
            p_leave = np.where(clicked | (p_leave >= 1.0), p_leave, self.no_click_leave)
        end = u[:, k + 1] < p_leave
        churn = end & (u[:, k + 2] < self.churn_prob(after))
        gap = np.full(state.n, np.nan)
        gap[end] = self.return_gap(after.take(end), -np.log(u[end, k + 3]))
        back = now + np.nan_to_num(gap, nan=0.0)
        truncated = end & ~churn & (back >= self.horizon_days)
        restart = end & ~churn & ~truncated
        time = np.where(restart, back, after.time)
        if restart.any():
            obs = self.state_encoder.start_session(obs, gap * 24.0, restart)
            after = SimState(obs, time, latent, consumed)
            latent = self.start_session(after, restart)
        nxt = SimState(obs, time, latent, consumed)
        result = StepResult(
            clicked_position=pos,
            clicked_item=item,
            reward=reward,
            session_end=end,
            churned=churn,
            truncated=truncated,
            return_gap=gap,
            time=now,
            organic_item=organic,
            organic_reward=np.where(organic >= 0, own_reward, 0.0),
        )
        return nxt, result

    def _organic_items(
        self, state: SimState, slates: np.ndarray, clicked: np.ndarray, rng: RNG
    ) -> np.ndarray:
        """``[B]`` the item each user without a click consumes outside the slate (-1 for
        users who clicked, or with nothing left to consume); Gumbel-max over the catalog,
        one row of uniforms per user whether it is used or not."""
        u = uniform_block(rng, state.n, self.n_items)
        logits = self.item_click_logits(state).astype(np.float64)
        rows = np.arange(state.n)[:, None]
        logits[rows, slates] = -np.inf
        if state.consumed is not None:
            logits[state.consumed] = -np.inf
        pick = np.argmax(logits - np.log(-np.log(u)), axis=1)
        ok = ~clicked & np.isfinite(logits[np.arange(state.n), pick])
        return np.where(ok, pick, -1)
