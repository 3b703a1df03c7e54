"""The known world: a parametric user model whose truth is known (DESIGN.md 3.1).

Items have a topic mixture, an *appeal* (drives clicks) and a *quality* (drives
satisfaction). A share of items is clickbait: high appeal, low quality. Every item has
a generated title whose words reveal its topic (topic nouns) and its style
(sensational vs informative phrasing), so a text encoder has real signal to read.

Users have topic interests ``theta [T]`` (Dirichlet), a latent satisfaction ``s`` and
fatigue (requests so far in the session). Per request:

- utility of the item at position k: ``u = w_int * (T * theta . phi_j - 1) + appeal_j
  - position_bias * k``; no click has utility ``no_click_utility``; the choice is
  multinomial logit over the slate plus no click;
- a click pays reward 1 (``reward="click"``) or the item's price (``"price"``);
- satisfaction, an exponential moving average: ``s <- decay * s + (1 - decay) *
  quality_effect * quality_j`` after a click, ``s <- decay * s + (1 - decay) *
  no_click_effect`` otherwise;
- the session ends with ``sigmoid(leave_base + leave_fatigue * f - leave_satisfaction
  * s)``, which falls as satisfaction rises;
- after a session the user churns with ``sigmoid(churn_base - churn_satisfaction * s)``,
  else returns after ``Exp(mean = return_gap_days * exp(-return_satisfaction * s))``
  days (the return rate rises with satisfaction); a return past the horizon truncates.

So the greedy click-maximiser — which fills slates with clickbait — earns clicks now
and loses the user later: it is not long-term optimal, by construction, and
``tests/test_known_world.py`` measures by how much.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ltvrec.encoders.state import Events, UserStateEncoder
from ltvrec.errors import ConfigError
from ltvrec.simulators.base import RNG, SessionSimulator, SimState, StepResult, per_user

TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "sports": ("football", "marathon", "tennis", "goalkeeper", "stadium", "cycling"),
    "cooking": ("pasta", "sourdough", "curry", "dumplings", "spices", "baking"),
    "travel": ("islands", "backpacking", "mountains", "railways", "hostels", "beaches"),
    "technology": ("smartphones", "laptops", "software", "robots", "processors", "apps"),
    "music": ("guitar", "orchestra", "vinyl", "jazz", "concerts", "songwriting"),
    "finance": ("savings", "mortgages", "stocks", "pensions", "budgets", "taxes"),
    "health": ("sleep", "nutrition", "running", "vitamins", "yoga", "posture"),
    "film": ("cinema", "directors", "documentaries", "screenplays", "actors", "festivals"),
    "science": ("galaxies", "vaccines", "fossils", "quantum", "climate", "genetics"),
    "fashion": ("sneakers", "jackets", "denim", "tailoring", "handbags", "runways"),
    "gardening": ("tomatoes", "compost", "roses", "seedlings", "hedges", "orchards"),
    "gaming": ("consoles", "speedruns", "puzzles", "esports", "strategy", "controllers"),
}
CLICKBAIT_PHRASES = (
    "You Won't Believe These {a} and {b}",
    "Shocking Secret About {a} Revealed",
    "This One {a} Trick Will Blow Your Mind",
    "{a} and {b}: What Happens Next Is Insane",
    "Doctors Hate This {a} Hack",
    "Top 10 Jaw-Dropping {a} Moments",
)
INFORMATIVE_PHRASES = (
    "A Practical Guide to {a} and {b}",
    "Understanding {a}: An In-Depth Analysis",
    "How to Choose {a}: A Careful Review",
    "Lessons from Ten Years of {a} and {b}",
    "{a} Explained, with Evidence",
    "A Beginner's Handbook of {a}",
)


@dataclass(frozen=True)
class KnownWorldConfig:
    """Constants of the known world; the defaults run experiments in minutes on 2 cores."""

    n_items: int = 500
    """Catalog size."""
    n_topics: int = 10
    """Number of topics (at most 12, one vocabulary each)."""
    slate_size: int = 5
    """Items per slate (K)."""
    horizon_days: float = 60.0
    """Each user is followed this many days from the first request."""
    clickbait_share: float = 0.3
    """Share of items with high appeal and low quality."""
    clickbait_appeal: float = 1.6
    """Mean appeal of clickbait items."""
    clickbait_quality: float = -0.5
    """Mean quality of clickbait items."""
    regular_appeal: float = 0.0
    """Mean appeal of other items."""
    regular_quality: float = 0.5
    """Mean quality of other items."""
    item_noise: float = 0.3
    """Standard deviation of appeal and quality around their means."""
    topic_concentration: float = 0.3
    """Dirichlet concentration of an item's topic mixture (small: one main topic)."""
    interest_concentration: float = 0.5
    """Dirichlet concentration of a user's topic interests."""
    interest_weight: float = 1.0
    """Weight of topic affinity in the click utility."""
    no_click_utility: float = 2.5
    """Utility of not clicking (the MNL outside option)."""
    position_bias: float = 0.3
    """Utility lost per position down the slate."""
    satisfaction_decay: float = 0.7
    """Satisfaction kept from one request to the next."""
    quality_effect: float = 1.0
    """Satisfaction gained per unit of a clicked item's quality."""
    no_click_effect: float = 0.0
    """Satisfaction change when nothing is clicked."""
    leave_base: float = -1.5
    """Logit of leaving after a request at zero satisfaction and fatigue."""
    leave_fatigue: float = 0.1
    """Added to the leave logit per request already made in the session."""
    leave_satisfaction: float = 1.0
    """Subtracted from the leave logit per unit of satisfaction."""
    churn_base: float = -4.0
    """Logit of churning for good at the end of a session, at zero satisfaction."""
    churn_satisfaction: float = 1.5
    """Subtracted from the churn logit per unit of satisfaction."""
    return_gap_days: float = 2.0
    """Mean days between sessions at zero satisfaction."""
    return_satisfaction: float = 0.7
    """The mean gap is multiplied by exp(-return_satisfaction * satisfaction)."""
    reward: str = "click"
    """'click' (reward 1 per click) or 'price' (reward = the clicked item's price)."""
    logging_temperature: float = 1.0
    """Temperature of the logging policy's Plackett-Luce (higher: more random)."""
    logging_noise: float = 1.0
    """Standard deviation of the fixed noise in the logging policy's item scores."""
    embedding_dim: int = 32
    """Size of the item vectors the observable state is built from."""
    state_decay: float = 0.8
    """Decay of the interest mean in the observable user state."""
    engagement_decays: tuple[float, ...] = ()
    """Per-request decays of the observable state's engagement memory (``()``, the
    default: none; see encoders/state.py)."""
    observe_latent: bool = False
    """Append the users' latent state (topic interests, satisfaction, fatigue / 10) to
    the observable state: what the oracles read, for the information-parity ceiling
    check of the optimizer only (docs/agents.md). Nothing that is built from logs may
    see it: the sim-to-real and cold-start experiments refuse it."""
    seed: int = 0
    """Seed of the items (topics, appeal, quality, titles, prices, logging noise)."""

    def __post_init__(self) -> None:
        if not 1 <= self.n_topics <= len(TOPIC_WORDS):
            raise ConfigError(f"n_topics must be in [1, {len(TOPIC_WORDS)}], got {self.n_topics}")
        if not 1 <= self.slate_size <= self.n_items:
            raise ConfigError(
                f"slate_size must be in [1, n_items={self.n_items}], got {self.slate_size}"
            )
        if not 0 <= self.clickbait_share <= 1:
            raise ConfigError(f"clickbait_share must be in [0, 1], got {self.clickbait_share}")
        if self.reward not in ("click", "price"):
            raise ConfigError(f"reward must be 'click' or 'price', got {self.reward!r}")
        if self.horizon_days <= 0 or self.return_gap_days <= 0:
            raise ConfigError("horizon_days and return_gap_days must be > 0")


