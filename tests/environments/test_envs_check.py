"""`rlfb envs check` on environments that break the contract: each problem is a FAIL line and
exit status 1, never a traceback."""

from __future__ import annotations

import pytest

from rlfb.cli import main
from rlfb.environments import Tool, ToolResult, register_environment
from rlfb.environments.check import check_environment, scripted_arguments, tool_schema_problems
from rlfb.environments.tool_env import ToolEnvironment


class Lookup(Tool):
    name = "lookup"
    description = "Look a word up."
    parameters = {"type": "object",
                  "properties": {"word": {"type": "string"}, "limit": {"type": "integer"}},
                  "required": ["word", "limit"]}

    def __call__(self, arguments):
        return ToolResult(f"{arguments['word']}:{arguments['limit']}")


class BadlyDescribed(Tool):
    name = "bad name!"
    description = ""
    parameters = {"type": "object", "properties": {"x": {"type": "nonsense"}},
                  "required": ["y"]}

    def __call__(self, arguments):
        return ToolResult("never")


@register_environment("test-check-good")
class Good(ToolEnvironment):
    name = "test-check-good"
    max_turns = 4
    tools = (Lookup(),)


@register_environment("test-check-bad")
class Bad(ToolEnvironment):
    name = "test-check-bad"
    max_turns = 4
    tools = (Lookup(), BadlyDescribed(), Lookup())


@register_environment("test-check-raising")
class Raising(ToolEnvironment):
    name = "test-check-raising"
    max_turns = 4
    tools = (Lookup(),)

    def respond(self, state, assistant_message):
        raise KeyError("the environment has a bug")


@register_environment("test-check-broken-init")
class BrokenInit(ToolEnvironment):
    name = "test-check-broken-init"

    def __init__(self):
        raise RuntimeError("cannot reach the game server")


def test_scripted_arguments_fit_the_schema():
    assert scripted_arguments(Lookup()) == {"word": "1", "limit": 1}
    assert tool_schema_problems(Lookup()) == []


def test_a_good_environment_passes_every_check():
    checks = check_environment("test-check-good")
    assert all(c.ok in (True, None) for c in checks), [c.line for c in checks]
    lines = [c.line for c in checks]
    assert "step: a scripted call of 1 tool(s)" in lines
    assert "step: a malformed call is counted, not raised" in lines


def test_schema_problems_and_duplicate_names_fail():
    failed = [c.line for c in check_environment("test-check-bad") if c.ok is False]
    assert any(line.startswith("tool 'bad name!' schema: name 'bad name!' must match") and
               "no description" in line and "is not a valid JSON schema" in line and
               "required argument(s) y are not in properties" in line for line in failed), failed
    assert "tools: lookup, bad name!, lookup: duplicate tool name 'lookup'" in failed


def test_an_environment_that_raises_is_a_failed_check():
    failed = [c.line for c in check_environment("test-check-raising") if c.ok is False]
    assert failed[0] == ("step: a scripted call of 1 tool(s): raised KeyError: "
                         "'the environment has a bug'")


def test_cli_exit_codes(capsys):
    assert main(["envs", "check", "test-check-good"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("checks pass")
    assert main(["envs", "check", "test-check-bad"]) == 1
    out = capsys.readouterr().out
    assert "FAIL tool 'bad name!' schema" in out and "PASS tool 'lookup' schema" in out
    assert main(["envs", "check", "test-check-broken-init"]) == 2
    err = capsys.readouterr().err
    assert err == ("rlfb: error: environment 'test-check-broken-init' could not be built: "
                   "RuntimeError: cannot reach the game server\n")


@pytest.mark.parametrize("argv", [["envs", "check", "no-such-env"], ["envs", "new", "9lives"]])
def test_bad_names_are_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlfb: error: ") and err.count("\n") == 1


def test_the_builtin_tool_arith_passes_the_cli_check(capsys):
    assert main(["envs", "check", "tool-arith", "-o", "max_turns=2"]) == 0
    out = capsys.readouterr().out
    assert "PASS tool 'calculator' schema" in out and "PASS reward 'verifier' builds" in out
    assert "'tool_calls': 1" in out and "'malformed_calls': 1" in out
