"""The PPO critic: a separate model, a transformer backbone with a scalar value head per token.

It loads as ``AutoModelForTokenClassification(num_labels=1)`` from the policy's initial folder
(a new head on the policy's backbone) or from any compatible folder, such as a reward model
(InstructGPT initialises the value function from the reward model); a sequence-classification
checkpoint's ``score`` head has the same shape and is kept. Dropout in the head is off, so
values are deterministic.

Alignment: ``values[b, t]`` is the value of the state *before* token t (the prefix
``input_ids[b, :t]``), read from the hidden state at position t-1, so it sits at the same
position as the logprob of token t (`rlfb.learner.logprobs`) and as the token reward.

The critic has its own AdamW optimiser and learning-rate schedule; under LoRA it trains
adapters on its backbone plus the full head (peft's token-classification task).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rlfb.device import autocast
from rlfb.learner.policy import _apply_lora, scheduled_adamw


def load_value_model(path: str, dtype: torch.dtype, pad_token_id: int) -> Any:
    """A backbone + scalar head from an HF folder (head newly initialised when absent)."""
    from transformers import AutoConfig, AutoModelForTokenClassification
    from transformers.utils import logging

    config = AutoConfig.from_pretrained(path, num_labels=1)
    config.classifier_dropout = 0.0
    if config.pad_token_id is None:
        config.pad_token_id = pad_token_id
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the new head is reported as "missing": expected here
    try:
        model = AutoModelForTokenClassification.from_pretrained(path, config=config, dtype=dtype)
    finally:
        logging.set_verbosity(verbosity)
    return model.eval()


class Critic:
    """The value model with its optimiser.

    Args:
        path: HF folder to start from.
        pad_token_id: the policy tokenizer's pad id.
        lora: None for full fine-tuning, else rank, alpha, dropout, target_modules.
        lr, weight_decay, betas, max_grad_norm, warmup_steps, lr_schedule, total_steps: AdamW,
            clipping and schedule (as `PolicyLearner`).
        dtype: parameter dtype.
        gradient_checkpointing: recompute activations in the backward pass.
        device: where the critic and its optimiser states live (a resolved ``torch.device``,
            the policy's).
        compute_dtype: autocast dtype of its forward passes (None: float32; `rlfb.device`).
    """

    def __init__(self, path: str, *, pad_token_id: int, lora: dict[str, Any] | None = None,
                 lr: float = 1e-6, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), max_grad_norm: float = 1.0,
                 warmup_steps: int = 0, lr_schedule: str = "constant", total_steps: int = 0,
                 dtype: torch.dtype = torch.float32, gradient_checkpointing: bool = False,
                 device: torch.device | None = None, compute_dtype: torch.dtype | None = None
                 ) -> None:
        self.device = device or torch.device("cpu")
        self.compute_dtype = compute_dtype
        self.model = load_value_model(path, dtype, pad_token_id).to(self.device)
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.lora = lora
        if lora:
            self.model = _apply_lora(self.model, lora, task_type="TOKEN_CLS")
        self.max_grad_norm = max_grad_norm
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer, self.scheduler = scheduled_adamw(
            self.params, lr=lr, betas=betas, weight_decay=weight_decay,
            warmup_steps=warmup_steps, total_steps=total_steps, lr_schedule=lr_schedule)

    def values(self, ids: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """``[b, w]`` values aligned with token logprobs (module docstring); rows must be
        right-padded. Differentiable; wrap in ``torch.no_grad()`` when no gradient is needed."""
        positions = (attn.long().cumsum(-1) - 1).clamp(min=0)
        with autocast(self.device, self.compute_dtype):
            out = self.model(input_ids=ids, attention_mask=attn, position_ids=positions,
                             use_cache=False).logits[..., 0].float()
        return torch.nn.functional.pad(out[:, :-1], (1, 0))

    def step(self) -> float:
        """Clip gradients, take an optimiser and schedule step; returns the gradient norm."""
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        return float(norm)

    def save(self, path: str | Path) -> None:
        """Write the critic (HF folder, or PEFT adapter and head) and its optimiser state."""
        path = Path(path)
        self.model.save_pretrained(path / "model")
        torch.save({"optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict()}, path / "optimizer.pt")

    def load(self, path: str | Path) -> None:
        """Restore what `save` wrote."""
        from safetensors.torch import load_file

        from rlfb.checkpoint import check_loaded_keys

        path = Path(path)
        if self.lora:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, load_file(path / "model" /
                                                            "adapter_model.safetensors"))
        else:
            check_loaded_keys(self.model, *self.model.load_state_dict(
                load_file(path / "model" / "model.safetensors"), strict=False), path, "critic")
        saved = torch.load(path / "optimizer.pt", weights_only=False)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
