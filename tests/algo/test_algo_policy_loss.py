"""PPO-clip (clip-higher, dual clip), GSPO and truncated IS weights, by hand."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from rlfb.algo.aggregation import aggregate
from rlfb.algo.policy_loss import gspo_loss, ppo_clip_loss, truncated_is_weights
from rlfb.errors import ConfigError, RlfbError

close = partial(torch.testing.assert_close, rtol=1e-5, atol=1e-6)
E = math.e
OLD = torch.tensor([[-0.5, -0.8, -1.2]])
ONES = torch.ones(1, 3)


def test_ratio_above_clip_with_positive_advantage_is_clipped():
    # ratio e everywhere, A = 1: max(-e, -1.2) = -1.2
    out = ppo_clip_loss(OLD + 1, OLD, ONES, ONES)
    close(out.loss, torch.full((1, 3), -1.2))
    close(out.stats["clip_frac"], torch.tensor(1.0))
    close(out.stats["clip_frac_high"], torch.tensor(1.0))
    close(out.stats["clip_frac_low"], torch.tensor(0.0))
    close(out.stats["ratio_mean"], torch.tensor(E))
    close(out.stats["approx_kl"], torch.tensor(E - 1 - 1))  # k3: r - 1 - log r at log r = 1


def test_ratio_below_clip_with_positive_advantage_is_not_clipped():
    # ratio 1/e, A = 1: max(-1/e, -0.8) = -1/e (PPO does not clip a falling good action)
    out = ppo_clip_loss(OLD - 1, OLD, ONES, ONES)
    close(out.loss, torch.full((1, 3), -1 / E))
    close(out.stats["clip_frac"], torch.tensor(0.0))


def test_negative_advantage_clip_low_and_dual_clip():
    # A = -1, ratio 1/e: max(1/e, 0.8) = 0.8 (clipped at 1 - clip_low)
    out = ppo_clip_loss(OLD - 1, OLD, -ONES, ONES)
    close(out.loss, torch.full((1, 3), 0.8))
    close(out.stats["clip_frac_low"], torch.tensor(1.0))
    # A = -1, ratio e: max(e, 1.2) = e (unbounded without dual clip)
    close(ppo_clip_loss(OLD + 1, OLD, -ONES, ONES).loss, torch.full((1, 3), E))
    # dual clip c = 2: min(e, 2 * 1) = 2; c = 3: min(e, 3) = e
    dual = ppo_clip_loss(OLD + 1, OLD, -ONES, ONES, clip_c=2.0)
    close(dual.loss, torch.full((1, 3), 2.0))
    close(dual.stats["dual_clip_frac"], torch.tensor(1.0))
    wide = ppo_clip_loss(OLD + 1, OLD, -ONES, ONES, clip_c=3.0)
    close(wide.loss, torch.full((1, 3), E))
    close(wide.stats["dual_clip_frac"], torch.tensor(0.0))


def test_clip_higher_is_asymmetric():
    # log ratios 0.25 and 0.2: ratios 1.2840 and 1.2214, A = 1
    logp = torch.tensor([[0.25, 0.2]])
    zeros, ones = torch.zeros(1, 2), torch.ones(1, 2)
    sym = ppo_clip_loss(logp, zeros, ones, ones, clip_low=0.2)
    close(sym.loss, torch.tensor([[-1.2, -1.2]]))
    dapo = ppo_clip_loss(logp, zeros, ones, ones, clip_low=0.2, clip_high=0.28)
    close(dapo.loss, torch.tensor([[-1.28, -math.exp(0.2)]]))
    close(dapo.stats["clip_frac_high"], torch.tensor(0.5))
    # the lower bound still uses clip_low: A = -1, log ratio -0.3 -> ratio 0.7408 < 0.8
    low = ppo_clip_loss(torch.tensor([[-0.3]]), torch.zeros(1, 1), -torch.ones(1, 1),
                        torch.ones(1, 1), clip_low=0.2, clip_high=0.28)
    close(low.loss, torch.tensor([[0.8]]))


def test_gradient_flows_only_through_unclipped_tokens():
    # token 0 inside the clip range (ratio e^0.1), token 1 clipped (ratio e), A = [2, 1]
    logp = torch.tensor([[0.1, 1.0]], requires_grad=True)
    out = ppo_clip_loss(logp, torch.zeros(1, 2), torch.tensor([[2.0, 1.0]]), torch.ones(1, 2))
    aggregate(out.loss, torch.ones(1, 2), mode="token-mean").backward()
    # d(-A r)/d logp = -A r, divided by 2 tokens
    close(logp.grad, torch.tensor([[-2.0 * math.exp(0.1) / 2, 0.0]]))


def test_mask_zeroes_loss_and_excludes_stats():
    logp = torch.tensor([[0.0, 30.0]])  # the masked token has a wild ratio (clamped at e^20)
    out = ppo_clip_loss(logp, torch.zeros(1, 2), torch.ones(1, 2), torch.tensor([[1, 0]]))
    close(out.loss, torch.tensor([[-1.0, 0.0]]))
    close(out.stats["clip_frac"], torch.tensor(0.0))
    close(out.stats["ratio_mean"], torch.tensor(1.0))
    assert all(torch.isfinite(v) for v in out.stats.values())


def test_sequence_advantages_broadcast():
    logp, old = torch.tensor([[0.1, -0.1], [0.3, 0.0]]), torch.zeros(2, 2)
    adv = torch.tensor([1.0, -2.0])
    a = ppo_clip_loss(logp, old, adv, torch.ones(2, 2)).loss
    b = ppo_clip_loss(logp, old, adv[:, None].expand(2, 2), torch.ones(2, 2)).loss
    close(a, b)
    # row 1, token 0: A = -2, ratio e^0.3 = 1.35: max(2 * 1.35, 2 * 1.2) = 2 e^0.3
    close(a[1, 0], torch.tensor(2 * math.exp(0.3)))


def test_gspo_sequence_ratio_and_gradient():
    # valid log ratios [0.1, 0.3] -> sequence log ratio 0.2, s = e^0.2 = 1.2214 (token 2 masked)
    logp = torch.tensor([[0.1, 0.3, 5.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 0]])
    out = gspo_loss(logp, torch.zeros(1, 3), torch.ones(1, 1), mask, clip_low=0.5, clip_high=0.5)
    s = math.exp(0.2)
    close(out.loss, torch.tensor([[-s, -s, 0.0]]))
    close(out.stats["seq_ratio_mean"], torch.tensor(s))
    aggregate(out.loss, mask, mode="seq-mean-token-mean").backward()
    # d/d logp_t of -A * s_it = -A * s; the token mean over 2 tokens halves it
    close(logp.grad, torch.tensor([[-s / 2, -s / 2, 0.0]]))
    # with the paper's narrow range s is clipped at 1 + 4e-4 and carries no gradient
    narrow = gspo_loss(logp.detach(), torch.zeros(1, 3), torch.ones(1, 1), mask)
    close(narrow.loss, torch.tensor([[-(1 + 4e-4), -(1 + 4e-4), 0.0]]))
    close(narrow.stats["clip_frac"], torch.tensor(1.0))


def test_truncated_is_weights_by_hand():
    old = torch.tensor([[0.5, 1.0, -0.3]])
    behaviour = torch.zeros(1, 3, requires_grad=True)
    w = truncated_is_weights(old, behaviour, cap=2.0)
    close(w, torch.tensor([[math.exp(0.5), 2.0, math.exp(-0.3)]]))  # e^1 = 2.718 -> cap 2
    assert not w.requires_grad
    masked = truncated_is_weights(old, behaviour, cap=3.0, mask=torch.tensor([[1, 1, 0]]))
    close(masked, torch.tensor([[math.exp(0.5), math.e, 0.0]]))


def test_bad_options_raise():
    args = (OLD, OLD, ONES, ONES)
    with pytest.raises(ConfigError, match="clip_c"):
        ppo_clip_loss(*args, clip_c=1.0)
    with pytest.raises(ConfigError, match="clip_low"):
        ppo_clip_loss(*args, clip_low=1.0)
    with pytest.raises(ConfigError, match="clip_high"):
        ppo_clip_loss(*args, clip_high=-0.1)
    with pytest.raises(RlfbError, match="advantages must be"):
        ppo_clip_loss(OLD, OLD, torch.ones(2), ONES)
    with pytest.raises(RlfbError, match="shape mismatch"):
        ppo_clip_loss(OLD, OLD[:, :2], ONES, ONES)
    with pytest.raises(ConfigError, match="cap"):
        truncated_is_weights(OLD, OLD, cap=0)
