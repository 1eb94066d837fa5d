"""Pairwise preference losses: DPO (with cDPO label smoothing), IPO, and the Bradley-Terry loss
that trains a reward model.

Inputs are per pair ``[B]``: the summed logprob of the chosen (preferred) and rejected completion
under the policy and under the frozen reference. With
``delta = (pi_chosen - pi_rejected) - (ref_chosen - ref_rejected)``:

- DPO (Rafailov et al. 2023): ``-log sigmoid(beta * delta)``.
- cDPO (``label_smoothing`` eps, labels flipped with probability eps):
  ``-(1 - eps) * log sigmoid(beta * delta) - eps * log sigmoid(-beta * delta)``.
- IPO (Azar et al. 2023): ``(delta - 1 / (2 * beta)) ** 2``. The paper (and TRL) use logprobs
  averaged over each completion's tokens here, not summed: pass those.

Implicit rewards are ``beta * (pi - ref)`` of each completion (detached), and the stats report how
often the chosen one wins (``reward_accuracy``) and by how much (``reward_margin``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from rlfb.algo._validate import ndim, positive, same_shape
from rlfb.errors import ConfigError


@dataclass
class PreferenceOutput:
    """Per-pair losses and the implied rewards.

    Attributes:
        losses: ``[B]`` per-pair loss (differentiable); take ``.mean()`` for the batch loss.
        chosen_rewards: ``[B]`` detached reward of each chosen completion.
        rejected_rewards: ``[B]`` detached reward of each rejected completion.
        stats: detached scalars ``reward_accuracy`` (fraction with chosen > rejected) and
            ``reward_margin`` (mean chosen - rejected).
    """

    losses: torch.Tensor
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


def _output(losses: torch.Tensor, chosen: torch.Tensor, rejected: torch.Tensor
            ) -> PreferenceOutput:
    chosen, rejected = chosen.detach(), rejected.detach()
    stats = {"reward_accuracy": (chosen > rejected).float().mean(),
             "reward_margin": (chosen - rejected).mean()}
    return PreferenceOutput(losses, chosen, rejected, stats)


def _delta(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
           ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(delta, chosen_rewards, rejected_rewards)`` after shape and beta checks."""
    positive("beta", beta)
    ndim("policy_chosen_logps", policy_chosen_logps, 1, "[B] (one summed logprob per pair)")
    same_shape(policy_chosen_logps=policy_chosen_logps,
               policy_rejected_logps=policy_rejected_logps,
               ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
    chosen_ratio = policy_chosen_logps - ref_chosen_logps.detach()
    rejected_ratio = policy_rejected_logps - ref_rejected_logps.detach()
    return chosen_ratio - rejected_ratio, beta * chosen_ratio, beta * rejected_ratio


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, *,
             beta: float = 0.1, label_smoothing: float = 0.0) -> PreferenceOutput:
    """DPO's sigmoid loss, with cDPO label smoothing (module docstring).

    Args:
        policy_chosen_logps, policy_rejected_logps: ``[B]`` summed completion logprobs under
            the policy (with grad).
        ref_chosen_logps, ref_rejected_logps: ``[B]`` the same under the reference.
        beta: > 0; larger keeps the policy closer to the reference (0.1 is common).
        label_smoothing: eps in [0, 0.5): the assumed probability that a label is flipped.

    Returns:
        `PreferenceOutput` with ``losses`` ``[B]``.
    """
    if not 0 <= label_smoothing < 0.5:
        raise ConfigError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    delta, chosen, rejected = _delta(policy_chosen_logps, policy_rejected_logps,
                                     ref_chosen_logps, ref_rejected_logps, beta)
    losses = -(1 - label_smoothing) * F.logsigmoid(beta * delta)
    if label_smoothing:
        losses = losses - label_smoothing * F.logsigmoid(-beta * delta)
    return _output(losses, chosen, rejected)


def ipo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, *,
             beta: float = 0.1) -> PreferenceOutput:
    """IPO: ``(delta - 1 / (2 * beta)) ** 2`` per pair; inputs as `dpo_loss` but per-token
    averaged logprobs (module docstring). Here beta is the paper's tau (> 0).

    Returns:
        `PreferenceOutput` with ``losses`` ``[B]``.
    """
    delta, chosen, rejected = _delta(policy_chosen_logps, policy_rejected_logps,
                                     ref_chosen_logps, ref_rejected_logps, beta)
    return _output((delta - 1 / (2 * beta)).square(), chosen, rejected)


def bradley_terry_loss(chosen_scores: torch.Tensor, rejected_scores: torch.Tensor, *,
                       margin: float | torch.Tensor = 0.0) -> PreferenceOutput:
    """Reward-model loss ``-log sigmoid(s_chosen - s_rejected - margin)`` per pair.

    Args:
        chosen_scores: ``[B]`` reward-model scores of the preferred completions (with grad).
        rejected_scores: ``[B]`` scores of the rejected ones.
        margin: how far the chosen score must lead (a float, or ``[B]`` per pair as in
            Llama 2's margin by preference strength); 0 is plain Bradley-Terry.

    Returns:
        `PreferenceOutput` whose ``chosen_rewards``/``rejected_rewards`` are the detached scores.
    """
    ndim("chosen_scores", chosen_scores, 1, "[B] (one score per pair)")
    same_shape(chosen_scores=chosen_scores, rejected_scores=rejected_scores)
    if isinstance(margin, torch.Tensor):
        same_shape(chosen_scores=chosen_scores, margin=margin)
    losses = -F.logsigmoid(chosen_scores - rejected_scores - margin)
    return _output(losses, chosen_scores, rejected_scores)
