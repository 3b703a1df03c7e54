"""Off-policy evaluation: bandit and slate estimators with intervals and diagnostics.

Depends only on :mod:`ltvrec.interactions` (never on SB3). Estimators are validated
against the Open Bandit Pipeline 0.4.1 on the same inputs (``tests/test_ope.py``).
Sequential (whole-trajectory) estimators, FQE and the OPE report are not built yet.
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

__all__ = [
    "DM",
    "DR",
    "IPS",
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
]
