"""KL in the reward for the outcome estimators (GRPO, Dr.GRPO, RLOO, REINFORCE++, plugins).

With the KL in the reward (``algo.kl_in = "reward"``), the per-token penalty ``coef * kl_t``
(`rlfb.algo.kl.kl_estimate` of the rollout policy against the reference, k1/k2/k3) is folded
into the rewards before any advantage is computed, as PPO does with
`rlfb.algo.ppo.assemble_token_rewards`. The outcome estimators of
`rlfb.algo.registry.ADVANTAGES` take one scalar per sample, so the penalty reaches them in one of
two forms:

- **Sequence form** (every estimator but ``reinforce_pp``: grpo, dr_grpo, rloo,
  reinforce_pp_baseline and any plugin): the sample's reward is the sum of its token rewards,
  ``score - coef * sum_t kl_t`` (`kl_penalized_scores`); the estimator runs on these as usual
  and every token of a sample gets the sample's advantage. This is verl's ``use_kl_in_reward``:
  ``apply_kl_penalty`` builds the token rewards and its GRPO, RLOO and REINFORCE++-baseline
  estimators sum them over the response. (OpenRLHF instead gives GRPO and RLOO per-token
  returns of the shaped reward; the sequence form keeps the estimator contract, one advantage
  per sample, and works for plugins unchanged.)
- **Token form** (``reinforce_pp``): as in the REINFORCE++ paper (arXiv:2501.03262), verl's
  ``reinforce_plus_plus`` and OpenRLHF's ``reinforce``, the token rewards (the score at the last
  valid token, minus ``coef * kl_t`` at every valid token) are summed from each token to the end
  of the sample (the return, gamma = 1) and whitened over the batch
  (`reinforce_pp_token_advantages`). A token is charged only for the KL at and after it. In the
  whitening every sample weighs the same (each of its tokens weighs 1 / its length), as in the
  outcome form the loop uses without KL, so that ``coef = 0`` gives exactly
  `rlfb.algo.advantages.reinforce_pp_advantages`; verl weighs every token the same instead.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch

from rlfb.algo._validate import ndim, positive, same_shape
from rlfb.algo.advantages import from_groups, to_groups
from rlfb.algo.aggregation import masked_whiten
from rlfb.algo.kl import kl_estimate
from rlfb.algo.ppo import assemble_token_rewards
from rlfb.algo.registry import get_advantage_estimator
from rlfb.errors import RlfbError


def kl_penalized_scores(scores: torch.Tensor, logprobs: torch.Tensor,
                        ref_logprobs: torch.Tensor, mask: torch.Tensor, *, coef: float,
                        estimator: str = "k1", clamp: float | None = None) -> torch.Tensor:
    """Each sample's reward minus its summed KL penalty: ``scores - coef * sum_t kl_t``.

    Args:
        scores: ``[B]`` sequence rewards; NaN (a masked sample) stays NaN.
        logprobs, ref_logprobs: ``[B, T]`` rollout-policy and reference logprobs (detached here:
            the penalty is a constant of the update).
        mask: ``[B, T]`` loss mask; the sum runs over its valid tokens only.
        coef: the KL coefficient beta (>= 0).
        estimator, clamp: as in `rlfb.algo.kl.kl_estimate`.

    Returns:
        ``[B]`` detached rewards: the sum over t of `rlfb.algo.kl.kl_in_reward`'s token rewards.
    """
    positive("coef", coef, allow_zero=True)
    ndim("scores", scores, 1, "[B]")
    ndim("mask", mask, 2, "[B, T]")
    same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs, mask=mask)
    if scores.shape[0] != mask.shape[0]:
        raise RlfbError(f"scores has {scores.shape[0]} rows but mask has {mask.shape[0]}")
    kl = kl_estimate(logprobs.detach(), ref_logprobs.detach(), estimator=estimator, clamp=clamp)
    total = torch.where(mask.bool(), kl, 0.0).sum(-1)
    return scores.detach() - coef * total


def reward_to_go(token_rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``G_t = sum of r_t' over the valid t' >= t`` (the undiscounted return), 0 off the mask.

    Positions off the mask add nothing and get 0 (padding, or tool output inside a multi-turn
    completion, as `rlfb.algo.ppo.gae` skips them).

    Args:
        token_rewards: ``[B, T]``.
        mask: ``[B, T]`` loss mask.
    """
    ndim("token_rewards", token_rewards, 2, "[B, T]")
    same_shape(token_rewards=token_rewards, mask=mask)
    valid = mask.bool()
    kept = torch.where(valid, token_rewards.detach(), 0.0)
    returns = kept.flip(-1).cumsum(-1).flip(-1)
    return torch.where(valid, returns, 0.0)


