"""Per-token KL estimators between the policy and a reference policy, and where to apply them.

Tokens are sampled from the policy pi, so with ``log_r = ref_logprobs - logprobs`` (log of
pi_ref / pi at the sampled token) the estimators of KL(pi || pi_ref) are (Schulman 2020,
http://joschu.net/blog/kl-approx.html):

- ``"k1"``: ``-log_r = logprobs - ref_logprobs``; unbiased, high variance, can be negative.
- ``"k2"``: ``0.5 * log_r ** 2``; biased, low variance, >= 0.
- ``"k3"``: ``exp(log_r) - log_r - 1``; unbiased, low variance, >= 0 (GRPO's KL term).

Two places to use them:

- KL in the reward (InstructGPT / PPO with a critic): `kl_in_reward` subtracts
  ``coef * kl`` from the token-level rewards before advantages are computed; k1 is the usual
  choice there.
- KL in the loss (GRPO): `kl_loss` adds ``coef * aggregate(kl)`` to the policy loss, with
  gradients flowing through ``logprobs``; k3 is the usual choice there.
"""

from __future__ import annotations

import torch

from rlfb.algo._validate import one_of, positive, same_shape
from rlfb.algo.aggregation import aggregate

KL_ESTIMATORS = ("k1", "k2", "k3")
_K3_LOG_RATIO_CLAMP = 20.0


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, *, estimator: str = "k3",
                clamp: float | None = None) -> torch.Tensor:
    """Per-token KL(pi || pi_ref) estimate, same shape as the inputs (any shape, e.g. ``[B, T]``).

    Args:
        logprobs: policy logprobs of the sampled tokens.
        ref_logprobs: reference-policy logprobs of the same tokens.
        estimator: ``"k1"``, ``"k2"`` or ``"k3"`` (module docstring).
        clamp: if given (> 0), the estimate is clamped to ``[-clamp, clamp]`` (verl clamps k3
            to 10). For k3 the log-ratio is always clamped to [-20, 20] before ``exp`` so that
            one wild token cannot produce inf.
    """
    one_of("KL estimator", estimator, KL_ESTIMATORS)
    same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs)
    log_r = ref_logprobs - logprobs
    if estimator == "k1":
        kl = -log_r
    elif estimator == "k2":
        kl = 0.5 * log_r.square()
    else:
        log_r = log_r.clamp(-_K3_LOG_RATIO_CLAMP, _K3_LOG_RATIO_CLAMP)
        kl = log_r.exp() - log_r - 1
    if clamp is not None:
        positive("clamp", clamp)
        kl = kl.clamp(-clamp, clamp)
    return kl


def kl_in_reward(token_rewards: torch.Tensor, logprobs: torch.Tensor,
                 ref_logprobs: torch.Tensor, mask: torch.Tensor, *, coef: float,
                 estimator: str = "k1", clamp: float | None = None) -> torch.Tensor:
    """Token-level rewards with the KL penalty folded in: ``r_t - coef * kl_t`` on valid tokens.

    Args:
        token_rewards: ``[B, T]`` rewards per token (e.g. from
            `rlfb.algo.ppo.score_to_token_rewards`).
        logprobs, ref_logprobs: ``[B, T]``; use the rollout's (old) logprobs, so the penalty
            is a constant of the update, not a path for gradients.
        mask: ``[B, T]`` loss mask.
        coef: the KL coefficient beta (>= 0), e.g. ``AdaptiveKLController.value``.
        estimator, clamp: as in `kl_estimate`.

    Returns:
        ``[B, T]`` detached rewards, 0 off the mask.
    """
    positive("coef", coef, allow_zero=True)
    same_shape(token_rewards=token_rewards, logprobs=logprobs, mask=mask)
    kl = kl_estimate(logprobs.detach(), ref_logprobs.detach(), estimator=estimator, clamp=clamp)
    out = token_rewards.detach() - coef * kl
    return torch.where(mask.bool(), out, 0.0)


def kl_loss(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor, *,
            coef: float, estimator: str = "k3", clamp: float | None = None,
            mode: str = "token-mean") -> torch.Tensor:
    """KL in the loss: ``coef * aggregate(kl_estimate(logprobs, ref_logprobs), mask, mode)``.

    Args:
        logprobs: ``[B, T]`` current policy logprobs (with grad).
        ref_logprobs: ``[B, T]`` reference logprobs (no grad needed; detached here).
        mask: ``[B, T]`` loss mask.
        coef: the KL coefficient beta (>= 0).
        estimator, clamp: as in `kl_estimate`.
        mode: aggregation mode (`rlfb.algo.aggregation.AGG_MODES`); use the policy loss's.

    Returns:
        A scalar to add to the policy loss.
    """
    positive("coef", coef, allow_zero=True)
    kl = kl_estimate(logprobs, ref_logprobs.detach(), estimator=estimator, clamp=clamp)
    return coef * aggregate(kl, mask, mode=mode)
