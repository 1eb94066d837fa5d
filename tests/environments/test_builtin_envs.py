"""The built-in environments and their prompt sources: registry, seeded held-out splits, and an
episode of each driven by scripted assistant messages."""

from __future__ import annotations

import os
import re

import pytest

from rlfb.data import get_prompt_source, split_sources
from rlfb.environments import get_environment, list_environments
from rlfb.environments.formats import TagsFormat
from rlfb.environments.generated import HOLDOUT_SHARE, held_out
from rlfb.errors import ConfigError, RegistryError
from rlfb.rewards import get_reward


def _call(name, **arguments):
    import json

    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_builtins_are_registered_through_entry_points():
    assert {"single-turn", "tool-arith", "python-math"} <= set(list_environments())
    with pytest.raises(RegistryError, match="unknown environment 'tool-arth'; did you mean "
                                            "'tool-arith'"):
        get_environment("tool-arth")
    with pytest.raises(RegistryError, match="environment 'tool-arith' has no option 'max_turn'; "
                                            "did you mean 'max_turns'"):
        get_environment("tool-arith", max_turn=2)
    with pytest.raises(ConfigError, match="'tool-arith': max_turns must be an integer >= 1, "
                                          "got 0"):
        get_environment("tool-arith", max_turns=0)


def test_tool_arith_prompts_are_seeded_products_of_three_digit_numbers():
    source = get_prompt_source("tool_arith", size=50, seed=3)
    again = get_prompt_source("tool_arith", size=50, seed=3)
    assert len(source) == 50
    for i in range(50):
        prompt = source.get(i)
        assert prompt == again.get(i)
        a, b = map(int, re.fullmatch(r"What is (\d+) \* (\d+)\?\n\nGive the final answer as a "
                                     r"single number\.", prompt.messages[0]["content"]).groups())
        assert 100 <= a <= 999 and 100 <= b <= 999
        assert prompt.reference == str(a * b)
    assert get_prompt_source("tool_arith", size=50, seed=4).get(0) != source.get(0)


def test_tool_arith_holdout_is_disjoint_by_unordered_operand_pair():
    train, holdout = split_sources("tool_arith", {"size": 3000, "seed": 0}, eval_prompts=300)
    assert (len(train), len(holdout)) == (3000, 300)

    def pairs(source):
        return {tuple(sorted(source.get(i).meta["operands"])) for i in range(len(source))}

    train_pairs, held_pairs = pairs(train), pairs(holdout)
    assert len(held_pairs) > 250
    assert not train_pairs & held_pairs
    assert all(held_out(p, 0) for p in held_pairs) and not any(held_out(p, 0) for p in train_pairs)


def test_holdout_share_of_the_key_space():
    keys = [(a, a + 1) for a in range(20000)]
    share = sum(held_out(k, 0) for k in keys) / len(keys)
    assert abs(share - HOLDOUT_SHARE) < 0.01


def test_tool_arith_episode_with_the_calculator_and_the_math_reward():
    env = get_environment("tool-arith")
    assert env.prompt_source({"size": 5}).get(0) == get_prompt_source("tool_arith", size=5).get(0)
    prompt = env.prompt_source({"size": 5, "seed": 1}).get(2)
    a, b = prompt.meta["operands"]
    state = env.reset(prompt, TagsFormat())
    assert state.messages[0] == {"role": "system", "content": env.system_prompt}
    step = env.step(state, f"Let me compute. {_call('calculator', expression=f'{a} * {b}')}")
    assert not step.done
    assert step.observations == [{"role": "user",
                                  "content": f"<tool_response>{a * b}</tool_response>"}]
    final = env.step(state, f"The answer is {a * b}.")
    assert final.done and state.counters()["tool_calls"] == 1
    reward = get_reward(env.reward, **env.reward_options)
    assert reward.score(state.messages[-1]["content"], prompt.reference).value == 1.0
    assert reward.score(f"The answer is {a * b + 1}.", prompt.reference).value == 0.0
    env.tools[0].close()


SOLVERS = {
    "warehouse": ("A warehouse holds (\\d+) crates with (\\d+) bottles in each. (\\d+) bottles",
                  "a * b - c"),
    "savings": ("saves (\\d+) dollars every week for (\\d+) weeks and then spends (\\d+)",
                "a * b - c"),
    "train": ("covers (\\d+) km every hour for (\\d+) hours, then (\\d+) km", "a * b + c"),
    "groups": ("(\\d+) visitors are split into groups of (\\d+)", "a // b"),
    "series": ("from 1 to (\\d+)", "sum(range(a + 1))"),
}


def test_python_math_questions_and_answers_agree_with_a_program_run_by_the_tool():
    if os.geteuid() != 0:
        pytest.skip("the code verifier's process tier needs root (see docs/sandbox.md)")
    env = get_environment("python-math", python_timeout_s=3.0)
    source = env.prompt_source({"size": 40, "seed": 0})
    seen = set()
    try:
        for i in range(len(source)):
            prompt = source.get(i)
            template = prompt.meta["template"]
            pattern, formula = SOLVERS[template]
            numbers = re.search(pattern, prompt.messages[0]["content"]).groups()
            program = "".join(f"{v} = {n}\n" for v, n in zip("abc", numbers))
            program += f"print({formula})"
            state = env.reset(prompt, TagsFormat())
            step = env.step(state, _call("python", code=program))
            assert step.observations[0]["content"] == (
                f"<tool_response>{prompt.reference}\n</tool_response>"), (template, program)
            seen.add(template)
    finally:
        env.tools[0].close()
    assert seen == set(SOLVERS)


def test_python_math_holdout_is_disjoint_by_template_and_numbers():
    train, holdout = split_sources("python_math", {"size": 1000, "seed": 2}, eval_prompts=100)
    questions = {train.get(i).messages[0]["content"] for i in range(len(train))}
    held = {holdout.get(i).messages[0]["content"] for i in range(len(holdout))}
    assert len(held) > 90 and not questions & held
