"""The DPO learner: preference pairs → `rlfb.algo.preference` losses, offline or online.

Per pair, the policy's completion logprob (summed over completion tokens; averaged for IPO, as
the IPO paper and TRL do) is compared with the reference policy's. The reference is

- under LoRA: the same model with its adapters disabled (no extra copy);
- under full fine-tuning: a frozen copy of the initial policy (``reference="model"``, needed
  online, where new completions arrive every step), or nothing at all (``reference="cached"``,
  offline): the driver computes every pair's reference logprobs once, with the untrained
  policy, and passes them in each `PreferenceBatch`.

Pairs are split into micro-batches of ``micro_batch_size // 2`` pairs (both rows of a pair go
in the same forward pass); each pair's loss is divided by the number of pairs in the whole
batch, so micro-batching does not change the gradient.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch

from rlfb.algo.preference import dpo_loss, ipo_loss
from rlfb.device import to_device
from rlfb.errors import ConfigError, RlfbError
from rlfb.learner.objective import LossSettings
from rlfb.learner.policy import PolicyLearner, _slice
from rlfb.types import PreferenceBatch

LOSS_TYPES = ("sigmoid", "ipo")
_SUMS = ("loss", "reward_accuracy", "reward_margin", "chosen_rewards", "rejected_rewards",
         "chosen_logps", "rejected_logps", "logp_accuracy")


class DPOLearner(PolicyLearner):
    """Trains a causal LM on preference pairs with the DPO (or IPO, cDPO) loss.

    Args:
        model_path: HF causal-LM folder (the initial policy, which is also the reference).
        beta: DPO beta (IPO's tau), > 0.
        loss_type: "sigmoid" (DPO, cDPO with ``label_smoothing``) or "ipo".
        label_smoothing: cDPO's label-flip probability in [0, 0.5).
        reference: "model" keeps a reference (a frozen copy, or the LoRA base) to score new
            pairs; "cached" expects ``ref_logps`` in every batch after the first update.
        **kwargs: the optimiser, LoRA, dtype, schedule and packing options of `PolicyLearner`.
    """

    def __init__(self, model_path: str, *, beta: float = 0.1, loss_type: str = "sigmoid",
                 label_smoothing: float = 0.0, reference: str = "model", **kwargs: Any) -> None:
        if loss_type not in LOSS_TYPES:
            raise ConfigError(f"unknown DPO loss {loss_type!r}; use one of {LOSS_TYPES}")
        if reference not in ("model", "cached"):
            raise ConfigError(f"reference must be 'model' or 'cached', got {reference!r}")
        super().__init__(model_path, LossSettings(), **kwargs)
        self.beta = beta
        self.loss_type = loss_type
        self.label_smoothing = label_smoothing
        if reference == "model" and not self.lora:
            self.ref_model = copy.deepcopy(self.model).eval().requires_grad_(False)

    # -- reference -------------------------------------------------------------------------
    @torch.no_grad()
    def reference_logps(self, batch: PreferenceBatch) -> torch.Tensor:
        """``[2P]`` summed completion logprob of every row under the reference policy (on the
        CPU, like every batch field)."""
        if self.ref_model is None and not self.lora and self.version > 0:
            raise RlfbError("this DPO learner keeps no reference model and has already been "
                            "updated; pass ref_logps (computed before training) in the batch")
        batch = to_device(batch, self.device)
        out = torch.zeros(batch.input_ids.shape[0], device=self.device)
        for rows in self._row_chunks(batch):
            if self.ref_model is not None:
                out[rows] = self._row_logps(self.ref_model, batch, rows)
            elif self.lora:
                with self.model.disable_adapter():
                    out[rows] = self._row_logps(self.model, batch, rows)
            else:
                out[rows] = self._row_logps(self.model, batch, rows)
        return out.cpu()

    # -- training --------------------------------------------------------------------------
    def update(self, batch: PreferenceBatch) -> dict[str, float]:  # type: ignore[override]
        """One optimiser step on ``batch``; returns the loss and preference statistics."""
        start = time.perf_counter()
        batch = to_device(batch, self.device)
        ref = batch.ref_logps if batch.ref_logps is not None else \
            self.reference_logps(batch).to(self.device)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums = dict.fromkeys(_SUMS, 0.0)
        for rows in self._row_chunks(batch):
            loss, part = self._pair_loss(batch, rows, ref)
            (loss / batch.num_pairs).backward()
            for key, value in part.items():
                sums[key] += value
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.model.eval()
        self.version += 1
        out = {f"dpo/{k}": v / batch.num_pairs for k, v in sums.items() if k != "loss"}
        out.update({"learner/loss": sums["loss"] / batch.num_pairs,
                    "learner/grad_norm": float(grad_norm),
                    "learner/lr": self.scheduler.get_last_lr()[0],
                    "learner/pairs": float(batch.num_pairs), "learner/version": self.version,
                    "learner/update_s": time.perf_counter() - start, **self.memory_stats()})
        return out

    @torch.no_grad()
    def evaluate(self, batch: PreferenceBatch) -> dict[str, float]:
        """Summed loss and preference statistics of ``batch`` (no update), to be pooled over
        batches: keys of the update's ``dpo/*`` metrics without the prefix, plus ``loss`` and
        ``pairs``."""
        batch = to_device(batch, self.device)
        ref = batch.ref_logps if batch.ref_logps is not None else \
            self.reference_logps(batch).to(self.device)
        sums = dict.fromkeys(_SUMS, 0.0)
        for rows in self._row_chunks(batch):
            _, part = self._pair_loss(batch, rows, ref)
            for key, value in part.items():
                sums[key] += value
        sums["pairs"] = float(batch.num_pairs)
        return sums

    # -- pieces ----------------------------------------------------------------------------
    def _row_chunks(self, batch: PreferenceBatch) -> list[torch.Tensor]:
        """Row indices per micro-batch: pairs of similar length, each pair's two rows
        together (chosen rows first)."""
        n = batch.num_pairs
        lengths = batch.attention_mask.sum(-1)
        order = torch.argsort(torch.maximum(lengths[:n], lengths[n:]), stable=True)
        size = max(1, self.micro_batch_size // 2)
        return [torch.cat([order[i:i + size], order[i:i + size] + n])
                for i in range(0, n, size)]

    def _row_logps(self, model: Any, batch: PreferenceBatch, rows: torch.Tensor
                   ) -> torch.Tensor:
        """``[len(rows)]`` summed completion logprobs (differentiable)."""
        ids, attn, width = _slice(batch.input_ids, batch.attention_mask, rows)
        mask = batch.loss_mask[rows, :width]
        logp, _ = self._forward(model, ids, attn, mask)
        return (logp * mask).sum(-1)

    def _pair_loss(self, batch: PreferenceBatch, rows: torch.Tensor, ref: torch.Tensor
                   ) -> tuple[torch.Tensor, dict[str, float]]:
        """Summed loss of the pairs in ``rows`` and summed statistics."""
        k = len(rows) // 2
        logps = self._row_logps(self.model, batch, rows)
        ref_rows = ref[rows].to(logps.dtype)
        if self.loss_type == "ipo":
            count = batch.loss_mask[rows].sum(-1).clamp_min(1.0)
            out = ipo_loss(logps[:k] / count[:k], logps[k:] / count[k:],
                           ref_rows[:k] / count[:k], ref_rows[k:] / count[k:], beta=self.beta)
        else:
            out = dpo_loss(logps[:k], logps[k:], ref_rows[:k], ref_rows[k:], beta=self.beta,
                           label_smoothing=self.label_smoothing)
        chosen, rejected = out.chosen_rewards, out.rejected_rewards
        lp = logps.detach()
        part = {"loss": float(out.losses.detach().sum()),
                "reward_accuracy": float((chosen > rejected).float().sum()),
                "reward_margin": float((chosen - rejected).sum()),
                "chosen_rewards": float(chosen.sum()), "rejected_rewards": float(rejected.sum()),
                "chosen_logps": float(lp[:k].sum()), "rejected_logps": float(lp[k:].sum()),
                "logp_accuracy": float((lp[:k] > lp[k:]).float().sum())}
        return out.losses.sum(), part
