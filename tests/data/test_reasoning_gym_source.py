"""The reasoning_gym prompt source: references, determinism, held-out questions, errors."""

from __future__ import annotations

import pytest

from rlfb.data import get_prompt_source
from rlfb.errors import ConfigError


def test_arithmetic_entries_become_prompts_whose_reference_is_the_answer():
    src = get_prompt_source("reasoning_gym", task="basic_arithmetic", size=20, seed=3,
                            instruction="Answer in <answer></answer>.",
                            system_prompt="You are careful.")
    assert len(src) == 20
    for i in range(20):
        p = src.get(i)
        assert p.prompt_id == f"basic_arithmetic:3:{i}"
        system, user = p.messages
        assert system == {"role": "system", "content": "You are careful."}
        assert user["role"] == "user"
        assert user["content"].endswith("\n\nAnswer in <answer></answer>.")
        expression = p.meta["metadata"]["expression"]
        assert expression in user["content"]
        # the reference is the exact value of the expression shown in the question
        assert float(p.reference) == pytest.approx(eval(expression), rel=1e-9)


def test_same_options_give_same_prompts_and_seed_changes_them():
    a = get_prompt_source("reasoning_gym", task="chain_sum", size=10, seed=5)
    b = get_prompt_source("reasoning_gym", task="chain_sum", size=10, seed=5)
    c = get_prompt_source("reasoning_gym", task="chain_sum", size=10, seed=6)
    assert [a.get(i) for i in range(10)] == [b.get(i) for i in range(10)]
    assert [a.get(i).messages for i in range(10)] != [c.get(i).messages for i in range(10)]


def test_task_config_passes_through():
    src = get_prompt_source("reasoning_gym", task="chain_sum", size=30, seed=0,
                            config={"min_terms": 2, "max_terms": 2, "min_digits": 1,
                                    "max_digits": 1})
    for i in range(30):
        terms = src.get(i).meta["metadata"]["expression"].replace("-", "+").split("+")
        assert len(terms) == 2 and all(len(t.strip()) == 1 for t in terms)


def test_holdout_questions_never_appear_in_training():
    # one-digit two-term sums have few distinct questions, so collisions are certain
    options = dict(task="chain_sum", size=50, seed=0,
                   config={"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1})
    train = get_prompt_source("reasoning_gym", **options)
    held = get_prompt_source("reasoning_gym", **options, part="holdout", holdout=10)
    train_questions = {train.get(i).messages[-1]["content"] for i in range(len(train))}
    held_questions = [held.get(i).messages[-1]["content"] for i in range(len(held))]
    assert len(held) == 10 and len(set(held_questions)) == 10
    assert train_questions.isdisjoint(held_questions)
    assert all(held.get(i).meta["index"] >= 50 for i in range(10))
    assert {held.get(i).prompt_id for i in range(10)}.isdisjoint(
        {train.get(i).prompt_id for i in range(50)})


def test_holdout_fails_clearly_when_the_task_space_is_exhausted():
    options = dict(task="chain_sum", size=200, seed=0,
                   config={"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1})
    with pytest.raises(ConfigError, match=r"gave only \d+ held-out questions.*wanted 100"):
        get_prompt_source("reasoning_gym", **options, part="holdout", holdout=100)


def test_unknown_task_and_bad_config_are_config_errors():
    with pytest.raises(ConfigError, match="did you mean 'chain_sum'"):
        get_prompt_source("reasoning_gym", task="chain_sun")
    with pytest.raises(ConfigError, match="rejects config"):
        get_prompt_source("reasoning_gym", task="chain_sum", config={"bogus": 1})
    with pytest.raises(ConfigError, match="size must be an integer >= 1"):
        get_prompt_source("reasoning_gym", task="chain_sum", size=0)
    with pytest.raises(ConfigError, match="part='holdout' needs holdout > 0"):
        get_prompt_source("reasoning_gym", task="chain_sum", part="holdout")
