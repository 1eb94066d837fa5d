"""rlfb.config: the `rlfb train` configuration.

>>> from rlfb.config import load_config
>>> cfg = load_config(None, ["run.name=demo", "algo.kl_coef=0.01", "rollout.n=4"])
>>> cfg.run.output_dir, cfg.algo.kl_coef, cfg.algo.advantage, cfg.rollout.n
('runs/demo', 0.01, 'grpo', 4)
>>> load_config(None, ["algo.kl_cof=0.01"])
Traceback (most recent call last):
...
rlfb.errors.ConfigError: unknown config key 'algo.kl_cof'; did you mean 'algo.kl_coef'? (algo has: name, advantage, advantage_options, normalize_std, policy_loss, clip_low, clip_high, loss_agg, kl_coef, kl_estimator, kl_in, entropy_coef, ppo_epochs, tis_cap)

Sections (one dataclass per role, in `rlfb.config.schema`): run, model, data, rollout, reward,
algo, learner, buffer, eval, ray, and the algorithm sections ppo, dpo and offline. Each field's help is the docstring under it
(`describe_config()` prints them all).
"""

from __future__ import annotations

from rlfb.config.docs import config_fields, describe_config, field_docs
from rlfb.config.load import (
    config_from_dict,
    config_to_dict,
    load_config,
    resolve,
    save_config,
    validate,
)
from rlfb.config.schema import (
    AlgoConfig,
    BufferConfig,
    DataConfig,
    DPOConfig,
    EnvConfig,
    EvalConfig,
    LearnerConfig,
    LoraConfig,
    ModelConfig,
    OfflineConfig,
    PPOConfig,
    RayConfig,
    RecordFields,
    RewardConfig,
    RoleResources,
    RolloutConfig,
    RunConfig,
    TrainConfig,
)

__all__ = [
    "AlgoConfig", "BufferConfig", "DataConfig", "DPOConfig", "EnvConfig", "EvalConfig",
    "LearnerConfig",
    "LoraConfig", "ModelConfig", "OfflineConfig", "PPOConfig", "RayConfig", "RecordFields",
    "RewardConfig", "RoleResources", "RolloutConfig", "RunConfig",
    "TrainConfig", "config_fields", "config_from_dict", "config_to_dict", "describe_config",
    "field_docs", "load_config", "resolve", "save_config", "validate",
]
