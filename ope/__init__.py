"""Off-policy evaluation: bandit and slate estimators with intervals and diagnostics.

Depends only on :mod:`ltvrec.interactions` (never on SB3). Estimators are validated
against the Open Bandit Pipeline 0.4.1 on the same inputs (``tests/test_ope.py``).
Trajectory-level IS (trajectory IS, PDIS, weighted PDIS) is in
:mod:`ltvrec.ope.sequential` with sequential and weighted DR; fitted Q evaluation in
:mod:`ltvrec.ope.fqe`; marginalised importance sampling (a state-distribution ratio, no
product of ratios over time) in :mod:`ltvrec.ope.marginal`; the pseudo-inverse slate
estimator in :mod:`ltvrec.ope.pseudo_inverse`.
"""

from ltvrec.ope.estimators import (
    DM,
    DR,
    IPS,
    SNDR,
    SNIPS,
    DRShrinkage,
    SlateIndependentIPS,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
    SwitchDR,
    Target,
)
from ltvrec.ope.feedback import BanditFeedback, SlateFeedback
from ltvrec.ope.fqe import FQE, FQEConfig, QValues
from ltvrec.ope.intervals import Estimate
from ltvrec.ope.marginal import MarginalizedIS
from ltvrec.ope.pseudo_inverse import SlatePseudoInverse
from ltvrec.ope.reward_model import RewardModel, cross_fit_rewards
from ltvrec.ope.sequential import (
    PDIS,
    SequentialDR,
    Trajectories,
    TrajectoryIS,
    WeightedDR,
    WeightedPDIS,
)

__all__ = [
    "DM",
    "DR",
    "FQE",
    "IPS",
    "PDIS",
    "SNDR",
    "SNIPS",
    "BanditFeedback",
    "DRShrinkage",
    "Estimate",
    "FQEConfig",
    "MarginalizedIS",
    "QValues",
    "RewardModel",
    "SequentialDR",
    "SlateFeedback",
    "SlateIndependentIPS",
    "SlatePseudoInverse",
    "SlateRewardInteractionIPS",
    "SlateStandardIPS",
    "SwitchDR",
    "Target",
    "Trajectories",
    "TrajectoryIS",
    "WeightedDR",
    "WeightedPDIS",
    "cross_fit_rewards",
]
