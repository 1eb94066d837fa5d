"""run_tool (hangs, exceptions, truncation) and ToolEnvironment's step (counters, done, budgets)."""

from __future__ import annotations

import threading

import pytest

from rlfb.environments import ToolResult, run_tool
from rlfb.environments.base import TRUNCATION_MARK, Tool, check_arguments
from rlfb.environments.formats import TagsFormat, TemplateFormat
from rlfb.environments.tool_env import ToolEnvironment
from rlfb.types import Prompt

RELEASE = threading.Event()


class Echo(Tool):
    name = "echo"
    description = "Echo a text."
    parameters = {"type": "object", "properties": {"text": {"type": "string"}},
                  "required": ["text"]}
    output_chars = 40

    def __call__(self, arguments):
        return ToolResult(arguments["text"])


class Hang(Tool):
    name = "hang"
    description = "Never returns (until the test releases it)."
    parameters = {"type": "object", "properties": {}}
    timeout_s = 0.2

    def __call__(self, arguments):
        RELEASE.wait(60)
        return ToolResult("late")


class Boom(Tool):
    name = "boom"
    description = "Raises."
    parameters = {"type": "object", "properties": {}}

    def __call__(self, arguments):
        raise ZeroDivisionError("division by zero\nsecond line")


class NotAResult(Tool):
    name = "bad"
    description = "Returns the wrong type."
    parameters = {"type": "object", "properties": {}}

    def __call__(self, arguments):
        return "plain string"


@pytest.fixture(autouse=True, scope="module")
def _release_hung_threads():
    yield
    RELEASE.set()


def test_run_tool_returns_the_result():
    result = run_tool(Echo(), {"text": "hello"})
    assert (result.content, result.status) == ("hello", "ok")
    assert result.seconds >= 0.0


def test_a_hanging_tool_is_a_timeout_observation():
    result = run_tool(Hang(), {})
    assert result.status == "timeout"
    assert result.content == "TIMEOUT: hang ran past its limit of 0.2 s"


def test_a_raising_tool_is_an_error_observation_of_one_line():
    result = run_tool(Boom(), {})
    assert result.status == "error"
    assert result.content == "ERROR: boom failed: ZeroDivisionError: division by zero"


def test_a_tool_returning_the_wrong_type_is_an_error():
    result = run_tool(NotAResult(), {})
    assert result.status == "error" and "returned str, not a ToolResult" in result.content


def test_output_is_cut_to_the_budget_and_marked():
    result = run_tool(Echo(), {"text": "x" * 100})
    assert len(result.content) == 40
    assert result.content == "x" * (40 - len(TRUNCATION_MARK)) + TRUNCATION_MARK


def test_a_bad_status_is_refused():
    with pytest.raises(ValueError, match="tool status must be one of ok, error, timeout"):
        ToolResult("x", "crashed")


def test_check_arguments_allows_extras_only_when_the_schema_does():
    class Open(Echo):
        parameters = {**Echo.parameters, "additionalProperties": True}

    assert check_arguments(Echo(), {"text": "a", "more": 1}) is not None
    assert check_arguments(Open(), {"text": "a", "more": 1}) is None
    assert check_arguments(Echo(), ["a"]) == "the arguments of 'echo' must be a JSON object, got list"


class Sandbox(ToolEnvironment):
    name = "test-tools"
    max_turns = 3
    tools = (Echo(), Hang(), Boom())
    system_prompt = "Use tools."


def _call(name, arguments="{}"):
    return f'<tool_call>{{"name": "{name}", "arguments": {arguments}}}</tool_call>'


def test_tool_environment_counts_calls_errors_timeouts_and_malformed_calls():
    env = Sandbox()
    state = env.reset(Prompt("p", ({"role": "user", "content": "go"},)), TemplateFormat())
    assert [m["role"] for m in state.messages] == ["system", "user"]
    message = (_call("echo", '{"text": "hi"}') + _call("hang") + _call("boom")
               + _call("nope") + "<tool_call>{oops</tool_call>")
    step = env.step(state, message)
    assert not step.done
    assert [m["content"] for m in step.observations] == [
        "hi",
        "TIMEOUT: hang ran past its limit of 0.2 s",
        "ERROR: boom failed: ZeroDivisionError: division by zero",
        "ERROR: malformed tool call: unknown tool 'nope' (tools: echo, hang, boom)",
        "ERROR: malformed tool call: bad JSON (Expecting property name enclosed in double "
        "quotes at character 1)",
    ]
    assert step.info["statuses"] == ["ok", "timeout", "error"]
    assert (state.turns, state.tool_calls, state.tool_errors, state.tool_timeouts,
            state.malformed_calls) == (1, 3, 1, 1, 2)
    assert state.tool_seconds >= 0.2
    # The assistant message and then the observations were appended, in order.
    assert state.messages[2] == {"role": "assistant", "content": message}
    assert state.messages[3:] == step.observations
    final = env.step(state, "The answer is hi.")
    assert final.done and final.observations == [] and state.done
    assert state.counters()["turns"] == 2


def test_the_last_turn_ends_the_episode_even_with_a_call():
    env = Sandbox()
    env.max_turns = 1
    state = env.reset(Prompt("p", ({"role": "user", "content": "go"},)))
    step = env.step(state, _call("echo", '{"text": "hi"}'))
    assert step.done and step.observations == []
    assert step.info["unanswered_calls"] is True
    assert state.messages[-1]["role"] == "assistant"


def test_without_a_tool_role_the_results_go_back_as_one_user_message():
    env = Sandbox()
    state = env.reset(Prompt("p", ({"role": "user", "content": "go"},)), TagsFormat())
    step = env.step(state, _call("echo", '{"text": "a"}') + _call("echo", '{"text": "b"}'))
    assert step.observations == [{"role": "user", "content": "<tool_response>a</tool_response>\n"
                                                             "<tool_response>b</tool_response>"}]


def test_a_prompt_with_its_own_system_message_keeps_it():
    env = Sandbox()
    state = env.reset(Prompt("p", ({"role": "system", "content": "mine"},
                                   {"role": "user", "content": "go"})))
    assert [m["content"] for m in state.messages] == ["mine", "go"]
