"""What ``rlfb envs check NAME`` checks: an environment builds, its tools are well described, and
an episode runs on scripted assistant messages without raising.

Each check is a `Check` (passed or not, and a line saying what was seen). Failing to load or
build the environment at all is not a check but bad input (`rlfb.errors.RlfbError`, exit 2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from rlfb.environments import get_environment
from rlfb.environments.base import Environment, StepResult, Tool
from rlfb.environments.formats import TagsFormat
from rlfb.errors import RlfbError
from rlfb.types import Prompt

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""The tool names function-calling APIs and chat templates accept."""
OBSERVATION_ROLES = ("tool", "user")
_PLACEHOLDERS: dict[str, Any] = {"string": "1", "integer": 1, "number": 1, "boolean": True,
                                 "array": [], "object": {}, "null": None}
FALLBACK_PROMPT = Prompt("envs-check:0", ({"role": "user", "content": "What is 2 + 2?"},), "4")


@dataclass(frozen=True)
class Check:
    """One check's outcome and what it saw (``ok`` None: information, not a check)."""

    ok: bool | None
    line: str


def tool_schema_problems(tool: Any) -> list[str]:
    """Why ``tool`` cannot be offered to a model (empty when it can): a `Tool`, a valid name, a
    description, and a JSON schema of an arguments object whose required names are properties."""
    if not isinstance(tool, Tool):
        return [f"{tool!r} is not an rlfb.environments.Tool"]
    problems = []
    if not TOOL_NAME.match(tool.name or ""):
        problems.append(f"name {tool.name!r} must match {TOOL_NAME.pattern}")
    if not (tool.description or "").strip():
        problems.append("no description (the model reads it to decide when to call the tool)")
    schema = tool.parameters
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        return problems + ["parameters must be a JSON schema with type 'object'"]
    try:
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as exc:
        problems.append(f"parameters is not a valid JSON schema: {exc.message}")
    properties = schema.get("properties", {})
    missing = [k for k in schema.get("required", []) if k not in properties]
    if missing:
        problems.append(f"required argument(s) {', '.join(missing)} are not in properties")
    if not isinstance(tool.timeout_s, (int, float)) or tool.timeout_s <= 0:
        problems.append(f"timeout_s must be a number > 0, got {tool.timeout_s!r}")
    return problems


def scripted_arguments(tool: Tool) -> dict[str, Any]:
    """Arguments that fit ``tool``'s schema: a placeholder of the right type per required one."""
    properties = tool.parameters.get("properties", {})
    return {key: _PLACEHOLDERS.get(str(properties.get(key, {}).get("type")), "1")
            for key in tool.parameters.get("required", [])}


def _step_problems(result: Any) -> list[str]:
    if not isinstance(result, StepResult):
        return [f"step returned {type(result).__name__}, not a StepResult"]
    problems = []
    for message in result.observations:
        if not isinstance(message, dict) or message.get("role") not in OBSERVATION_ROLES \
                or not isinstance(message.get("content"), str):
            problems.append(f"observation {message!r} is not a chat message with role "
                            f"{' or '.join(OBSERVATION_ROLES)} and string content")
    return problems


def _guarded(label: str, run: Any) -> Check:
    """Run one check; an exception is a failed check, reported in one line."""
    try:
        problems = run()
    except Exception as exc:  # noqa: BLE001 - a check reports, it never crashes the command
        line = (str(exc).strip().splitlines() or [""])[0]
        return Check(False, f"{label}: raised {type(exc).__name__}: {line}")
    if problems:
        return Check(False, f"{label}: " + "; ".join(problems))
    return Check(True, label)


