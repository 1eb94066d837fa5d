"""Logprobs and entropy from logits (plain and chunked), by hand."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from rlfb.algo.logits import entropy_from_logits, logprobs_from_logits
from rlfb.errors import ConfigError, RlfbError

close = partial(torch.testing.assert_close, rtol=1e-5, atol=1e-6)


def test_logprob_by_hand():
    logits = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]])  # [B=1, T=2, V=3]
    labels = torch.tensor([[2, 1]])
    lse = 3 + math.log(1 + math.exp(-1) + math.exp(-2))       # log(e + e^2 + e^3)
    close(logprobs_from_logits(logits, labels), torch.tensor([[3 - lse, -math.log(3)]]))
    # temperature 2: z = [0.5, 1, 1.5], label 0
    lse_t = 1.5 + math.log(1 + math.exp(-0.5) + math.exp(-1))
    close(logprobs_from_logits(logits[:, :1], torch.tensor([[0]]), temperature=2.0),
          torch.tensor([[0.5 - lse_t]]))


def test_logprob_stable_for_huge_logits_and_bf16_upcast():
    # exp(1e4) overflows; log softmax of [1e4, 1e4 - 1] is that of [1, 0]
    logits = torch.tensor([[1e4, 1e4 - 1]])
    close(logprobs_from_logits(logits, torch.tensor([1])),
          torch.tensor([-1 - math.log(1 + math.exp(-1))]))
    bf16 = torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.bfloat16)
    out = logprobs_from_logits(bf16, torch.tensor([[2]]))
    assert out.dtype == torch.float32
    close(out, torch.tensor([[3 - (3 + math.log(1 + math.exp(-1) + math.exp(-2)))]]))


def test_logprob_gradient_is_onehot_minus_softmax():
    logits = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    logprobs_from_logits(logits, torch.tensor([0])).sum().backward()
    close(logits.grad, torch.tensor([[1.0, 0.0, 0.0]]) - torch.softmax(logits.detach(), -1))


@pytest.mark.parametrize("chunk", [1, 3, 4, 100])
def test_chunked_equals_unchunked(chunk):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=gen) * 3
    labels = torch.randint(0, 7, (2, 5), generator=gen)
    close(logprobs_from_logits(logits, labels, chunk_size=chunk),
          logprobs_from_logits(logits, labels))
    close(entropy_from_logits(logits, chunk_size=chunk), entropy_from_logits(logits))
    # and against the textbook formula
    logp = torch.log_softmax(logits, -1)
    close(entropy_from_logits(logits, chunk_size=chunk), -(logp.exp() * logp).sum(-1))
    close(logprobs_from_logits(logits, labels, chunk_size=chunk),
          logp.gather(-1, labels[..., None])[..., 0])


def test_chunked_gradients_match():
    gen = torch.Generator().manual_seed(1)
    base = torch.randn(3, 4, 6, generator=gen)
    labels = torch.randint(0, 6, (3, 4), generator=gen)
    grads = []
    for chunk in (None, 5):
        logits = base.clone().requires_grad_(True)
        (logprobs_from_logits(logits, labels, chunk_size=chunk).sum()
         + entropy_from_logits(logits, chunk_size=chunk).sum()).backward()
        grads.append(logits.grad)
    close(grads[0], grads[1])


def test_entropy_by_hand():
    close(entropy_from_logits(torch.zeros(4)), torch.tensor(math.log(4)))   # uniform over 4
    # p = [1/4, 3/4]: H = -(1/4 ln 1/4 + 3/4 ln 3/4)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    close(entropy_from_logits(torch.tensor([0.0, math.log(3)])), torch.tensor(h))
    # a -inf logit is probability 0, not NaN
    close(entropy_from_logits(torch.tensor([0.0, 0.0, float("-inf")])), torch.tensor(math.log(2)))
    # huge logit gap: entropy ~0 (and finite)
    close(entropy_from_logits(torch.tensor([1000.0, 0.0])), torch.tensor(0.0))
    # temperature 2 on [0, 2 ln 3] is [0, ln 3]
    close(entropy_from_logits(torch.tensor([0.0, 2 * math.log(3)]), temperature=2.0),
          torch.tensor(h))


def test_bad_inputs():
    logits = torch.zeros(1, 2, 3)
    with pytest.raises(RlfbError, match="vocabulary"):
        logprobs_from_logits(logits, torch.tensor([[0, 3]]))
    with pytest.raises(RlfbError, match="vocabulary dimension"):
        logprobs_from_logits(logits, torch.tensor([0, 1]))
    with pytest.raises(RlfbError, match="integer"):
        logprobs_from_logits(logits, torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="temperature"):
        entropy_from_logits(logits, temperature=0)
    with pytest.raises(ConfigError, match="chunk_size"):
        entropy_from_logits(logits, chunk_size=0)
