"""PromptSampler: seeded epochs, exact resume; split_sources: disjoint train/eval."""

from __future__ import annotations

import pytest

from rlfb.data import PromptSampler, first_prompts, get_prompt_source, split_sources
from rlfb.errors import ConfigError
from rlfb.types import Prompt


class Numbers:
    """A source of n prompts whose id is the index."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def get(self, index: int) -> Prompt:
        return Prompt(str(index), ({"role": "user", "content": str(index)},))


def ids(prompts):
    return [int(p.prompt_id) for p in prompts]


def test_each_epoch_is_a_permutation_and_epochs_differ():
    s = PromptSampler(Numbers(7), seed=11)
    first, second = ids(s.next_batch(7)), ids(s.next_batch(7))
    assert sorted(first) == sorted(second) == list(range(7))
    assert first != second
    assert s.state_dict() == {"epoch": 2, "position": 0, "seed": 11, "size": 7}


def test_order_depends_on_seed_only():
    a = ids(PromptSampler(Numbers(50), seed=1).next_batch(120))
    b = ids(PromptSampler(Numbers(50), seed=1).next_batch(120))
    c = ids(PromptSampler(Numbers(50), seed=2).next_batch(120))
    assert a == b and a != c
    assert ids(PromptSampler(Numbers(5), shuffle=False).next_batch(7)) == [0, 1, 2, 3, 4, 0, 1]


def test_resume_continues_exactly_across_an_epoch_boundary():
    straight = PromptSampler(Numbers(10), seed=4)
    expected = [ids(straight.next_batch(4)) for _ in range(6)]
    stopped = PromptSampler(Numbers(10), seed=4)
    got = [ids(stopped.next_batch(4)) for _ in range(3)]   # 12 drawn: epoch 1, position 2
    state = stopped.state_dict()
    assert (state["epoch"], state["position"]) == (1, 2)
    resumed = PromptSampler(Numbers(10), seed=4)
    resumed.load_state_dict(state)
    got += [ids(resumed.next_batch(4)) for _ in range(3)]
    assert got == expected


def test_resume_rejects_a_different_source_or_seed():
    state = PromptSampler(Numbers(10), seed=4).state_dict()
    with pytest.raises(ConfigError, match="saved for a source of 10 prompts with seed 4"):
        PromptSampler(Numbers(11), seed=4).load_state_dict(state)
    with pytest.raises(ConfigError, match="same data options and run.seed"):
        PromptSampler(Numbers(10), seed=5).load_state_dict(state)


def test_empty_source_is_rejected():
    with pytest.raises(ConfigError, match="empty"):
        PromptSampler(Numbers(0))


def test_split_sources_holds_out_eval_prompts_from_training():
    train, held = split_sources("reasoning_gym", {"task": "basic_arithmetic", "size": 40,
                                                  "seed": 2}, eval_prompts=8)
    assert len(train) == 40 and len(held) == 8
    train_ids = {train.get(i).prompt_id for i in range(40)}
    assert train_ids.isdisjoint(p.prompt_id for p in first_prompts(held, 100))
    assert len(first_prompts(held, 3)) == 3


def test_split_sources_files_holdout_fraction(write_jsonl, cache_dir):
    path = write_jsonl("d.jsonl", [{"prompt": f"q{i}"} for i in range(10)])
    train, held = split_sources("hf_files", {"files": path, "holdout": 0.3,
                                             "cache_dir": cache_dir}, eval_prompts=2)
    assert (len(train), len(held)) == (7, 3)
    assert {train.get(i).prompt_id for i in range(7)}.isdisjoint(
        {held.get(i).prompt_id for i in range(3)})


def test_split_sources_explicit_eval_source_and_none():
    train, held = split_sources("reasoning_gym", {"task": "chain_sum", "size": 5},
                                eval_prompts=3, eval_source="reasoning_gym",
                                eval_options={"task": "basic_arithmetic", "size": 3})
    assert held.get(0).meta["task"] == "basic_arithmetic" and len(train) == 5
    train, held = split_sources("reasoning_gym", {"task": "chain_sum", "size": 5})
    assert held is None and len(train) == 5


def test_split_sources_errors():
    with pytest.raises(ConfigError, match="remove it"):
        split_sources("reasoning_gym", {"task": "chain_sum", "part": "train"}, eval_prompts=2)
    with pytest.raises(ConfigError, match="eval_source is not"):
        split_sources("reasoning_gym", {"task": "chain_sum"}, eval_options={"size": 3})
    from rlfb.data import register_prompt_source

    register_prompt_source("test_numbers_no_split", Numbers)
    assert len(get_prompt_source("test_numbers_no_split", n=3)) == 3
    with pytest.raises(ConfigError, match="cannot hold out prompts"):
        split_sources("test_numbers_no_split", {"n": 3}, eval_prompts=1)
