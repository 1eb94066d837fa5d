"""Group (outcome) advantage estimators: one scalar reward per sample, samples grouped by prompt.

Interface (every estimator here and in `rlfb.algo.registry.ADVANTAGES`):

    advantages = estimator(rewards, mask=mask, **options)

- ``rewards``: ``[G, n]`` float, G groups (prompts) of n samples. NaN marks a masked sample (a
  judge that timed out or failed), and so does ``mask`` False.
- ``mask``: optional ``[G, n]`` bool; also pads groups of unequal size (see `to_groups`).
- returns ``[G, n]`` advantages, with exactly 0 for masked samples.

Masked samples take no part in any statistic: a group of n with one judge failure is a group of
n - 1. A group with fewer than 2 valid samples has no baseline to compare with and gets 0 (verl
instead uses baseline 0 for a lone sample, which makes its advantage the raw reward). A group
whose valid rewards are all equal gets exactly 0, not round-off divided by ``eps``.

To use flat rewards ``[N]`` with a prompt id per sample::

    groups = to_groups(rewards, prompt_ids)
    adv = from_groups(grpo_advantages(groups.values, mask=groups.mask), groups)   # [N]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch

from rlfb.algo._validate import ndim, positive, same_shape, valid_mask
from rlfb.algo.aggregation import masked_whiten
from rlfb.algo.registry import ADVANTAGES
from rlfb.errors import RlfbError


@dataclass(frozen=True)
class Groups:
    """Flat samples laid out as groups.

    Attributes:
        values: ``[G, n]`` the values, NaN where a group is shorter than n.
        mask: ``[G, n]`` bool, True where a sample sits.
        row: ``[N]`` group index of each flat sample.
        col: ``[N]`` position of each flat sample within its group.
        keys: the group id of each row, in order of first appearance.
    """

    values: torch.Tensor
    mask: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    keys: tuple[Hashable, ...]


def to_groups(values: torch.Tensor, group_ids: Sequence[Hashable] | torch.Tensor) -> Groups:
    """Lay out flat ``values [N]`` as ``[G, n]`` groups by ``group_ids`` (``[N]``, any hashables).

    Groups appear in order of first appearance and samples keep their order within a group;
    n is the largest group size and shorter groups are padded with NaN / mask False. NaN in
    ``values`` stays NaN (and so stays masked for the estimators).
    """
    ndim("values", values, 1, "[N]")
    ids = group_ids.tolist() if isinstance(group_ids, torch.Tensor) else list(group_ids)
    if len(ids) != values.shape[0]:
        raise RlfbError(f"group_ids has {len(ids)} entries but values has {values.shape[0]}; "
                        "give one group id per sample")
    index: dict[Hashable, int] = {}
    counts: list[int] = []
    rows, cols = [], []
    for key in ids:
        g = index.setdefault(key, len(index))
        if g == len(counts):
            counts.append(0)
        rows.append(g)
        cols.append(counts[g])
        counts[g] += 1
    row = torch.tensor(rows, dtype=torch.long)
    col = torch.tensor(cols, dtype=torch.long)
    shape = (len(counts), max(counts, default=0))
    grouped = torch.full(shape, float("nan"), dtype=values.dtype)
    grouped[row, col] = values
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[row, col] = True
    return Groups(grouped, mask, row, col, tuple(index))


def from_groups(grouped: torch.Tensor, groups: Groups) -> torch.Tensor:
    """Inverse of `to_groups`: the ``[N]`` flat values of a ``[G, n]`` tensor, in input order."""
    same_shape(grouped=grouped, groups_mask=groups.mask)
    return grouped[groups.row, groups.col]


def _group_stats(rewards: torch.Tensor, mask: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(valid [G, n], count [G, 1], sum [G, 1], informative [G, 1])`` of the valid rewards."""
    ndim("rewards", rewards, 2, "[G, n] (groups x samples); use to_groups for flat rewards")
    if not rewards.is_floating_point():
        raise RlfbError(f"rewards must be a float tensor, got {rewards.dtype}")
    valid = valid_mask(rewards, mask)
    count = valid.sum(-1, keepdim=True)
    total = torch.where(valid, rewards, 0.0).sum(-1, keepdim=True)
    informative = ~zero_variance_groups(rewards, mask=mask).unsqueeze(-1)
    return valid, count, total, informative


def zero_variance_groups(rewards: torch.Tensor, *, mask: torch.Tensor | None = None
                         ) -> torch.Tensor:
    """``[G]`` bool: True for groups that carry no learning signal.

    A group carries none when its valid rewards are all exactly equal or when it has fewer than
    2 valid samples. DAPO's dynamic sampling drops such groups and samples more prompts.

    Args:
        rewards: ``[G, n]`` float, NaN = masked.
        mask: optional ``[G, n]`` bool, False = masked.
    """
    ndim("rewards", rewards, 2, "[G, n] (groups x samples)")
    valid = valid_mask(rewards, mask)
    high = torch.where(valid, rewards, float("-inf")).amax(-1)
    low = torch.where(valid, rewards, float("inf")).amin(-1)
    return (valid.sum(-1) < 2) | (high == low)


