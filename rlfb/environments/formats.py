"""The two tool-call formats, and ``auto``, which picks between them per tokenizer.

- ``"template"``: the model's own chat template renders the tools
  (``apply_chat_template(tools=[...])``, as Qwen2.5, Llama 3.1 and Hermes templates do) and its
  ``tool`` role renders the results. Calls are read as ``<tool_call>{json}</tool_call>`` blocks
  (the Qwen2.5/Hermes convention) or, when the whole message is one JSON object with a
  ``"name"``, as that object (the Llama 3.1 convention; ``"parameters"`` is read as
  ``"arguments"``).
- ``"tags"``: for templates without tools support. The tools are described in the system message
  (the first user message when the template has no system role), with the call syntax
  ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. Results go back as ``tool``
  messages when the template renders a ``tool`` role, otherwise as one user message of
  ``<tool_response>...</tool_response>`` blocks.
- ``"auto"``: ``template`` when rendering with a probe tool puts the tool's name in the text,
  otherwise ``tags``.

A malformed call (unterminated tag, bad JSON, no name, an unknown tool, missing, extra or
ill-typed arguments) is returned in `ParsedTurn.malformed` with a one-line error that the model
reads back; parsing never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rlfb.environments.base import ParsedTurn, Tool, ToolCall, ToolFormat, check_arguments
from rlfb.errors import ConfigError

FORMAT_NAMES = ("auto", "template", "tags")
"""The values of the config's ``env.tool_format``."""

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
_CALL_BLOCK = re.compile(re.escape(CALL_OPEN) + r"(.*?)" + re.escape(CALL_CLOSE), re.DOTALL)
_PROBE_TOOL = {"type": "function", "function": {
    "name": "rlfb_probe_tool_7f3a", "description": "probe",
    "parameters": {"type": "object", "properties": {}, "required": []}}}
_PROBE_RESULT = "rlfb-probe-result-7f3a"


def _apply_template(tokenizer: Any, messages: Sequence[Mapping[str, Any]], *,
                    add_generation_prompt: bool, tools: list[dict[str, Any]] | None = None
                    ) -> str:
    if tokenizer is None:
        raise ConfigError("rendering tools needs a tokenizer; build the tool format with one")
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": add_generation_prompt}
    if tools is not None:
        kwargs["tools"] = tools
    return tokenizer.apply_chat_template([dict(m) for m in messages], **kwargs)


def template_supports_tools(tokenizer: Any) -> bool:
    """True when the tokenizer's chat template renders ``tools=`` (a probe tool's name shows up
    in the rendered text)."""
    try:
        text = _apply_template(tokenizer, [{"role": "user", "content": "hi"}],
                               add_generation_prompt=True, tools=[_PROBE_TOOL])
    except Exception:  # noqa: BLE001 - a template that chokes on tools= does not support them
        return False
    return _PROBE_TOOL["function"]["name"] in text


