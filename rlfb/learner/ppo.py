"""The PPO learner with a critic (InstructGPT): L = L_PPO + c_v * L_value + c_ptx * L_ptx.

One `update(batch)` takes an `ExperienceBatch` whose ``scores`` hold each sample's scalar
reward (any verifier, reward, composite or reward model) and:

1. computes, without gradients, the policy's logprobs (the "old" policy of the ratio), the
   reference logprobs (when a KL coefficient is set) and the critic's values;
2. builds token rewards: the score at the last completion token, minus ``beta * KL_t`` at every
   token when the KL is in the reward (``kl_in="reward"``; beta fixed or adaptive); optionally
   scales them to unit std (``whiten_rewards``);
3. runs GAE(gamma, lambda) to get advantages and returns, and whitens the advantages;
4. for each of ``ppo_epochs`` epochs, shuffles the rows (with the learner's own seeded
   generator, checkpointed) and takes one optimiser step per mini-batch on the clipped policy
   loss (+ the KL loss when ``kl_in="loss"``, - entropy bonus) plus ``value_coef`` times the
   clipped value loss, plus ``ptx_coef`` times the mean NLL of ``ptx_batch_size`` rows of the
   pretraining/SFT data (PPO-ptx);
5. updates the adaptive KL coefficient with the batch's mean per-sequence KL (k1, summed over
   tokens, as in Ziegler et al.).

The policy is a `PolicyLearner` (model, LoRA, reference, optimiser, weights for sync); the
critic is a separate model (`rlfb.learner.critic`). A checkpoint holds both, their optimisers,
the KL coefficient, the shuffling generator and the PPO-ptx data position, so a resumed run
continues exactly.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rlfb.algo.aggregation import aggregate, masked_mean, masked_whiten
from rlfb.algo.ppo import AdaptiveKLController, FixedKLController, assemble_token_rewards, gae
from rlfb.algo.ppo import value_loss as clipped_value_loss
from rlfb.device import autocast, to_device
from rlfb.errors import RlfbError
from rlfb.learner.critic import Critic
from rlfb.learner.objective import LossSettings, batch_denominator, policy_objective
from rlfb.learner.policy import DTYPES, PolicyLearner, _micro_batches, _slice
from rlfb.types import ExperienceBatch


@dataclass(frozen=True)
class PPOSettings:
    """The critic-side settings (see `rlfb.config.PPOConfig` for each field's meaning)."""

    value_coef: float = 0.1
    value_clip: float | None = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    whiten_advantages: bool = True
    whiten_rewards: bool = False
    mini_batches: int = 1
    kl_control: str = "fixed"
    kl_target: float = 6.0
    kl_horizon: float = 10000.0
    ptx_coef: float = 0.0
    ptx_batch_size: int = 4


@dataclass
class _Experience:
    """Per-token tensors of one batch, fixed for the whole update (all ``[B, T]``)."""

    old: torch.Tensor
    ref: torch.Tensor | None
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    stats: dict[str, float]


class PPOLearner(PolicyLearner):
    """Actor-critic PPO learner (module docstring).

    Args:
        model_path: the initial policy (HF causal-LM folder); also the reference.
        loss: policy-loss settings (clip, KL coefficient/estimator/placement, entropy, agg).
        ppo: critic, GAE, mini-batch, KL-control and PPO-ptx settings.
        critic_path: folder the critic starts from (None: ``model_path``).
        critic_lr: critic learning rate (None: ``lr``).
        ptx: None, or how to read the PPO-ptx data: ``{"files", "fields", "format",
            "max_length"}`` (fields: a `rlfb.config.RecordFields`).
        **kwargs: `PolicyLearner` options (lr, lora, dtype, seed, micro_batch_size ...).
    """

    def __init__(self, model_path: str, loss: LossSettings, ppo: PPOSettings, *,
                 critic_path: str | None = None, critic_lr: float | None = None,
                 ptx: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(model_path, loss, **kwargs)
        self.ppo = ppo
        self.critic = Critic(
            critic_path or model_path, pad_token_id=int(self.tokenizer.pad_token_id),
            lora=self.lora, lr=critic_lr or kwargs.get("lr", 1e-6),
            weight_decay=kwargs.get("weight_decay", 0.0),
            betas=kwargs.get("betas", (0.9, 0.999)),
            max_grad_norm=kwargs.get("max_grad_norm", 1.0),
            warmup_steps=kwargs.get("warmup_steps", 0),
            lr_schedule=kwargs.get("lr_schedule", "constant"),
            total_steps=kwargs.get("total_steps", 0),
            dtype=DTYPES[kwargs.get("dtype", "float32")],
            gradient_checkpointing=kwargs.get("gradient_checkpointing", False),
            device=self.device, compute_dtype=self.compute_dtype)
        if ppo.kl_control == "adaptive":
            self.kl_ctl: FixedKLController = AdaptiveKLController(
                loss.kl_coef, target=ppo.kl_target, horizon=ppo.kl_horizon)
        else:
            self.kl_ctl = FixedKLController(loss.kl_coef)
        self.generator = torch.Generator().manual_seed(int(kwargs.get("seed", 0)))
        self.ptx_examples: list[Any] = []
        self.ptx_sampler: Any = None
        if ppo.ptx_coef > 0:
            self._load_ptx(ptx or {}, int(kwargs.get("seed", 0)))

    def _load_ptx(self, ptx: dict[str, Any], seed: int) -> None:
        from rlfb.data.base import PromptSampler
        from rlfb.data.records import Encoder, ListSource, load_examples

        if not ptx.get("files"):
            raise RlfbError("ppo.ptx_coef > 0 needs ppo.ptx_files (the pretraining/SFT data)")
        encoder = Encoder(self.tokenizer, ptx["fields"], max_length=ptx.get("max_length", 1024))
        self.ptx_examples = load_examples(ptx["files"], encoder, ptx.get("format"))
        self.ptx_sampler = PromptSampler(ListSource(self.ptx_examples), seed=seed)

    # -- the update ------------------------------------------------------------------------
    def update(self, batch: ExperienceBatch) -> dict[str, float]:
        """One PPO update on ``batch`` (needs ``batch.scores``); returns its metrics."""
        start = time.perf_counter()
        batch = to_device(batch, self.device)
        if batch.scores is None:
            raise RlfbError("the PPO learner needs per-sample scores (ExperienceBatch.scores); "
                            "build the batch with the loop's PPO path")
        exp = self._experience(batch)
        self.model.train()
        self.critic.model.train()
        steps: list[dict[str, float]] = []
        for _ in range(self.ppo_epochs):
            order = torch.randperm(batch.input_ids.shape[0],
                                   generator=self.generator).to(self.device)
            for rows in order.tensor_split(self.ppo.mini_batches):
                if len(rows) and batch.loss_mask[rows].any():
                    steps.append(self._step(batch, rows, exp))
        self.model.eval()
        self.critic.model.eval()
        kl = exp.stats.get("ppo/kl_seq")
        if kl is not None:
            self.kl_ctl.update(kl, n_steps=int(batch.loss_mask.any(-1).sum()))
        self.version += 1
        out = {k: sum(s[k] for s in steps) / len(steps) for k in (steps[0] if steps else {})}
        out.update(exp.stats)
        out.update({"learner/optimizer_steps": float(len(steps)),
                    "learner/lr": self.scheduler.get_last_lr()[0],
                    "ppo/kl_coef_next": self.kl_ctl.value, "learner/version": self.version,
                    "learner/update_s": time.perf_counter() - start, **self.memory_stats()})
        return out

    @torch.no_grad()
    def _experience(self, batch: ExperienceBatch) -> _Experience:
        """Old logprobs, reference logprobs, values, token rewards → GAE (steps 1-3)."""
        mask = batch.loss_mask
        chunks = _micro_batches(batch.attention_mask, self.micro_batch_size)
        old = self._logprobs_no_grad(batch, chunks)
        ref = self._reference_logprobs(batch, chunks) if self.loss.kl_coef > 0 else None
        values = torch.zeros_like(old)
        for rows in chunks:
            ids, attn, width = _slice(batch.input_ids, batch.attention_mask, rows)
            values[rows, :width] = self.critic.values(ids, attn)
        values = values * mask
        has_tokens = mask.bool().any(-1)
        scores = torch.where(has_tokens, batch.scores.float(), torch.nan)
        in_reward = ref is not None and self.loss.kl_in == "reward"
        rewards = assemble_token_rewards(
            scores, mask, logprobs=old if in_reward else None,
            ref_logprobs=ref if in_reward else None, kl_coef=self.kl_ctl.value,
            kl_estimator=self.loss.kl_estimator)
        if self.ppo.whiten_rewards:
            rewards = masked_whiten(rewards, mask, shift_mean=False)
        adv, returns = gae(rewards, values, mask, gamma=self.ppo.gamma, lam=self.ppo.lam)
        stats = {"ppo/returns_mean": float(masked_mean(returns, mask)),
                 "ppo/values_mean": float(masked_mean(values, mask)),
                 "ppo/advantages_raw_mean": float(masked_mean(adv, mask)),
                 "ppo/kl_coef": self.kl_ctl.value}
        if self.ppo.whiten_advantages:
            adv = masked_whiten(adv, mask)
        if ref is not None and bool(has_tokens.any()):
            seq_kl = ((old - ref) * mask).sum(-1)[has_tokens]
            stats["ppo/kl_seq"] = float(seq_kl.mean())
        return _Experience(old, ref, values, adv, returns, stats)

    def _step(self, batch: ExperienceBatch, rows: torch.Tensor, exp: _Experience
              ) -> dict[str, float]:
        """One optimiser step of policy and critic on the mini-batch ``rows``."""
        self.optimizer.zero_grad(set_to_none=True)
        self.critic.optimizer.zero_grad(set_to_none=True)
        mask = batch.loss_mask
        agg = self.loss.loss_agg
        denominator = max(batch_denominator(mask[rows], agg), 1.0)
        norm = self.loss.agg_norm_length or batch.input_ids.shape[1]
        in_loss = exp.ref is not None and self.loss.kl_in == "loss"
        settings = dataclasses.replace(self.loss, kl_coef=self.kl_ctl.value if in_loss else 0.0)
        sums: dict[str, float] = {}
        for sub in _micro_batches(batch.attention_mask[rows], self.micro_batch_size):
            r = rows[sub]
            if not mask[r].any():
                continue
            ids, attn, width = _slice(batch.input_ids, batch.attention_mask, r)
            cut = (r, slice(0, width))
            logp, entropy = self._forward(self.model, ids, attn, mask[cut])
            pg, stats = policy_objective(
                logp=logp, old_logp=exp.old[cut], behaviour_logp=batch.old_logprobs[cut],
                advantages=exp.advantages[cut], mask=mask[cut],
                ref_logp=exp.ref[cut] if in_loss else None, entropy=entropy,
                denominator=denominator, settings=settings, norm_length=norm)
            vout = clipped_value_loss(self.critic.values(ids, attn), exp.values[cut],
                                      exp.returns[cut], mask[cut], clip_range=self.ppo.value_clip)
            vloss = aggregate(vout.loss, mask[cut], mode=agg, norm_length=norm,
                              denominator=denominator)
            (pg + self.ppo.value_coef * vloss).backward()
            n = stats["tokens"]
            stats["learner/value_loss"] = float(vloss.detach())
            stats["learner/value_clip_frac"] = float(vout.stats["clip_frac"]) * n
            stats["learner/value_mse"] = float(vout.stats["mse"]) * n
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + value
        if self.ppo.ptx_coef > 0:
            sums["learner/ptx_loss"] = self._ptx_backward()
        sums["learner/grad_norm"] = float(torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.max_grad_norm))
        sums["learner/critic_grad_norm"] = self.critic.step()
        self.optimizer.step()
        self.scheduler.step()
        return _per_token(sums)

    def _ptx_backward(self) -> float:
        """Back-propagate ``ptx_coef`` x the mean NLL of the next PPO-ptx rows; returns the NLL."""
        from rlfb.data.records import token_batch
        from rlfb.learner.sft import nll_sum

        idx = self.ptx_sampler.next_indices(self.ppo.ptx_batch_size)
        tb = token_batch([self.ptx_examples[i] for i in idx], int(self.tokenizer.pad_token_id))
        tb = to_device(tb, self.device)
        with autocast(self.device, self.compute_dtype):
            nll, tokens = nll_sum(self.model, tb, torch.arange(len(idx), device=self.device),
                                  method=self.packing, logits_chunk=self.logits_chunk)
        mean = nll / max(tokens, 1.0)
        (self.ppo.ptx_coef * mean).backward()
        return float(mean.detach())

    # -- checkpoints -----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Policy and optimiser (as `PolicyLearner`), critic, KL coefficient, generator and
        PPO-ptx position."""
        super().save(path)
        self.critic.save(Path(path) / "critic")
        torch.save({"kl": self.kl_ctl.state_dict(), "generator": self.generator.get_state(),
                    "ptx": self.ptx_sampler.state_dict() if self.ptx_sampler else None},
                   Path(path) / "ppo_state.pt")

    def load(self, path: str | Path) -> None:
        """Restore what `save` wrote."""
        super().load(path)
        self.critic.load(Path(path) / "critic")
        state = torch.load(Path(path) / "ppo_state.pt", weights_only=False)
        self.kl_ctl.load_state_dict(state["kl"])
        self.generator.set_state(state["generator"])
        if self.ptx_sampler is not None and state["ptx"] is not None:
            self.ptx_sampler.load_state_dict(state["ptx"])


def _per_token(sums: dict[str, float]) -> dict[str, float]:
    """Token-weighted sums of one step → means (losses are already batch-normalised)."""
    tokens = max(sums.pop("tokens", 0.0), 1.0)
    keep = ("learner/loss", "learner/value_loss", "learner/ptx_loss", "learner/grad_norm",
            "learner/critic_grad_norm")
    out = {k: (v if k in keep else v / tokens) for k, v in sums.items()}
    out["learner/tokens"] = tokens
    return out
