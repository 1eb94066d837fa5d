"""Outcome-reward RL with group baselines: GRPO (and Dr.GRPO, DAPO), RLOO, REINFORCE++.

One scalar reward per sample; the advantage estimator named by ``algo.advantage``
(`rlfb.algo.registry.ADVANTAGES`; by default the one of the same name as the algorithm) turns
each prompt's group of rewards into one advantage per sample, which every token of the sample
shares: in a multi-turn rollout, every token the policy sampled in any of its turns (the
environment's tokens are off the loss mask and get none). A masked sample (its judge failed: reward None) takes no part and gets advantage 0.

With the KL in the reward (``algo.kl_in = "reward"``, ``algo.kl_coef > 0``) the batch also
carries the raw scores and group ids: the learner, which holds the reference model, folds the
per-token KL into them and recomputes the advantages (`rlfb.algo.kl_reward`).
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from rlfb.algorithms.base import OnlineAlgorithm
from rlfb.errors import ConfigError

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


class OutcomeAlgorithm(OnlineAlgorithm):
    """Group advantages of outcome rewards, with the estimator of ``algo.advantage``."""

    data_parallel = True  # the policy learner (`rlfb.learner.distributed`)

    def check(self, cfg: TrainConfig) -> None:
        """Group advantages need several samples per prompt to compare."""
        if cfg.algo.advantage is None:
            raise ConfigError(f"algo.name={self.settings.name} needs an advantage estimator; "
                              "set algo.advantage (e.g. grpo, dr_grpo, rloo)")

    def batch(self, groups: list[Any], pad_token_id: int) -> tuple[Any, dict[str, Any]]:
        """`rlfb.types.ExperienceBatch` with one advantage per sample, from its group."""
        import torch

        from rlfb.algo.advantages import from_groups, to_groups
        from rlfb.algo.registry import get_advantage_estimator
        from rlfb.buffer import collate, rewards_and_groups

        a = self.settings
        rewards, index = rewards_and_groups(groups)
        g = to_groups(rewards, index)
        estimator = get_advantage_estimator(a.advantage)
        adv = from_groups(estimator(g.values, mask=g.mask, **a.advantage_options), g)
        batch = collate(groups, adv, pad_token_id)
        if a.kl_in == "reward" and a.kl_coef > 0:
            batch.scores, batch.group_ids = rewards, torch.tensor(index)
        return batch, {}


class GRPO(OutcomeAlgorithm):
    """Group-normalised advantages (``algo.normalize_std: false`` is Dr.GRPO; DAPO's
    clip-higher, token-mean loss and dynamic sampling are settings of ``algo`` and ``buffer``)."""

    advantage = "grpo"


class RLOO(OutcomeAlgorithm):
    """Leave-one-out baselines: each sample against the mean of the others of its group."""

    advantage = "rloo"


class ReinforcePP(OutcomeAlgorithm):
    """REINFORCE++: rewards whitened over the whole batch (no per-group baseline)."""

    advantage = "reinforce_pp"
