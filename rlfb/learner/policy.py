"""The policy learner role: loss, optimisation, reference model, weights for sync, checkpoints.

One `update(batch)` is one optimiser step per PPO epoch over an `ExperienceBatch`, split into
micro-batches of similar length (rows sorted by length, so padding is small) with gradient
accumulation. The loss aggregation weights are computed on the whole batch before it is split, so
a batch of 8 rows gives the same gradient as 8 micro-batches of 1 row (tested).

Under LoRA (peft) only the adapters train, the reference policy is the same model with adapters
disabled, and `named_weights` yields either the adapter tensors alone (``lora["sync"] ==
"adapter"``, for an engine that loads adapters) or merged weights (W + BA·scale) under the base
model's names, ready for an engine that knows nothing of adapters (`rlfb.rollout.lora`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from functools import partial
from pathlib import Path
from typing import Any, Iterator

import torch

from rlfb.algo.kl_reward import kl_penalized_scores, outcome_advantages_with_kl
from rlfb.device import autocast, peak_memory, resolve_device, to_device
from rlfb.device import compute_dtype as compute_dtype_of
from rlfb.errors import RlfbError
from rlfb.learner.objective import LossSettings, batch_denominator, policy_objective
from rlfb.types import ExperienceBatch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class PolicyLearner:
    """Trains a causal LM with a policy-gradient loss.

    Args:
        model_path: HF causal-LM folder.
        loss: the objective's settings (clipping, KL, entropy, aggregation, TIS).
        lr, weight_decay, betas, max_grad_norm, warmup_steps: AdamW and clipping.
        micro_batch_size: rows per forward/backward.
        ppo_epochs: passes over each batch (1 = on-policy, the ratio is then exactly 1).
        lora: None for full fine-tuning, else a dict with rank, alpha, dropout, target_modules.
        dtype: parameter dtype name (float32: the master weights of mixed precision).
        seed: seeds torch before the model and adapters are built.
        gradient_checkpointing: trade compute for memory (HF ``gradient_checkpointing_enable``;
            every forward pass here runs with ``use_cache=False``).
        device: "auto", "cpu", "cuda" or "cuda:N" (`rlfb.device.resolve_device`); the model,
            reference, optimiser states and every batch live there.
        compute_dtype: "float32", or "bfloat16" to run forward passes under autocast while the
            parameters and optimiser states keep ``dtype`` (`rlfb.device`).
        logits_chunk: positions per chunk of the vocabulary projection
            (`rlfb.learner.logprobs`; 0 = all at once, None = its default).
        lr_schedule: "constant", or "linear" / "cosine" decay to 0 at ``total_steps``.
        packing: forward-pass layout ("packed", "bucketed", "padded"; see `rlfb.learner.logprobs`).
        advantage, advantage_options: the outcome estimator (registry name) and its options.
            With the KL in the reward (``loss.kl_in == "reward"``, ``loss.kl_coef > 0``) the
            learner, which holds the reference model, folds the per-token KL into the batch's
            ``scores`` and recomputes the advantages with it (`rlfb.algo.kl_reward`).
    """

    def __init__(self, model_path: str, loss: LossSettings, *, lr: float = 1e-6,
                 weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
                 max_grad_norm: float = 1.0, warmup_steps: int = 0, micro_batch_size: int = 8,
                 ppo_epochs: int = 1, lora: dict[str, Any] | None = None, dtype: str = "float32",
                 seed: int = 0, gradient_checkpointing: bool = False,
                 lr_schedule: str = "constant", total_steps: int = 0,
                 packing: str = "packed", advantage: str | None = None,
                 advantage_options: dict[str, Any] | None = None, device: str = "auto",
                 compute_dtype: str = "float32", logits_chunk: int | None = None) -> None:
        from rlfb.models.load import load_policy

        torch.manual_seed(seed)
        self.device = resolve_device(device)
        self.compute_dtype = compute_dtype_of(compute_dtype)
        self.logits_chunk = logits_chunk
        self.loss = loss
        self.micro_batch_size = micro_batch_size
        self.ppo_epochs = ppo_epochs
        self.max_grad_norm = max_grad_norm
        self.model, self.tokenizer = load_policy(model_path, dtype=DTYPES[dtype])
        self.model.to(self.device)
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.lora = lora
        self.ref_model = None
        if lora:
            self.model = _apply_lora(self.model, lora)
        elif loss.kl_coef > 0:
            self.ref_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer, self.scheduler = scheduled_adamw(
            params, lr=lr, betas=betas, weight_decay=weight_decay, warmup_steps=warmup_steps,
            total_steps=total_steps, lr_schedule=lr_schedule)
        self.packing = packing
        self.advantage = advantage
        self.advantage_options = dict(advantage_options or {})
        self.version = 0
        #: the data-parallel group (`rlfb.learner.distributed.RankGroup`), or None alone
        self.parallel: Any = None

    # -- training --------------------------------------------------------------------------
    def update(self, batch: ExperienceBatch) -> dict[str, float]:
        """One update on ``batch``; returns metrics (loss, clip fraction, KL, entropy ...)."""
        start = time.perf_counter()
        batch = to_device(batch, self.device)
        ref = old = None
        shaped: dict[str, float] = {}
        if self.loss.kl_in == "reward" and self.loss.kl_coef > 0:
            batch, old, ref, shaped = self._fold_kl_into_rewards(batch)
        denominator = batch_denominator(batch.loss_mask, self.loss.loss_agg)
        rows = learning_rows(batch.loss_mask, batch.advantages, self.loss)
        chunks = _micro_batches(batch.attention_mask, self.micro_batch_size, rows) \
            if self.parallel is None else \
            self.parallel.own_micro_batches(batch.attention_mask, self.micro_batch_size, rows)
        if ref is None and self.loss.kl_coef > 0:
            ref = self._reference_logprobs(batch, chunks)
        if self.ppo_epochs == 1:
            old = None  # one on-policy pass: the ratio is exactly 1
        elif old is None:
            old = self._logprobs_no_grad(batch, chunks)
        self.model.train()
        stats: dict[str, float] = {}
        for _ in range(self.ppo_epochs):
            stats = self._epoch(batch, chunks, denominator, old, ref)
        self.model.eval()
        stats.update(shaped)
        self.version += 1
        stats["learner/rows_skipped"] = float(batch.input_ids.shape[0] - len(rows))
        stats["learner/update_s"] = time.perf_counter() - start
        stats["learner/lr"] = self.scheduler.get_last_lr()[0]
        stats["learner/version"] = self.version
        stats.update(self.memory_stats())
        return stats

    def memory_stats(self) -> dict[str, float]:
        """``perf/learner/peak_rss_gb`` of this process and, on CUDA,
        ``perf/learner/cuda_max_allocated_gb`` (`rlfb.device.peak_memory`); under ``perf/``
        with the other machine-dependent figures. With the local executor every role shares
        this process, so its peak is theirs too."""
        return {f"perf/learner/{k}": v for k, v in peak_memory(self.device).items()}

    @torch.no_grad()
    def _fold_kl_into_rewards(self, batch: ExperienceBatch
                              ) -> tuple[ExperienceBatch, torch.Tensor, torch.Tensor,
                                         dict[str, float]]:
        """KL in the reward: the batch with advantages recomputed from ``scores`` minus
        ``kl_coef`` x the per-token KL of this policy (before the update) to the reference;
        also returns those two logprobs ``[B, T]`` and the penalty's statistics."""
        if batch.scores is None or batch.group_ids is None:
            raise RlfbError("algo.kl_in=reward: the learner folds the KL into the rewards, so the "
                            "batch needs scores and group_ids (the training loop sets them)")
        if self.advantage is None:
            raise RlfbError("algo.kl_in=reward: the learner needs the advantage estimator "
                            "(PolicyLearner(advantage=...)) to recompute the advantages")
        mask = batch.loss_mask
        has_tokens = mask.bool().any(-1)
        chunks = _micro_batches(batch.attention_mask, self.micro_batch_size,
                                torch.nonzero(has_tokens).flatten())
        old = self._logprobs_no_grad(batch, chunks)
        ref = self._reference_logprobs(batch, chunks)
        adv = outcome_advantages_with_kl(
            batch.scores, batch.group_ids, old, ref, mask, estimator=self.advantage,
            options=self.advantage_options, coef=self.loss.kl_coef,
            kl_estimator=self.loss.kl_estimator)
        penalty = -kl_penalized_scores(torch.zeros(mask.shape[0]), old, ref, mask,
                                       coef=self.loss.kl_coef, estimator=self.loss.kl_estimator)
        stats = {"learner/kl_reward_penalty": float(penalty[has_tokens].mean())
                 if bool(has_tokens.any()) else 0.0}
        return dataclasses.replace(batch, advantages=adv.to(batch.advantages.dtype)), old, ref, \
            stats

    def _epoch(self, batch: ExperienceBatch, chunks: list[torch.Tensor], denominator: float,
               old: torch.Tensor | None, ref: torch.Tensor | None) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        for rows in chunks:
            if rows.numel() == 0:  # a data-parallel rank with less work keeps in step
                self.parallel.idle_step(self.model, backward=True)
                continue
            ids, attn, width = _slice(batch.input_ids, batch.attention_mask, rows)
            cut = (rows, slice(0, width))
            logp, entropy = self._forward(self.model, ids, attn, batch.loss_mask[cut])
            loss, stats = policy_objective(
                logp=logp, old_logp=None if old is None else old[cut],
                behaviour_logp=batch.old_logprobs[cut], advantages=batch.advantages[cut],
                mask=batch.loss_mask[cut], ref_logp=None if ref is None else ref[cut],
                entropy=entropy, denominator=denominator, settings=self.loss,
                norm_length=self.loss.agg_norm_length or batch.input_ids.shape[1])
            loss.backward()
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not chunks:  # nothing to learn from: a zero gradient, so AdamW's moments still step
            for p in params:
                p.grad = torch.zeros_like(p)
        if self.parallel is not None:
            self.parallel.reduce_gradients(params)
            totals = self.parallel.sum_stats(totals)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        return _finish_stats(totals, float(grad_norm))

    def _forward(self, model: Any, ids: torch.Tensor, attn: torch.Tensor, mask: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Packed forward pass; logits are computed only where ``mask`` (the loss mask) is 1.
        The entropies carry a gradient only when the loss has an entropy term."""
        from rlfb.learner.logprobs import logprobs_and_entropy

        with autocast(self.device, self.compute_dtype):
            return logprobs_and_entropy(
                model, ids, attn, mask, temperature=self.loss.temperature, method=self.packing,
                max_tokens=None if self.parallel is None else self.parallel.forward_tokens(ids),
                logits_chunk=self.logits_chunk, entropy_grad=bool(self.loss.entropy_coef))

    @torch.no_grad()
    def _logprobs_no_grad(self, batch: ExperienceBatch, chunks: list[torch.Tensor],
                          reference: bool = False) -> torch.Tensor:
        out = torch.zeros_like(batch.old_logprobs)
        for rows in chunks:
            if rows.numel() == 0:  # a data-parallel rank with less work keeps in step
                self.parallel.idle_step(self.ref_model if reference and self.ref_model
                                        is not None else self.model, backward=False)
                continue
            ids, attn, width = _slice(batch.input_ids, batch.attention_mask, rows)
            mask = batch.loss_mask[rows, :width]
            if reference and self.ref_model is not None:
                logp, _ = self._forward(self.ref_model, ids, attn, mask)
            elif reference:
                with self.model.disable_adapter():
                    logp, _ = self._forward(self.model, ids, attn, mask)
            else:
                logp, _ = self._forward(self.model, ids, attn, mask)
            out[rows, :width] = logp
        return out

    def _reference_logprobs(self, batch: ExperienceBatch, chunks: list[torch.Tensor]
                            ) -> torch.Tensor:
        return self._logprobs_no_grad(batch, chunks, reference=True)

    # -- weights and checkpoints -----------------------------------------------------------
    def named_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The current policy for a weight sync: full weights under the base model's parameter
        names, or under LoRA with ``lora["sync"] == "adapter"`` only the adapter tensors
        (`rlfb.models.load.adapter_weights`, for engines that take adapters,
        `rlfb.rollout.lora`)."""
        if self.lora and self.lora.get("sync") == "adapter":
            from rlfb.models.load import adapter_weights

            yield from adapter_weights(self.model)
        elif self.lora:
            yield from _merged_lora_weights(self.model)
        else:
            yield from ((n, t.detach()) for n, t in self.model.state_dict().items())

    def save(self, path: str | Path) -> None:
        """Write the policy (HF folder, or PEFT adapter), optimizer and scheduler."""
        path = Path(path)
        self.model.save_pretrained(path / "model")
        self.tokenizer.save_pretrained(path / "model")
        torch.save({"optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "version": self.version},
                   path / "optimizer.pt")

    def load(self, path: str | Path) -> None:
        """Restore what `save` wrote (the model architecture must match)."""
        from safetensors.torch import load_file

        from rlfb.checkpoint import check_loaded_keys, load_optimizer_state

        path = Path(path)
        if self.lora:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, load_file(path / "model" /
                                                            "adapter_model.safetensors"))
        else:
            state = load_file(path / "model" / "model.safetensors")
            check_loaded_keys(self.model, *self.model.load_state_dict(state, strict=False), path)
        saved = load_optimizer_state(self.model, self.optimizer, path)
        self.scheduler.load_state_dict(saved["scheduler"])
        self.version = saved["version"]


_FUSED_DEVICES = ("cpu", "cuda")


def adamw(params: list[torch.nn.Parameter], **options: Any) -> torch.optim.AdamW:
    """AdamW with PyTorch's fused kernel where every parameter allows it (floating point, on
    CPU or CUDA), else its default implementation: the same update to within float rounding,
    several times faster than the per-tensor loop on CPU (docs/performance.md)."""
    fused = bool(params) and all(p.is_floating_point() and p.device.type in _FUSED_DEVICES
                                 for p in params)
    return torch.optim.AdamW(params, fused=fused or None, **options)


def scheduled_adamw(params: list[torch.nn.Parameter], *, lr: float, betas: Any,
                    weight_decay: float, warmup_steps: int, total_steps: int,
                    lr_schedule: str) -> tuple[torch.optim.AdamW, Any]:
    """`adamw` over ``params`` and its learning-rate schedule (`lr_factor`): the optimiser
    every learner (policy, critic, reward model) steps."""
    optimizer = adamw(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, partial(lr_factor, warmup=warmup_steps, total=total_steps,
                           schedule=lr_schedule))
    return optimizer, scheduler


def lr_factor(step: int, *, warmup: int, total: int, schedule: str) -> float:
    """Learning-rate multiplier after ``step`` optimiser steps: linear warm-up over ``warmup``
    steps, then constant or a linear/cosine decay reaching 0 at ``total``.

    >>> [round(lr_factor(s, warmup=2, total=6, schedule="linear"), 3) for s in range(6)]
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
    """
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr_schedule {schedule!r}; use constant, linear or cosine")


def _finish_stats(totals: dict[str, float], grad_norm: float) -> dict[str, float]:
    """Token-weighted sums → means; the loss is already a sum of micro-batch parts."""
    tokens = max(totals.pop("tokens", 0.0), 1.0)
    out = {k: (v if k == "learner/loss" else v / tokens) for k, v in totals.items()}
    out["learner/grad_norm"] = grad_norm
    out["learner/tokens"] = tokens
    return out


#: Policy losses whose per-token loss is a multiple of the advantage, so that a row whose
#: advantages are all 0 has exactly zero gradient.
ADVANTAGE_LINEAR_LOSSES = frozenset({"ppo_clip", "gspo"})


def learning_rows(loss_mask: torch.Tensor, advantages: torch.Tensor, loss: LossSettings
                  ) -> torch.Tensor:
    """Indices of the rows whose forward/backward can change the update.

    A row with no valid token never can. A row whose advantages are all 0 (a GRPO group where
    every sample got the same reward) adds exactly zero gradient when the loss is linear in the
    advantage and has no KL or entropy term, so it is skipped too: the update is the same (the
    aggregation denominator still counts it), only cheaper. The learner's token statistics
    (entropy, clip fraction) are then means over the rows that were run.

    >>> s = LossSettings()
    >>> learning_rows(torch.ones(3, 2), torch.tensor([[0., 0.], [1., 1.], [0., 0.]]), s).tolist()
    [1]
    """
    valid = loss_mask.bool()
    keep = valid.any(dim=1)
    idle_when_zero = (loss.policy_loss in ADVANTAGE_LINEAR_LOSSES and not loss.entropy_coef
                      and (loss.kl_coef == 0 or loss.kl_in != "loss"))
    if idle_when_zero:
        keep &= ((advantages != 0) & valid).any(dim=1)
    return torch.nonzero(keep).flatten()


def _micro_batches(attention_mask: torch.Tensor, size: int,
                   rows: torch.Tensor | None = None) -> list[torch.Tensor]:
    """``rows`` (default: all) grouped into micro-batches of similar length (stable sort,
    deterministic)."""
    if rows is None:
        rows = torch.arange(attention_mask.shape[0])
    lengths = attention_mask[rows].sum(dim=1)
    order = rows[torch.argsort(lengths, stable=True)]
    return [order[i:i + size] for i in range(0, len(order), size)]


def _slice(ids: torch.Tensor, attn: torch.Tensor, rows: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The rows, cut to their longest real length (right padding beyond it is dropped)."""
    width = int(attn[rows].sum(dim=1).max())
    return ids[rows, :width], attn[rows, :width], width


def _apply_lora(model: Any, lora: dict[str, Any], task_type: str = "CAUSAL_LM") -> Any:
    """``model`` with peft LoRA adapters (rank, alpha, dropout, target_modules of ``lora``)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=int(lora.get("rank", 8)), lora_alpha=float(lora.get("alpha", 16)),
                        lora_dropout=float(lora.get("dropout", 0.0)),
                        target_modules=list(lora.get("target_modules") or ["q_proj", "v_proj"]),
                        task_type=task_type)
    return get_peft_model(model, config)


def _merged_lora_weights(model: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """Base-model names → weights with each LoRA delta added (the model is not modified)."""
    from peft.tuners.lora import LoraLayer

    deltas = {}
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer) and module.active_adapters:
            adapter = module.active_adapters[0]
            deltas[f"{name}.base_layer.weight"] = module.get_delta_weight(adapter)
    for name, tensor in model.state_dict().items():
        if "lora_" in name:
            continue
        value = tensor.detach()
        if name in deltas:
            value = value + deltas[name].to(value.dtype)
        clean = name.removeprefix("base_model.model.").replace(".base_layer.", ".")
        yield clean, value
