"""Off-policy evaluation: bandit and slate estimators with intervals and diagnostics.

Depends only on :mod:`ltvrec.interactions` (never on SB3). Estimators are validated
against the Open Bandit Pipeline 0.4.1 on the same inputs (``tests/test_ope.py``).
Trajectory-level IS (trajectory IS, PDIS, weighted PDIS) is in
:mod:`ltvrec.ope.sequential`; sequential DR, FQE and the OPE report are not built yet.
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
)
from ltvrec.ope.feedback import BanditFeedback, SlateFeedback
from ltvrec.ope.intervals import Estimate
from ltvrec.ope.sequential import PDIS, Trajectories, TrajectoryIS, WeightedPDIS

__all__ = [
    "DM",
    "DR",
    "IPS",
    "PDIS",
    "SNDR",
    "SNIPS",
    "BanditFeedback",
    "DRShrinkage",
    "Estimate",
    "SlateFeedback",
    "SlateIndependentIPS",
    "SlateRewardInteractionIPS",
    "SlateStandardIPS",
    "SwitchDR",
    "Trajectories",
    "TrajectoryIS",
    "WeightedPDIS",
]
