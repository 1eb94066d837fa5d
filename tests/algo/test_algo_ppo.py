"""GAE, the clipped value loss, KL controllers and token-reward assembly, by hand."""

from __future__ import annotations

import math
import random
from functools import partial

import pytest
import torch

from rlfb.algo.ppo import (
    AdaptiveKLController,
    FixedKLController,
    assemble_token_rewards,
    gae,
    score_to_token_rewards,
    value_loss,
)
from rlfb.errors import ConfigError, RlfbError

close = partial(torch.testing.assert_close, rtol=1e-5, atol=1e-6)


def test_gae_by_hand():
    # gamma 0.9, lam 0.8 (gamma * lam = 0.72), V after the end = 0
    # t=2: delta = 1 - 0.7 = 0.3;               A2 = 0.3
    # t=1: delta = 0 + 0.9 * 0.7 - 0.6 = 0.03;  A1 = 0.03 + 0.72 * 0.3 = 0.246
    # t=0: delta = 0 + 0.9 * 0.6 - 0.5 = 0.04;  A0 = 0.04 + 0.72 * 0.246 = 0.21712
    adv, ret = gae(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.6, 0.7]]),
                   torch.ones(1, 3), gamma=0.9, lam=0.8)
    close(adv, torch.tensor([[0.21712, 0.246, 0.3]]))
    close(ret, torch.tensor([[0.21712 + 0.5, 0.246 + 0.6, 0.3 + 0.7]]))


def test_gae_right_padding_and_holes():
    # right padded, gamma = lam = 1: t=1: 1 - 0.6 = 0.4; t=0: 0.6 - 0.5 + 0.4 = 0.5;
    # returns are the reward-to-go 1.0; the padding (99s) is never read
    adv, ret = gae(torch.tensor([[0.0, 1.0, 99.0]]), torch.tensor([[0.5, 0.6, 99.0]]),
                   torch.tensor([[1, 1, 0]]), gamma=1.0, lam=1.0)
    close(adv, torch.tensor([[0.5, 0.4, 0.0]]))
    close(ret, torch.tensor([[1.0, 1.0, 0.0]]))
    # a hole at t=1 is skipped, gamma = lam = 0.5:
    # t=2: delta = 1 - 0.4 = 0.6; t=0: delta = 0 + 0.5 * 0.4 - 0.2 = 0, A0 = 0.25 * 0.6 = 0.15
    adv, ret = gae(torch.tensor([[0.0, 5.0, 1.0]]), torch.tensor([[0.2, 9.0, 0.4]]),
                   torch.tensor([[1, 0, 1]]), gamma=0.5, lam=0.5)
    close(adv, torch.tensor([[0.15, 0.0, 0.6]]))
    close(ret, torch.tensor([[0.35, 0.0, 1.0]]))


def test_gae_lam_zero_is_td_and_lam_one_is_monte_carlo():
    r, v = torch.tensor([[0.3, -0.2, 1.0]]), torch.tensor([[0.1, 0.4, 0.2]])
    adv, _ = gae(r, v, torch.ones(1, 3), gamma=0.9, lam=0.0)
    close(adv, torch.tensor([[0.3 + 0.9 * 0.4 - 0.1, -0.2 + 0.9 * 0.2 - 0.4, 1.0 - 0.2]]))
    adv, _ = gae(r, v, torch.ones(1, 3), gamma=0.9, lam=1.0)
    mc = [0.3 + 0.9 * (-0.2) + 0.81 * 1.0, -0.2 + 0.9 * 1.0, 1.0]
    close(adv, torch.tensor([mc]) - v)


def _gae_loop(rewards, values, mask, gamma, lam):
    adv = [[0.0] * len(row) for row in rewards]
    for b in range(len(rewards)):
        idx = [t for t in range(len(rewards[b])) if mask[b][t]]
        next_v, next_a = 0.0, 0.0
        for t in reversed(idx):
            delta = rewards[b][t] + gamma * next_v - values[b][t]
            next_a = delta + gamma * lam * next_a
            next_v = values[b][t]
            adv[b][t] = next_a
    ret = [[adv[b][t] + values[b][t] if mask[b][t] else 0.0 for t in range(len(adv[b]))]
           for b in range(len(adv))]
    return adv, ret


def test_gae_vectorised_matches_loop_on_random_inputs():
    rng = random.Random(0)
    for trial in range(10):
        b, t = rng.randint(1, 5), rng.randint(1, 9)
        rewards = [[rng.gauss(0, 1) for _ in range(t)] for _ in range(b)]
        values = [[rng.gauss(0, 1) for _ in range(t)] for _ in range(b)]
        mask = []
        for _ in range(b):
            length = rng.randint(0, t)  # right padded, then random holes
            mask.append([i < length and rng.random() > 0.2 for i in range(t)])
        gamma, lam = rng.random(), rng.random()
        adv, ret = gae(torch.tensor(rewards, dtype=torch.float64),
                       torch.tensor(values, dtype=torch.float64), torch.tensor(mask),
                       gamma=gamma, lam=lam)
        exp_adv, exp_ret = _gae_loop(rewards, values, mask, gamma, lam)
        torch.testing.assert_close(adv, torch.tensor(exp_adv, dtype=torch.float64),
                                   rtol=1e-9, atol=1e-9, msg=f"trial {trial}")
        torch.testing.assert_close(ret, torch.tensor(exp_ret, dtype=torch.float64),
                                   rtol=1e-9, atol=1e-9)


