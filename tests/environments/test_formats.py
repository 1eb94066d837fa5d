"""The tool-call formats: rendering, parsing, malformed calls, auto-detection, observations."""

from __future__ import annotations

import random

import pytest
from transformers import AutoTokenizer

from rlfb.environments import ToolCall, ToolResult
from rlfb.environments.base import Tool
from rlfb.environments.formats import (
    TagsFormat,
    TemplateFormat,
    get_tool_format,
    parse_tagged,
    template_has_tool_role,
    template_supports_tools,
)
from rlfb.errors import ConfigError
from rlfb.models.tiny import make_tiny_model

# A cut-down Qwen2.5 template: tools listed in the system turn, tool results wrapped in
# <tool_response> inside a user turn.
QWEN_TOOLS_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n"
    "{%- if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "# Tools\n<tools>{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools><|im_end|>\n"
    "{%- elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}"
    "<|im_end|>\n{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ message.content }}"
    "\n</tool_response><|im_end|>\n"
    "{%- elif not (loop.first and message.role == 'system') %}<|im_start|>{{ message.role }}\n"
    "{{ message.content }}<|im_end|>\n{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A template that accepts only system/user/assistant (like Gemma's, which refuses other roles).
STRICT_ROLES_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message.role not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Conversation roles must be system, user or assistant') }}{% endif %}"
    "<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# Like Gemma's: user and assistant only, strictly alternating.
USER_ASSISTANT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message.role not in ['user', 'assistant'] %}"
    "{{ raise_exception('Only user and assistant roles are supported') }}{% endif %}"
    "{%- if (message.role == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}"
    "<start_of_turn>{{ message.role }}\n{{ message.content }}<end_of_turn>\n"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<start_of_turn>assistant\n{% endif %}"
)


class Adder(Tool):
    """Adds two integers."""

    name = "add"
    description = "Add two integers."
    parameters = {"type": "object",
                  "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                  "required": ["a", "b"]}

    def __call__(self, arguments):
        return ToolResult(str(arguments["a"] + arguments["b"]))


TOOLS = [Adder()]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"), hidden_size=32, num_layers=1,
                           num_heads=2)


def _tokenizer(path, template=None):
    tok = AutoTokenizer.from_pretrained(str(path))
    if template is not None:
        tok.chat_template = template
    return tok


@pytest.fixture(scope="module")
def chatml(tiny_dir):
    return _tokenizer(tiny_dir)


@pytest.fixture(scope="module")
def qwen_tools(tiny_dir):
    return _tokenizer(tiny_dir, QWEN_TOOLS_TEMPLATE)


@pytest.fixture(scope="module")
def strict(tiny_dir):
    return _tokenizer(tiny_dir, STRICT_ROLES_TEMPLATE)


@pytest.fixture(scope="module")
def user_assistant(tiny_dir):
    return _tokenizer(tiny_dir, USER_ASSISTANT_TEMPLATE)


def test_parse_reads_every_tagged_call_in_order():
    text = ('Let me add. <tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'
            ' and <tool_call>\n{"name": "add", "arguments": {"a": 30, "b": 4}}\n</tool_call>')
    parsed = TagsFormat().parse(text, TOOLS)
    assert parsed.calls == [ToolCall("add", {"a": 1, "b": 2}), ToolCall("add", {"a": 30, "b": 4})]
    assert parsed.malformed == []
    assert parsed.has_calls


def test_a_message_without_calls_parses_to_nothing():
    parsed = TagsFormat().parse("The answer is 42.", TOOLS)
    assert parsed.calls == [] and parsed.malformed == [] and not parsed.has_calls


@pytest.mark.parametrize("block, reason", [
    ('{"name": "add", "arguments": {"a": 1, "b": 2}', "bad JSON"),
    ('{"name": "mul", "arguments": {"a": 1, "b": 2}}', "unknown tool 'mul' (tools: add)"),
    ('{"name": "add", "arguments": {"a": 1}}', "missing the argument(s) b"),
    ('{"name": "add", "arguments": {"a": 1, "b": 2, "c": 3}}', "no argument(s) c"),
    ('{"name": "add", "arguments": {"a": "1", "b": 2}}', "'a' of 'add' must be of type integer"),
    ('{"name": "add", "arguments": {"a": true, "b": 2}}', "must be of type integer"),
    ('{"arguments": {"a": 1, "b": 2}}', "no 'name'"),
    ('["add", 1, 2]', "expected a JSON object"),
    ('{"name": "add", "arguments": "{not json"}', "not valid JSON"),
    ('{"name": "add", "arguments": {"a": 1, "b": 2}, "id": 7}', "unexpected key(s) id"),
])
def test_malformed_calls_become_counted_error_texts(block, reason):
    text = f'<tool_call>{block}</tool_call> then <tool_call>{{"name": "add", ' \
           f'"arguments": {{"a": 2, "b": 3}}}}</tool_call>'
    parsed = TagsFormat().parse(text, TOOLS)
    assert parsed.calls == [ToolCall("add", {"a": 2, "b": 3})]
    assert len(parsed.malformed) == 1
    assert parsed.malformed[0].startswith("ERROR: malformed tool call: ")
    assert reason in parsed.malformed[0]


def test_an_unterminated_tag_is_malformed():
    parsed = TagsFormat().parse('<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}',
                                TOOLS)
    assert parsed.calls == []
    assert parsed.malformed == ["ERROR: malformed tool call: <tool_call> without </tool_call>"]


