"""Learner-side logprobs: packed and bucketed agree with the padded reference, which agrees with
a row-by-row computation written out here."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlfb.errors import ConfigError
from rlfb.learner.logprobs import logprobs_and_entropy, sequence_logprobs
from rlfb.models.tiny import make_tiny_model

ATOL = 1e-5  # float32 CPU; measured differences are <= 3.4e-6 (entropy) and 1e-6 (logprobs)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("lp")
    out = {}
    for arch in ("qwen2", "llama"):
        path = make_tiny_model(root / arch, arch=arch, seed=1)
        for attn in ("sdpa", "eager"):
            out[arch, attn] = AutoModelForCausalLM.from_pretrained(
                path, attn_implementation=attn).eval()
    return out


def _batch(lengths: list[int], width: int, left: bool = False, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), width), 1, dtype=torch.long)  # 1 = pad id
    attn = torch.zeros_like(ids)
    comp = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        cols = slice(width - n, width) if left else slice(0, n)
        ids[b, cols] = torch.randint(4, 500, (n,), generator=gen)
        attn[b, cols] = 1
        start = (width - n if left else 0) + min(3, n)  # the first 3 tokens are "prompt"
        comp[b, start : (width if left else n)] = 1
    return ids, attn, comp


def _row_by_row(model, ids, attn, comp, temperature):
    """Each sequence alone, unpadded: logprob and entropy of token t from the logits at t-1."""
    lp = torch.zeros(ids.shape)
    ent = torch.zeros(ids.shape)
    for b in range(ids.shape[0]):
        cols = attn[b].nonzero()[:, 0]
        seq = ids[b, cols]
        if len(seq) < 2:
            continue
        logits = model(seq[None]).logits[0, :-1] / temperature
        logp = logits.log_softmax(-1)
        for i in range(1, len(seq)):
            t = int(cols[i])
            if comp[b, t]:
                lp[b, t] = logp[i - 1, seq[i]]
                ent[b, t] = -(logp[i - 1].exp() * logp[i - 1]).sum()
    return lp, ent


@pytest.mark.parametrize("arch,attn_impl", [("qwen2", "sdpa"), ("qwen2", "eager"),
                                            ("llama", "sdpa"), ("llama", "eager")])
@pytest.mark.parametrize("left", [False, True])
def test_methods_agree_with_row_by_row(models, arch, attn_impl, left):
    model = models[arch, attn_impl]
    ids, attn, comp = _batch([17, 3, 9, 1, 12, 5], width=17, left=left)
    with torch.no_grad():
        want_lp, want_ent = _row_by_row(model, ids, attn, comp, 0.7)
        for method, budget in [("padded", 2048), ("packed", 2048), ("packed", 20),
                               ("bucketed", 2048), ("bucketed", 20)]:
            lp, ent = logprobs_and_entropy(model, ids, attn, comp, 0.7, method=method,
                                           max_tokens=budget)
            torch.testing.assert_close(lp, want_lp, atol=ATOL, rtol=0)
            torch.testing.assert_close(ent, want_ent, atol=ATOL, rtol=0)
    assert (want_lp != 0).sum() == sum(max(0, n - 3) for n in [17, 3, 9, 1, 12, 5])


def test_alignment_and_zeros(models):
    model = models["qwen2", "sdpa"]
    ids, attn, _ = _batch([6, 4], width=6)
    with torch.no_grad():
        lp = sequence_logprobs(model, ids, attn)
        logits = model(ids[:1]).logits[0]
    # no completion mask: every real token but the first gets its logprob
    assert lp[0, 0] == 0 and lp[1, 0] == 0 and (lp[1, 4:] == 0).all()
    assert (lp[0, 1:] < 0).all() and (lp[1, 1:4] < 0).all()
    expected = logits.log_softmax(-1)[2, ids[0, 3]]  # token 3 given tokens 0..2
    assert torch.isclose(lp[0, 3], expected, atol=ATOL)


def test_packing_without_the_block_mask_would_be_caught(models):
    """If sequences could see each other in a pack, the results would move by far more than ATOL."""
    model = models["qwen2", "sdpa"]
    ids, attn, comp = _batch([9, 9], width=9)
    with torch.no_grad():
        good = sequence_logprobs(model, ids, attn, comp, method="packed")
        flat = ids.reshape(1, -1)
        pos = torch.arange(9).repeat(2)[None]
        leaky = model(flat, position_ids=pos, attention_mask=torch.ones_like(flat)).logits[0]
        leaky_lp = leaky[9:-1].log_softmax(-1).gather(-1, flat[0, 10:, None])[:, 0]
    assert (leaky_lp[2:] - good[1, 3:]).abs().max() > 1e-3


def test_gradients_agree(models):
    model = models["llama", "sdpa"]
    ids, attn, comp = _batch([11, 4, 7], width=11)
    grads = {}
    for method in ("padded", "packed"):
        model.zero_grad()
        lp, ent = logprobs_and_entropy(model, ids, attn, comp, method=method)
        (lp.sum() + 0.1 * ent.sum()).backward()
        grads[method] = torch.cat([p.grad.flatten() for p in model.parameters()])
    model.zero_grad()
    assert grads["packed"].abs().max() > 0
    torch.testing.assert_close(grads["packed"], grads["padded"], atol=ATOL, rtol=1e-4)


def test_lora_wrapped_model(models):
    from peft import LoraConfig, get_peft_model

    base = models["qwen2", "eager"]
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    try:
        ids, attn, comp = _batch([8, 5], width=8)
        with torch.no_grad():
            a = sequence_logprobs(model, ids, attn, comp, method="packed")
            b = sequence_logprobs(model, ids, attn, comp, method="padded")
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    finally:
        model.unload()


def test_bad_inputs(models):
    model = models["qwen2", "sdpa"]
    ids, attn, comp = _batch([5, 3], width=5)
    with pytest.raises(ConfigError, match="method"):
        sequence_logprobs(model, ids, attn, method="flash")
    with pytest.raises(ConfigError, match="temperature"):
        sequence_logprobs(model, ids, attn, temperature=0.0)
    holes = attn.clone()
    holes[0, 2] = 0
    with pytest.raises(ConfigError, match="contiguous"):
        sequence_logprobs(model, ids, holes)
    with pytest.raises(ConfigError, match="completion_mask"):
        sequence_logprobs(model, ids, attn, comp[:, :3])
    with pytest.raises(ConfigError, match=r"\[B, T\]"):
        sequence_logprobs(model, ids[0], attn[0])
