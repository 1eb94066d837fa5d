"""Group advantage estimators against arithmetic written out here, and against a Python loop."""

from __future__ import annotations

import math
import random
import statistics
from functools import partial

import pytest
import torch

from rlfb.algo.advantages import (
    dr_grpo_advantages,
    from_groups,
    grpo_advantages,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
    rloo_advantages,
    to_groups,
    zero_variance_groups,
)
from rlfb.errors import RlfbError

close = partial(torch.testing.assert_close, rtol=1e-5, atol=1e-6)
NAN = float("nan")


def test_grpo_by_hand():
    # rewards [1, 0, 1, 1]: mean 0.75, deviations [0.25, -0.75, 0.25, 0.25],
    # squared deviations sum to 3 * 0.0625 + 0.5625 = 0.75, unbiased var 0.75 / 3 = 0.25, std 0.5
    adv = grpo_advantages(torch.tensor([[1.0, 0.0, 1.0, 1.0]]))
    close(adv, torch.tensor([[0.25, -0.75, 0.25, 0.25]]) / (0.5 + 1e-6))


def test_grpo_eps_and_two_groups():
    # group 2: [3, 5] mean 4, unbiased var ((-1)^2 + 1^2) / 1 = 2, std sqrt(2)
    adv = grpo_advantages(torch.tensor([[1.0, 0.0, 1.0, 1.0], [3.0, 5.0, NAN, NAN]]), eps=0.1)
    expected = torch.tensor([[0.25, -0.75, 0.25, 0.25], [-1.0, 1.0, 0.0, 0.0]])
    expected[0] /= 0.5 + 0.1
    expected[1] /= math.sqrt(2) + 0.1
    close(adv, expected)


def test_grpo_nan_and_mask_exclude_sample():
    # valid [1, 0, 1]: mean 2/3, deviations [1/3, -2/3, 1/3], squares 6/9, var (6/9) / 2 = 1/3
    std = math.sqrt(1 / 3)
    expected = torch.tensor([[1 / 3, 0.0, -2 / 3, 1 / 3]]) / (std + 1e-6)
    close(grpo_advantages(torch.tensor([[1.0, NAN, 0.0, 1.0]])), expected)
    mask = torch.tensor([[True, False, True, True]])
    close(grpo_advantages(torch.tensor([[1.0, 7.0, 0.0, 1.0]]), mask=mask), expected)
    assert grpo_advantages(torch.tensor([[1.0, 7.0, 0.0, 1.0]]), mask=mask)[0, 1].item() == 0.0


def test_dr_grpo_no_std_division():
    close(dr_grpo_advantages(torch.tensor([[1.0, 0.0, 1.0, 1.0]])),
          torch.tensor([[0.25, -0.75, 0.25, 0.25]]))
    close(grpo_advantages(torch.tensor([[2.0, 0.0]]), normalize_std=False),
          torch.tensor([[1.0, -1.0]]))


def test_groups_without_signal_get_exact_zero():
    rewards = torch.tensor([[0.7, 0.7, 0.7, 0.7],     # all equal (round-off would give ~0.06)
                            [1.0, NAN, NAN, NAN],     # one valid sample
                            [NAN, NAN, NAN, NAN],     # nothing valid
                            [0.7, NAN, 0.7, 0.7]])    # all valid equal
    for fn in (grpo_advantages, dr_grpo_advantages, rloo_advantages):
        adv = fn(rewards)
        assert torch.equal(adv, torch.zeros(4, 4)), fn.__name__
    assert zero_variance_groups(rewards).tolist() == [True, True, True, True]
    assert zero_variance_groups(torch.tensor([[1.0, 0.0], [1.0, 1.0]])).tolist() == [False, True]
    mixed = torch.tensor([[1.0, 0.0, 1.0]])
    assert zero_variance_groups(mixed, mask=torch.tensor([[True, False, True]])).tolist() == [True]


def test_rloo_by_hand():
    # [1, 0, 1, 1]: i=0 others [0, 1, 1] mean 2/3 -> 1/3; i=1 others all 1 -> -1; i=2, 3 -> 1/3
    close(rloo_advantages(torch.tensor([[1.0, 0.0, 1.0, 1.0]])),
          torch.tensor([[1 / 3, -1.0, 1 / 3, 1 / 3]]))
    # valid [2, 0, 1]: 2 - (0+1)/2 = 1.5; 0 - (2+1)/2 = -1.5; 1 - (2+0)/2 = 0
    close(rloo_advantages(torch.tensor([[2.0, NAN, 0.0, 1.0]])),
          torch.tensor([[1.5, 0.0, -1.5, 0.0]]))


def test_reinforce_pp_baseline_by_hand():
    rewards = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    # group means 0.5 and 1 -> centred [[0.5, -0.5], [0, 0]]; batch mean 0,
    # unbiased var (0.25 + 0.25 + 0 + 0) / 3 = 1/6
    expected = torch.tensor([[0.5, -0.5], [0.0, 0.0]]) / math.sqrt(1 / 6 + 1e-8)
    close(reinforce_pp_baseline_advantages(rewards), expected)


