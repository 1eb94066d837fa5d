"""The environment contract: tools, tool calls, tool-call formats, episodes and environments.

An *environment* turns a prompt into an episode. `Environment.reset` gives the state (the chat
messages so far and the episode's counters); `Environment.step` reads one assistant message and
answers with observation messages (tool results, feedback) or says the episode is done. The reward
or verifier named by the environment scores the final assistant message.

A *tool* is a named callable with a JSON schema (what ``apply_chat_template(tools=...)`` reads).
Tools never raise into the rollout loop: `run_tool` wraps every call, so an exception becomes a
``"error"`` result and a hang a ``"timeout"`` result, each counted by the episode.

A *tool-call format* (`ToolFormat`) renders the tools for the model, parses the calls out of an
assistant message, and shapes each result as a chat message. Malformed calls (bad JSON, an unknown
tool, missing or extra arguments) are part of the parse result, not exceptions: each goes back to
the model as an error observation and is counted.

These are plain classes with no Ray, vLLM or device knowledge; the multi-turn runner lives in
`rlfb.environments.episodes`.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rlfb.data import get_prompt_source
from rlfb.data.base import PromptSource
from rlfb.errors import ConfigError
from rlfb.types import Prompt

TOOL_STATUSES = ("ok", "error", "timeout")
"""The values of `ToolResult.status`."""

TRUNCATION_MARK = "...[truncated]"
"""Appended to a tool's output when it was cut to the tool's output budget."""

TIMEOUT_GRACE_S = 1.0
"""Extra wall time `run_tool` allows beyond a tool's own ``timeout_s`` before it calls the tool
hung: the built-in tools enforce their limit themselves and report it, which is more precise."""


@dataclass(frozen=True)
class ToolResult:
    """What one tool call gave back.

    ``content`` is the text the model sees, already cut to the tool's output budget (the cut is
    marked with `TRUNCATION_MARK`); ``status`` is ``"ok"``, ``"error"`` (the tool raised or
    rejected its input) or ``"timeout"`` (the call ran past its time limit).
    """

    content: str
    status: str = "ok"
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in TOOL_STATUSES:
            raise ValueError(f"tool status must be one of {', '.join(TOOL_STATUSES)}, "
                             f"got {self.status!r}")


def truncate_output(text: str, budget: int) -> str:
    """``text`` cut to at most ``budget`` characters, the cut marked with `TRUNCATION_MARK`.

    >>> truncate_output("abcdefghijklmnopqrstuvwxyz", 20)
    'abcdef...[truncated]'
    >>> truncate_output("short", 20)
    'short'
    """
    if len(text) <= budget:
        return text
    keep = max(0, budget - len(TRUNCATION_MARK))
    return text[:keep] + TRUNCATION_MARK


class Tool(ABC):
    """A callable the model may invoke by name during an episode.

    Subclasses set ``name``, ``description`` and ``parameters`` (a JSON schema of the arguments
    object, as OpenAI-style function tools and ``apply_chat_template(tools=...)`` expect), a
    per-call ``timeout_s`` and an ``output_chars`` budget, and implement `__call__`. A tool may
    raise; `run_tool` turns that into an error result. ``overhead_s`` is the extra wall time a
    tool that enforces ``timeout_s`` itself may need around the work (starting a sandbox worker
    on its first call); `run_tool` waits ``timeout_s + overhead_s`` before calling it hung.
    """

    name: str = ""
    description: str = ""
    parameters: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    timeout_s: float = 5.0
    overhead_s: float = 0.0
    output_chars: int = 2000

    @abstractmethod
    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        """Run the tool on validated ``arguments``."""

    def schema(self) -> dict[str, Any]:
        """The tool as a function schema for ``apply_chat_template(tools=[...])``."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description,
                             "parameters": self.parameters}}


def check_arguments(tool: Tool, arguments: Any) -> str | None:
    """Why ``arguments`` do not fit ``tool.parameters`` (missing, extra or ill-typed arguments),
    or None when they fit. Extra arguments are refused unless the schema allows them with
    ``additionalProperties``."""
    if not isinstance(arguments, dict):
        return (f"the arguments of {tool.name!r} must be a JSON object, "
                f"got {type(arguments).__name__}")
    schema = tool.parameters
    properties = schema.get("properties", {})
    missing = [k for k in schema.get("required", []) if k not in arguments]
    if missing:
        return f"{tool.name!r} is missing the argument(s) {', '.join(missing)}"
    if not schema.get("additionalProperties", False):
        extra = [k for k in arguments if k not in properties]
        if extra:
            known = ", ".join(properties) or "(none)"
            return f"{tool.name!r} has no argument(s) {', '.join(extra)} (arguments: {known})"
    for key, value in arguments.items():
        expected = properties.get(key, {}).get("type")
        if expected is not None and not _json_type_ok(value, expected):
            return f"argument {key!r} of {tool.name!r} must be of type {expected}"
    return None


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}


