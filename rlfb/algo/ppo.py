"""PPO with a critic (InstructGPT-style): token rewards, GAE, the clipped value loss, KL control.

The pieces, in the order a PPO step uses them::

    rewards = assemble_token_rewards(scores, mask, logprobs=old_lp, ref_logprobs=ref_lp,
                                     kl_coef=kl_ctl.value)             # [B, T]
    adv, returns = gae(rewards, old_values, mask, gamma=1.0, lam=0.95)
    adv = masked_whiten(adv, mask)                                     # rlfb.algo.aggregation
    ... policy loss (rlfb.algo.policy_loss) + c_v * value_loss(...) ...
    kl_ctl.update(mean_kl, n_steps=batch_size)

All tensors are ``[B, T]`` token positions of the completion, with ``mask`` the loss mask.
Positions off the mask are skipped by GAE as if absent: padding (right or left) and holes
alike, e.g. tool output inside a multi-turn completion (verl does the same).
"""

from __future__ import annotations

from typing import Any

import torch

from rlfb.algo._validate import ndim, positive, same_shape
from rlfb.algo.aggregation import masked_mean
from rlfb.algo.kl import kl_in_reward
from rlfb.algo.policy_loss import LossOutput
from rlfb.errors import ConfigError, RlfbError


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, *, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2015, arXiv:1506.02438) per token.

    Over the valid tokens t_1 < ... < t_L of a row (V after the last one is 0)::

        delta_t = r_t + gamma * V_next - V_t
        A_t     = delta_t + gamma * lam * A_next
        R_t     = A_t + V_t

    Args:
        rewards: ``[B, T]`` token-level rewards (`assemble_token_rewards`).
        values: ``[B, T]`` critic values of the old policy, detached.
        mask: ``[B, T]`` loss mask.
        gamma: discount in [0, 1].
        lam: GAE lambda in [0, 1] (0: one-step TD; 1: Monte-Carlo return minus V).

    Returns:
        ``(advantages, returns)``, each ``[B, T]``, detached, 0 off the mask. Advantages are not
        whitened; apply `rlfb.algo.aggregation.masked_whiten` if wanted.
    """
    for name, v in (("gamma", gamma), ("lam", lam)):
        if not 0 <= v <= 1:
            raise ConfigError(f"{name} must be in [0, 1], got {v}")
    ndim("rewards", rewards, 2, "[B, T]")
    same_shape(rewards=rewards, values=values, mask=mask)
    valid = mask.bool()
    rewards, values = rewards.detach(), values.detach()
    zero = torch.zeros(rewards.shape[0], dtype=rewards.dtype)
    next_value, next_adv = zero, zero
    adv = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        here = delta + gamma * lam * next_adv
        m = valid[:, t]
        next_value = torch.where(m, values[:, t], next_value)
        next_adv = torch.where(m, here, next_adv)
        adv[:, t] = torch.where(m, here, 0.0)
    returns = torch.where(valid, adv + values, 0.0)
    return adv, returns


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               mask: torch.Tensor, *, clip_range: float | None = 0.2) -> LossOutput:
    """Clipped value loss per token: ``0.5 * max((V - R)^2, (clip(V, V_old ± c) - R)^2)``.

    Args:
        values: ``[B, T]`` current critic values (with grad).
        old_values: ``[B, T]`` values at rollout time (the ones GAE used).
        returns: ``[B, T]`` GAE returns.
        mask: ``[B, T]`` loss mask.
        clip_range: c > 0, how far V may move from V_old before its gain is clipped (PPO2,
            TRL, verl); None = plain ``0.5 * (V - R)^2``.

    Returns:
        `LossOutput`: ``loss`` ``[B, T]`` (0 off the mask; reduce with
        `rlfb.algo.aggregation.aggregate`), stats ``clip_frac`` (tokens where the clipped error
        was larger) and ``mse`` (mean squared error of V, unclipped).
    """
    same_shape(values=values, old_values=old_values, returns=returns, mask=mask)
    valid = mask.bool()
    unclipped = (values - returns).square()
    loss = unclipped
    clipped_more = torch.zeros_like(valid)
    if clip_range is not None:
        positive("clip_range", clip_range)
        v_clip = old_values + (values - old_values).clamp(-clip_range, clip_range)
        clipped = (v_clip - returns).square()
        loss = torch.maximum(unclipped, clipped)
        clipped_more = clipped > unclipped
    with torch.no_grad():
        stats = {"clip_frac": masked_mean(clipped_more.float(), valid),
                 "mse": masked_mean(unclipped.detach(), valid)}
    return LossOutput(torch.where(valid, 0.5 * loss, 0.0), stats)


class FixedKLController:
    """A constant KL coefficient, with the interface of `AdaptiveKLController`."""

    def __init__(self, coef: float) -> None:
        positive("coef", coef, allow_zero=True)
        self.value = float(coef)

    def update(self, current_kl: float, n_steps: int) -> float:
        """No change; returns the coefficient."""
        return self.value

    def state_dict(self) -> dict[str, Any]:
        """The coefficient, for checkpoints."""
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict`."""
        self.value = float(state["value"])