def check_environment(name: str, options: Mapping[str, Any] | None = None) -> list[Check]:
    """Build environment ``name`` with ``options`` and run the checks (module docstring).

    Raises `rlfb.errors.RlfbError` when it cannot be loaded or built.
    """
    try:
        env = get_environment(name, **dict(options or {}))
    except RlfbError:
        raise
    except Exception as exc:  # a plugin's constructor failed: bad input, in one line
        line = (str(exc).strip().splitlines() or [""])[0]
        raise RlfbError(f"environment {name!r} could not be built: {type(exc).__name__}: "
                        f"{line}") from exc
    checks = [_guarded(f"is an Environment ({type(env).__module__}.{type(env).__qualname__})",
                       lambda: [] if isinstance(env, Environment) else ["it is not"])]
    checks.append(_guarded(
        f"budgets: max_turns={env.max_turns}, max_tokens={env.max_tokens}",
        lambda: [f"{k} must be an integer >= 1" for k in ("max_turns", "max_tokens")
                 if not isinstance(getattr(env, k), int) or getattr(env, k) < 1]))
    tools = list(env.tools)
    for tool in tools:
        checks.append(_guarded(f"tool {getattr(tool, 'name', tool)!r} schema",
                               lambda tool=tool: tool_schema_problems(tool)))
    names = [getattr(t, "name", None) for t in tools]
    checks.append(_guarded(f"tools: {', '.join(map(str, names)) or '(none)'}",
                           lambda: [f"duplicate tool name {n!r}" for n in set(names)
                                    if names.count(n) > 1]))
    prompt_box: list[Prompt] = []
    checks.append(_guarded("prompt source", lambda: _first_prompt(env, prompt_box)))
    prompt = prompt_box[0] if prompt_box else FALLBACK_PROMPT
    checks += _episode_checks(env, tools, prompt)
    if env.reward is not None:
        checks.append(_guarded(f"reward {env.reward!r} builds", lambda: _build_reward(env)))
    for tool in tools:
        close = getattr(tool, "close", None)
        if callable(close):
            close()
    return checks


def _first_prompt(env: Environment, box: list[Prompt]) -> list[str]:
    source = env.prompt_source({})
    if source is None:
        return []  # uses the run's data
    if len(source) < 1:
        return ["the prompt source is empty"]
    prompt = source.get(0)
    if not isinstance(prompt, Prompt):
        return [f"the prompt source gave {type(prompt).__name__}, not a Prompt"]
    box.append(prompt)
    return []


def _build_reward(env: Environment) -> list[str]:
    from rlfb.rewards import get_reward

    get_reward(env.reward, **dict(env.reward_options))
    return []


def _episode_checks(env: Environment, tools: list[Any], prompt: Prompt) -> list[Check]:
    """reset, then step on: a call of each tool, a malformed call, and a plain answer."""
    fmt = TagsFormat()
    state_box: list[Any] = []

    def reset() -> list[str]:
        state = env.reset(prompt, fmt)
        state_box.append(state)
        return [] if state.messages and state.messages[-1]["role"] == "user" else [
            "the reset state's last message is not the prompt's user message"]

    checks = [_guarded("reset", reset)]
    if not state_box:
        return checks
    state = state_box[0]
    good_tools = [t for t in tools if isinstance(t, Tool) and not tool_schema_problems(t)]
    if good_tools:
        calls = "".join("<tool_call>" + json.dumps({"name": t.name,
                                                    "arguments": scripted_arguments(t)})
                        + "</tool_call>" for t in good_tools)
        checks.append(_guarded(f"step: a scripted call of {len(good_tools)} tool(s)",
                               lambda: _step_problems(env.step(state, calls))))
        if not state.done:
            before = state.malformed_calls
            checks.append(_guarded("step: a malformed call is counted, not raised", lambda: (
                _step_problems(env.step(state, "<tool_call>{not json</tool_call>"))
                + ([] if state.done or state.malformed_calls == before + 1 else [
                    "malformed_calls did not go up by one"]))))
    if not state.done:
        checks.append(_guarded("step: a plain answer",
                               lambda: _step_problems(env.step(state, "The answer is 4."))))
    checks.append(Check(None, f"episode counters: {state.counters()}"))
    return checks
