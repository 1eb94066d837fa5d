"""The `Algorithm` contract, and the config → policy-learner settings every algorithm shares.

An algorithm is a class registered in `rlfb.algorithms.ALGORITHMS`, built on the config's
``algo`` section (its *settings*). What the rest of rlfb asks of it:

- ``online``: an `OnlineAlgorithm` trains from rollouts (the online trainer: rollout → score →
  buffer → `OnlineAlgorithm.batch` → learner update → weight sync); an `OfflineAlgorithm` from
  data files (the offline trainer).
- `Algorithm.check`: cross-field config checks, run once when the config loads
  (`rlfb.config.validate`), so a bad combination fails before any model is built.
- `Algorithm.learner_factory`: a picklable zero-argument builder of its learner, run in this
  process or in a Ray learner actor.
- `Algorithm.advantage`: the advantage estimator it uses when ``algo.advantage`` is unset
  (None: it makes no group advantages).
- `Algorithm.state_dict` / `load_state_dict`: state the algorithm itself keeps between steps
  (a moving baseline, say), saved in every checkpoint so a resumed run continues exactly.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, ClassVar, TYPE_CHECKING

from rlfb.errors import ConfigError

if TYPE_CHECKING:
    from rlfb.config.schema import AlgoConfig, TrainConfig


class Algorithm:
    """Base of every algorithm; subclass `OnlineAlgorithm` or `OfflineAlgorithm`.

    Args:
        settings: the config's ``algo`` section (`rlfb.config.schema.AlgoConfig`).
    """

    name: str = ""
    online: ClassVar[bool]
    advantage: ClassVar[str | None] = None
    #: its learner can run as a data-parallel group of ranks (``ray.learner.count > 1``,
    #: `rlfb.learner.distributed`: the policy learner only)
    data_parallel: ClassVar[bool] = False

    def __init__(self, settings: AlgoConfig) -> None:
        self.settings = settings

    def check(self, cfg: TrainConfig) -> None:
        """Raise `rlfb.errors.ConfigError` for settings of ``cfg`` this algorithm cannot honour
        (one line naming the field and the fix). Run once, when the config loads."""

    def learner_factory(self, cfg: TrainConfig, model_path: str) -> Callable[[], Any]:
        """A picklable zero-argument builder of this algorithm's learner for ``cfg``."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """State kept between steps (checkpointed); none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


class OnlineAlgorithm(Algorithm):
    """An algorithm that learns from the policy's own scored rollouts."""

    online = True

    def learner_factory(self, cfg: TrainConfig, model_path: str) -> Callable[[], Any]:
        """The policy learner (`rlfb.learner.policy.PolicyLearner`) with ``cfg``'s settings;
        algorithms with another learner override this."""
        return policy_learner_factory(cfg, model_path)

    def batch(self, groups: list[Any], pad_token_id: int) -> tuple[Any | None, dict[str, Any]]:
        """The learner's batch from scored groups (`rlfb.buffer.Group`, one per prompt) and
        metrics about it; None when the groups give nothing to learn from."""
        raise NotImplementedError


class OfflineAlgorithm(Algorithm):
    """An algorithm that learns from rows of data files (``offline.files``), in this process."""

    online = False
    #: True when training needs the untrained policy's logprobs of every row (DPO's reference).
    needs_reference: ClassVar[bool] = False

    def check(self, cfg: TrainConfig) -> None:
        """Offline training needs data files and runs in this process."""
        if not cfg.offline.files:
            raise ConfigError(f"algo.name={self.settings.name} trains on data files: set "
                              "offline.files (jsonl, json, parquet, csv or arrow)")
        if cfg.run.executor != "local":
            raise ConfigError(f"algo.name={self.settings.name} trains offline, in this process; "
                              "set run.executor=local")
        if cfg.offline.eval_files and cfg.offline.holdout:
            raise ConfigError("set offline.eval_files or offline.holdout, not both")

    def load_rows(self, files: list[str], encoder: Any, fmt: str) -> list[Any]:
        """Tokenised rows of ``files`` (`rlfb.data.records`)."""
        raise NotImplementedError

    def learner(self, cfg: TrainConfig, model_path: str, total_steps: int) -> Any:
        """The learner, built in this process for ``total_steps`` optimiser steps."""
        raise NotImplementedError

    def batch(self, rows: list[Any], pad_token_id: int, reference: Any = None) -> Any:
        """The learner's batch of ``rows`` (with their reference logprobs when
        `needs_reference`)."""
        raise NotImplementedError

    def eval_metrics(self, sums: dict[str, float]) -> dict[str, Any]:
        """``eval/*`` metrics from the learner's held-out sums, pooled over batches."""
        raise NotImplementedError

    def finish(self, learner: Any, run_dir: Path) -> None:
        """After the last step: write what the run produces besides checkpoints (nothing by
        default; a reward model exports itself for the ``reward_model`` reward)."""


