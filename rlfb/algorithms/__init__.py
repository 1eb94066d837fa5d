"""Training algorithms as registered objects: one home for everything that depends on which
algorithm a config names.

``algo.name`` is looked up once, in `rlfb.algorithms.ALGORITHMS` (entry-point group
``rlfb.algorithms``, built-ins included), and the `Algorithm` object it names says the rest:
whether it trains online (rollouts, scoring, a buffer) or offline (data files), its config checks
(run once when the config loads), the learner it trains, and, online, how scored groups become a
learner batch (group advantages, critic scores or preference pairs). No code outside this
package compares ``algo.name`` with a literal, so a new algorithm can come as a plugin package
(`experiments/plugins/rlfb-reinforce-baseline` is one).

Built-ins: ``grpo``, ``rloo``, ``reinforce_pp`` (outcome estimators; `outcome`), ``ppo``
(`ppo`), ``online_dpo`` (`online_dpo`), ``sft`` and ``dpo`` (offline; `offline`), and
``reward_model`` (offline: Bradley-Terry reward-model training; `reward_model`).
"""

from __future__ import annotations

from typing import Any, Callable, TYPE_CHECKING

from rlfb.algorithms.base import Algorithm, OfflineAlgorithm, OnlineAlgorithm
from rlfb.registry import Registry, make_instance, subclass_check

if TYPE_CHECKING:
    from rlfb.config.schema import AlgoConfig

ALGORITHMS: Registry[type[Algorithm]] = Registry(
    "algorithm", group="rlfb.algorithms", check=subclass_check(Algorithm))


def register_algorithm(name: str, target: Any = None) -> Callable[[Any], Any] | Any:
    """Register an `Algorithm` subclass (decorator form) or a lazy ``"module:Class"``."""
    return ALGORITHMS.register(name, target)


def get_algorithm(name: str) -> type[Algorithm]:
    """The `Algorithm` class registered as ``name``; raises `rlfb.errors.RegistryError` (with
    the close matches) for an unknown name."""
    return ALGORITHMS.get(name)


def make_algorithm(settings: AlgoConfig) -> Algorithm:
    """The algorithm that ``settings`` (the config's ``algo`` section) names, built on them and
    on ``settings.options`` (an unknown option is a `rlfb.errors.RegistryError` listing the
    accepted ones)."""
    algorithm = make_instance(ALGORITHMS, settings.name, {**settings.options, "settings": settings})
    algorithm.name = settings.name
    return algorithm


def list_algorithms() -> list[str]:
    """Names of all registered algorithms, sorted."""
    return ALGORITHMS.names()


__all__ = ["ALGORITHMS", "Algorithm", "OfflineAlgorithm", "OnlineAlgorithm", "get_algorithm",
           "list_algorithms", "make_algorithm", "register_algorithm"]
