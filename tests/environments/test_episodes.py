"""The multi-turn episode runner with a scripted engine: exact token layout, masks, logprobs,
budgets and seeds (`rlfb.environments.episodes`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest

from rlfb.environments.base import (
    Environment,
    EpisodeState,
    ParsedTurn,
    StepResult,
    Tool,
    ToolCall,
    ToolFormat,
    ToolResult,
    run_tool,
)
from rlfb.environments.episodes import EpisodeEngine, turn_seed
from rlfb.models.load import load_tokenizer
from rlfb.models.tiny import make_tiny_model
from rlfb.rollout.base import request_seeds
from rlfb.types import Prompt, SamplingParams


class Add(Tool):
    name = "add"
    description = "adds two integers"
    parameters = {"type": "object", "properties": {"a": {"type": "integer"},
                                                   "b": {"type": "integer"}},
                  "required": ["a", "b"]}

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        if arguments["a"] < 0:
            raise ValueError("negative")
        return ToolResult(str(arguments["a"] + arguments["b"]))


class CallFormat(ToolFormat):
    """``CALL add 2 3`` calls; results come back as tool messages; the plain ChatML template."""

    name = "call"

    def render_tools(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Tool], *,
                     add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template([dict(m) for m in messages], tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)

    def parse(self, assistant_text: str, tools: Sequence[Tool] | None = None) -> ParsedTurn:
        calls, bad = [], []
        for m in re.finditer(r"CALL (\S+)(.*)", assistant_text):
            args = m.group(2).split()
            if m.group(1) != "add" or len(args) != 2:
                bad.append(f"malformed call {m.group(0)!r}")
            else:
                calls.append(ToolCall("add", {"a": int(args[0]), "b": int(args[1])}))
        return ParsedTurn(calls, bad)

    def observations(self, results: Sequence[tuple[str | None, str]]) -> list[dict[str, str]]:
        return [{"role": "tool", "content": text} for _, text in results]


class AddEnv(Environment):
    name: ClassVar[str] = "add-env"

    def __init__(self, max_turns: int = 4, max_tokens: int = 200) -> None:
        self.max_turns, self.max_tokens = max_turns, max_tokens
        self.tools = (Add(),)

    def respond(self, state: EpisodeState, assistant_message: str) -> StepResult:
        fmt = state.tool_format
        parsed = fmt.parse(assistant_message, self.tools)
        if not parsed.has_calls:
            return StepResult([], True)
        results: list[tuple[str | None, str]] = []
        for call in parsed.calls:
            result = run_tool(self.tool(call.name), call.arguments)
            state.tool_calls += 1
            state.tool_errors += result.status == "error"
            state.tool_seconds += result.seconds
            results.append((call.name, result.content))
        for error in parsed.malformed:
            state.malformed_calls += 1
            results.append((None, "ERROR: " + error))
        return StepResult(fmt.observations(results), False)


class ScriptedEngine:
    """Answers turn t of a conversation whose first user message is Q with ``script[Q][t]``
    (an eos is appended unless the reply ends with ``...``, which stops by length); logprobs
    are -0.01 x (position + 1). Records every call."""

    def __init__(self, tokenizer: Any, script: dict[str, list[str]]) -> None:
        self.tokenizer = tokenizer
        self.script = script
        self.weight_version = 3
        self.calls: list[tuple[list[list[int]], SamplingParams, list[int | None]]] = []
        self.eos = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def reply_ids(self, question: str, turn: int) -> tuple[list[int], str]:
        text = self.script[question][turn]
        if text.endswith("..."):
            return self.tokenizer.encode(text[:-3], add_special_tokens=False), "length"
        return self.tokenizer.encode(text, add_special_tokens=False) + [self.eos], "stop"

    def generate_tokens(self, prefixes, sampling, seeds):
        self.calls.append(([list(p) for p in prefixes], sampling, list(seeds)))
        out = []
        for prefix in prefixes:
            text = self.tokenizer.decode(prefix)
            question = re.search(r"user\n(.*?)<\|im_end\|>", text).group(1)
            turn = text.count("<|im_start|>assistant") - 1
            ids, reason = self.reply_ids(question, turn)
            ids = ids[: sampling.max_new_tokens]
            if len(ids) == sampling.max_new_tokens and reason == "stop" and ids[-1] != self.eos:
                reason = "length"
            out.append((ids, [-0.01 * (k + 1) for k in range(len(ids))], reason))
        return out

    def update_weights(self, named_tensors, version):
        self.weight_version = version

    def close(self):
        pass


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return load_tokenizer(make_tiny_model(tmp_path_factory.mktemp("ep") / "tiny", seed=0))


def enc(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def make(tokenizer, script, **env_options) -> tuple[EpisodeEngine, ScriptedEngine]:
    engine = ScriptedEngine(tokenizer, script)
    return EpisodeEngine(engine, AddEnv(**env_options), CallFormat(tokenizer)), engine


def prompt(pid: str, question: str) -> Prompt:
    return Prompt(pid, ({"role": "user", "content": question},), reference=None)


def test_tool_turn_layout_masks_and_logprobs(tokenizer):
    runner, engine = make(tokenizer, {"sum two and three": ["CALL add 2 3", "so it is 5"]})
    [r] = runner.generate([prompt("p", "sum two and three")], SamplingParams(n=1, seed=11))
    eos = engine.eos
    prompt_ids = enc(tokenizer, "<|im_start|>user\nsum two and three<|im_end|>\n"
                                "<|im_start|>assistant\n")
    turn1 = enc(tokenizer, "CALL add 2 3") + [eos]
    env = enc(tokenizer, "\n<|im_start|>tool\n5<|im_end|>\n<|im_start|>assistant\n")
    turn2 = enc(tokenizer, "so it is 5") + [eos]
    assert r.prompt_token_ids == prompt_ids
    assert r.completion_token_ids == turn1 + env + turn2
    assert r.completion_mask == [1] * len(turn1) + [0] * len(env) + [1] * len(turn2)
    expected_lp = ([-0.01 * (k + 1) for k in range(len(turn1))] + [0.0] * len(env)
                   + [-0.01 * (k + 1) for k in range(len(turn2))])
    assert r.logprobs == pytest.approx(expected_lp, abs=0)
    assert r.text == "so it is 5" and r.finish_reason == "stop" and r.weight_version == 3
    assert [m["role"] for m in r.messages] == ["user", "assistant", "tool", "assistant"]
    assert r.messages[2]["content"] == "5"
    assert r.episode == {**r.episode, "turns": 2, "tool_calls": 1, "tool_errors": 0,
                         "malformed_calls": 0, "truncated": False}
    # the whole trajectory is the template's rendering of the transcript, token for token
    full = tokenizer.apply_chat_template(r.messages, tokenize=False)
    assert tokenizer.decode(r.prompt_token_ids + r.completion_token_ids) + "\n" == full
    # the second round's prefix is the first trajectory so far, never re-tokenised
    second_prefix = engine.calls[1][0][0]
    assert second_prefix == prompt_ids + turn1 + env


def test_episodes_at_different_turns_share_one_call_per_round(tokenizer):
    script = {"q0": ["no tools needed"],
              "q1": ["CALL add 1 1", "CALL add 2 2", "done: 4"],
              "q2": ["CALL add 5 5", "ten"]}
    runner, engine = make(tokenizer, script)
    rollouts = runner.generate([prompt("a", "q0"), prompt("b", "q1"), prompt("c", "q2")],
                               SamplingParams(n=2, seed=5))
    assert [len(c[0]) for c in engine.calls] == [6, 4, 2]  # one call per round, all active rows
    assert [(r.prompt_id, r.sample_index) for r in rollouts] == [
        ("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0), ("c", 1)]
    assert [r.episode["turns"] for r in rollouts] == [1, 1, 3, 3, 2, 2]
    assert [r.episode["tool_calls"] for r in rollouts] == [0, 0, 2, 2, 1, 1]
    assert rollouts[0].completion_mask == [1] * len(rollouts[0].completion_token_ids)


def test_turn_seeds_derive_from_the_request_seed(tokenizer):
    script = {"q1": ["CALL add 1 1", "two"], "q2": ["three"]}
    runner, engine = make(tokenizer, script)
    prompts = [prompt("b", "q1"), prompt("c", "q2")]
    runner.generate(prompts, SamplingParams(n=2, seed=9))
    base = request_seeds(prompts, 9)
    assert engine.calls[0][2] == [base[0], base[0] + 1, base[1], base[1] + 1]  # turn 0
    assert engine.calls[1][2] == [turn_seed(base[0], 1), turn_seed(base[0] + 1, 1)]
    assert len({*engine.calls[0][2], *engine.calls[1][2]}) == 6
    first = [c[2] for c in engine.calls]
    engine.calls.clear()
    runner.generate(prompts, SamplingParams(n=2, seed=9))
    assert [c[2] for c in engine.calls] == first


def test_over_budget_trajectory_is_truncated_and_flagged(tokenizer):
    long_reply = "CALL add 1 1 " + "and more words here " * 6
    runner, engine = make(tokenizer, {"q": [long_reply, "never reached"]}, max_tokens=20)
    [r] = runner.generate([prompt("p", "q")], SamplingParams(n=1, max_new_tokens=64, seed=1))
    assert len(r.completion_token_ids) == 20 == len(r.completion_mask) == len(r.logprobs)
    assert r.completion_mask == [1] * 20
    assert r.finish_reason == "length" and r.episode["truncated"] is True
    assert r.episode["tool_calls"] == 0  # an unfinished message's calls are not run
    assert engine.calls[0][1].max_new_tokens == 20  # the turn cap never exceeds the budget


def test_budget_reached_inside_an_observation_cuts_it_and_flags(tokenizer):
    first = enc(tokenizer, "CALL add 40 2")
    budget = len(first) + 4  # the call and its eos fit, the observation does not
    runner, _ = make(tokenizer, {"q": ["CALL add 40 2", "never reached"]}, max_tokens=budget)
    [r] = runner.generate([prompt("p", "q")], SamplingParams(n=1, seed=1))
    assert len(r.completion_token_ids) == budget
    assert r.completion_mask == [1] * (len(first) + 1) + [0] * 3
    assert r.finish_reason == "length" and r.episode["truncated"] is True
    assert r.episode["turns"] == 1 and r.episode["tool_calls"] == 1


def test_turn_cut_by_max_new_tokens_ends_the_episode_unflagged(tokenizer):
    runner, _ = make(tokenizer, {"q": ["CALL add 1 1 and then..."]})
    [r] = runner.generate([prompt("p", "q")], SamplingParams(n=1, seed=1))
    assert r.finish_reason == "length" and r.episode["truncated"] is False
    assert r.episode["turns"] == 1 and r.episode["tool_calls"] == 0
    assert r.completion_mask == [1] * len(r.completion_token_ids)


def test_malformed_calls_and_tool_errors_become_observations(tokenizer):
    script = {"q": ["CALL mul 2 3", "CALL add -1 3", "gave up"]}
    runner, _ = make(tokenizer, script)
    [r] = runner.generate([prompt("p", "q")], SamplingParams(n=1, seed=1))
    assert r.episode["malformed_calls"] == 1 and r.episode["tool_errors"] == 1
    assert r.episode["turns"] == 3 and r.text == "gave up"
    tool_msgs = [m["content"] for m in r.messages if m["role"] == "tool"]
    assert tool_msgs[0].startswith("ERROR: malformed call")
    assert tool_msgs[1].startswith("ERROR: add failed: ValueError: negative")


def test_max_turns_ends_the_episode(tokenizer):
    runner, engine = make(tokenizer, {"q": ["CALL add 1 1"] * 5}, max_turns=2)
    [r] = runner.generate([prompt("p", "q")], SamplingParams(n=1, seed=1))
    assert r.episode["turns"] == 2 and len(engine.calls) == 2
    assert r.finish_reason == "stop" and r.messages[-1]["role"] == "assistant"


def test_engine_without_generate_tokens_is_refused(tokenizer):
    class Plain:
        tokenizer = None

    with pytest.raises(Exception, match="generate_tokens"):
        EpisodeEngine(Plain(), AddEnv(), CallFormat(None))


def test_episode_metrics_count_turns_calls_errors_and_masked_tokens(tokenizer):
    from rlfb.environments.episodes import episode_metrics

    script = {"q0": ["no tools"], "q1": ["CALL add 1 1", "CALL mul 1 2", "CALL add -1 1", "x"]}
    runner, _ = make(tokenizer, script)
    rollouts = runner.generate([prompt("a", "q0"), prompt("b", "q1")], SamplingParams(seed=2))
    m = episode_metrics(rollouts)
    assert m["rollout/turns"] == (1 + 4) / 2
    assert m["rollout/tool_calls"] == (0 + 2) / 2 and m["rollout/tool_call_rate"] == 0.5
    assert m["rollout/tool_errors"] == 0.5 and m["rollout/malformed_calls"] == 0.5
    assert m["rollout/tool_timeouts"] == 0 and m["rollout/truncated_frac"] == 0
    env_tokens = sum(r.completion_mask.count(0) for r in rollouts)
    all_tokens = sum(len(r.completion_token_ids) for r in rollouts)
    assert env_tokens > 0 and m["rollout/masked_token_frac"] == env_tokens / all_tokens
    assert episode_metrics([]) == {} and set(episode_metrics(rollouts, "eval/")) == {
        k.replace("rollout/", "eval/") for k in m}
