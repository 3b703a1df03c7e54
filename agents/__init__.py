"""Slate policies (to come): the Plackett-Luce distribution for PPO, baselines
(random, popularity, greedy, logging), training and evaluation (shared/DESIGN.md 3.3).
"""
