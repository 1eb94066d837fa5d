"""The hf rollout engine: contract, seeding, weight refresh, logprobs vs the learner."""

from __future__ import annotations

import pytest
import torch

from rlfb.errors import ConfigError, RegistryError, RlfbError
from rlfb.models.load import load_policy, render_prompt
from rlfb.rollout import ENGINES, RolloutEngine, get_engine
from rlfb.rollout.hf_engine import HFEngine
from rlfb.types import Prompt, SamplingParams

#: float32 on CPU, tiny model: measured max |engine - learner| 9.5e-7 over ~500 tokens (batched
#: left-padded generate with a KV cache vs one packed forward); 1e-5 leaves 10x room and still
#: fails on any real mismatch (a wrong temperature or an off-by-one shift is off by > 0.05).
HF_LOGPROB_ATOL = 1e-5


@pytest.fixture(scope="module")
def engine(tiny_path):
    eng = get_engine("hf", tiny_path, batch_size=4)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def policy(tiny_path):
    return load_policy(tiny_path)[0]


def test_registry_and_protocol(engine):
    assert {"hf", "vllm"} <= set(ENGINES.names())
    assert isinstance(engine, HFEngine) and isinstance(engine, RolloutEngine)
    with pytest.raises(RegistryError, match="batch_sise"):
        get_engine("hf", "/nowhere", batch_sise=2)


def test_shapes_order_and_length_finish(engine, prompts):
    sampling = SamplingParams(n=4, max_new_tokens=6, seed=0)
    rollouts = engine.generate(prompts, sampling)
    assert [(r.prompt_id, r.sample_index) for r in rollouts] == [
        (p.prompt_id, j) for p in prompts for j in range(4)]
    for r in rollouts:
        prompt = next(p for p in prompts if p.prompt_id == r.prompt_id)
        assert r.prompt_token_ids == render_prompt(engine.tokenizer, prompt)
        assert len(r.completion_token_ids) == len(r.logprobs)
        assert all(lp <= 0 for lp in r.logprobs)
        assert r.weight_version == 0
        if r.finish_reason == "length":
            assert len(r.completion_token_ids) == 6
        else:
            assert r.finish_reason == "stop" and r.completion_token_ids[-1] in engine.stop_ids
        assert r.text == engine.tokenizer.decode(r.completion_token_ids, skip_special_tokens=True)
    assert any(r.finish_reason == "length" for r in rollouts)  # random weights rarely stop


def test_seeded_runs_repeat_and_ignore_batch_company(engine, prompts):
    sampling = SamplingParams(n=3, max_new_tokens=8, seed=7)
    first = engine.generate(prompts, sampling)
    again = engine.generate(prompts, sampling)
    assert [r.completion_token_ids for r in first] == [r.completion_token_ids for r in again]
    alone = engine.generate([prompts[1]], sampling)
    assert [r.completion_token_ids for r in alone] == [r.completion_token_ids for r in first[3:6]]
    other = engine.generate(prompts, SamplingParams(n=3, max_new_tokens=8, seed=8))
    assert [r.completion_token_ids for r in other] != [r.completion_token_ids for r in first]
    # the samples of one prompt differ from each other
    assert len({tuple(r.completion_token_ids) for r in first[:3]}) == 3


def test_greedy_and_top_k_one_follow_the_argmax(engine, policy, prompts, logprob_gap):
    greedy = engine.generate(prompts[:1], SamplingParams(n=2, max_new_tokens=5, temperature=0))
    assert greedy[0].completion_token_ids == greedy[1].completion_token_ids
    ids = torch.tensor([greedy[0].prompt_token_ids])
    expected = policy.generate(ids, max_new_tokens=5, do_sample=False)[0, ids.shape[1]:].tolist()
    assert greedy[0].completion_token_ids == expected
    top1 = engine.generate(prompts[:1], SamplingParams(n=1, max_new_tokens=5, top_k=1, seed=3))
    assert top1[0].completion_token_ids == expected
    # the behaviour logprobs are of the untruncated policy (T=1), not log(1) = 0
    assert max(top1[0].logprobs) < -1.0
    assert logprob_gap(policy, top1, temperature=1.0) < HF_LOGPROB_ATOL


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.9)])
def test_behaviour_logprobs_match_learner(engine, policy, prompts, temperature, top_p,
                                          logprob_gap):
    rollouts = engine.generate(prompts, SamplingParams(n=2, max_new_tokens=12,
                                                       temperature=temperature, top_p=top_p, seed=1))
    assert logprob_gap(policy, rollouts, temperature) < HF_LOGPROB_ATOL
    # the check can fail: the wrong temperature is far off
    assert logprob_gap(policy, rollouts, temperature + 0.5) > 0.05


def test_update_weights_changes_samples_and_version(tiny_path, prompts, eos_weights,
                                                    logprob_gap):
    eng = HFEngine(tiny_path)
    model = load_policy(tiny_path)[0]
    sampling = SamplingParams(n=2, max_new_tokens=8, seed=5)
    before = eng.generate(prompts, sampling)
    eos = eng.tokenizer.eos_token_id
    eng.update_weights(eos_weights(model, eos, strength=1.0), version=3)
    after = eng.generate(prompts, sampling)
    assert eng.weight_version == 3 and {r.weight_version for r in after} == {3}
    assert [r.completion_token_ids for r in after] != [r.completion_token_ids for r in before]
    stops = [r for r in after if r.finish_reason == "stop"]
    assert len(stops) >= len(after) // 2
    assert all(r.completion_token_ids[-1] == eos and "<|im_end|>" not in r.text for r in stops)
    model.load_state_dict(dict(eos_weights(model, eos, 1.0)))
    assert logprob_gap(model, after, 1.0) < HF_LOGPROB_ATOL
    eng.close()
    with pytest.raises(RlfbError, match="closed"):
        eng.generate(prompts, sampling)


def test_update_weights_rejects_bad_input(engine):
    weight = engine.model.lm_head.weight
    with pytest.raises(RlfbError, match="no weight named"):
        engine.update_weights([("lm_head.wieght", weight)], version=1)
    with pytest.raises(RlfbError, match="shape"):
        engine.update_weights([("lm_head.weight", weight[:3])], version=1)
    with pytest.raises(ConfigError, match="version"):
        engine.update_weights([], version=-1)
    assert engine.weight_version == 0


@pytest.mark.parametrize("bad", [dict(n=0), dict(max_new_tokens=0), dict(temperature=-1.0),
                                 dict(top_p=0.0), dict(top_k=0)])
def test_bad_sampling_params(engine, prompts, bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        engine.generate(prompts, SamplingParams(**bad))


def test_too_long_prompt_is_a_clear_error(engine):
    long = Prompt("long", ({"role": "user", "content": "1 " * 1500},))
    with pytest.raises(ConfigError, match="'long'.*limit"):
        engine.generate([long], SamplingParams(max_new_tokens=100))
