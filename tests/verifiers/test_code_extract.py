"""Which code the code verifier reads from a completion."""

from __future__ import annotations

from rlfb.verifiers.code.extract import extract_code


def test_last_python_block_wins():
    text = "```python\nx = 1\n```\ntext\n```py\ny = 2\n```\nmore"
    assert extract_code(text) == ("y = 2\n", "fenced")


def test_python_block_preferred_over_later_untagged_block():
    text = "```python\nprint(1)\n```\nOutput:\n```\n1\n```"
    assert extract_code(text) == ("print(1)\n", "fenced")


def test_untagged_block_used_when_no_python_block():
    assert extract_code("```\nprint(3)\n```") == ("print(3)\n", "fenced")


def test_other_languages_are_never_taken():
    text = "```cpp\nint main() {}\n```"
    assert extract_code(text) == (text, "raw")


def test_raw_text_without_fences():
    assert extract_code("    return a + b\n") == ("    return a + b\n", "raw")


def test_unclosed_fence_takes_the_rest():
    assert extract_code("Sure:\n```python\ndef f():\n    return 1\n") == (
        "def f():\n    return 1\n", "fenced-unclosed")


def test_empty_unclosed_fence_falls_back_to_raw():
    assert extract_code("x = 1\n```") == ("x = 1\n```", "raw")


def test_indented_fence_is_dedented_by_its_own_indent():
    text = "1. code:\n   ```python\n   def f():\n       return 2\n   ```\n"
    assert extract_code(text) == ("def f():\n    return 2\n", "fenced")


def test_tag_case_and_crlf():
    assert extract_code("```Python\r\nz = 3\r\n```\r\n") == ("z = 3\r\n", "fenced")


def test_longer_fences_close_only_with_as_many_backticks():
    text = "````python\ns = '```'\n````"
    assert extract_code(text) == ("s = '```'\n", "fenced")