def reinforce_pp_token_advantages(token_rewards: torch.Tensor, mask: torch.Tensor, *,
                                  eps: float = 1e-8) -> torch.Tensor:
    """Token-level REINFORCE++: `reward_to_go`, whitened over the batch's valid tokens.

    ``A_t = (G_t - mean) / sqrt(var + eps)``: verl's ``compute_reinforce_plus_plus_outcome_
    advantage`` with gamma = 1, except that the weighted mean and unbiased variance give every
    sample the same weight (each valid token of a sample of length L weighs 1 / L, so the
    Bessel count is the number of samples): with a reward only at the end this is exactly
    `rlfb.algo.advantages.reinforce_pp_advantages`.

    Args:
        token_rewards: ``[B, T]`` (`rlfb.algo.ppo.assemble_token_rewards`).
        mask: ``[B, T]`` loss mask.
        eps: added to the variance, as in `rlfb.algo.advantages.reinforce_pp_advantages`.

    Returns:
        ``[B, T]`` advantages, 0 off the mask.
    """
    returns = reward_to_go(token_rewards, mask)
    valid = mask.bool()
    per_token = 1.0 / valid.sum(-1, keepdim=True).clamp_min(1).to(returns.dtype)
    return masked_whiten(returns, torch.where(valid, per_token, 0.0), eps=eps)


#: Estimators with a token form when the KL is in the reward; the others get the sequence form.
TOKEN_FORMS: dict[str, Callable[..., torch.Tensor]] = {
    "reinforce_pp": reinforce_pp_token_advantages,
}


def outcome_advantages_with_kl(scores: torch.Tensor,
                               group_ids: Sequence[Hashable] | torch.Tensor,
                               logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                               mask: torch.Tensor, *, estimator: str,
                               options: Mapping[str, Any] | None = None, coef: float,
                               kl_estimator: str = "k1", clamp: float | None = None
                               ) -> torch.Tensor:
    """Per-token advantages of an outcome estimator with the KL folded into the reward.

    Args:
        scores: ``[B]`` each sample's reward (NaN = masked; its mask row is all 0).
        group_ids: ``[B]`` the group (prompt) of each sample, as for
            `rlfb.algo.advantages.to_groups`.
        logprobs, ref_logprobs: ``[B, T]`` rollout-policy and reference logprobs.
        mask: ``[B, T]`` loss mask.
        estimator: registry name in `rlfb.algo.registry.ADVANTAGES`; ``TOKEN_FORMS`` names
            those with a token form (module docstring).
        options: the estimator's keyword options (``algo.advantage_options``).
        coef: the KL coefficient beta (>= 0).
        kl_estimator, clamp: as in `rlfb.algo.kl.kl_estimate`.

    Returns:
        ``[B, T]`` detached advantages, 0 off the mask.
    """
    options = dict(options or {})
    valid = mask.bool()
    if estimator in TOKEN_FORMS:
        has_tokens = valid.any(-1)
        rewards = assemble_token_rewards(
            torch.where(has_tokens, scores.detach().to(logprobs.dtype), torch.nan), mask,
            logprobs=logprobs, ref_logprobs=ref_logprobs, kl_coef=coef,
            kl_estimator=kl_estimator, kl_clamp=clamp)
        return TOKEN_FORMS[estimator](rewards, mask, **options)
    shaped = kl_penalized_scores(scores.to(logprobs.dtype), logprobs, ref_logprobs, mask,
                                 coef=coef, estimator=kl_estimator, clamp=clamp)
    groups = to_groups(shaped, group_ids)
    grouped = get_advantage_estimator(estimator)(groups.values, mask=groups.mask, **options)
    return torch.where(valid, from_groups(grouped, groups).unsqueeze(-1), 0.0)