def test_value_loss_by_hand():
    values = torch.tensor([[1.0, 2.0]], requires_grad=True)
    old, returns, mask = torch.tensor([[1.5, 1.5]]), torch.tensor([[2.0, 2.0]]), torch.ones(1, 2)
    out = value_loss(values, old, returns, mask, clip_range=0.2)
    # token 0: (1 - 2)^2 = 1; clipped V = 1.5 - 0.2 = 1.3 -> 0.49; max 1 -> 0.5 * 1 = 0.5
    # token 1: (2 - 2)^2 = 0; clipped V = 1.5 + 0.2 = 1.7 -> 0.09; max 0.09 -> 0.045
    close(out.loss, torch.tensor([[0.5, 0.045]]))
    close(out.stats["clip_frac"], torch.tensor(0.5))
    close(out.stats["mse"], torch.tensor(0.5))
    out.loss.sum().backward()
    close(values.grad, torch.tensor([[1.0 - 2.0, 0.0]]))   # token 1's max is the clipped one
    plain = value_loss(values.detach(), old, returns, torch.tensor([[1, 0]]), clip_range=None)
    close(plain.loss, torch.tensor([[0.5, 0.0]]))


def test_adaptive_kl_controller_by_hand():
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10000)
    # kl 12: error clip(12/6 - 1) = 0.2; beta * (1 + 0.2 * 256 / 10000) = 0.1 * 1.00512
    assert math.isclose(ctl.update(12.0, n_steps=256), 0.100512, rel_tol=1e-12)
    # kl 6.6: error 0.1 -> * (1 + 0.1 * 0.0256)
    assert math.isclose(ctl.update(6.6, n_steps=256), 0.100512 * 1.00256, rel_tol=1e-12)
    # kl 3: error -0.5 clipped to -0.2 -> * (1 - 0.00512)
    assert math.isclose(ctl.update(3.0, n_steps=256), 0.100512 * 1.00256 * 0.99488, rel_tol=1e-12)
    again = AdaptiveKLController(1.0, target=6.0, horizon=10000)
    again.load_state_dict(ctl.state_dict())
    assert again.value == ctl.value
    fixed = FixedKLController(0.05)
    assert fixed.update(100.0, n_steps=10) == 0.05 and fixed.value == 0.05
    with pytest.raises(ConfigError, match="horizon"):
        AdaptiveKLController(0.1, target=6.0, horizon=0)


def test_score_to_token_rewards():
    scores = torch.tensor([1.0, float("nan"), 2.0, -1.0])
    mask = torch.tensor([[1, 1, 0], [0, 0, 0], [0, 1, 1], [1, 0, 1]])   # right, masked, left, hole
    out = score_to_token_rewards(scores, mask)
    close(out, torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, -1.0]]))
    with pytest.raises(RlfbError, match="NaN"):
        score_to_token_rewards(torch.tensor([float("nan")]), torch.ones(1, 2))
    with pytest.raises(RlfbError, match="no valid token"):
        score_to_token_rewards(torch.tensor([1.0]), torch.zeros(1, 2))


def test_assemble_token_rewards_with_kl():
    scores = torch.tensor([1.0])
    mask = torch.tensor([[1, 1, 0]])
    logp = torch.tensor([[-1.0, -2.0, -3.0]])
    ref = torch.tensor([[-1.5, -1.0, 0.0]])
    # k1 = [0.5, -1.0, (masked)], coef 0.2: [-0.1, 1 + 0.2, 0]
    out = assemble_token_rewards(scores, mask, logprobs=logp, ref_logprobs=ref, kl_coef=0.2)
    close(out, torch.tensor([[-0.1, 1.2, 0.0]]))
    close(assemble_token_rewards(scores, mask), torch.tensor([[0.0, 1.0, 0.0]]))
    with pytest.raises(RlfbError, match="both"):
        assemble_token_rewards(scores, mask, logprobs=logp)


def test_bad_options():
    x = torch.zeros(1, 2)
    with pytest.raises(ConfigError, match="gamma"):
        gae(x, x, x, gamma=1.5)
    with pytest.raises(RlfbError, match="shape mismatch"):
        gae(x, torch.zeros(1, 3), x)
    with pytest.raises(ConfigError, match="clip_range"):
        value_loss(x, x, x, x, clip_range=0.0)