@ADVANTAGES.register("grpo")
def grpo_advantages(rewards: torch.Tensor, *, mask: torch.Tensor | None = None,
                    normalize_std: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """GRPO: ``(r - mean_group) / (std_group + eps)`` over each group's valid samples.

    Args:
        rewards: ``[G, n]`` float, NaN = masked.
        mask: optional ``[G, n]`` bool, False = masked.
        normalize_std: False drops the division by the std (Dr.GRPO, arXiv:2503.20783).
        eps: added to the std (verl's default 1e-6; TRL uses 1e-4).

    Returns:
        ``[G, n]`` advantages; 0 for masked samples and for groups without signal.

    The std is the unbiased (Bessel-corrected, ``/(k-1)``) sample std of the k valid rewards,
    as ``torch.std`` in TRL and verl. A group of k < 2 valid samples gets 0.
    """
    positive("eps", eps, allow_zero=True)
    valid, count, total, informative = _group_stats(rewards, mask)
    mean = total / count.clamp_min(1)
    centered = torch.where(valid, rewards - mean, 0.0)
    adv = centered
    if normalize_std:
        var = (centered**2).sum(-1, keepdim=True) / (count - 1).clamp_min(1)
        adv = centered / (var.sqrt() + eps)
    return torch.where(valid & informative, adv, 0.0)


@ADVANTAGES.register("dr_grpo")
def dr_grpo_advantages(rewards: torch.Tensor, *, mask: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """Dr.GRPO: ``r - mean_group`` (GRPO without the std division). Shapes as `grpo_advantages`.

    Pair it with the ``"seq-mean-token-sum-norm"`` aggregation for the full Dr.GRPO objective.
    """
    return grpo_advantages(rewards, mask=mask, normalize_std=False)


@ADVANTAGES.register("rloo")
def rloo_advantages(rewards: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
    """RLOO (arXiv:2402.14740): ``r_i - mean_{j != i} r_j`` over the group's valid samples.

    Args:
        rewards: ``[G, n]`` float, NaN = masked.
        mask: optional ``[G, n]`` bool, False = masked.

    Returns:
        ``[G, n]``; equals ``k / (k - 1) * (r_i - mean)`` for k valid samples; 0 for masked
        samples and for groups with k < 2 (no other sample to compare with).
    """
    valid, count, total, informative = _group_stats(rewards, mask)
    baseline = (total - rewards) / (count - 1).clamp_min(1)
    return torch.where(valid & informative, rewards - baseline, 0.0)


@ADVANTAGES.register("reinforce_pp_baseline")
def reinforce_pp_baseline_advantages(rewards: torch.Tensor, *, mask: torch.Tensor | None = None,
                                     token_counts: torch.Tensor | None = None,
                                     eps: float = 1e-8) -> torch.Tensor:
    """REINFORCE++-baseline (arXiv:2501.03262): group mean subtracted, then whitened batch-wide.

    ``a = r - mean_group`` (no std division), then ``(a - mean) / sqrt(var + eps)`` with the mean
    and unbiased variance over every valid sample of the batch. This follows verl's
    ``reinforce_plus_plus_baseline``, which whitens over tokens: pass ``token_counts`` (``[G, n]``,
    each sample's number of completion tokens) to weight samples by length exactly as verl does;
    without it every sample weighs the same. (OpenRLHF uses the biased variance.) A group of
    fewer than 2 valid samples contributes 0 before whitening (verl: the raw reward).

    Returns:
        ``[G, n]`` advantages, 0 for masked samples.
    """
    centered = dr_grpo_advantages(rewards, mask=mask)
    return _whiten_samples(centered, rewards, mask, token_counts, eps)


@ADVANTAGES.register("reinforce_pp")
def reinforce_pp_advantages(rewards: torch.Tensor, *, mask: torch.Tensor | None = None,
                            token_counts: torch.Tensor | None = None,
                            eps: float = 1e-8) -> torch.Tensor:
    """REINFORCE++ for outcome rewards: the raw rewards whitened batch-wide (no group baseline).

    With one reward at the end and gamma = 1 every token's return is the reward, so verl's
    token-level ``reinforce_plus_plus`` reduces to this; ``token_counts`` and ``eps`` as in
    `reinforce_pp_baseline_advantages`. Groups play no part (any ``[G, n]`` layout works).
    """
    valid = valid_mask(rewards, mask)
    return _whiten_samples(torch.where(valid, rewards, 0.0), rewards, mask, token_counts, eps)


def _whiten_samples(values: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor | None,
                    token_counts: torch.Tensor | None, eps: float) -> torch.Tensor:
    valid = valid_mask(rewards, mask)
    weights = valid.to(values.dtype)
    if token_counts is not None:
        same_shape(rewards=rewards, token_counts=token_counts)
        if bool((token_counts[valid] <= 0).any()):
            raise RlfbError("token_counts must be > 0 for every valid sample")
        weights = weights * token_counts.to(values.dtype)
    return masked_whiten(values, weights, eps=eps)
