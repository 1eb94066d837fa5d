"""rlfb.rewards: the reward registry and contract.

>>> from rlfb.rewards import get_reward
>>> get_reward("verifier", verifier="format").score("<think>x</think><answer>1</answer>", None).value
1.0

Rewards are found by name in the ``rlfb.rewards`` entry-point group (built-ins included), by
``register_reward`` decorators, or by lazy ``"module:Class"`` strings.
"""

from __future__ import annotations

from typing import Any, Callable

from rlfb.registry import Registry, make_instance, subclass_check
from rlfb.rewards.base import Reward, RewardResult

REWARDS: Registry[type[Reward]] = Registry("reward", group="rlfb.rewards", check=subclass_check(Reward))


def register_reward(name: str, target: Any = None) -> Callable[[Any], Any] | Any:
    """Register a `Reward` subclass (decorator form) or a lazy ``"module:Class"`` string."""
    return REWARDS.register(name, target)


def get_reward(name: str, **options: Any) -> Reward:
    """A new reward instance; options are the class's keyword arguments."""
    reward = make_instance(REWARDS, name, options)
    reward.name = name
    return reward


def list_rewards() -> list[str]:
    """Names of all registered rewards, sorted."""
    return REWARDS.names()


__all__ = ["REWARDS", "Reward", "RewardResult", "get_reward", "list_rewards", "register_reward"]
