"""Masked statistics, whitening and loss aggregation modes, by hand."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from rlfb.algo.aggregation import AGG_MODES, aggregate, masked_mean, masked_var, masked_whiten
from rlfb.errors import ConfigError, RlfbError

close = partial(torch.testing.assert_close, rtol=1e-5, atol=1e-6)
LOSS = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
MASK = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]])


@pytest.mark.parametrize("mode,expected", [
    ("token-mean", (1 + 2 + 5 + 6 + 7) / 5),                 # 21 / 5 valid tokens
    ("seq-mean-token-mean", ((1 + 2) / 2 + (5 + 6 + 7) / 3) / 2),  # (1.5 + 6) / 2
    ("seq-mean-token-sum", ((1 + 2) + (5 + 6 + 7)) / 2),      # (3 + 18) / 2
    ("seq-mean-token-sum-norm", (3 / 4 + 18 / 4) / 2),        # norm_length defaults to T = 4
])
def test_modes_by_hand(mode, expected):
    close(aggregate(LOSS, MASK, mode=mode), torch.tensor(expected))


def test_sum_norm_with_explicit_length():
    close(aggregate(LOSS, MASK, mode="seq-mean-token-sum-norm", norm_length=10),
          torch.tensor((3 / 10 + 18 / 10) / 2))


@pytest.mark.parametrize("mode", AGG_MODES)
def test_masked_rows_and_nan_off_mask_are_ignored(mode):
    loss = torch.cat([LOSS, torch.tensor([[9.0, float("nan"), 9.0, 9.0]])])
    loss[0, 3] = float("nan")
    mask = torch.cat([MASK, torch.zeros(1, 4, dtype=MASK.dtype)])
    close(aggregate(loss, mask, mode=mode), aggregate(LOSS, MASK, mode=mode))


@pytest.mark.parametrize("mode", AGG_MODES)
def test_nothing_valid_gives_zero_and_a_gradient(mode):
    loss = torch.ones(2, 3, requires_grad=True)
    out = aggregate(loss, torch.zeros(2, 3), mode=mode)
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(loss.grad, torch.zeros(2, 3))


def test_token_mean_gradient_is_mask_over_count():
    loss = LOSS.clone().requires_grad_(True)
    aggregate(loss, MASK, mode="token-mean").backward()
    close(loss.grad, MASK.float() / 5)
    loss.grad = None
    aggregate(loss, MASK, mode="seq-mean-token-mean").backward()
    close(loss.grad, torch.tensor([[1 / 2, 1 / 2, 0, 0], [1 / 3, 1 / 3, 1 / 3, 0]]) / 2)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_micro_batches_with_global_denominator_sum_to_full_batch(mode):
    gen = torch.Generator().manual_seed(0)
    loss = torch.randn(6, 5, generator=gen)
    mask = torch.rand(6, 5, generator=gen) > 0.4
    mask[2] = False  # a masked sample
    full = aggregate(loss, mask, mode=mode)
    count = mask.sum() if mode == "token-mean" else mask.any(-1).sum()
    parts = sum(aggregate(loss[i : i + 2], mask[i : i + 2], mode=mode, norm_length=5,
                          denominator=float(count)) for i in range(0, 6, 2))
    close(parts, full)


def test_masked_mean_and_var_by_hand():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    m = torch.tensor([True, True, True, False])
    close(masked_mean(x, m), torch.tensor(2.0))
    close(masked_var(x, m), torch.tensor(1.0))            # (1 + 0 + 1) / 2
    close(masked_var(x, m, unbiased=False), torch.tensor(2 / 3))
    close(masked_mean(torch.tensor([[1.0, 3.0], [2.0, 4.0]]), torch.tensor([[1, 0], [1, 1]]),
                      dim=-1), torch.tensor([1.0, 3.0]))
    # float weights = repeated entries: [1, 3] with weights [3, 1] is [1, 1, 1, 3]:
    # mean 6/4 = 1.5, deviations [-.5, -.5, -.5, 1.5], squares 3, unbiased 3 / 3 = 1
    w = torch.tensor([3.0, 1.0])
    close(masked_mean(torch.tensor([1.0, 3.0]), w), torch.tensor(1.5))
    close(masked_var(torch.tensor([1.0, 3.0]), w), torch.tensor(1.0))
    assert masked_var(torch.tensor([5.0, 1.0]), torch.tensor([True, False])).item() == 0.0
    assert masked_mean(torch.tensor([5.0]), torch.tensor([False])).item() == 0.0


def test_whiten_by_hand():
    x = torch.tensor([1.0, 2.0, 3.0, float("nan")])
    m = torch.tensor([True, True, True, False])
    # mean 2, unbiased var 1
    close(masked_whiten(x, m), torch.tensor([-1.0, 0.0, 1.0, 0.0]) / math.sqrt(1 + 1e-8))
    close(masked_whiten(x, m, shift_mean=False),
          torch.tensor([-1.0 / math.sqrt(1 + 1e-8) + 2, 2.0, 1.0 / math.sqrt(1 + 1e-8) + 2, 0.0]))
    close(masked_whiten(x, m, unbiased=False, eps=0.0),
          torch.tensor([-1.0, 0.0, 1.0, 0.0]) / math.sqrt(2 / 3))


def test_bad_inputs():
    with pytest.raises(ConfigError, match="use one of"):
        aggregate(LOSS, MASK, mode="token_mean")
    with pytest.raises(RlfbError, match="shape mismatch"):
        aggregate(LOSS, MASK[:, :3])
    with pytest.raises(ConfigError, match="denominator"):
        aggregate(LOSS, MASK, denominator=0)
    with pytest.raises(ConfigError, match="norm_length"):
        aggregate(LOSS, MASK, mode="seq-mean-token-sum-norm", norm_length=0)
