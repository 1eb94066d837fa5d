"""The engines' token-level call (``generate_tokens``) that multi-turn episodes use."""

from __future__ import annotations

import pytest

from rlfb.models.load import render_prompt
from rlfb.models.tiny import make_tiny_model
from rlfb.rollout import get_engine
from rlfb.rollout.base import request_seeds
from rlfb.types import Prompt, SamplingParams

PROMPTS = [Prompt("p0", ({"role": "user", "content": "What is 2+3?"},)),
           Prompt("p1", ({"role": "user", "content": "hi"},))]


@pytest.fixture(scope="module")
def hf_engine(tmp_path_factory):
    engine = get_engine("hf", make_tiny_model(tmp_path_factory.mktemp("tok") / "tiny", seed=0),
                        batch_size=16)
    yield engine
    engine.close()


def test_hf_generate_tokens_matches_generate_for_the_same_seed(hf_engine):
    sampling = SamplingParams(n=3, max_new_tokens=10, temperature=1.0, seed=4)
    rollouts = hf_engine.generate(PROMPTS, sampling)
    seeds = request_seeds(PROMPTS, 4)
    prefixes = [render_prompt(hf_engine.tokenizer, p) for p in PROMPTS for _ in range(3)]
    row_seeds = [seeds[p] + j for p in range(2) for j in range(3)]
    outs = hf_engine.generate_tokens(prefixes, sampling, row_seeds)
    assert len(outs) == 6
    assert len({tuple(t) for t, _, _ in outs}) > 1  # the seeds differ, so do the samples
    for r, (tokens, logprobs, reason) in zip(rollouts, outs):
        assert tokens == r.completion_token_ids
        assert logprobs == pytest.approx(r.logprobs, abs=1e-6)
        assert reason == r.finish_reason


def test_hf_generate_tokens_keeps_row_order_and_checks_its_inputs(hf_engine):
    sampling = SamplingParams(max_new_tokens=6, temperature=1.0)
    long, short = render_prompt(hf_engine.tokenizer, PROMPTS[0]), [5, 6]
    both = hf_engine.generate_tokens([long, short], sampling, [1, 2])
    alone = hf_engine.generate_tokens([short], sampling, [2])
    assert both[1][0] == alone[0][0]  # rows come back in the order given, whatever their length
    with pytest.raises(Exception, match="2 prefixes but 1 seeds"):
        hf_engine.generate_tokens([long, short], sampling, [1])


class _Again:
    """Built lazily (the environment module needs nothing from vLLM): an environment that
    answers each turn with a user message, so episodes have several turns."""

    @staticmethod
    def make():
        from rlfb.environments.base import Environment, StepResult

        class Again(Environment):
            name = "again"

            def __init__(self):
                self.max_turns, self.max_tokens, self.tools = 3, 48, ()

            def respond(self, state, assistant_message):
                return StepResult([{"role": "user", "content": "Again, with a number."}], False)

        return Again()


@pytest.mark.vllm
def test_vllm_episodes_reuse_the_prefix_cache_with_exact_logprobs(stopping_model):
    """vLLM runs multi-turn episodes through generate_tokens with prefix caching on; every
    model token's behaviour logprob matches the learner's on the whole trajectory (so a cached
    prefix is the same as a recomputed one), and generate_tokens equals generate."""
    import torch

    from rlfb.environments.episodes import EpisodeEngine
    from rlfb.environments.formats import get_tool_format
    from rlfb.learner.logprobs import sequence_logprobs
    from rlfb.models.load import load_policy

    path = stopping_model
    engine = get_engine("vllm", path, max_model_len=512)
    try:
        sampling = SamplingParams(n=2, max_new_tokens=8, temperature=1.0, seed=3)
        rollouts = engine.generate(PROMPTS, sampling)
        seeds = request_seeds(PROMPTS, 3)
        outs = engine.generate_tokens([r.prompt_token_ids for r in rollouts], sampling,
                                      [seeds[k // 2] + k % 2 for k in range(4)])
        assert [t for t, _, _ in outs] == [r.completion_token_ids for r in rollouts]
        runner = EpisodeEngine(engine, _Again.make(), get_tool_format("tags", engine.tokenizer))
        episodes = runner.generate(PROMPTS, SamplingParams(n=2, max_new_tokens=8, seed=5))
    finally:
        engine.close()
    assert max(len(r.messages) for r in episodes) > 3  # at least one second turn was sampled
    model = load_policy(path)[0]
    for r in episodes:
        ids = torch.tensor([r.prompt_token_ids + r.completion_token_ids])
        mask = torch.tensor([[0] * len(r.prompt_token_ids) + r.completion_mask])
        with torch.no_grad():
            lp = sequence_logprobs(model, ids, torch.ones_like(ids), mask)[0]
        own = mask[0].bool()
        gap = (lp[own] - torch.tensor(r.logprobs)[mask[0, len(r.prompt_token_ids):].bool()])
        assert float(gap.abs().max()) < 1e-4