def test_reinforce_pp_baseline_token_weighted_matches_expanded_tokens():
    rewards = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    counts = torch.tensor([[2.0, 1.0], [1.0, 1.0]])
    # weights 2,1,1,1 (W = 5) on centred [0.5, -0.5, 0, 0]: mean 0.5/5 = 0.1; weighted squared
    # deviations 2*0.4^2 + 0.6^2 + 0.1^2 + 0.1^2 = 0.7, var 0.7/5 = 0.14, Bessel * 5/4 = 0.175
    expected = (torch.tensor([[0.5, -0.5], [0.0, 0.0]]) - 0.1) / math.sqrt(0.175 + 1e-8)
    adv = reinforce_pp_baseline_advantages(rewards, token_counts=counts)
    close(adv, expected)
    # the same as whitening the token-expanded values (verl's masked_whiten over tokens)
    tokens = torch.tensor([0.5, 0.5, -0.5, 0.0, 0.0])
    per_token = (tokens - tokens.mean()) / torch.sqrt(tokens.var(unbiased=True) + 1e-8)
    close(adv.flatten(), per_token[[0, 2, 3, 4]])


def test_reinforce_pp_whitens_raw_rewards():
    # [1, 0, 1, 1]: mean 0.75, unbiased var 0.25
    rewards = torch.tensor([[1.0, 0.0], [1.0, 1.0], [NAN, 5.0]])
    mask = torch.tensor([[True, True], [True, True], [False, False]])
    adv = reinforce_pp_advantages(rewards, mask=mask)
    expected = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.75, 0.75]]) - 0.75
    expected /= math.sqrt(0.25 + 1e-8)
    close(adv, expected)


def test_to_groups_round_trip():
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    g = to_groups(values, ["a", "b", "a", "c", "b", "a"])
    assert g.keys == ("a", "b", "c")
    close(g.values, torch.tensor([[1.0, 3.0, 6.0], [2.0, 5.0, NAN], [4.0, NAN, NAN]]),
          equal_nan=True)
    assert g.mask.tolist() == [[True, True, True], [True, True, False], [True, False, False]]
    close(from_groups(g.values, g), values)
    g2 = to_groups(values, torch.tensor([7, 7, 8, 8, 9, 9]))
    assert g2.values.shape == (3, 2) and g2.keys == (7, 8, 9)


def test_flat_rewards_through_groups():
    # group a = [1, 3, 6] (mean 10/3), b = [2, 5] (mean 3.5), c = [4] (alone -> 0)
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    g = to_groups(values, ["a", "b", "a", "c", "b", "a"])
    adv = from_groups(dr_grpo_advantages(g.values, mask=g.mask), g)
    close(adv, torch.tensor([1 - 10 / 3, 2 - 3.5, 3 - 10 / 3, 0.0, 5 - 3.5, 6 - 10 / 3]))


def _loop_reference(rows: list[list[float]], kind: str, eps: float = 1e-6) -> list[list[float]]:
    out = []
    for row in rows:
        valid = [r for r in row if not math.isnan(r)]
        k = len(valid)
        res = []
        for r in row:
            if math.isnan(r) or k < 2 or len(set(valid)) == 1:
                res.append(0.0)
            elif kind == "grpo":
                res.append((r - statistics.mean(valid)) / (statistics.stdev(valid) + eps))
            elif kind == "dr_grpo":
                res.append(r - statistics.mean(valid))
            else:
                res.append(r - (sum(valid) - r) / (k - 1))
        out.append(res)
    return out


@pytest.mark.parametrize("kind,fn", [("grpo", grpo_advantages), ("dr_grpo", dr_grpo_advantages),
                                     ("rloo", rloo_advantages)])
def test_vectorised_matches_loop_on_random_inputs(kind, fn):
    rng = random.Random(0)
    for trial in range(20):
        g, n = rng.randint(1, 6), rng.randint(1, 8)
        rows = [[NAN if rng.random() < 0.2 else rng.choice([0.0, 1.0, rng.gauss(0, 2)])
                 for _ in range(n)] for _ in range(g)]
        got = fn(torch.tensor(rows, dtype=torch.float64))
        expected = torch.tensor(_loop_reference(rows, kind), dtype=torch.float64)
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9, msg=f"trial {trial}")


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(RlfbError, match=r"\[G, n\]"):
        grpo_advantages(torch.tensor([1.0, 0.0]))
    with pytest.raises(RlfbError, match="float"):
        grpo_advantages(torch.tensor([[1, 0]]))
    with pytest.raises(RlfbError, match="shape mismatch"):
        rloo_advantages(torch.zeros(2, 3), mask=torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(RlfbError, match="one group id per sample"):
        to_groups(torch.zeros(3), ["a", "b"])
    with pytest.raises(RlfbError, match="token_counts must be > 0"):
        reinforce_pp_baseline_advantages(torch.ones(1, 2), token_counts=torch.tensor([[1.0, 0.0]]))
