"""KL in the reward for the outcome estimators, against arithmetic written out here."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from rlfb.algo.advantages import grpo_advantages, reinforce_pp_advantages, rloo_advantages
from rlfb.algo.kl_reward import (
    kl_penalized_scores,
    outcome_advantages_with_kl,
    reinforce_pp_token_advantages,
    reward_to_go,
)
from rlfb.errors import ConfigError, RlfbError

close = partial(torch.testing.assert_close, rtol=1e-5, atol=1e-6)
NAN = float("nan")

# three samples, T = 3; the third is masked (NaN score, all-zero mask row)
LOGP = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]])
REF = torch.tensor([[-1.5, -1.0, -0.7], [-1.0, -1.2, 9.0], [0.0, 0.0, 0.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 0, 0]])
# k1 = logp - ref on the mask: row 0 [0.5, -1.0, 0.2] (sum -0.3), row 1 [0.0, 0.2] (sum 0.2)


def test_kl_penalized_scores_by_hand():
    out = kl_penalized_scores(torch.tensor([1.0, 0.0, NAN]), LOGP, REF, MASK, coef=0.1,
                              estimator="k1")
    close(out[:2], torch.tensor([1.0 - 0.1 * -0.3, 0.0 - 0.1 * 0.2]))
    assert math.isnan(out[2])
    # k2 = 0.5 * (ref - logp)^2: row 0 0.5 * (0.25 + 1 + 0.04), row 1 0.5 * (0 + 0.04)
    out = kl_penalized_scores(torch.tensor([1.0, 0.0, NAN]), LOGP, REF, MASK, coef=0.1,
                              estimator="k2")
    close(out[:2], torch.tensor([1.0 - 0.1 * 0.645, 0.0 - 0.1 * 0.02]))


def test_reward_to_go_skips_positions_off_the_mask():
    rewards = torch.tensor([[1.0, 2.0, 3.0], [4.0, 7.0, 5.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 1]])
    close(reward_to_go(rewards, mask), torch.tensor([[6.0, 5.0, 3.0], [9.0, 0.0, 5.0]]))


def test_reinforce_pp_token_advantages_by_hand():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    # returns [1, 1, 1] and [0, 0]; every sample weighs 1 (its tokens 1/3 and 1/2 each):
    # mean 0.5, squared deviations 0.25 + 0.25, unbiased over 2 samples: 0.5 / 1
    std = math.sqrt(0.5 + 1e-8)
    expected = torch.tensor([[0.5, 0.5, 0.5], [-0.5, -0.5, 0.0]]) / std
    close(reinforce_pp_token_advantages(rewards, mask), expected)


def test_sequence_form_rloo_and_grpo_by_hand():
    # one group of two samples with equal scores: without the KL both advantages are 0
    scores = torch.tensor([1.0, 1.0])
    logp = torch.tensor([[-1.0, -1.0], [-1.0, -1.0]])
    ref = torch.tensor([[-1.5, -1.0], [-0.5, -1.0]])    # k1 sums: 0.5 and -0.5
    mask = torch.tensor([[1, 1], [1, 0]])
    kw = dict(group_ids=[0, 0], logprobs=logp, ref_logprobs=ref, mask=mask, coef=0.2,
              kl_estimator="k1")
    # shaped rewards 1 - 0.2 * 0.5 = 0.9 and 1 + 0.2 * 0.5 = 1.1
    rloo = outcome_advantages_with_kl(scores, estimator="rloo", **kw)
    close(rloo, torch.tensor([[-0.2, -0.2], [0.2, 0.0]]))
    # GRPO: mean 1.0, deviations -0.1 / +0.1, unbiased std sqrt(0.02 / 1)
    grpo = outcome_advantages_with_kl(scores, estimator="grpo", **kw)
    a = 0.1 / (math.sqrt(0.02) + 1e-6)
    close(grpo, torch.tensor([[-a, -a], [a, 0.0]]))
    # the estimator's options are passed on (normalize_std=False is Dr.GRPO)
    dr = outcome_advantages_with_kl(scores, estimator="grpo", options={"normalize_std": False},
                                    **kw)
    close(dr, torch.tensor([[-0.1, -0.1], [0.1, 0.0]]))


def test_token_form_reinforce_pp_by_hand():
    scores = torch.tensor([1.0, 0.0])
    logp = torch.tensor([[-1.0, -1.0], [-1.0, -1.0]])
    ref = torch.tensor([[-1.2, -1.0], [-1.4, 5.0]])    # k1: row 0 [0.2, 0.0], row 1 [0.4, -]
    mask = torch.tensor([[1, 1], [1, 0]])
    adv = outcome_advantages_with_kl(scores, [0, 0], logp, ref, mask, estimator="reinforce_pp",
                                     coef=0.5, kl_estimator="k1")
    # token rewards: row 0 [-0.1, 1.0], row 1 [-0.2]; returns: row 0 [0.9, 1.0], row 1 [-0.2];
    # token weights 1/2, 1/2 and 1 (each sample weighs 1), so the Bessel count is 2 samples
    mean = (0.5 * 0.9 + 0.5 * 1.0 + 1.0 * -0.2) / 2
    dev = [0.9 - mean, 1.0 - mean, -0.2 - mean]
    var = (0.5 * dev[0] ** 2 + 0.5 * dev[1] ** 2 + 1.0 * dev[2] ** 2) / 2 * 2 / (2 - 1)
    std = math.sqrt(var + 1e-8)
    close(adv, torch.tensor([[dev[0] / std, dev[1] / std], [dev[2] / std, 0.0]]))


def test_zero_coefficient_gives_the_plain_estimators():
    gen = torch.Generator().manual_seed(0)
    scores = torch.tensor([1.0, 0.0, 0.5, 1.0, NAN, 0.0])
    mask = torch.ones(6, 4)
    mask[4] = 0           # the masked sample
    mask[1, 3] = 0        # a shorter completion
    logp, ref = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    ids = [0, 0, 0, 1, 1, 1]
    grouped = scores.reshape(2, 3)
    for name, plain in (("grpo", grpo_advantages), ("rloo", rloo_advantages)):
        adv = outcome_advantages_with_kl(scores, ids, logp, ref, mask, estimator=name, coef=0.0)
        close(adv, plain(grouped).reshape(6, 1) * mask)
    # the token form with coef 0 is the outcome form (every sample weighs the same)
    adv = outcome_advantages_with_kl(scores, ids, logp, ref, mask, estimator="reinforce_pp",
                                     coef=0.0)
    close(adv, reinforce_pp_advantages(grouped).reshape(6, 1) * mask)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="coef"):
        kl_penalized_scores(torch.zeros(3), LOGP, REF, MASK, coef=-0.1)
    with pytest.raises(RlfbError, match="rows"):
        kl_penalized_scores(torch.zeros(2), LOGP, REF, MASK, coef=0.1)
    with pytest.raises(RlfbError, match="shape mismatch"):
        reward_to_go(torch.zeros(2, 3), torch.ones(2, 2))
