"""Offline algorithms, trained from data files in this process: SFT and DPO.

- ``sft``: supervised fine-tuning (warm starts); the prompt's tokens are masked out of the loss.
  Held out: ``eval/loss`` (mean NLL of completion tokens) and ``eval/perplexity``.
- ``dpo``: direct preference optimisation on (prompt, chosen, rejected) pairs (sigmoid, IPO,
  label smoothing: the ``dpo`` section). The reference logprobs of every pair are computed once
  with the untrained policy and cached by the offline trainer, so full fine-tuning needs no
  second model in memory. Held out: ``eval/loss``, ``eval/pair_accuracy`` (the implicit reward
  ``beta * (log pi - log pi_ref)`` is higher for the chosen completion), ``eval/reward_margin``,
  ``eval/logp_accuracy`` and the chosen/rejected logprobs.
"""

from __future__ import annotations

import math
from typing import Any, TYPE_CHECKING

from rlfb.algorithms.base import OfflineAlgorithm, policy_settings

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


def _learner_kwargs(cfg: TrainConfig, total_steps: int) -> dict[str, Any]:
    _, kwargs = policy_settings(cfg)
    kwargs = {k: v for k, v in kwargs.items() if k != "ppo_epochs"}
    kwargs["total_steps"] = total_steps
    return kwargs


class SFT(OfflineAlgorithm):
    """Supervised fine-tuning on (prompt, completion) rows."""

    def load_rows(self, files: list[str], encoder: Any, fmt: str) -> list[Any]:
        """Tokenised examples (`rlfb.data.records.load_examples`)."""
        from rlfb.data.records import load_examples

        return load_examples(files, encoder, fmt)

    def learner(self, cfg: TrainConfig, model_path: str, total_steps: int) -> Any:
        """An `rlfb.learner.sft.SFTLearner`."""
        from rlfb.learner.sft import SFTLearner

        return SFTLearner(model_path, **_learner_kwargs(cfg, total_steps))

    def batch(self, rows: list[Any], pad_token_id: int, reference: Any = None) -> Any:
        """Right-padded tokens with the prompt masked out of the loss."""
        from rlfb.data.records import token_batch

        return token_batch(rows, pad_token_id)

    def eval_metrics(self, sums: dict[str, float]) -> dict[str, Any]:
        """Mean NLL per completion token and its perplexity."""
        loss = sums["nll_sum"] / max(sums["tokens"], 1.0)
        return {"eval/loss": loss, "eval/perplexity": math.exp(min(loss, 50.0)),
                "eval/tokens": sums["tokens"]}


class DPO(OfflineAlgorithm):
    """DPO on preference pairs, against cached reference logprobs."""

    needs_reference = True

    def load_rows(self, files: list[str], encoder: Any, fmt: str) -> list[Any]:
        """Tokenised pairs (`rlfb.data.records.load_pairs`)."""
        from rlfb.data.records import load_pairs

        return load_pairs(files, encoder, fmt)

    def learner(self, cfg: TrainConfig, model_path: str, total_steps: int) -> Any:
        """An `rlfb.learner.preference.DPOLearner` that reads the cached reference."""
        from rlfb.learner.preference import DPOLearner

        d = cfg.dpo
        return DPOLearner(model_path, beta=d.beta, loss_type=d.loss,
                          label_smoothing=d.label_smoothing, reference="cached",
                          **_learner_kwargs(cfg, total_steps))

    def batch(self, rows: list[Any], pad_token_id: int, reference: Any = None) -> Any:
        """Chosen then rejected completions, with their ``[N, 2]`` reference logprobs."""
        import torch

        from rlfb.data.records import preference_batch

        return preference_batch(rows, pad_token_id,
                                ref_logps=torch.cat([reference[:, 0], reference[:, 1]]))

    def eval_metrics(self, sums: dict[str, float]) -> dict[str, Any]:
        """Per-pair means of the learner's sums; ``eval/pair_accuracy`` is the implicit
        reward's accuracy."""
        sums = dict(sums)
        pairs = max(sums.pop("pairs"), 1.0)
        out = {f"eval/{k}": v / pairs for k, v in sums.items()}
        out["eval/pair_accuracy"] = out.pop("eval/reward_accuracy")
        out["eval/pairs"] = pairs
        return out