class AdaptiveKLController(FixedKLController):
    """The adaptive KL coefficient of Ziegler et al. 2019 (arXiv:1909.08593, section 2.2).

    After each batch with mean KL ``kl`` (per sequence, summed over tokens, as in the paper),
    ``e = clip(kl / target - 1, -0.2, 0.2)`` and ``beta <- beta * (1 + e * n_steps / horizon)``.

    Args:
        init_coef: starting beta (>= 0).
        target: the KL the controller steers towards (> 0).
        horizon: steps over which an error is corrected (> 0; the paper uses 10000).
    """

    def __init__(self, init_coef: float, *, target: float, horizon: float) -> None:
        super().__init__(init_coef)
        positive("target", target)
        positive("horizon", horizon)
        self.target = float(target)
        self.horizon = float(horizon)

    def update(self, current_kl: float, n_steps: int) -> float:
        """Move beta towards ``target`` after ``n_steps`` samples with mean KL ``current_kl``."""
        error = min(max(float(current_kl) / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
        return self.value


def score_to_token_rewards(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Place each sequence score at its last valid token: ``[B]`` + ``[B, T]`` -> ``[B, T]``.

    A masked sample (NaN score) must have an all-zero mask row and gets a row of zeros; a NaN
    score on a row with valid tokens, or a score on a row without any, raises `RlfbError`.
    """
    ndim("scores", scores, 1, "[B]")
    ndim("mask", mask, 2, "[B, T]")
    if scores.shape[0] != mask.shape[0]:
        raise RlfbError(f"scores has {scores.shape[0]} rows but mask has {mask.shape[0]}")
    valid = mask.bool()
    has_tokens = valid.any(-1)
    nan = torch.isnan(scores)
    if bool((nan & has_tokens).any()):
        rows = torch.nonzero(nan & has_tokens).flatten().tolist()
        raise RlfbError(f"rows {rows} have a NaN (masked) score but valid tokens; "
                        "zero the loss mask of masked samples")
    if bool((~nan & ~has_tokens).any()):
        rows = torch.nonzero(~nan & ~has_tokens).flatten().tolist()
        raise RlfbError(f"rows {rows} have a score but no valid token to place it on")
    positions = torch.arange(mask.shape[1]).expand_as(valid)
    last = torch.where(valid, positions, -1).amax(-1)
    out = torch.zeros(mask.shape, dtype=scores.dtype)
    rows = torch.nonzero(has_tokens).flatten()
    out[rows, last[rows]] = scores[rows]
    return out


def assemble_token_rewards(scores: torch.Tensor, mask: torch.Tensor, *,
                           logprobs: torch.Tensor | None = None,
                           ref_logprobs: torch.Tensor | None = None, kl_coef: float = 0.0,
                           kl_estimator: str = "k1", kl_clamp: float | None = None
                           ) -> torch.Tensor:
    """InstructGPT token rewards: the score at the last valid token minus ``kl_coef * kl_t``.

    Args:
        scores: ``[B]`` sequence scores (NaN for masked samples, whose mask row is all 0).
        mask: ``[B, T]`` loss mask.
        logprobs, ref_logprobs: ``[B, T]`` rollout and reference logprobs; both or neither.
        kl_coef: beta (>= 0); ignored without logprobs.
        kl_estimator, kl_clamp: see `rlfb.algo.kl.kl_estimate` (k1, the usual choice here).

    Returns:
        ``[B, T]`` detached token rewards, 0 off the mask.
    """
    rewards = score_to_token_rewards(scores.detach(), mask)
    if (logprobs is None) != (ref_logprobs is None):
        raise RlfbError("give both logprobs and ref_logprobs for the KL penalty, or neither")
    if logprobs is None or ref_logprobs is None:
        return rewards
    return kl_in_reward(rewards, logprobs, ref_logprobs, mask, coef=kl_coef,
                        estimator=kl_estimator, clamp=kl_clamp)
