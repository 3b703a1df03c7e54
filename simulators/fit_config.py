"""How a simulator is fitted from a log (``ltvrec sim fit --config``, ``--set``): one
frozen, validated config read by every component (:mod:`ltvrec.simulators.components`)
and by :func:`ltvrec.simulators.fitted.fit_simulator`."""

from __future__ import annotations

from dataclasses import dataclass

from ltvrec.errors import ConfigError

CHOICE_HISTORY = ("consumed", "none", "residual", "auto")


@dataclass(frozen=True)
class FitConfig:
    """How a simulator is fitted from a log."""

    hidden: int = 32
    """Width of the two-tower choice model's query and item vectors."""
    choice_history: str = "consumed"
    """What of the user's history the choice model's user tower reads.

    - 'consumed' (the default): the state blocks built from consumed items' vectors
      (``interest``, ``last_item``, ``recent_items@r``). Learned from a logging policy's
      diverse slates, a mean of consumed items says what the user prefers; on the narrow
      slates a model-driven policy shows, it says what the policy showed, and the model
      overstates clicks (known world: greedy-model by 25%, a consequence-ranked policy
      more than twice), while every user's first request is calibrated.
    - 'none': only the scalar blocks (engagement counters), no personalisation.
    - 'residual': no consumed-item blocks, but the *residual interest*, a decayed sum over
      every shown item of (clicked - the probability a choice model without history
      gave it) times its vector: what the user chose beyond what anyone would have, so
      a policy's own exposure does not read as taste. Needs logs with impressions.
      :mod:`ltvrec.simulators.residual`.
    - 'auto': 'residual' when the log records impressions, 'consumed' when it is
      consumption-only (the fitted simulator records which). ``ltvrec ope`` on the
      known world fits its model-based members this way (docs/ope.md measures it).

    docs/simulators.md ("Clicks after the first consumption") measures all three. The
    no-click utility reads the whole state in every case."""
    residual_decay: float = 0.9
    """Per-request decay of the residual interest (``choice_history='residual'``)."""
    epochs: int = 10
    """Passes over the requests when fitting the choice model (more on a small log: see
    ``min_steps``)."""
    min_steps: int = 1000
    """At least this many gradient steps for the choice model, whatever the log's size.
    A fixed number of epochs under-trains it on a small log: on 1,000 known-world users
    10 epochs are ~370 steps, and the fitted simulator then overstated the logging
    policy's click rate by 10% (0.567 against 0.515) and its value by 11-14%; at 1,110
    steps both are within 1% (docs/simulators.md)."""
    batch_size: int = 2048
    """Requests per gradient step."""
    lr: float = 0.003
    """Adam learning rate of the choice and return models."""
    weight_decay: float = 1e-5
    """L2 penalty of the choice model (AdamW)."""
    n_negatives: int = 20
    """Sampled negative items per consumption (consumption-only logs)."""
    assumed_click_rate: float = 0.3
    """Consumption-only logs: assumed click probability of a slate of the K most popular
    items; it fixes the no-click utility, which such logs cannot identify."""
    slate_size: int | None = None
    """Slate size K to simulate (default: the log's; 10 for consumption-only logs)."""
    horizon_days: float | None = None
    """Days each simulated user is followed (default: the log's time span)."""
    ridge: float = 1.0
    """L2 penalty of the reward and leave models."""
    clip_inputs: bool = False
    """Clip every component's standardised inputs to the range the training states
    covered (per feature): a linear model must not extrapolate into states no logged
    user was ever in. Either way the simulator counts the share of inputs outside that
    range (``FittedSimulator.outside_share``)."""
    leave_model: str = "logistic"
    """The leave model: 'logistic' (linear in the standardised state, ridge ``ridge``) or
    'mlp' (one hidden tanh layer of ``leave_hidden`` units, trained on 90% of the users
    with the epoch chosen on the other 10%); docs/simulators.md measures both."""
    leave_hidden: int = 32
    """Hidden units of the 'mlp' leave model."""
    leave_duration_bins: int = 0
    """Bins of a discrete-time baseline hazard of leaving over the requests so far in the
    session, with a coefficient per bin for a user's first session and another for later
    sessions, added to the leave model's logit (an indicator per bin, fitted jointly with
    it). Edges at quantiles of the logged sessions' lengths. A session's hazard can then
    depend on how long it has lasted in any shape (in MovieLens a new user rates at least
    20 movies before leaving, and later sessions end most often after the first). 0 (the
    default): none; docs/simulators.md measures it."""
    return_bins: int = 1
    """Bins of the return model's piecewise-constant baseline hazard over the excess
    gap (edges at quantiles of the observed gaps): it can follow a return curve that
    rises fast in the first hours and slowly after. 1 (the default): a single
    exponential rate; docs/simulators.md measures both."""
    choice_ignore: tuple[str, ...] = ()
    """State blocks the choice model (user tower and no-click utility) does not read:
    their weights are 0. For blocks whose link to clicking in a log is who the user is
    rather than what a request did to them (``session_clicks``, ``session_mean_reward``),
    which a simulator would read as a cause. docs/simulators.md ("The far OPE targets")
    measured no effect of ignoring them in the known world."""
    return_ignore: tuple[str, ...] = ()
    """State blocks the return model (churn and return gap) does not read: their
    coefficients are held at 0. For blocks that only grow with a user's history
    (``sessions``, ``interest_mass``), which in a log also tell heavy users from light
    ones; docs/simulators.md ("Return gaps") measures dropping them on ml-100k."""
    leave_ignore: tuple[str, ...] = ()
    """State blocks the leave model does not read (its coefficients on them are 0), as
    ``return_ignore`` for the return model."""
    no_click_leave: float | None = None
    """Consumption-only logs: the probability that a request without a consumption ends
    the session. Such a log holds consumptions only, so its leave model is a hazard per
    *consumption*, and what a user does after a slate they take nothing from is not in
    it. None (the default): the leave model's probability, as after a consumption, so a
    user who consumes a third of the time gets three chances to leave per consumption;
    0: only consumptions (and ``max_session_requests``) end sessions. Either is an
    assumption, recorded in the simulator's metadata; docs/simulators.md ("A
    consumption-only log's session clock") measures both on ml-100k."""
    organic: bool = False
    """Consumption-only logs: every simulated request is a consumption, as every logged
    one is. A user who takes nothing from the slate consumes an item found elsewhere,
    drawn by the choice model over the rest of the catalog; it moves the user's state
    as a click does and earns the policy nothing. The leave model, a hazard per
    consumption, then applies per request as it was fitted, and a simulated session's
    requests count what a logged session's do. An assumption (recorded in the
    simulator's metadata), exclusive with ``no_click_leave``; docs/simulators.md ("A
    consumption-only log's session clock") measures it on ml-100k."""
    state_decay: float = 0.8
    """Decay of the interest mean in the user state."""
    item_consequences: bool = False
    """Estimate from the log what consuming each item does to the user afterwards (its
    coefficient in a model of the session ending, :mod:`ltvrec.simulators.consequence`,
    with the decay ``state_decay`` and the penalty ``ridge``) and append it to the item
    vectors, so the state and every component model read it; docs/simulators.md
    measures it."""
    shrink_consequences: bool = False
    """With ``item_consequences``: shrink each item's estimate towards what its text
    predicts, the more the fewer consumptions the log holds of it (empirical Bayes,
    :func:`~ltvrec.simulators.consequence.shrunk_to_text`), so an item's extreme
    estimate is believed only as far as the log backs it, and an item nobody consumed
    gets its text's prediction, as a new item does. The column is then as loud as two
    halves of the users agree on it (its split-half reliability,
    :func:`~ltvrec.simulators.consequence.split_half_reliability`, recorded in the
    simulator's ``meta["fit"]["consequence_reliability"]``): where nothing an item does
    outlasts the click, the shrunk column is its text prediction's noise, and it fades
    to about nothing instead of reading as a real effect."""
    engagement_decays: tuple[float, ...] = ()
    """Per-request decays of the state's engagement memory, which every component model
    then reads (``()``, the default: none; see encoders/state.py)."""
    max_session_requests: int | None = None
    """A session ends for sure after this many requests (default: the longest session in
    the log). A linear leave model can extrapolate a hazard that keeps falling with
    session length; without a cap a simulated session could last forever."""
    repeats: str = "auto"
    """Whether a user can consume an item again: 'auto' (allowed when the log holds
    repeat consumptions, forbidden when it holds none, as in MovieLens), 'allow' or
    'forbid'."""
    seed: int = 0
    """Seed of every random draw in fitting."""

    def __post_init__(self) -> None:
        if self.leave_model not in ("logistic", "mlp"):
            raise ConfigError(f"leave_model must be 'logistic' or 'mlp', got {self.leave_model!r}")
        if self.choice_history not in CHOICE_HISTORY:
            raise ConfigError(
                f"choice_history must be one of {', '.join(CHOICE_HISTORY)}, got "
                f"{self.choice_history!r}"
            )
        if not 0 < self.residual_decay < 1:
            raise ConfigError(f"residual_decay must be in (0, 1), got {self.residual_decay}")
        if self.repeats not in ("auto", "allow", "forbid"):
            raise ConfigError(f"repeats must be 'auto', 'allow' or 'forbid', got {self.repeats!r}")
        if self.hidden < 1 or self.epochs < 1 or self.batch_size < 1 or self.return_bins < 1:
            raise ConfigError("hidden, epochs, batch_size and return_bins must be >= 1")
        if self.leave_duration_bins < 0:
            raise ConfigError(f"leave_duration_bins must be >= 0, got {self.leave_duration_bins}")
        if self.leave_duration_bins and {"session_requests", "sessions"} & set(self.leave_ignore):
            raise ConfigError(
                "leave_duration_bins reads session_requests and sessions: leave_ignore "
                "cannot drop them"
            )
        if self.no_click_leave is not None and not 0.0 <= self.no_click_leave <= 1.0:
            raise ConfigError(f"no_click_leave must be in [0, 1], got {self.no_click_leave}")
        if self.organic and self.no_click_leave is not None:
            raise ConfigError(
                "organic makes every request a consumption; no_click_leave has no request "
                "without one to apply to: set one of them"
            )
        if self.min_steps < 0:
            raise ConfigError(f"min_steps must be >= 0, got {self.min_steps}")
        if self.shrink_consequences and not self.item_consequences:
            raise ConfigError("shrink_consequences shrinks item_consequences: set both")
        if not 0 < self.assumed_click_rate < 1:
            raise ConfigError(
                f"assumed_click_rate must be in (0, 1), got {self.assumed_click_rate}"
            )
