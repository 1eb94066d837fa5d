"""The algorithm sections of the `rlfb train` config (ppo, dpo, offline) and the offline
records' column names; `rlfb.config.schema` puts them in `TrainConfig`. As there, the docstring
under each field is its help text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rlfb.config.checks import check_range as _check_range


@dataclass
class RecordFields:
    """Column names of offline records: SFT examples, preference pairs, PPO-ptx text."""

    prompt: str = "prompt"
    """Prompt column: a string (one user message) or a list of chat messages."""
    completion: str = "completion"
    """SFT target column: a string, or a list of messages ending with the assistant's."""
    messages: str = "messages"
    """Whole-conversation column (SFT without prompt/completion columns): the last message must be
    the assistant's and is the target; every earlier message is prompt."""
    chosen: str = "chosen"
    """Preferred completion column (DPO): a string or a list of messages ending with it."""
    rejected: str = "rejected"
    """Dispreferred completion column (DPO), like chosen."""
    margin: str | None = None
    """Reward-model training: a column with each pair's margin (Llama 2); null = no margin."""
    text: str = "text"
    """Plain-text column (SFT or PPO-ptx without prompt/completion or messages): every token is
    trained on."""


@dataclass
class OfflineConfig:
    """Offline training data and schedule (algo.name = "sft", "dpo" or "reward_model"), from
    local HF datasets files. SFT rows use (prompt, completion) columns if both exist, else messages, else text."""

    files: list[str] = field(default_factory=list)
    """Training files (jsonl, json, parquet, csv, arrow, or a save_to_disk folder; globs ok)."""
    eval_files: list[str] = field(default_factory=list)
    """Held-out files; empty = hold out `holdout` rows of files (none if holdout is 0)."""
    holdout: float = 0.0
    """Rows of files held out for evaluation when eval_files is empty: a fraction in (0, 1) or
    a whole count (0 = no held-out set)."""
    limit: int | None = None
    """Use only the first this many rows of files, before the held-out split (null = all); for
    smoke runs."""
    holdout_seed: int = 0
    """Seed of the held-out choice (fixed apart from run.seed, so seeds share an eval set)."""
    format: str | None = None
    """`datasets` builder of every file: json, parquet, csv, arrow; default: from the suffix."""
    fields: RecordFields = field(default_factory=RecordFields)
    """Column names."""
    system_prompt: str | None = None
    """A system message put before every prompt."""
    chat_template: bool = True
    """Render prompts with the tokenizer's chat template (false: the prompt text as is, then the
    completion, then eos)."""
    batch_size: int = 8
    """Examples (SFT) or pairs (DPO) per optimiser step; split into learner.micro_batch_size."""
    epochs: int | None = None
    """Passes over the training rows (steps = epochs * ceil(rows / batch_size)); null = run for
    run.steps optimiser steps, cycling through the rows in seeded epochs."""
    max_length: int = 1024
    """Longest example in tokens; longer completions are cut at the end (counted in
    data/truncated); a prompt that alone reaches it is an error."""
    shuffle: bool = True
    """Visit rows in a seeded random order each epoch (false = file order)."""

    def __post_init__(self) -> None:
        _check_range(self.batch_size >= 1,
                     f"offline.batch_size must be >= 1, got {self.batch_size}")
        _check_range(self.epochs is None or self.epochs >= 1,
                     f"offline.epochs must be >= 1 or null (use run.steps), got {self.epochs}")
        _check_range(self.max_length >= 2,
                     f"offline.max_length must be >= 2, got {self.max_length}")
        _check_range(self.holdout >= 0, f"offline.holdout must be >= 0, got {self.holdout}")
        _check_range(self.limit is None or self.limit >= 1,
                     f"offline.limit must be >= 1 or null (all rows), got {self.limit}")