def template_has_tool_role(tokenizer: Any) -> bool:
    """True when the chat template renders a ``{"role": "tool"}`` message (its text shows up)."""
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                {"role": "tool", "content": _PROBE_RESULT}]
    try:
        text = _apply_template(tokenizer, messages, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - a template that refuses the role does not have it
        return False
    return _PROBE_RESULT in text


def template_has_system_role(tokenizer: Any) -> bool:
    """True when the chat template renders a ``{"role": "system"}`` message (its text shows
    up); Gemma-style templates refuse it."""
    messages = [{"role": "system", "content": _PROBE_RESULT}, {"role": "user", "content": "q"}]
    try:
        text = _apply_template(tokenizer, messages, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - a template that refuses the role does not have it
        return False
    return _PROBE_RESULT in text


def malformed_text(reason: str) -> str:
    """The error observation for a malformed call."""
    return f"ERROR: malformed tool call: {reason}"


def _read_call(payload: Any, tools: Sequence[Tool] | None) -> ToolCall | str:
    """A `ToolCall` from a decoded JSON payload, or the reason it is malformed."""
    if not isinstance(payload, dict):
        return f"expected a JSON object with 'name' and 'arguments', got {type(payload).__name__}"
    name = payload.get("name")
    if not isinstance(name, str) or not name:
        return "the call has no 'name' string"
    arguments = payload.get("arguments", payload.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI style: the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            return f"the arguments of {name!r} are not valid JSON ({exc.msg})"
    extra_keys = set(payload) - {"name", "arguments", "parameters"}
    if extra_keys:
        return f"unexpected key(s) {', '.join(sorted(extra_keys))} next to 'name' and 'arguments'"
    if tools is not None:
        tool = next((t for t in tools if t.name == name), None)
        if tool is None:
            known = ", ".join(t.name for t in tools) or "(none)"
            return f"unknown tool {name!r} (tools: {known})"
        problem = check_arguments(tool, arguments)
        if problem is not None:
            return problem
    elif not isinstance(arguments, dict):
        return f"the arguments of {name!r} must be a JSON object"
    return ToolCall(name, arguments)


def _decode(block: str) -> Any | str:
    try:
        return json.loads(block)
    except json.JSONDecodeError as exc:
        return _BadJson(f"bad JSON ({exc.msg} at character {exc.pos})")


class _BadJson(str):
    """A decoding failure, told apart from a decoded JSON string."""


def parse_tagged(text: str, tools: Sequence[Tool] | None = None, *, bare_json: bool = False
                 ) -> ParsedTurn:
    """Every ``<tool_call>...</tool_call>`` block of ``text``, in order; an opening tag without
    its closing tag is malformed. With ``bare_json``, a message that is one JSON object with a
    ``"name"`` (and no tags) is read as a call too."""
    calls: list[ToolCall] = []
    malformed: list[str] = []
    for block in _CALL_BLOCK.findall(text):
        _add(_decode(block.strip()), tools, calls, malformed)
    if text.count(CALL_OPEN) > text.count(CALL_CLOSE):
        malformed.append(malformed_text(f"{CALL_OPEN} without {CALL_CLOSE}"))
    if bare_json and not calls and not malformed and CALL_OPEN not in text:
        stripped = text.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            payload = _decode(stripped)
            if isinstance(payload, dict) and "name" in payload:
                _add(payload, tools, calls, malformed)
    return ParsedTurn(calls, malformed)


def _add(payload: Any, tools: Sequence[Tool] | None, calls: list[ToolCall],
         malformed: list[str]) -> None:
    if isinstance(payload, _BadJson):
        malformed.append(malformed_text(str(payload)))
        return
    call = _read_call(payload, tools)
    if isinstance(call, ToolCall):
        calls.append(call)
    else:
        malformed.append(malformed_text(call))


def tags_instructions(tools: Sequence[Tool]) -> str:
    """The system text that teaches the tags format and lists the tools' schemas."""
    lines = [
        "You can call tools. To call one, write exactly",
        f'{CALL_OPEN}{{"name": "<tool name>", "arguments": {{<arguments as JSON>}}}}{CALL_CLOSE}',
        "and stop; the result comes back to you. When you know the answer, reply without a "
        "tool call.",
        "Tools:",
    ]
    lines += [json.dumps(t.schema()["function"], sort_keys=True) for t in tools]
    return "\n".join(lines)


class TagsFormat(ToolFormat):
    """Tools described in the system message; calls in ``<tool_call>`` tags (module docstring)."""

    name: ClassVar[str] = "tags"

    def __init__(self, tokenizer: Any = None) -> None:
        super().__init__(tokenizer)
        self.tool_role = tokenizer is not None and template_has_tool_role(tokenizer)
        self.system_role = tokenizer is None or template_has_system_role(tokenizer)

    def render_tools(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Tool], *,
                     add_generation_prompt: bool = True) -> str:
        """The template's text with the tools' description in the system message (in the first
        user message when the template has no system role)."""
        return _apply_template(self.tokenizer,
                               with_instructions(messages, tools, system_role=self.system_role),
                               add_generation_prompt=add_generation_prompt)

    def parse(self, assistant_text: str, tools: Sequence[Tool] | None = None) -> ParsedTurn:
        """The ``<tool_call>`` blocks of the message."""
        return parse_tagged(assistant_text, tools)

    def observations(self, results: Sequence[tuple[str | None, str]]) -> list[dict[str, str]]:
        """``tool`` messages when the template has the role, else one wrapped user message."""
        if not results:
            return []
        if self.tool_role:
            return [_tool_message(name, text) for name, text in results]
        body = "\n".join(f"{RESPONSE_OPEN}{text}{RESPONSE_CLOSE}" for _, text in results)
        return [{"role": "user", "content": body}]


def with_instructions(messages: Sequence[Mapping[str, Any]], tools: Sequence[Tool], *,
                      system_role: bool = True) -> list[dict[str, Any]]:
    """``messages`` with `tags_instructions` appended to the system message (or a system
    message added first); unchanged without tools. Without ``system_role``, the system text and
    the instructions go at the start of the first user message instead."""
    out = [dict(m) for m in messages]
    if not tools:
        return out
    text = tags_instructions(tools)
    if out and out[0].get("role") == "system":
        text = f"{out.pop(0)['content']}\n\n{text}"
    if system_role:
        out.insert(0, {"role": "system", "content": text})
        return out
    first_user = next((i for i, m in enumerate(out) if m.get("role") == "user"), None)
    if first_user is None:
        out.insert(0, {"role": "user", "content": text})
    else:
        out[first_user]["content"] = f"{text}\n\n{out[first_user]['content']}"
    return out


def _tool_message(name: str | None, text: str) -> dict[str, str]:
    message = {"role": "tool", "content": text}
    if name is not None:
        message["name"] = name
    return message


class TemplateFormat(ToolFormat):
    """The tokenizer's own template renders the tools and the ``tool`` role."""

    name: ClassVar[str] = "template"

    def render_tools(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Tool], *,
                     add_generation_prompt: bool = True) -> str:
        """``apply_chat_template(messages, tools=[schemas])``."""
        return _apply_template(self.tokenizer, messages,
                               add_generation_prompt=add_generation_prompt,
                               tools=[t.schema() for t in tools] if tools else None)

    def parse(self, assistant_text: str, tools: Sequence[Tool] | None = None) -> ParsedTurn:
        """``<tool_call>`` blocks, or the whole message as one JSON call."""
        return parse_tagged(assistant_text, tools, bare_json=True)

    def observations(self, results: Sequence[tuple[str | None, str]]) -> list[dict[str, str]]:
        """One ``tool`` message per result."""
        return [_tool_message(name, text) for name, text in results]


def get_tool_format(name: str, tokenizer: Any = None) -> ToolFormat:
    """The format called ``name`` (``auto``, ``template`` or ``tags``) for ``tokenizer``.

    ``auto`` picks ``template`` when the chat template supports ``tools=``; naming ``template``
    for a tokenizer without that support is a `ConfigError`.
    """
    if name not in FORMAT_NAMES:
        raise ConfigError(f"unknown tool format {name!r}; use one of {', '.join(FORMAT_NAMES)}")
    if name == "tags":
        return TagsFormat(tokenizer)
    supported = tokenizer is not None and template_supports_tools(tokenizer)
    if name == "template" and not supported:
        raise ConfigError("tool_format 'template' needs a chat template that renders tools= "
                          "(this tokenizer's does not); use tool_format 'tags' or 'auto'")
    return TemplateFormat(tokenizer) if supported else TagsFormat(tokenizer)
