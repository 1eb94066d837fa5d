"""KL estimators k1/k2/k3, KL in the reward and KL in the loss, by hand."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from rlfb.algo.kl import kl_estimate, kl_in_reward, kl_loss
from rlfb.errors import ConfigError, RlfbError

close = partial(torch.testing.assert_close, rtol=1e-5, atol=1e-6)
LOGP = torch.tensor([-1.0, -2.0])
REF = torch.tensor([-1.5, -1.0])   # log r = ref - logp = [-0.5, 1.0]


def test_estimators_by_hand():
    close(kl_estimate(LOGP, REF, estimator="k1"), torch.tensor([0.5, -1.0]))
    close(kl_estimate(LOGP, REF, estimator="k2"), torch.tensor([0.5 * 0.25, 0.5 * 1.0]))
    close(kl_estimate(LOGP, REF, estimator="k3"),
          torch.tensor([math.exp(-0.5) + 0.5 - 1, math.exp(1.0) - 1.0 - 1]))


def test_clamp():
    close(kl_estimate(LOGP, REF, estimator="k3", clamp=0.3),
          torch.tensor([math.exp(-0.5) - 0.5, 0.3]))
    close(kl_estimate(LOGP, REF, estimator="k1", clamp=0.3), torch.tensor([0.3, -0.3]))
    # k3 clamps the log ratio at 20 before exp: one wild token stays finite
    wild = kl_estimate(torch.tensor([-200.0]), torch.tensor([0.0]), estimator="k3")
    close(wild, torch.tensor([math.exp(20.0) - 21.0]))


def test_k3_and_k2_are_non_negative_and_k1_k3_agree_in_expectation():
    gen = torch.Generator().manual_seed(0)
    # exact check of unbiasedness on a small discrete distribution: E_p[k] = KL(p || q)
    p = torch.softmax(torch.randn(6, generator=gen, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(6, generator=gen, dtype=torch.float64), -1)
    true_kl = (p * (p.log() - q.log())).sum()
    for est in ("k1", "k3"):
        expected_value = (p * kl_estimate(p.log(), q.log(), estimator=est)).sum()
        torch.testing.assert_close(expected_value, true_kl, rtol=1e-12, atol=1e-12)
    for est in ("k2", "k3"):
        assert bool((kl_estimate(p.log(), q.log(), estimator=est) >= 0).all())


def test_kl_in_reward():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -1.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.7], [-1.0, -1.2, 9.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    # k1 = logp - ref = [[0.5, -1.0, 0.2], [0.0, 0.2, -]], coef 0.1
    out = kl_in_reward(rewards, logp, ref, mask, coef=0.1)
    close(out, torch.tensor([[-0.05, 0.1, 1.0 - 0.02], [0.0, 2.0 - 0.02, 0.0]]))
    assert not out.requires_grad


def test_kl_loss_value_and_gradient():
    logp = LOGP.clone().unsqueeze(0).requires_grad_(True)
    ref = REF.unsqueeze(0)
    loss = kl_loss(logp, ref, torch.ones(1, 2), coef=0.5, estimator="k3")
    k3 = [math.exp(-0.5) + 0.5 - 1, math.exp(1.0) - 2]
    close(loss, torch.tensor(0.5 * (k3[0] + k3[1]) / 2))
    loss.backward()
    # d k3 / d logp = 1 - exp(ref - logp); times coef 0.5, token mean over 2
    close(logp.grad, 0.5 * torch.tensor([[1 - math.exp(-0.5), 1 - math.exp(1.0)]]) / 2)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="use one of"):
        kl_estimate(LOGP, REF, estimator="k4")
    with pytest.raises(ConfigError, match="clamp"):
        kl_estimate(LOGP, REF, clamp=0)
    with pytest.raises(ConfigError, match="coef"):
        kl_in_reward(LOGP[None], LOGP[None], REF[None], torch.ones(1, 2), coef=-1)
    with pytest.raises(RlfbError, match="shape mismatch"):
        kl_estimate(LOGP, REF[:1])
