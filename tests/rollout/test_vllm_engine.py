"""The vllm rollout engine on the tiny model: contract, weight reload, logprobs vs the learner.

One engine per module (vLLM start-up costs seconds); tests that change its weights restore them.
"""

from __future__ import annotations

import pytest
import torch

from rlfb.errors import ConfigError
from rlfb.models.load import load_policy, render_prompt
from rlfb.rollout import RolloutEngine, get_engine
from rlfb.types import SamplingParams

pytestmark = pytest.mark.vllm

#: float32 vLLM on CPU vs the float32 learner, tiny model: measured max gap 4.8e-7 (T=1 and 0.7).
#: 1e-5 gives 20x room; each test also checks that a wrong temperature is off by > 0.05.
VLLM_LOGPROB_ATOL = 1e-5


@pytest.fixture(scope="module")
def engine(tiny_path):
    eng = get_engine("vllm", tiny_path, max_model_len=512)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def policy(tiny_path):
    return load_policy(tiny_path)[0]


def test_shapes_order_and_seeding(engine, prompts):
    assert isinstance(engine, RolloutEngine)
    sampling = SamplingParams(n=3, max_new_tokens=6, seed=11)
    rollouts = engine.generate(prompts, sampling)
    assert [(r.prompt_id, r.sample_index) for r in rollouts] == [
        (p.prompt_id, j) for p in prompts for j in range(3)]
    for r in rollouts:
        prompt = next(p for p in prompts if p.prompt_id == r.prompt_id)
        assert r.prompt_token_ids == render_prompt(engine.tokenizer, prompt)
        assert len(r.completion_token_ids) == len(r.logprobs)
        assert r.finish_reason in ("stop", "length") and r.weight_version == 0
        if r.finish_reason == "length":
            assert len(r.completion_token_ids) == 6
    again = engine.generate(prompts, sampling)
    assert [r.completion_token_ids for r in again] == [r.completion_token_ids for r in rollouts]
    assert len({tuple(r.completion_token_ids) for r in rollouts[:3]}) == 3


def test_greedy_matches_hf_greedy(engine, policy, prompts):
    rollouts = engine.generate(prompts, SamplingParams(n=2, max_new_tokens=8, temperature=0))
    for k, prompt in enumerate(prompts):
        a, b = rollouts[2 * k], rollouts[2 * k + 1]
        assert a.completion_token_ids == b.completion_token_ids
        ids = torch.tensor([a.prompt_token_ids])
        expected = policy.generate(ids, max_new_tokens=8, do_sample=False)[0, ids.shape[1]:]
        assert a.completion_token_ids == expected.tolist()


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_behaviour_logprobs_match_learner(engine, policy, prompts, temperature, logprob_gap):
    rollouts = engine.generate(prompts, SamplingParams(n=2, max_new_tokens=16,
                                                       temperature=temperature, seed=2))
    assert logprob_gap(policy, rollouts, temperature) < VLLM_LOGPROB_ATOL
    assert logprob_gap(policy, rollouts, temperature + 0.5) > 0.05  # the check can fail


def test_untied_model_has_no_tied_head(engine):
    assert engine._tied_heads == 0


def test_cpu_engine_syncs_directly_and_restores_vllm(engine):
    """The CPU engine takes the direct sync path, and the patch that kept its weights is gone."""
    from vllm.model_executor.layers import utils

    from rlfb.rollout.vllm_weights import keeping_cpu_weights

    assert engine.direct_sync
    original = utils.dispatch_cpu_unquantized_gemm
    with keeping_cpu_weights():
        assert utils.dispatch_cpu_unquantized_gemm is not original
    assert utils.dispatch_cpu_unquantized_gemm is original


def test_direct_sync_takes_part_of_a_fused_layer(engine, policy, prompts, logprob_gap):
    """One tensor of a layer that vLLM fuses (q_proj of q/k/v) is enough on the direct path."""
    name = "model.layers.0.self_attn.q_proj.weight"
    changed = load_policy(engine.model_path)[0]
    with torch.no_grad():
        weight = dict(changed.named_parameters())[name]
        weight.add_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(4)))
    engine.update_weights([(name, weight)], version=1)
    try:
        after = engine.generate(prompts, SamplingParams(n=2, max_new_tokens=12, seed=6))
        assert logprob_gap(changed, after, 1.0) < VLLM_LOGPROB_ATOL
        assert logprob_gap(policy, after, 1.0) > 0.05  # the change did reach vLLM
    finally:
        engine.update_weights(policy.state_dict().items(), version=2)


def test_top_p_is_rejected(engine, prompts):
    with pytest.raises(ConfigError, match="top_p"):
        engine.generate(prompts, SamplingParams(top_p=0.9))


def test_update_weights_reloads_in_place(engine, policy, prompts, eos_weights, logprob_gap):
    sampling = SamplingParams(n=2, max_new_tokens=8, seed=5)
    before = engine.generate(prompts, sampling)
    eos = engine.tokenizer.eos_token_id
    biased = eos_weights(policy, eos, strength=1.0)
    engine.update_weights(biased, version=1)
    after = engine.generate(prompts, sampling)
    assert engine.weight_version == 1 and {r.weight_version for r in after} == {1}
    assert [r.completion_token_ids for r in after] != [r.completion_token_ids for r in before]
    stops = [r for r in after if r.finish_reason == "stop"]
    assert len(stops) >= len(after) // 2
    assert all(r.completion_token_ids[-1] == eos and "<|im_end|>" not in r.text for r in stops)
    # vLLM now computes with the new weights: its logprobs match a learner holding them
    biased_policy = load_policy(engine.model_path)[0]
    biased_policy.load_state_dict(dict(biased))
    assert logprob_gap(biased_policy, after, 1.0) < VLLM_LOGPROB_ATOL
    # restoring the old weights restores the old samples (the prefix cache was reset)
    engine.update_weights(policy.state_dict().items(), version=2)
    restored = engine.generate(prompts, sampling)
    assert [r.completion_token_ids for r in restored] == [r.completion_token_ids for r in before]


@pytest.mark.parametrize("direct_sync", [True, False], ids=["direct", "reload"])
def test_update_reaches_a_tied_embedding_and_head(tmp_path, prompts, logprob_gap, direct_sync):
    """A changed embedding reaches vLLM's tied output head too (on CPU the head keeps a packed
    copy of the weight that a plain reload leaves stale: the gap was 75 here, 5.7 on SmolLM2),
    on both sync paths."""
    from rlfb.models.tiny import make_tiny_model
    from rlfb.sync.payload import skip_aliases

    path = make_tiny_model(tmp_path / "tied", seed=1, tie_word_embeddings=True)
    policy = load_policy(path)[0]
    assert policy.lm_head.weight is policy.get_input_embeddings().weight
    engine = get_engine("vllm", path, max_model_len=512, direct_sync=direct_sync)
    try:
        assert engine.direct_sync is direct_sync
        assert engine._tied_heads == 1  # untied models skip the head update (and keep the warning)
        with torch.no_grad():
            noise = torch.randn(policy.lm_head.weight.shape, generator=torch.Generator().manual_seed(0))
            policy.get_input_embeddings().weight.add_(noise * 0.5)
        engine.update_weights(skip_aliases(policy.state_dict().items()), version=1)
        after = engine.generate(prompts, SamplingParams(n=2, max_new_tokens=16, seed=3))
        assert logprob_gap(policy, after, 1.0) < VLLM_LOGPROB_ATOL
        stale = load_policy(path)[0]  # the weights vLLM started with: the check can fail
        assert logprob_gap(stale, after, 1.0) > 0.05
    finally:
        engine.close()