@dataclass(frozen=True)
class KnownItems:
    """The catalog of a known world (all arrays ``[N]`` or ``[N, T]``)."""

    topics: np.ndarray
    appeal: np.ndarray
    quality: np.ndarray
    clickbait: np.ndarray
    price: np.ndarray
    titles: list[str] = field(repr=False)

    @property
    def main_topic(self) -> np.ndarray:
        return np.argmax(self.topics, axis=1)


def make_items(cfg: KnownWorldConfig) -> KnownItems:
    """Draw the catalog deterministically from ``cfg.seed``."""
    rng = np.random.default_rng([cfg.seed, 1])
    n, t = cfg.n_items, cfg.n_topics
    topics = rng.dirichlet(np.full(t, cfg.topic_concentration), size=n)
    clickbait = rng.random(n) < cfg.clickbait_share
    appeal = np.where(clickbait, cfg.clickbait_appeal, cfg.regular_appeal)
    quality = np.where(clickbait, cfg.clickbait_quality, cfg.regular_quality)
    appeal = appeal + cfg.item_noise * rng.standard_normal(n)
    quality = quality + cfg.item_noise * rng.standard_normal(n)
    price = np.round(rng.lognormal(3.0, 0.5, n), 2)
    names = list(TOPIC_WORDS)[:t]
    titles = []
    for j in range(n):
        name = names[int(np.argmax(topics[j]))]
        words = TOPIC_WORDS[name]
        a, b = rng.choice(len(words), 2, replace=False)
        phrases = CLICKBAIT_PHRASES if clickbait[j] else INFORMATIVE_PHRASES
        phrase = phrases[int(rng.integers(len(phrases)))]
        # A section label, as news and video sites show: the main topic in plain words.
        titles.append(f"{name.capitalize()}: " + phrase.format(a=words[a].capitalize(), b=words[b]))
    return KnownItems(topics, appeal, quality, clickbait, price, titles)


