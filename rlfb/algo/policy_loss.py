"""Per-token policy losses and importance weights for off-policy rollouts.

Every loss here (and in `rlfb.algo.registry.LOSSES`) has the signature

    out = loss_fn(logprobs, old_logprobs, advantages, mask, **options)

with ``logprobs`` ``[B, T]`` the learner's current logprobs of the sampled tokens (with grad),
``old_logprobs`` ``[B, T]`` those of the policy that the ratio is taken against (no grad),
``advantages`` ``[B, T]`` (or ``[B]``/``[B, 1]`` for one advantage per sequence), ``mask``
``[B, T]`` the loss mask. ``out.loss`` is ``[B, T]`` and 0 off the mask: reduce it with
`rlfb.algo.aggregation.aggregate`. ``out.stats`` holds detached scalars averaged over valid
tokens.

The log-ratio is clamped to [-20, 20] before ``exp`` (as verl does) so a stale token cannot make
the ratio overflow to inf; the clamp has no effect in any sane regime.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rlfb.algo._validate import ndim, positive, same_shape
from rlfb.algo.aggregation import masked_mean
from rlfb.algo.registry import LOSSES
from rlfb.errors import ConfigError, RlfbError

LOG_RATIO_CLAMP = 20.0


@dataclass
class LossOutput:
    """A per-token loss and its diagnostics.

    Attributes:
        loss: ``[B, T]`` per-token loss, 0 off the mask.
        stats: detached scalar tensors (clip fractions, approximate KL, mean ratio ...).
    """

    loss: torch.Tensor
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


def _prepare(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
             mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Checks shapes; returns ``(advantages broadcast to [B, T], bool mask)``."""
    ndim("logprobs", logprobs, 2, "[B, T]")
    same_shape(logprobs=logprobs, old_logprobs=old_logprobs, mask=mask)
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(-1)
    if advantages.dim() != 2 or advantages.shape[0] != logprobs.shape[0] or \
            advantages.shape[1] not in (1, logprobs.shape[1]):
        raise RlfbError(f"advantages must be [B, T], [B, 1] or [B] for logprobs "
                        f"{tuple(logprobs.shape)}, got {tuple(advantages.shape)}")
    return advantages.expand_as(logprobs), mask.bool()


def _check_clip(clip_low: float, clip_high: float) -> None:
    if not 0 <= clip_low < 1:
        raise ConfigError(f"clip_low must be in [0, 1), got {clip_low}")
    positive("clip_high", clip_high, allow_zero=True)