def norm_length(cfg: TrainConfig) -> int:
    """The fixed length Dr.GRPO's ``seq-mean-token-sum-norm`` divides a sequence's loss by: the
    most tokens a sample can have after its prompt, ``rollout.max_new_tokens`` for one turn, the
    episode's token budget ``env.max_tokens`` (resolved from the environment when the config
    loads) for a multi-turn environment, whose trajectories run past one turn's limit."""
    if cfg.env.name is not None and cfg.env.max_tokens is not None:
        return int(cfg.env.max_tokens)
    return int(cfg.rollout.max_new_tokens)


def policy_settings(cfg: TrainConfig) -> tuple[Any, dict[str, Any]]:
    """The policy objective's settings (`rlfb.learner.objective.LossSettings`) and the
    `PolicyLearner` keyword options of ``cfg``: the one place config fields become a policy
    learner's settings."""
    from rlfb.learner.objective import LossSettings
    from rlfb.rollout.settings import lora_sync

    a, l, m = cfg.algo, cfg.learner, cfg.model
    loss = LossSettings(policy_loss=a.policy_loss, clip_low=a.clip_low, clip_high=a.clip_high,
                        loss_agg=a.loss_agg, agg_norm_length=float(norm_length(cfg)),
                        kl_coef=a.kl_coef, kl_estimator=a.kl_estimator, kl_in=a.kl_in,
                        entropy_coef=a.entropy_coef, tis_cap=a.tis_cap,
                        temperature=cfg.rollout.temperature or 1.0)
    lora = {k: v for k, v in m.lora.__dict__.items() if k != "enabled"} if m.lora.enabled else None
    if lora is not None:
        lora["sync"] = lora_sync(cfg)
    return loss, dict(lr=l.lr, weight_decay=l.weight_decay, betas=tuple(l.betas),
                      max_grad_norm=l.max_grad_norm, warmup_steps=l.warmup_steps,
                      micro_batch_size=l.micro_batch_size, ppo_epochs=a.ppo_epochs, lora=lora,
                      dtype=m.dtype, seed=cfg.run.seed,
                      gradient_checkpointing=m.gradient_checkpointing,
                      lr_schedule=l.lr_schedule, total_steps=cfg.run.steps, packing=l.packing,
                      logits_chunk=l.logits_chunk, **device_settings(cfg))


def device_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The device and compute precision every learner takes (``learner.device``,
    ``learner.dtype``; `rlfb.device`), as learner keyword options."""
    return {"device": cfg.learner.device, "compute_dtype": cfg.learner.dtype}


def policy_learner_factory(cfg: TrainConfig, model_path: str) -> Callable[[], Any]:
    """A picklable builder of the `PolicyLearner` for ``cfg`` (with the configured advantage
    estimator, which the learner needs when the KL is in the reward)."""
    from rlfb.learner.policy import PolicyLearner

    loss, kwargs = policy_settings(cfg)
    return partial(PolicyLearner, model_path, loss, advantage=cfg.algo.advantage,
                   advantage_options=dict(cfg.algo.advantage_options), **kwargs)
