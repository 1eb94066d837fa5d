"""DPO, cDPO, IPO and the Bradley-Terry reward-model loss, by hand."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from rlfb.algo.preference import bradley_terry_loss, dpo_loss, ipo_loss
from rlfb.errors import ConfigError, RlfbError

close = partial(torch.testing.assert_close, rtol=1e-5, atol=1e-6)


def softplus(x: float) -> float:
    """-log sigmoid(-x) = log(1 + e^x)."""
    return math.log1p(math.exp(x))


def _pair(requires_grad: bool = False):
    # chosen: pi - ref = -1 + 1.5 = 0.5; rejected: -2 + 1.5 = -0.5; delta = 1.0
    pc = torch.tensor([-1.0], requires_grad=requires_grad)
    return pc, torch.tensor([-2.0]), torch.tensor([-1.5]), torch.tensor([-1.5])


def test_dpo_by_hand():
    pc, pr, rc, rr = _pair(requires_grad=True)
    out = dpo_loss(pc, pr, rc, rr, beta=0.1)
    close(out.losses, torch.tensor([softplus(-0.1)]))           # -log sigmoid(0.1 * 1.0)
    close(out.chosen_rewards, torch.tensor([0.05]))
    close(out.rejected_rewards, torch.tensor([-0.05]))
    close(out.stats["reward_accuracy"], torch.tensor(1.0))
    close(out.stats["reward_margin"], torch.tensor(0.1))
    out.losses.sum().backward()
    # d/d pi_chosen of -log sigmoid(beta * delta) = -beta * sigmoid(-beta * delta)
    close(pc.grad, torch.tensor([-0.1 / (1 + math.exp(0.1))]))


def test_cdpo_label_smoothing_by_hand():
    out = dpo_loss(*_pair(), beta=0.1, label_smoothing=0.1)
    # -(0.9) log sigmoid(0.1) - 0.1 log sigmoid(-0.1)
    close(out.losses, torch.tensor([0.9 * softplus(-0.1) + 0.1 * softplus(0.1)]))


def test_ipo_by_hand():
    out = ipo_loss(*_pair(), beta=0.1)
    close(out.losses, torch.tensor([(1.0 - 5.0) ** 2]))           # 1 / (2 * 0.1) = 5
    close(ipo_loss(*_pair(), beta=0.5).losses, torch.tensor([0.0]))  # delta = 1 = 1 / (2 * 0.5)


def test_bradley_terry_by_hand():
    chosen = torch.tensor([2.0, 0.0], requires_grad=True)
    rejected = torch.tensor([1.0, 0.5])
    out = bradley_terry_loss(chosen, rejected)
    close(out.losses, torch.tensor([softplus(-1.0), softplus(0.5)]))
    close(out.stats["reward_accuracy"], torch.tensor(0.5))
    close(out.stats["reward_margin"], torch.tensor((1.0 - 0.5) / 2))
    out.losses.mean().backward()
    # d/ds_w of -log sigmoid(d) = -sigmoid(-d), halved by the mean
    close(chosen.grad, torch.tensor([-1 / (1 + math.exp(1.0)), -1 / (1 + math.exp(-0.5))]) / 2)
    margin = bradley_terry_loss(chosen.detach(), rejected, margin=0.5)
    close(margin.losses, torch.tensor([softplus(-0.5), softplus(1.0)]))
    per_pair = bradley_terry_loss(chosen.detach(), rejected, margin=torch.tensor([1.0, 0.0]))
    close(per_pair.losses, torch.tensor([softplus(0.0), softplus(0.5)]))


def test_bad_inputs():
    with pytest.raises(ConfigError, match="beta"):
        dpo_loss(*_pair(), beta=0.0)
    with pytest.raises(ConfigError, match="label_smoothing"):
        dpo_loss(*_pair(), label_smoothing=0.5)
    with pytest.raises(RlfbError, match="shape mismatch"):
        dpo_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2))
    with pytest.raises(RlfbError, match=r"\[B\]"):
        bradley_terry_loss(torch.zeros(2, 1), torch.zeros(2, 1))
