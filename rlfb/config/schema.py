"""The `rlfb train` config: one dataclass per role, a docstring under every field.

The docstring under each field is its help text (`rlfb.config.docs` reads it from this file), so
every field must have one; a test enforces it. Defaults make a working GRPO run on
SmolLM2-135M-Instruct over reasoning-gym arithmetic. Fields left ``None`` with a "default:"
note are filled in by `rlfb.config.load_config` and saved resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rlfb.config.checks import check_range as _check_range
from rlfb.config.sections import DPOConfig, OfflineConfig, PPOConfig, RecordFields

__all__ = [
    "AlgoConfig", "BufferConfig", "DataConfig", "DPOConfig", "EvalConfig", "LearnerConfig",
    "LoraConfig", "ModelConfig", "OfflineConfig", "PPOConfig", "RayConfig", "RecordFields",
    "RewardConfig", "RoleResources", "RolloutConfig", "RunConfig", "TrainConfig",
]


#: Keys that configs once accepted and that are gone, with what to do instead; the loader names
#: them in its error rather than offering a did-you-mean.
REMOVED_KEYS: dict[str, str] = {
    "algo.extra": "it was never read; algorithm settings have their own fields (algo.*, "
                  "algo.advantage_options, algo.options for a plugin algorithm's own options, "
                  "and the ppo, dpo and offline sections)",
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
    """Extra keyword options of the engine (e.g. vLLM's gpu_memory_utilization)."""


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


@dataclass
class BufferConfig:
    """The experience buffer between scoring and the learner."""

    max_staleness: int | None = 0
    """Oldest usable sample, in policy versions behind the learner (0 = on-policy; null = any)."""
    drop_zero_variance: bool = False
    """Drop groups whose rewards are all equal and sample more prompts (DAPO dynamic sampling)."""
    max_refill_rounds: int = 3
    """Extra sampling rounds per step to refill dropped groups."""


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


@dataclass
class RoleResources:
    """Ray resources of one role."""

    count: int = 1
    """Actors of this role (the learner is always one actor)."""
    num_cpus: float = 1.0
    """CPUs per actor (fractions share a CPU; torch in the actor uses max(1, int(num_cpus))
    threads)."""
    num_gpus: float = 0.0
    """GPUs per actor (fractions share a GPU)."""


@dataclass
class RayConfig:
    """The Ray executor (run.executor = "ray"); docs/ray.md shows how roles map to a cluster."""

    address: str | None = None
    """Ray cluster to join: "auto" (the cluster this machine belongs to), "ray://host:10001",
    or null = start a local Ray for the run and stop it afterwards."""
    num_cpus: float | None = None
    """Logical CPUs of the local Ray that rlfb starts (address null); default: the larger of
    this machine's CPUs and what the roles ask for."""
    placement: Literal["colocate", "spread"] = "colocate"
    """Placement group of all role actors: pack them onto as few nodes as possible (colocate)
    or spread them across nodes (spread); both are soft, so a single node always works."""
    rollout: RoleResources = field(default_factory=RoleResources)
    """Rollout-engine actors; prompts are split across them by prompt."""
    learner: RoleResources = field(default_factory=RoleResources)
    """The learner actor."""
    reward: RoleResources = field(default_factory=RoleResources)
    """Scoring actors (verifier execution, reward models); samples are split across them by
    prompt."""
    mode: Literal["sync", "async"] = "sync"
    """sync: roll out, score, update, sync in turn (the same trajectory as executor=local).
    async: the rollouts of the next async_depth steps run while the learner updates, so their
    samples are up to async_depth weight versions old (needs buffer.max_staleness >=
    async_depth; algo.tis_cap bounds the importance ratio against the behaviour logprobs)."""
    async_depth: int = 1
    """async: steps of rollouts in flight ahead of the learner (their staleness in versions)."""
    weight_sync: Literal["object_store", "collective"] = "object_store"
    """How new weights reach the engines: through Ray's object store (one copy in, one copy
    out; overlaps with generation in async mode), or a torch.distributed broadcast from the
    learner (collective_backend)."""
    collective_backend: Literal["gloo", "nccl"] = "gloo"
    """weight_sync=collective: gloo (CPU tensors; tested) or nccl (GPU to GPU; not run in CI)."""
    max_restarts: int = 3
    """Times Ray restarts a crashed rollout or scorer actor; its in-flight work is retried. The
    learner and buffer are not restarted: the run stops with a resumable checkpoint."""
    startup_timeout_s: float = 600.0
    """Seconds to wait for the placement group and every actor to start."""

    def __post_init__(self) -> None:
        _check_range(self.async_depth >= 1, f"ray.async_depth must be >= 1, got {self.async_depth}")
        _check_range(self.max_restarts >= 0, f"ray.max_restarts must be >= 0, "
                                             f"got {self.max_restarts}")
        _check_range(self.startup_timeout_s > 0, f"ray.startup_timeout_s must be > 0, "
                                                 f"got {self.startup_timeout_s}")
        _check_range(self.num_cpus is None or self.num_cpus > 0,
                     f"ray.num_cpus must be > 0 or null, got {self.num_cpus}")
        _check_range(self.learner.count == 1, "ray.learner.count must be 1: the learner is one "
                                              f"actor (data-parallel learners are not built), "
                                              f"got {self.learner.count}")


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
