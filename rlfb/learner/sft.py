"""Supervised fine-tuning (warm starts) and the language-modelling loss PPO-ptx mixes in.

The loss is the mean negative log-likelihood of the target tokens of a `TokenBatch`: the
completion of a (prompt, completion) example, never its prompt. Prompt positions are not in the
loss mask, so with the packed forward their logits are not even computed, and in every layout
they get no gradient (tested). The mean is over the whole batch's target tokens, counted before
the batch is split into micro-batches, so 8 rows in one pass give the gradient of 8 passes of
one row.

`SFTLearner` is a `PolicyLearner` (model loading, LoRA, optimiser, schedule, weights for sync
and checkpoints are shared); only the update differs.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from rlfb.device import autocast, to_device
from rlfb.learner.objective import LossSettings
from rlfb.learner.policy import PolicyLearner, _micro_batches, _slice
from rlfb.types import TokenBatch


def nll_sum(model: Any, batch: TokenBatch, rows: torch.Tensor, *, method: str = "packed",
            logits_chunk: int | None = None) -> tuple[torch.Tensor, float]:
    """``(sum of -log p over the target tokens of rows, their count)``; differentiable.
    ``logits_chunk`` as in `rlfb.learner.logprobs`."""
    from rlfb.learner.logprobs import sequence_logprobs

    ids, attn, width = _slice(batch.input_ids, batch.attention_mask, rows)
    mask = batch.loss_mask[rows, :width]
    logp = sequence_logprobs(model, ids, attn, mask, method=method, logits_chunk=logits_chunk)
    return -(logp * mask).sum(), float(mask.sum())


class SFTLearner(PolicyLearner):
    """Trains a causal LM on target tokens (next-token cross-entropy, prompt masked).

    Args:
        model_path: HF causal-LM folder.
        **kwargs: the optimiser, LoRA, dtype, schedule and packing options of `PolicyLearner`
            (``ppo_epochs`` does not apply).
    """

    def __init__(self, model_path: str, **kwargs: Any) -> None:
        super().__init__(model_path, LossSettings(), **kwargs)

    def update(self, batch: TokenBatch) -> dict[str, float]:  # type: ignore[override]
        """One optimiser step on ``batch``; returns loss, token count, grad norm, lr."""
        start = time.perf_counter()
        batch = to_device(batch, self.device)
        tokens = float(batch.loss_mask.sum())
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for rows in _micro_batches(batch.attention_mask, self.micro_batch_size):
            if not batch.loss_mask[rows].any():
                continue
            nll, _ = self._nll_sum(batch, rows)
            (nll / max(tokens, 1.0)).backward()
            total += float(nll.detach())
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.model.eval()
        self.version += 1
        return {"learner/loss": total / max(tokens, 1.0), "learner/tokens": tokens,
                "learner/grad_norm": float(grad_norm),
                "learner/lr": self.scheduler.get_last_lr()[0], "learner/version": self.version,
                "learner/update_s": time.perf_counter() - start, **self.memory_stats()}

    def _nll_sum(self, batch: TokenBatch, rows: torch.Tensor) -> tuple[torch.Tensor, float]:
        """`nll_sum` of ``rows`` with this learner's layout, chunking and precision."""
        with autocast(self.device, self.compute_dtype):
            return nll_sum(self.model, batch, rows, method=self.packing,
                           logits_chunk=self.logits_chunk)

    @torch.no_grad()
    def evaluate(self, batch: TokenBatch) -> dict[str, float]:
        """Summed target NLL and token count of ``batch`` (no update), to be pooled over
        batches: ``{"nll_sum", "tokens"}``."""
        total, tokens = 0.0, 0.0
        batch = to_device(batch, self.device)
        for rows in _micro_batches(batch.attention_mask, self.micro_batch_size):
            nll, n = self._nll_sum(batch, rows)
            total += float(nll)
            tokens += n
        return {"nll_sum": total, "tokens": tokens}
