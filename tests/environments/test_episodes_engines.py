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