def _json_type_ok(value: Any, expected: str | list[str]) -> bool:
    names = [expected] if isinstance(expected, str) else list(expected)
    for type_name in names:
        types = _JSON_TYPES.get(type_name)
        if types is None:
            return True  # a type this light check does not know: leave it to the tool
        if isinstance(value, bool) and type_name in ("integer", "number"):
            continue
        if isinstance(value, types):
            return True
    return False


def run_tool(tool: Tool, arguments: dict[str, Any]) -> ToolResult:
    """Call ``tool`` on ``arguments`` and never raise.

    The call runs in a daemon thread: past ``tool.timeout_s + tool.overhead_s`` (plus
    `TIMEOUT_GRACE_S`) the result is a ``"timeout"`` observation and the loop goes on. A thread
    cannot be killed, so a tool that can hang must bound itself (the built-ins run their work in a
    subprocess with its own limit); this wrapper only guarantees the episode does not wait for it. An exception becomes an
    ``"error"`` result carrying one line of it. Output is cut to ``tool.output_chars``.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = tool(arguments)
        except BaseException as exc:  # noqa: BLE001 - a tool never raises into the loop
            box["error"] = exc

    start = time.perf_counter()
    thread = threading.Thread(target=target, name=f"rlfb-tool-{tool.name}", daemon=True)
    thread.start()
    thread.join(tool.timeout_s + tool.overhead_s + TIMEOUT_GRACE_S)
    seconds = time.perf_counter() - start
    if thread.is_alive():
        return ToolResult(f"TIMEOUT: {tool.name} ran past its limit of {tool.timeout_s:g} s",
                          "timeout", seconds)
    if "error" in box:
        exc = box["error"]
        line = (str(exc).strip().splitlines() or [""])[0]
        text = f"ERROR: {tool.name} failed: {type(exc).__name__}" + (f": {line}" if line else "")
        return ToolResult(truncate_output(text, tool.output_chars), "error", seconds)
    result = box.get("result")
    if not isinstance(result, ToolResult):
        return ToolResult(f"ERROR: {tool.name} returned {type(result).__name__}, "
                          "not a ToolResult", "error", seconds)
    return ToolResult(truncate_output(result.content, tool.output_chars), result.status, seconds)


@dataclass(frozen=True)
class ToolCall:
    """One well-formed call: a known tool's ``name`` and its validated ``arguments``."""

    name: str
    arguments: dict[str, Any]

    def to_json(self) -> str:
        """The call as the tags format writes it: ``{"name": ..., "arguments": {...}}``."""
        return json.dumps({"name": self.name, "arguments": self.arguments})


@dataclass(frozen=True)
class ParsedTurn:
    """The tool calls read from one assistant message: the well-formed ``calls`` in order, and
    the error text of each ``malformed`` one (it goes back to the model and is counted)."""

    calls: list[ToolCall] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)

    @property
    def has_calls(self) -> bool:
        """True when the message tried to call a tool at all (well-formed or not)."""
        return bool(self.calls or self.malformed)


class ToolFormat(ABC):
    """How tools are shown to the model, how calls are read back, how results are returned.

    A format is bound to one tokenizer (its chat template decides whether tools and a ``tool``
    role are supported); ``tokenizer`` may be None for parsing only. Build one with
    `rlfb.environments.formats.get_tool_format`.
    """

    name: ClassVar[str] = ""

    def __init__(self, tokenizer: Any = None) -> None:
        self.tokenizer = tokenizer

    @abstractmethod
    def render_tools(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Tool], *,
                     add_generation_prompt: bool = True) -> str:
        """The chat-template text of ``messages`` with ``tools`` made known to the model (through
        the template's own ``tools=`` support, or as a system description of the tags format):
        the text to tokenize."""

    @abstractmethod
    def parse(self, assistant_text: str, tools: Sequence[Tool] | None = None) -> ParsedTurn:
        """The calls in ``assistant_text``. With ``tools``, a call of an unknown tool or with
        missing, extra or ill-typed arguments is malformed."""

    @abstractmethod
    def observations(self, results: Sequence[tuple[str | None, str]]) -> list[dict[str, str]]:
        """The chat messages that carry one turn's results back: ``results`` are ``(tool name or
        None for a malformed call, text)`` pairs, in call order."""


