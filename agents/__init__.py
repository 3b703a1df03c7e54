"""Slate policies: the Plackett-Luce distribution for PPO, the two-tower policy,
training, and wrappers that let any policy act in any simulator."""

from ltvrec.agents.baselines import ModelGreedyPolicy, make_baseline
from ltvrec.agents.distributions import PlackettLuceDistribution
from ltvrec.agents.policies import PPOPolicy, load_policy
from ltvrec.agents.policy import SlateActorCriticPolicy
from ltvrec.agents.train_ppo import TrainConfig, train

__all__ = [
    "ModelGreedyPolicy",
    "PPOPolicy",
    "PlackettLuceDistribution",
    "SlateActorCriticPolicy",
    "TrainConfig",
    "load_policy",
    "make_baseline",
    "train",
]
