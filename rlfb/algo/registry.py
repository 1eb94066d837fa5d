"""Registries of advantage estimators and policy losses, looked up by name from configs.

Built-ins join through the entry-point groups ``rlfb.advantages`` and ``rlfb.losses`` declared in
rlfb's ``pyproject.toml`` (and through the decorators in their modules), exactly like a plugin.

Contracts (every entry, built-in or third-party, follows them):

- **advantage estimator** (outcome rewards, one scalar per sample, grouped by prompt)::

      fn(rewards: Tensor[G, n], *, mask: Tensor[G, n] | None = None, **options) -> Tensor[G, n]

  ``rewards`` is float; NaN marks a masked sample, as does ``mask`` False. Masked samples take
  no part in any statistic and get advantage exactly 0. Use `rlfb.algo.advantages.to_groups`
  to go from flat ``[N]`` rewards with group ids to ``[G, n]`` and back. (GAE needs a critic
  and token-level rewards, so it is not an entry here: see `rlfb.algo.ppo.gae`.)

- **policy loss** (per token, before aggregation)::

      fn(logprobs: Tensor[B, T], old_logprobs: Tensor[B, T], advantages: Tensor[B, T] | [B, 1],
         mask: Tensor[B, T], **options) -> LossOutput(loss: Tensor[B, T], stats: dict)

  ``loss`` is 0 where ``mask`` is 0; reduce it with `rlfb.algo.aggregation.aggregate`.

This module does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlfb.registry import Registry, callable_check

ADVANTAGES: Registry[Callable[..., Any]] = Registry(
    "advantage estimator", group="rlfb.advantages", check=callable_check
)
LOSSES: Registry[Callable[..., Any]] = Registry(
    "policy loss", group="rlfb.losses", check=callable_check
)


def get_advantage_estimator(name: str) -> Callable[..., Any]:
    """The advantage estimator registered as ``name`` (e.g. ``"grpo"``, ``"rloo"``)."""
    return ADVANTAGES.get(name)


def get_policy_loss(name: str) -> Callable[..., Any]:
    """The policy loss registered as ``name`` (e.g. ``"ppo_clip"``)."""
    return LOSSES.get(name)