@dataclass(frozen=True)
class StepResult:
    """What the environment answers to one assistant message: the ``observations`` (chat
    messages with role ``"tool"`` or ``"user"``) to append, whether the episode is ``done``, and
    ``info`` about this step (calls made, errors, seconds spent in tools)."""

    observations: list[dict[str, str]]
    done: bool
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class EpisodeState:
    """One episode so far: the ``messages`` (system prompt, prompt, assistant turns and
    observations, in order) and the counters the metrics report.

    ``tool_format`` is the format the runner chose for this model (None = the tags format).
    """

    prompt: Prompt
    messages: list[dict[str, str]]
    tool_format: ToolFormat | None = None
    turns: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    tool_timeouts: int = 0
    malformed_calls: int = 0
    tool_seconds: float = 0.0
    done: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def counters(self) -> dict[str, Any]:
        """The per-episode counters, as ``Rollout.episode`` carries them."""
        return {"turns": self.turns, "tool_calls": self.tool_calls,
                "tool_errors": self.tool_errors, "tool_timeouts": self.tool_timeouts,
                "malformed_calls": self.malformed_calls, "tool_seconds": self.tool_seconds}


class Environment(ABC):
    """An episode's rules: prompts, system prompt, tools, budgets, reward, and the step.

    Subclasses set ``name`` and implement `respond` (`step` wraps it); the constructor takes
    keyword options (the config's ``env.options``). Attributes:

    - ``max_turns``: assistant turns at most; the episode ends after the last one.
    - ``max_tokens``: token budget of the whole trajectory after the prompt (assistant and
      observation tokens together); the runner truncates and flags a trajectory past it.
    - ``tools``: the tools the model may call.
    - ``system_prompt``: put first in every episode (None = none added).
    - ``reward`` / ``reward_options``: the reward registry name (`rlfb.rewards`) and options that
      score the final assistant message; None = the run config's ``reward``.
    - ``data_source``: the prompt-source registry name (`rlfb.data`) the environment brings, or
      None = the run config's ``data``. `prompt_source` builds it.
    """

    name: ClassVar[str] = ""
    data_source: ClassVar[str | None] = None
    max_turns: int = 1
    max_tokens: int = 1024
    tools: Sequence[Tool] = ()
    system_prompt: str | None = None
    reward: str | None = None
    reward_options: dict[str, Any] = {}

    def prompt_source(self, options: Mapping[str, Any] | None = None) -> PromptSource | None:
        """The environment's own prompts (``options`` are the source's keyword options, e.g.
        ``part``/``holdout``/``seed``), or None when it uses the run config's data."""
        if self.data_source is None:
            return None
        return get_prompt_source(self.data_source, **dict(options or {}))

    def reset(self, prompt: Prompt, tool_format: ToolFormat | None = None) -> EpisodeState:
        """A fresh episode for ``prompt``: its messages, the system prompt first (when the
        environment has one and the prompt does not start with its own)."""
        messages = [dict(m) for m in prompt.messages]
        if self.system_prompt is not None and not (messages and messages[0]["role"] == "system"):
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return EpisodeState(prompt=prompt, messages=messages, tool_format=tool_format)

    def step(self, state: EpisodeState, assistant_message: str) -> StepResult:
        """Read one assistant message and answer it.

        Appends the message to ``state.messages``, counts the turn, asks `respond` for the
        observations, and ends the episode when `respond` says so or the turn budget is spent
        (observations of a last turn are dropped: no assistant turn would read them, and
        ``info["unanswered_calls"]`` says so). Otherwise the observations are appended too.
        """
        state.messages.append({"role": "assistant", "content": assistant_message})
        state.turns += 1
        answer = self.respond(state, assistant_message)
        info = dict(answer.info)
        done = answer.done or state.turns >= self.max_turns
        if done and answer.observations:
            info["unanswered_calls"] = True
        observations = [] if done else list(answer.observations)
        state.messages.extend(observations)
        state.done = done
        return StepResult(observations, done, info)

    @abstractmethod
    def respond(self, state: EpisodeState, assistant_message: str) -> StepResult:
        """The environment's answer to ``assistant_message`` (already appended to
        ``state.messages``): observation messages, or ``done``. Update ``state``'s counters."""

    def tool(self, name: str) -> Tool | None:
        """The environment's tool called ``name``, or None."""
        return next((t for t in self.tools if t.name == name), None)


def check_budgets(env_name: str, max_turns: Any, max_tokens: Any) -> tuple[int, int]:
    """``(max_turns, max_tokens)`` as ints, or a `ConfigError` naming the environment when
    either is not a whole number >= 1."""
    for label, value in (("max_turns", max_turns), ("max_tokens", max_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"environment {env_name!r}: {label} must be an integer >= 1, "
                              f"got {value!r}")
    return int(max_turns), int(max_tokens)
