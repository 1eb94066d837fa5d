"""PPO with a critic (InstructGPT): the learner's critic turns each sample's score into
per-token advantages with GAE, so the batch carries scores, not advantages
(`rlfb.learner.ppo.PPOLearner` holds the rest).

Multi-turn rollouts (`rlfb.environments.episodes`): the loss mask is 1 only at the tokens the
policy sampled, so the critic's values, the score (placed at the last model token) and GAE
cover the model's own tokens only. GAE skips the environment's tokens as if they were absent:
the value after the last token of one assistant turn is the value at the first token of the
next, with one step of discount between them, however long the tool output in between. The
tool output is part of the state transition, not an action, and discounting over its length
would make a long observation look like a long delay (verl's multi-turn PPO does the same)."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, TYPE_CHECKING

from rlfb.algorithms.base import OnlineAlgorithm, policy_settings
from rlfb.errors import ConfigError

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


class PPO(OnlineAlgorithm):
    """Actor + critic, GAE, clipped value loss, KL in the reward (fixed or adaptive), PPO-ptx."""

    def check(self, cfg: TrainConfig) -> None:
        """GAE makes the advantages; adaptive KL control needs a starting coefficient."""
        if cfg.algo.advantage is not None:
            raise ConfigError(f"algo.advantage={cfg.algo.advantage!r} does not apply to ppo (GAE "
                              "with the critic makes the advantages); remove it")
        if cfg.ppo.kl_control == "adaptive" and cfg.algo.kl_coef <= 0:
            raise ConfigError("ppo.kl_control=adaptive scales algo.kl_coef, which is 0; set "
                              "algo.kl_coef to the starting coefficient (e.g. 0.05)")

    def learner_factory(self, cfg: TrainConfig, model_path: str) -> Callable[[], Any]:
        """The `PPOLearner`: the policy's settings plus the critic's (``ppo`` section)."""
        from rlfb.learner.ppo import PPOLearner, PPOSettings

        loss, kwargs = policy_settings(cfg)
        p = cfg.ppo
        settings = PPOSettings(
            value_coef=p.value_coef, value_clip=p.value_clip, gamma=p.gamma, lam=p.lam,
            whiten_advantages=p.whiten_advantages, whiten_rewards=p.whiten_rewards,
            mini_batches=p.mini_batches, kl_control=p.kl_control, kl_target=p.kl_target,
            kl_horizon=p.kl_horizon, ptx_coef=p.ptx_coef, ptx_batch_size=p.ptx_batch_size)
        ptx = {"files": list(p.ptx_files), "fields": p.ptx_fields,
               "max_length": cfg.offline.max_length}
        steps = cfg.run.steps * cfg.algo.ppo_epochs * p.mini_batches
        return partial(PPOLearner, model_path, loss, settings, critic_path=p.critic_path,
                       critic_lr=p.critic_lr, ptx=ptx, **{**kwargs, "total_steps": steps})

    def batch(self, groups: list[Any], pad_token_id: int) -> tuple[Any, dict[str, Any]]:
        """Every sample with its score (the critic makes the advantages)."""
        import torch

        from rlfb.buffer import collate, rewards_and_groups

        rewards, _ = rewards_and_groups(groups)
        batch = collate(groups, torch.zeros_like(rewards), pad_token_id)
        batch.scores = rewards
        return batch, {}