def default_item_embeddings(items: KnownItems, dim: int, seed: int = 0) -> np.ndarray:
    """Item vectors from the titles without a language model (hashing encoder + PCA).

    Experiments pass MiniLM encodings instead (``ltvrec.encoders``); this default keeps
    the known world usable in tests and without model weights.
    """
    from ltvrec.encoders.items import PCAProjection
    from ltvrec.encoders.text import HashingTextEncoder

    raw = HashingTextEncoder(dim=max(64, dim), seed=seed).encode(items.titles).embeddings
    d = min(dim, raw.shape[0], raw.shape[1])
    return PCAProjection.fit(raw, d, seed).transform(raw)


class LatentColumnsEncoder(UserStateEncoder):
    """The observable user state with the known world's latent state appended (topic
    interests, satisfaction, fatigue): the encoder carries the trailing columns through
    unchanged and :class:`KnownWorld` writes them after every step (``observe_latent``).
    ``n_topics``: the width of the interest block."""

    def __init__(
        self,
        item_embeddings: np.ndarray,
        decay: float = 0.8,
        engagement_decays: tuple[float, ...] = (),
        n_topics: int = 0,
    ) -> None:
        self.extra = n_topics + 2
        super().__init__(item_embeddings, decay, engagement_decays)

    @property
    def size(self) -> int:
        return self.layout.size + self.extra

    def start_session(
        self, state: np.ndarray, hours_since_last: np.ndarray, mask: np.ndarray | None = None
    ) -> np.ndarray:
        base = self.layout.size
        out = super().start_session(state[:, :base], hours_since_last, mask)
        return np.concatenate([out, state[:, base:]], axis=1)

    def observe(
        self,
        state: np.ndarray,
        item: np.ndarray,
        reward: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        base = self.layout.size
        out = super().observe(state[:, :base], item, reward, mask)
        return np.concatenate([out, state[:, base:]], axis=1)

    def from_events(self, events: Events) -> np.ndarray:
        raise NotImplementedError("the latent columns are the simulator's, not the log's")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class KnownWorld(SessionSimulator):
    """The known world as a batched simulator (see the module docstring).

    Args:
        config: the world's constants.
        item_embeddings: ``[N, d]`` vectors the observable state is built from
            (default: :func:`default_item_embeddings` of the titles).

    >>> world = KnownWorld(KnownWorldConfig(n_items=50, slate_size=3))
    >>> rng = np.random.default_rng(0)
    >>> state = world.reset(4, rng)
    >>> state, result = world.step(state, np.tile([0, 1, 2], (4, 1)), rng)
    >>> result.reward.shape, state.obs.shape
    ((4,), (4, 70))
    """

    def __init__(
        self, config: KnownWorldConfig | None = None, item_embeddings: np.ndarray | None = None
    ) -> None:
        self.config = cfg = config or KnownWorldConfig()
        self.items = make_items(cfg)
        emb = (
            item_embeddings
            if item_embeddings is not None
            else default_item_embeddings(self.items, cfg.embedding_dim, cfg.seed)
        )
        if emb.shape[0] != cfg.n_items:
            raise ValueError(f"expected {cfg.n_items} item embeddings, got {emb.shape[0]}")
        self.item_embeddings = np.asarray(emb, dtype=np.float32)
        self.state_encoder = (
            LatentColumnsEncoder(
                self.item_embeddings, cfg.state_decay, cfg.engagement_decays, cfg.n_topics
            )
            if cfg.observe_latent
            else UserStateEncoder(
                self.item_embeddings,
                decay=cfg.state_decay,
                engagement_decays=cfg.engagement_decays,
            )
        )
        self.n_items = cfg.n_items
        self.slate_size = cfg.slate_size
        self.horizon_days = cfg.horizon_days
        self._pos_bias = -cfg.position_bias * np.arange(cfg.slate_size)

    # ------------------------------------------------- latent state observed
    def reset(self, n: int, rng: RNG) -> SimState:
        return self._expose(super().reset(n, rng))

    def step(self, state: SimState, slates: np.ndarray, rng: RNG) -> tuple[SimState, StepResult]:
        nxt, result = super().step(state, slates, rng)
        return self._expose(nxt), result

    def _expose(self, state: SimState) -> SimState:
        """With ``observe_latent``: the latent state written into the observation's last
        :data:`LatentColumnsEncoder.extra` columns (else ``state`` unchanged)."""
        if not self.config.observe_latent:
            return state
        lat = state.latent
        obs = state.obs.copy()
        obs[:, -(self.config.n_topics + 2) :] = np.column_stack(
            [lat["interest"], lat["satisfaction"], lat["fatigue"] / 10.0]
        )
        return SimState(obs, state.time, state.latent, state.consumed)

    # ----------------------------------------------------------------- hooks
    def init_latent(self, n: int, rng: RNG) -> dict[str, np.ndarray]:
        cfg = self.config
        alpha = np.full(cfg.n_topics, cfg.interest_concentration)
        interest = per_user(rng, n, lambda g, m: g.dirichlet(alpha, size=m))
        return {
            "interest": interest,
            "satisfaction": np.zeros(n),
            "fatigue": np.zeros(n),
        }

    def item_click_logits(self, state: SimState) -> np.ndarray:
        cfg = self.config
        affinity = cfg.n_topics * state.latent["interest"] @ self.items.topics.T - 1.0
        return cfg.interest_weight * affinity + self.items.appeal[None, :]

    def choice_logits(self, state: SimState, slates: np.ndarray) -> np.ndarray:
        cfg = self.config
        affinity = cfg.n_topics * np.einsum(
            "bt,bkt->bk", state.latent["interest"], self.items.topics[slates]
        )
        u = cfg.interest_weight * (affinity - 1.0) + self.items.appeal[slates] + self._pos_bias
        no_click = np.full((state.n, 1), cfg.no_click_utility)
        return np.concatenate([no_click, u], axis=1)

    def reward(self, state: SimState, item: np.ndarray, normal: np.ndarray) -> np.ndarray:
        if self.config.reward == "price":
            return np.where(item >= 0, self.items.price[np.maximum(item, 0)], 0.0)
        return (item >= 0).astype(np.float64)

    def after_request(
        self, state: SimState, item: np.ndarray, reward: np.ndarray
    ) -> dict[str, np.ndarray]:
        cfg = self.config
        clicked = item >= 0
        change = np.where(
            clicked,
            cfg.quality_effect * self.items.quality[np.maximum(item, 0)],
            cfg.no_click_effect,
        )
        rho = cfg.satisfaction_decay
        s = rho * state.latent["satisfaction"] + (1.0 - rho) * change
        return {**state.latent, "satisfaction": s, "fatigue": state.latent["fatigue"] + 1.0}

    def leave_prob(self, state: SimState) -> np.ndarray:
        cfg = self.config
        lat = state.latent
        return _sigmoid(
            cfg.leave_base
            + cfg.leave_fatigue * (lat["fatigue"] - 1.0)
            - cfg.leave_satisfaction * lat["satisfaction"]
        )

    def churn_prob(self, state: SimState) -> np.ndarray:
        cfg = self.config
        return _sigmoid(cfg.churn_base - cfg.churn_satisfaction * state.latent["satisfaction"])

    def return_gap(self, state: SimState, exponential: np.ndarray) -> np.ndarray:
        cfg = self.config
        mean = cfg.return_gap_days * np.exp(-cfg.return_satisfaction * state.latent["satisfaction"])
        return mean * exponential

    def start_session(self, state: SimState, mask: np.ndarray) -> dict[str, np.ndarray]:
        return {**state.latent, "fatigue": np.where(mask, 0.0, state.latent["fatigue"])}

    # ----------------------------------------------------------------- logging policy
    def logging_scores(self) -> np.ndarray:
        """``[N]`` fixed (context-free) scores of the logging policy's Plackett-Luce:
        appeal plus fixed noise, over the temperature. Context-free scores make the
        item-position propensities exact and computable once for the whole log."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 2])
        noisy = self.items.appeal + cfg.logging_noise * rng.standard_normal(cfg.n_items)
        return noisy / cfg.logging_temperature