@dataclass
class PPOConfig:
    """PPO with a critic (algo.name = "ppo"): L = L_PPO + value_coef * L_value + ptx_coef * L_ptx.
    The policy-loss settings (clip_low/high, loss_agg, kl_coef, kl_estimator, kl_in,
    entropy_coef, ppo_epochs) are in algo; InstructGPT puts the KL in the reward (algo.kl_in =
    reward, algo.kl_estimator = k1)."""

    value_coef: float = 0.1
    """c_v, the weight of the clipped value loss."""
    value_clip: float | None = 0.2
    """How far a value may move from its rollout-time value before its gain is clipped
    (null = unclipped squared error)."""
    gamma: float = 1.0
    """GAE discount over completion tokens."""
    lam: float = 0.95
    """GAE lambda (0 = one-step TD, 1 = Monte-Carlo return minus the value)."""
    whiten_advantages: bool = True
    """Normalise advantages to mean 0, std 1 over the batch's valid tokens."""
    whiten_rewards: bool = False
    """Scale token rewards to std 1 over the batch (mean kept) before GAE."""
    mini_batches: int = 1
    """Optimiser steps per PPO epoch: each epoch shuffles the batch's rows and splits them into
    this many mini-batches (algo.ppo_epochs sets the epochs)."""
    kl_control: Literal["fixed", "adaptive"] = "fixed"
    """KL coefficient: algo.kl_coef throughout, or adapted from it towards kl_target (Ziegler
    et al. 2019)."""
    kl_target: float = 6.0
    """Adaptive control: the per-sequence KL (summed over tokens) to steer towards."""
    kl_horizon: float = 10000.0
    """Adaptive control: samples over which a KL error is corrected."""
    critic_path: str | None = None
    """HF folder the critic (backbone + scalar value head) starts from, e.g. a reward model;
    null = the policy's initial weights with a new head."""
    critic_lr: float | None = None
    """Critic learning rate; default: learner.lr."""
    ptx_coef: float = 0.0
    """c_ptx, the weight of the language-modelling loss on ptx_files (0 = off)."""
    ptx_files: list[str] = field(default_factory=list)
    """Pretraining/SFT data for PPO-ptx (formats and columns as in offline)."""
    ptx_fields: RecordFields = field(default_factory=RecordFields)
    """Column names of ptx_files."""
    ptx_batch_size: int = 4
    """PPO-ptx rows per optimiser step."""

    def __post_init__(self) -> None:
        _check_range(0 <= self.gamma <= 1 and 0 <= self.lam <= 1,
                     f"ppo.gamma and ppo.lam must be in [0, 1], got {self.gamma}, {self.lam}")
        _check_range(self.value_coef >= 0, f"ppo.value_coef must be >= 0, got {self.value_coef}")
        _check_range(self.value_clip is None or self.value_clip > 0,
                     f"ppo.value_clip must be > 0 or null, got {self.value_clip}")
        _check_range(self.mini_batches >= 1, f"ppo.mini_batches must be >= 1, "
                                             f"got {self.mini_batches}")
        _check_range(self.kl_target > 0 and self.kl_horizon > 0,
                     f"ppo.kl_target and ppo.kl_horizon must be > 0, got {self.kl_target}, "
                     f"{self.kl_horizon}")
        _check_range(self.critic_lr is None or self.critic_lr > 0,
                     f"ppo.critic_lr must be > 0 or null, got {self.critic_lr}")
        _check_range(self.ptx_coef >= 0, f"ppo.ptx_coef must be >= 0, got {self.ptx_coef}")
        _check_range(self.ptx_coef == 0 or bool(self.ptx_files),
                     "ppo.ptx_coef > 0 needs ppo.ptx_files (the pretraining/SFT data)")
        _check_range(self.ptx_batch_size >= 1, f"ppo.ptx_batch_size must be >= 1, "
                                               f"got {self.ptx_batch_size}")


@dataclass
class DPOConfig:
    """Direct preference optimisation (algo.name = "dpo" offline, "online_dpo" online)."""

    beta: float = 0.1
    """Strength of the pull towards the reference (the implicit reward is beta * log ratio)."""
    loss: Literal["sigmoid", "ipo"] = "sigmoid"
    """sigmoid (DPO; with label_smoothing: cDPO) or ipo (on per-token mean logprobs)."""
    label_smoothing: float = 0.0
    """cDPO: assumed probability that a preference label is flipped, in [0, 0.5)."""

    def __post_init__(self) -> None:
        _check_range(self.beta > 0, f"dpo.beta must be > 0, got {self.beta}")
        _check_range(0 <= self.label_smoothing < 0.5,
                     f"dpo.label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        _check_range(self.loss == "sigmoid" or self.label_smoothing == 0,
                     "dpo.label_smoothing applies to loss=sigmoid only; set it to 0 for ipo")
