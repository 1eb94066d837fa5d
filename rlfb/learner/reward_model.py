"""The reward-model learner: a scalar sequence classifier fitted to preference pairs.

The model is ``AutoModelForSequenceClassification`` with one label, started from any HF
checkpoint (a causal LM's body gets a fresh score head). Each step scores the chosen and the
rejected completion of every pair in one forward pass and minimises the Bradley-Terry loss
``−log σ(s_chosen − s_rejected − margin)`` (InstructGPT; the margin is Llama 2's, per pair),
from `rlfb.algo.preference.bradley_terry_loss`. How the text is rendered (``template``) and how
the model is loaded are shared with the ``reward_model`` reward (`rlfb.models.reward_model`), so
the reward scores text exactly as it was trained on.

`RewardModelLearner.export` writes the trained model in HF format with
``rlfb_reward_model.json`` (template, max_length), the folder the ``reward_model`` reward reads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from rlfb.device import autocast, peak_memory, resolve_device
from rlfb.device import compute_dtype as compute_dtype_of
from rlfb.learner.policy import scheduled_adamw
from rlfb.models.reward_model import (
    DTYPES,
    META_FILE,
    encode,
    load_reward_model,
    render,
    resolve_template,
)


def pair_scores(model: Any, tokenizer: Any, pairs: Sequence[Any], template: str,
                max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[B]`` of the chosen and of the rejected completions, in one forward pass."""
    texts = [render(tokenizer, p.prompt, p.chosen, template) for p in pairs]
    texts += [render(tokenizer, p.prompt, p.rejected, template) for p in pairs]
    batch = encode(tokenizer, texts, template, max_length).to(next(model.parameters()).device)
    scores = model(**batch).logits.squeeze(-1).float()
    return scores[: len(pairs)], scores[len(pairs):]


class RewardModelLearner:
    """Trains a reward model on `rlfb.data.records.PreferencePair` batches.

    Args:
        model_path: HF folder to start from (a causal LM or a sequence classifier).
        template: "auto", "chat" or "concat" (`rlfb.models.reward_model`).
        max_length: tokens per rendered (prompt, completion); longer texts lose their start.
        lr, weight_decay, betas, max_grad_norm, warmup_steps, lr_schedule, total_steps: AdamW,
            gradient clipping and the schedule (`rlfb.learner.policy.scheduled_adamw`).
        micro_batch_size: pairs per forward/backward (2 sequences each); gradients accumulate
            into one optimiser step per batch.
        dtype: parameter dtype, "float32", "bfloat16" or "float16".
        seed: seeds the score head's initialisation.
        device: "auto", "cpu", "cuda" or "cuda:N" (`rlfb.device.resolve_device`): where the
            model, optimiser states and batches live.
        compute_dtype: "float32", or "bfloat16" for forward passes under autocast
            (`rlfb.device`).
    """

    def __init__(self, model_path: str, *, template: str = "auto", max_length: int = 512,
                 lr: float = 1e-5, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), max_grad_norm: float = 1.0,
                 warmup_steps: int = 0, lr_schedule: str = "constant", total_steps: int = 0,
                 micro_batch_size: int = 8, dtype: str = "float32", seed: int = 0,
                 device: str = "auto", compute_dtype: str = "float32") -> None:
        torch.manual_seed(seed)
        self.device = resolve_device(device)
        self.compute_dtype = compute_dtype_of(compute_dtype)
        self.model, self.tokenizer = load_reward_model(model_path, DTYPES[dtype])
        self.model.to(self.device)
        self.template = resolve_template(template, self.tokenizer)
        self.max_length = max_length
        self.max_grad_norm = max_grad_norm
        self.micro_batch_size = micro_batch_size
        self.optimizer, self.scheduler = scheduled_adamw(
            list(self.model.parameters()), lr=lr, betas=betas, weight_decay=weight_decay,
            warmup_steps=warmup_steps, total_steps=total_steps, lr_schedule=lr_schedule)
        self.version = 0

    def _losses(self, pairs: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from rlfb.algo.preference import bradley_terry_loss

        with autocast(self.device, self.compute_dtype):
            chosen, rejected = pair_scores(self.model, self.tokenizer, pairs, self.template,
                                           self.max_length)
        margins = torch.tensor([p.margin for p in pairs], dtype=chosen.dtype,
                               device=chosen.device)
        return bradley_terry_loss(chosen, rejected, margin=margins).losses, chosen, rejected

    def update(self, pairs: Sequence[Any]) -> dict[str, float]:
        """One optimiser step on ``pairs``: mean loss, pairwise accuracy, margin, grad norm."""
        start = time.perf_counter()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, wins, margin = 0.0, 0.0, 0.0
        for i in range(0, len(pairs), self.micro_batch_size):
            chunk = pairs[i:i + self.micro_batch_size]
            losses, chosen, rejected = self._losses(chunk)
            (losses.sum() / len(pairs)).backward()
            loss_sum += float(losses.detach().sum())
            wins += float((chosen > rejected).sum())
            margin += float((chosen - rejected).detach().sum())
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.model.eval()
        self.version += 1
        n = max(len(pairs), 1)
        return {"learner/loss": loss_sum / n, "learner/pair_accuracy": wins / n,
                "learner/reward_margin": margin / n, "learner/grad_norm": float(grad_norm),
                "learner/lr": self.scheduler.get_last_lr()[0], "learner/version": self.version,
                "learner/update_s": time.perf_counter() - start,
                **{f"perf/learner/{k}": v for k, v in peak_memory(self.device).items()}}

    @torch.no_grad()
    def evaluate(self, pairs: Sequence[Any]) -> dict[str, float]:
        """Sums over ``pairs`` (no update), pooled over batches by the caller: ``pairs``,
        ``loss``, ``reward_accuracy`` (chosen scored higher; ties count as wrong) and
        ``reward_margin``."""
        was_training = self.model.training
        self.model.eval()
        losses, chosen, rejected = self._losses(pairs)
        self.model.train(was_training)
        return {"pairs": float(len(pairs)), "loss": float(losses.sum()),
                "reward_accuracy": float((chosen > rejected).sum()),
                "reward_margin": float((chosen - rejected).sum())}

    def export(self, out: str | Path) -> Path:
        """Write the model in HF format with its metadata, for the ``reward_model`` reward."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))
        meta = {"template": self.template, "max_length": self.max_length,
                "trained_by": "rlfb train (algo.name: reward_model)"}
        (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return out

    def save(self, path: str | Path) -> None:
        """Checkpoint: the model (HF folder), optimizer and scheduler."""
        path = Path(path)
        self.export(path / "model")
        torch.save({"optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "version": self.version},
                   path / "optimizer.pt")

    def load(self, path: str | Path) -> None:
        """Restore what `save` wrote."""
        from safetensors.torch import load_file

        from rlfb.checkpoint import check_loaded_keys

        path = Path(path)
        check_loaded_keys(self.model, *self.model.load_state_dict(
            load_file(path / "model" / "model.safetensors"), strict=False), path, "reward model")
        state = torch.load(path / "optimizer.pt", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.version = state["version"]