def _ratio_stats(log_ratio: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean ratio and the k3 estimate of KL(old || new) over valid tokens (detached)."""
    log_ratio = log_ratio.detach()
    ratio = log_ratio.exp()
    return {
        "approx_kl": masked_mean(ratio - 1 - log_ratio, mask),
        "ratio_mean": masked_mean(ratio, mask),
    }


@LOSSES.register("ppo_clip")
def ppo_clip_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                  mask: torch.Tensor, *, clip_low: float = 0.2, clip_high: float | None = None,
                  clip_c: float | None = None) -> LossOutput:
    """The clipped surrogate of PPO, with DAPO's clip-higher and optional dual clip.

    Per token, with ratio ``r = exp(logprobs - old_logprobs)`` and advantage A::

        loss = max(-A * r, -A * clip(r, 1 - clip_low, 1 + clip_high))
        loss = min(loss, -A * clip_c)            where A < 0, if clip_c is given (dual clip)

    Args:
        logprobs, old_logprobs, advantages, mask: see the module docstring.
        clip_low: epsilon below 1 (PPO's epsilon; 0.2).
        clip_high: epsilon above 1; defaults to ``clip_low``. DAPO's clip-higher uses 0.28.
        clip_c: dual-clip constant > 1 (Ye et al. 2019, arXiv:1912.09729; verl uses 3): bounds
            the loss of a negative-advantage token whose ratio has grown large. None = off.

    Returns:
        `LossOutput` with ``loss`` ``[B, T]`` and stats ``clip_frac`` (tokens where the
        clipped term was taken), ``clip_frac_low`` (A < 0, r < 1 - clip_low),
        ``clip_frac_high`` (A > 0, r > 1 + clip_high), ``dual_clip_frac``, ``approx_kl`` (k3
        estimate of KL(old || new)) and ``ratio_mean``.
    """
    clip_high = clip_low if clip_high is None else clip_high
    _check_clip(clip_low, clip_high)
    if clip_c is not None and clip_c <= 1:
        raise ConfigError(f"clip_c (dual clip) must be > 1, got {clip_c}; use None to turn it off")
    adv, valid = _prepare(logprobs, old_logprobs, advantages, mask)
    log_ratio = (logprobs - old_logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = log_ratio.exp()
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1 - clip_low, 1 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    dual = torch.zeros_like(valid)
    if clip_c is not None:
        bound = -adv * clip_c
        dual = (adv < 0) & (loss > bound)
        loss = torch.where(dual, bound, loss)
    with torch.no_grad():
        r = ratio.detach()
        stats = {
            "clip_frac": masked_mean((clipped > unclipped).float(), valid),
            "clip_frac_low": masked_mean(((adv < 0) & (r < 1 - clip_low)).float(), valid),
            "clip_frac_high": masked_mean(((adv > 0) & (r > 1 + clip_high)).float(), valid),
            "dual_clip_frac": masked_mean(dual.float(), valid),
            **_ratio_stats(log_ratio, valid),
        }
    return LossOutput(torch.where(valid, loss, 0.0), stats)


@LOSSES.register("gspo")
def gspo_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
              mask: torch.Tensor, *, clip_low: float = 3e-4, clip_high: float | None = 4e-4
              ) -> LossOutput:
    """GSPO (arXiv:2507.18071, the GSPO-token form): a sequence-level, length-normalised ratio.

    ``s_i = exp(mean over valid tokens t of (logprobs - old_logprobs))``; each token uses
    ``s_it = sg[s_i] * exp(logprobs_t - sg[logprobs_t])``, whose value is ``s_i`` and whose
    gradient is ``s_i * grad logprobs_t``. The loss per token is
    ``max(-A * s_it, -A * clip(s_it, 1 - clip_low, 1 + clip_high))``. With one advantage per
    sequence this equals sequence-level GSPO when aggregated with ``"seq-mean-token-mean"``
    (use that mode). Defaults are the paper's clip ranges (3e-4, 4e-4).

    Returns:
        `LossOutput`; stats ``clip_frac`` (over tokens), ``seq_ratio_mean`` (mean s_i over
        valid sequences), ``approx_kl`` and ``ratio_mean`` (token-level, as for PPO).
    """
    clip_high = clip_low if clip_high is None else clip_high
    _check_clip(clip_low, clip_high)
    adv, valid = _prepare(logprobs, old_logprobs, advantages, mask)
    token_log_ratio = torch.where(valid, logprobs - old_logprobs, 0.0)
    lengths = valid.sum(-1, keepdim=True)
    seq_log_ratio = token_log_ratio.sum(-1, keepdim=True) / lengths.clamp_min(1)
    log_s = seq_log_ratio.detach() + logprobs - logprobs.detach()
    s = log_s.clamp(max=LOG_RATIO_CLAMP).exp()
    unclipped = -adv * s
    clipped = -adv * s.clamp(1 - clip_low, 1 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    with torch.no_grad():
        has_tokens = lengths.squeeze(-1) > 0
        stats = {
            "clip_frac": masked_mean((clipped > unclipped).float(), valid),
            "seq_ratio_mean": masked_mean(seq_log_ratio.squeeze(-1).exp(), has_tokens),
            **_ratio_stats((logprobs - old_logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP),
                           valid),
        }
    return LossOutput(torch.where(valid, loss, 0.0), stats)


def truncated_is_weights(old_logprobs: torch.Tensor, behaviour_logprobs: torch.Tensor, *,
                         cap: float = 2.0, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Truncated importance-sampling weights ``min(exp(old - behaviour), cap)``, ``[B, T]``.

    The rollout engine (vLLM, say) and the learner compute slightly different probabilities for
    the same weights, so rollouts are off-policy even at zero staleness. Yao et al. 2025 ("Your
    efficient RL framework secretly brings you off-policy RL training") correct for it per token
    with ``w = min(pi_learner_old(a) / pi_behaviour(a), C)`` multiplied into the policy loss::

        out = ppo_clip_loss(logprobs, old_logprobs, adv, mask)
        loss = aggregate(out.loss * truncated_is_weights(old_logprobs, behaviour_logprobs), mask)

    Args:
        old_logprobs: ``[B, T]`` learner logprobs of the sampled tokens under the weights that
            sampled them.
        behaviour_logprobs: ``[B, T]`` the rollout engine's logprobs of the same tokens.
        cap: the truncation C (> 0; the paper's verl recipe uses 2).
        mask: optional ``[B, T]``; weights are 0 off it.

    Returns:
        ``[B, T]`` detached weights in ``[0, cap]``; the log-difference is clamped to [-20, 20].
    """
    positive("cap", cap)
    same_shape(old_logprobs=old_logprobs, behaviour_logprobs=behaviour_logprobs, mask=mask)
    log_w = (old_logprobs.detach() - behaviour_logprobs.detach())
    weights = log_w.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp().clamp(max=cap)
    if mask is not None:
        weights = torch.where(mask.bool(), weights, 0.0)
    return weights
