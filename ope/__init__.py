"""Off-policy evaluation (to come): bandit, slate and sequential estimators with
bootstrap and analytic intervals, diagnostics and reports (shared/DESIGN.md 3.4).
Depends only on ``ltvrec.interactions`` and a small policy protocol.
"""