def test_arguments_given_as_a_json_string_are_read():
    parsed = TagsFormat().parse(
        '<tool_call>{"name": "add", "arguments": "{\\"a\\": 5, \\"b\\": 6}"}</tool_call>', TOOLS)
    assert parsed.calls == [ToolCall("add", {"a": 5, "b": 6})]


def test_parse_never_raises_on_garbage():
    rng = random.Random(0)
    alphabet = list('<>/{}[]":,tool_call namearguments0123456789\\\n') + ["<tool_call>",
                                                                       "</tool_call>"]
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        parsed = TemplateFormat().parse(text, TOOLS)
        assert all(isinstance(c, ToolCall) for c in parsed.calls)
        assert all(m.startswith("ERROR: malformed tool call") for m in parsed.malformed)


def test_template_format_reads_a_bare_json_call_with_parameters():
    parsed = TemplateFormat().parse(' {"name": "add", "parameters": {"a": 7, "b": 8}} ', TOOLS)
    assert parsed.calls == [ToolCall("add", {"a": 7, "b": 8})]
    # The tags format requires the tags: the same text is a plain answer there.
    assert not TagsFormat().parse('{"name": "add", "parameters": {"a": 7, "b": 8}}',
                                  TOOLS).has_calls


def test_without_tools_only_the_syntax_is_checked():
    parsed = parse_tagged('<tool_call>{"name": "anything", "arguments": {"x": 1}}</tool_call>')
    assert parsed.calls == [ToolCall("anything", {"x": 1})]


def test_auto_detection(chatml, qwen_tools, strict):
    assert not template_supports_tools(chatml)
    assert template_supports_tools(qwen_tools)
    assert not template_supports_tools(strict)
    assert isinstance(get_tool_format("auto", chatml), TagsFormat)
    assert isinstance(get_tool_format("auto", qwen_tools), TemplateFormat)
    assert isinstance(get_tool_format("tags", qwen_tools), TagsFormat)
    with pytest.raises(ConfigError, match="needs a chat template that renders tools="):
        get_tool_format("template", chatml)
    with pytest.raises(ConfigError, match="unknown tool format 'xml'"):
        get_tool_format("xml", chatml)


def test_tags_render_describes_the_tools_in_the_system_message(chatml):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+2?"}]
    text = get_tool_format("tags", chatml).render_tools(messages, TOOLS)
    assert text.startswith("<|im_start|>system\nBe brief.\n\nYou can call tools.")
    assert '"name": "add"' in text and "<tool_call>" in text
    assert text.endswith("<|im_start|>user\n1+2?<|im_end|>\n<|im_start|>assistant\n")
    no_system = get_tool_format("tags", chatml).render_tools(messages[1:], TOOLS)
    assert no_system.startswith("<|im_start|>system\nYou can call tools.")


def test_template_render_uses_the_templates_tools(qwen_tools):
    messages = [{"role": "user", "content": "1+2?"}]
    text = get_tool_format("auto", qwen_tools).render_tools(messages, TOOLS)
    assert text.startswith("<|im_start|>system") and "# Tools" in text
    assert text.index("<tools>") < text.index('"name": "add"') < text.index("</tools>")
    assert '"name": "add"' in text and "You can call tools" not in text
    assert text.endswith("<|im_start|>assistant\n")


def test_observations_follow_the_templates_roles(chatml, qwen_tools, strict):
    results = [("add", "3"), (None, "ERROR: malformed tool call: bad JSON")]
    assert template_has_tool_role(chatml)
    assert get_tool_format("tags", chatml).observations(results) == [
        {"role": "tool", "name": "add", "content": "3"},
        {"role": "tool", "content": "ERROR: malformed tool call: bad JSON"}]
    assert get_tool_format("auto", qwen_tools).observations(results)[0] == {
        "role": "tool", "name": "add", "content": "3"}
    assert not template_has_tool_role(strict)
    assert get_tool_format("tags", strict).observations(results) == [{
        "role": "user",
        "content": "<tool_response>3</tool_response>\n"
                   "<tool_response>ERROR: malformed tool call: bad JSON</tool_response>"}]
    assert TagsFormat(strict).observations([]) == []


def test_without_a_system_role_the_instructions_open_the_first_user_message(user_assistant):
    fmt = get_tool_format("auto", user_assistant)
    assert isinstance(fmt, TagsFormat) and not fmt.system_role and not fmt.tool_role
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+2?"}]
    text = fmt.render_tools(messages, TOOLS)
    assert text.startswith("<start_of_turn>user\nBe brief.\n\nYou can call tools.")
    assert text.endswith("1+2?<end_of_turn><start_of_turn>assistant\n")


@pytest.mark.parametrize("fixture", ["chatml", "qwen_tools", "strict", "user_assistant"])
def test_an_observation_extends_the_rendered_prefix(fixture, request):
    """The runner tokenises only the text an observation adds, so rendering the transcript with
    the observation must extend the rendering without it."""
    tok = request.getfixturevalue(fixture)
    fmt = get_tool_format("auto", tok)
    messages = [{"role": "system", "content": "Add."}, {"role": "user", "content": "1+2?"},
                {"role": "assistant", "content": '<tool_call>{"name": "add", '
                                                 '"arguments": {"a": 1, "b": 2}}</tool_call>'}]
    before = fmt.render_tools(messages, TOOLS, add_generation_prompt=False)
    after = fmt.render_tools(messages + fmt.observations([("add", "3"), ("add", "4")]), TOOLS)
    assert after.startswith(before)
    assert "3" in after[len(before):] and "4" in after[len(before):]
    assert after.endswith("assistant\n")
