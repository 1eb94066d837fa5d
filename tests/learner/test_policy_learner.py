"""The policy learner: micro-batching invariance, LoRA, weights for sync, save/load."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rlfb.learner.objective import LossSettings
from rlfb.learner.policy import PolicyLearner
from rlfb.models.tiny import make_tiny_model
from rlfb.types import ExperienceBatch


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"), seed=3)


def make_batch(rows: int = 8, seed: int = 0) -> ExperienceBatch:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(6, 14, (rows,), generator=g)
    width = int(lengths.max())
    ids = torch.randint(10, 200, (rows, width), generator=g)
    attn = (torch.arange(width)[None, :] < lengths[:, None]).long()
    ids = ids * attn
    loss_mask = attn.clone()
    loss_mask[:, :4] = 0  # a 4-token prompt
    loss_mask[1] = 0  # a masked sample (its judge failed)
    adv = torch.randn(rows, 1, generator=g).expand(rows, width) * loss_mask
    behaviour = -torch.rand(rows, width, generator=g) * loss_mask
    return ExperienceBatch(input_ids=ids, attention_mask=attn, loss_mask=loss_mask,
                           old_logprobs=behaviour, advantages=adv.contiguous())


def grads_of_update(path, batch, micro, **kw):
    """The (clipped) gradients the update applied, which stay on the parameters afterwards."""
    learner = PolicyLearner(str(path), LossSettings(**kw), lr=1e-2, micro_batch_size=micro)
    stats = learner.update(batch)
    return {n: p.grad.clone() for n, p in learner.model.named_parameters()}, stats


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_one_batch_of_8_equals_8_micro_batches_of_1(tiny, agg):
    batch = make_batch()
    full, s_full = grads_of_update(tiny, batch, 8, loss_agg=agg)
    split, s_split = grads_of_update(tiny, batch, 1, loss_agg=agg)
    assert s_full["learner/loss"] == pytest.approx(s_split["learner/loss"], rel=1e-5, abs=1e-7)
    assert s_full["learner/grad_norm"] == pytest.approx(s_split["learner/grad_norm"], rel=1e-5)
    assert s_full["learner/grad_norm"] > 1e-3
    for name in full:
        torch.testing.assert_close(full[name], split[name], rtol=1e-4, atol=1e-7)


def test_update_moves_logprobs_in_the_direction_of_the_advantage(tiny):
    batch = make_batch()
    learner = PolicyLearner(str(tiny), LossSettings(), lr=1e-3, micro_batch_size=4)
    from rlfb.learner.logprobs import sequence_logprobs

    def seq_logp():
        with torch.no_grad():
            lp = sequence_logprobs(learner.model, batch.input_ids, batch.attention_mask,
                                   batch.loss_mask)
        return (lp * batch.loss_mask).sum(-1)

    before = seq_logp()
    for _ in range(3):
        stats = learner.update(batch)
    delta = seq_logp() - before
    adv = batch.advantages.sum(-1)
    moved = [(a > 0) == (d > 0) for a, d in zip(adv.tolist(), delta.tolist()) if abs(a) > 0.1]
    assert sum(moved) >= len(moved) - 1 and len(moved) >= 5
    assert delta[1] == pytest.approx(delta[1])  # masked row: no gradient of its own
    assert learner.version == 3 and stats["learner/tokens"] == float(batch.loss_mask.sum())


def test_kl_term_needs_a_reference_and_reports_it(tiny):
    learner = PolicyLearner(str(tiny), LossSettings(kl_coef=0.1), lr=1e-3)
    stats = learner.update(make_batch())
    assert stats["learner/kl_ref"] == pytest.approx(0.0, abs=1e-6)  # first step: policy == ref
    stats = learner.update(make_batch(seed=1))
    assert stats["learner/kl_ref"] > 0


def test_lora_trains_adapters_only_and_merges_for_sync(tiny):
    lora = {"rank": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    learner = PolicyLearner(str(tiny), LossSettings(kl_coef=0.05), lr=1e-2, lora=lora)
    base = dict(learner.named_weights())
    learner.update(make_batch())
    learner.update(make_batch(seed=2))
    merged = dict(learner.named_weights())
    assert set(merged) == set(base) and not any("lora" in n for n in merged)
    changed = [n for n in merged if not torch.equal(merged[n], base[n])]
    assert changed and all(("q_proj" in n or "v_proj" in n) for n in changed)
    # the merged weights reproduce the adapted model's logits in a plain model
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(str(tiny))
    plain.load_state_dict(merged, strict=False)
    ids = torch.randint(10, 200, (1, 9))
    with torch.no_grad():
        torch.testing.assert_close(plain(ids).logits, learner.model(ids).logits,
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("lora", [None, {"rank": 4, "alpha": 8}])
def test_save_then_load_continues_identically(tiny, tmp_path, lora):
    a = PolicyLearner(str(tiny), LossSettings(), lr=1e-2, lora=lora, seed=1)
    a.update(make_batch(seed=5))
    a.save(tmp_path / "ck")
    b = PolicyLearner(str(tiny), LossSettings(), lr=1e-2, lora=lora, seed=1)
    b.load(tmp_path / "ck")
    a.update(make_batch(seed=6))
    b.update(make_batch(seed=6))
    for (n, x), (_, y) in zip(a.named_weights(), b.named_weights()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=n)
    assert a.version == b.version == 2


def test_rows_with_zero_advantage_are_skipped_without_changing_the_gradient(tiny, monkeypatch):
    batch = make_batch()
    adv = batch.advantages.clone()
    adv[[0, 3, 5]] = 0.0  # three groups where every sample got the same reward
    batch = dataclasses.replace(batch, advantages=adv)
    skipped, s_skip = grads_of_update(tiny, batch, 2)
    import rlfb.learner.policy as policy

    monkeypatch.setattr(policy, "ADVANTAGE_LINEAR_LOSSES", frozenset())  # run every row
    ran, s_ran = grads_of_update(tiny, batch, 2)
    assert s_skip["learner/rows_skipped"] == 4.0  # rows 0, 3, 5 and the masked row 1
    assert s_ran["learner/rows_skipped"] == 1.0
    assert s_skip["learner/grad_norm"] == pytest.approx(s_ran["learner/grad_norm"], rel=1e-5)
    assert s_skip["learner/grad_norm"] > 1e-3
    for name in ran:
        torch.testing.assert_close(skipped[name], ran[name], rtol=1e-4, atol=1e-7)


def test_an_update_with_nothing_to_learn_still_steps_the_optimiser(tiny):
    batch = make_batch()
    batch = dataclasses.replace(batch, advantages=torch.zeros_like(batch.advantages))
    learner = PolicyLearner(str(tiny), LossSettings(), lr=1e-2)
    learner.update(make_batch())  # AdamW now has momentum
    before = {n: p.detach().clone() for n, p in learner.model.named_parameters()}
    stats = learner.update(batch)
    assert stats["learner/rows_skipped"] == 8.0 and stats["learner/grad_norm"] == 0.0
    moved = sum(not torch.equal(before[n], p) for n, p in learner.model.named_parameters())
    assert moved > 0  # momentum from the first update carries on, as with a zero gradient
