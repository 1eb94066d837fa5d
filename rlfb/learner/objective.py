"""The policy-gradient objective of one micro-batch, assembled from `rlfb.algo`'s pure pieces.

Per token: the clipped surrogate (``algo.policy_loss``, by registry name), times truncated
importance weights when the rollout engine's behaviour logprobs are used for correction, plus
``kl_coef`` × a KL estimate to the reference policy (when the KL is in the loss), minus
``entropy_coef`` × entropy. The per-token loss is aggregated with a denominator counted on the
whole batch, so that summing the micro-batch losses gives the full-batch loss exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlfb.algo.aggregation import aggregate
from rlfb.algo.kl import kl_estimate
from rlfb.algo.policy_loss import truncated_is_weights
from rlfb.algo.registry import get_policy_loss


@dataclass(frozen=True)
class LossSettings:
    """Settings of the policy objective (see `rlfb.config.AlgoConfig` for each field's meaning)."""

    policy_loss: str = "ppo_clip"
    clip_low: float = 0.2
    clip_high: float = 0.2
    loss_agg: str = "token-mean"
    agg_norm_length: float | None = None
    kl_coef: float = 0.0
    kl_estimator: str = "k3"
    kl_in: str = "loss"
    entropy_coef: float = 0.0
    tis_cap: float | None = None
    temperature: float = 1.0


def batch_denominator(loss_mask: torch.Tensor, mode: str) -> float:
    """The whole batch's count that `aggregate` divides by: valid tokens or valid sequences."""
    if mode == "token-mean":
        return float(loss_mask.sum())
    return float((loss_mask.sum(-1) > 0).sum())


def policy_objective(*, logp: torch.Tensor, old_logp: torch.Tensor | None,
                     behaviour_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                     ref_logp: torch.Tensor | None, entropy: torch.Tensor,
                     denominator: float, norm_length: float, settings: LossSettings
                     ) -> tuple[torch.Tensor, dict[str, float]]:
    """The scalar loss of one micro-batch and its statistics, summed over its valid tokens.

    Args:
        logp: ``[b, T]`` current policy logprobs (with gradient).
        old_logp: ``[b, T]`` the learner's logprobs before this update, or None for a single
            on-policy pass (then ``logp.detach()`` is used and the ratio is exactly 1).
        behaviour_logp: ``[b, T]`` the rollout engine's logprobs (for truncated IS).
        advantages: ``[b, T]`` per-token advantages.
        mask: ``[b, T]`` loss mask.
        ref_logp: ``[b, T]`` reference logprobs, or None without KL.
        entropy: ``[b, T]`` per-token entropy (with gradient).
        denominator: the whole batch's count (see `batch_denominator`).
        norm_length: the constant of ``"seq-mean-token-sum-norm"`` (Dr.GRPO: the generation's
            max_new_tokens), the same for every micro-batch.

    Returns:
        ``(loss, sums)`` where ``sums`` holds token-weighted sums of each statistic and the
        token count ``tokens``, to be divided by the batch's total tokens after accumulation.
    """
    valid = mask.bool()
    old = logp.detach() if old_logp is None else old_logp
    out = get_policy_loss(settings.policy_loss)(
        logp, old, advantages, valid, clip_low=settings.clip_low, clip_high=settings.clip_high)
    per_token = out.loss
    if settings.tis_cap is not None:
        per_token = per_token * truncated_is_weights(old, behaviour_logp, cap=settings.tis_cap,
                                                     mask=valid)
    kl = None
    if ref_logp is not None:
        kl = kl_estimate(logp, ref_logp, estimator=settings.kl_estimator)
        if settings.kl_in == "loss" and settings.kl_coef > 0:
            per_token = per_token + settings.kl_coef * kl
    if settings.entropy_coef:
        per_token = per_token - settings.entropy_coef * entropy
    loss = aggregate(per_token, valid, mode=settings.loss_agg,
                     norm_length=norm_length, denominator=max(denominator, 1.0))
    n = float(valid.sum())
    sums = {f"learner/{k}": float(v) * n for k, v in out.stats.items()}
    sums["learner/entropy"] = float(entropy.detach()[valid].sum())
    if kl is not None:
        sums["learner/kl_ref"] = float(kl.detach()[valid].sum())
    sums["learner/loss"] = float(loss.detach())
    sums["tokens"] = n
    return loss, sums
